"""GitHub: X-Hub-Signature-256 over the raw body."""

from __future__ import annotations

import pytest

from tests.unit import specs
from webhook_processor import errors
from webhook_processor.verify import base, github

# Official test values from GitHub's docs, "Testing the webhook payload validation":
# https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
SECRET = "It's a Secret to Everybody"
BODY = b"Hello, World!"
SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
NOW = 1_700_000_000.0

SOURCE = specs.validated({"verify": "github", "secret": "x"})


def verify(
    headers: dict[str, str], body: bytes = BODY, secrets: tuple[str, ...] = (SECRET,)
) -> None:
    github.verifier(SOURCE, secrets)(base.Request(body, headers), NOW)


def test_official_vector_verifies() -> None:
    verify({"x-hub-signature-256": SIGNATURE})


def test_signer_reproduces_official_vector() -> None:
    signed = github.signer(SOURCE, SECRET)(BODY, NOW, "https://example.com/hook")
    assert signed.headers == {"X-Hub-Signature-256": SIGNATURE}
    assert signed.url == "https://example.com/hook"


def test_tampered_body_fails() -> None:
    with pytest.raises(errors.SignatureInvalid, match="does not match"):
        verify({"x-hub-signature-256": SIGNATURE}, body=b"Hello, World?")


def test_wrong_secret_fails() -> None:
    with pytest.raises(errors.SignatureInvalid, match="does not match"):
        verify({"x-hub-signature-256": SIGNATURE}, secrets=("not it",))


def test_rotation_second_secret_matches() -> None:
    verify({"x-hub-signature-256": SIGNATURE}, secrets=("new secret", SECRET))


def test_missing_header() -> None:
    with pytest.raises(errors.SignatureInvalid, match="missing x-hub-signature-256 header"):
        verify({})


@pytest.mark.parametrize(
    "value", [SIGNATURE.removeprefix("sha256="), "sha1=" + SIGNATURE[7:], "sha256:abc"]
)
def test_malformed_header(value: str) -> None:
    with pytest.raises(errors.SignatureInvalid, match="malformed x-hub-signature-256"):
        verify({"x-hub-signature-256": value})


def test_round_trip_with_lower_case_headers() -> None:
    signed = github.signer(SOURCE, "s3cret")(b'{"a":1}', NOW, "")
    headers = {k.lower(): v for k, v in signed.headers.items()}
    verify(headers, body=b'{"a":1}', secrets=("s3cret",))
