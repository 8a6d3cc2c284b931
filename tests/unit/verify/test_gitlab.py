"""GitLab: X-Gitlab-Token carries the secret token itself.

https://docs.gitlab.com/user/project/integrations/webhooks/#validate-requests-with-a-secret-token
GitLab publishes no signature vector: the token is compared as is, so the token is the vector.
"""

from __future__ import annotations

import pytest

from tests.unit import specs
from webhook_processor import errors
from webhook_processor.verify import base, gitlab

TOKEN = "glwt-5e3d1c0a9b8f7e6d"
NOW = 1_700_000_000.0
SOURCE = specs.validated({"verify": "gitlab", "secret": "x"})


def verify(
    headers: dict[str, str], secrets: tuple[str, ...] = (TOKEN,), body: bytes = b"{}"
) -> None:
    gitlab.verifier(SOURCE, secrets)(base.Request(body, headers), NOW)


def test_valid_token() -> None:
    verify({"x-gitlab-token": TOKEN})


def test_body_is_not_covered() -> None:
    """GitLab authenticates the sender only: a token scheme cannot detect a changed body."""
    verify({"x-gitlab-token": TOKEN}, body=b'{"tampered":true}')


def test_wrong_token_fails() -> None:
    with pytest.raises(errors.SignatureInvalid, match="token does not match"):
        verify({"x-gitlab-token": "wrong"})


@pytest.mark.parametrize("value", [TOKEN.upper(), TOKEN + " ", TOKEN[:-1], TOKEN + TOKEN])
def test_near_miss_tokens_fail(value: str) -> None:
    with pytest.raises(errors.SignatureInvalid, match="token does not match"):
        verify({"x-gitlab-token": value})


def test_rotation_second_secret_matches() -> None:
    verify({"x-gitlab-token": TOKEN}, secrets=("old-token", TOKEN))


def test_missing_header() -> None:
    with pytest.raises(errors.SignatureInvalid, match="missing x-gitlab-token header"):
        verify({"authorization": TOKEN})


def test_empty_header() -> None:
    with pytest.raises(errors.SignatureInvalid, match="missing x-gitlab-token header"):
        verify({"x-gitlab-token": ""})


def test_round_trip_with_lower_case_headers() -> None:
    signed = gitlab.signer(SOURCE, TOKEN)(b"{}", NOW, "https://example.com/gl")
    assert signed.headers == {"X-Gitlab-Token": TOKEN}
    assert signed.url == "https://example.com/gl"
    verify({k.lower(): v for k, v in signed.headers.items()})
