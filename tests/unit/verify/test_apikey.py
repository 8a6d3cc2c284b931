"""API key: the configured header carries the key itself."""

from __future__ import annotations

import pytest

from tests.unit import specs
from webhook_processor import errors
from webhook_processor.verify import apikey, base

KEY = "ak_live_0123456789abcdef"
NOW = 1_700_000_000.0
SOURCE = specs.validated({"verify": "api-key", "secret": "x", "header": "X-Api-Key"})


def verify(headers: dict[str, str], secrets: tuple[str, ...] = (KEY,), body: bytes = b"{}") -> None:
    apikey.verifier(SOURCE, secrets)(base.Request(body, headers), NOW)


def test_valid_key() -> None:
    verify({"x-api-key": KEY})


def test_body_is_not_covered() -> None:
    """A key authenticates the sender only: a changed body cannot be detected."""
    verify({"x-api-key": KEY}, body=b"changed")


def test_wrong_key_fails() -> None:
    with pytest.raises(errors.SignatureInvalid, match="API key does not match"):
        verify({"x-api-key": "ak_live_wrong"})


@pytest.mark.parametrize("value", [KEY.upper(), f" {KEY}", KEY[:-1], f"Bearer {KEY}"])
def test_near_miss_keys_fail(value: str) -> None:
    with pytest.raises(errors.SignatureInvalid, match="API key does not match"):
        verify({"x-api-key": value})


def test_rotation_second_secret_matches() -> None:
    verify({"x-api-key": KEY}, secrets=("ak_old", KEY))


def test_missing_header() -> None:
    with pytest.raises(errors.SignatureInvalid, match="missing x-api-key header"):
        verify({"authorization": KEY})


def test_configured_header_name_is_matched_lower_case() -> None:
    source = specs.validated({"verify": "api-key", "secret": "x", "header": "X-KEY"})
    apikey.verifier(source, [KEY])(base.Request(b"", {"x-key": KEY}), NOW)


def test_round_trip_with_lower_case_headers() -> None:
    signed = apikey.signer(SOURCE, KEY)(b"{}", NOW, "https://example.com/k")
    assert signed.headers == {"X-Api-Key": KEY}
    verify({k.lower(): v for k, v in signed.headers.items()})
