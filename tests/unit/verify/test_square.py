"""Square: x-square-hmacsha256-signature over notification URL + body."""

from __future__ import annotations

import pytest

from tests.unit import specs
from webhook_processor import errors
from webhook_processor.verify import base, square

# Official test vectors from Square's SDK:
# square/square-python-sdk tests/integration/test_webhooks_helper.py
# (also tests/utilities/test_webhooks_helper.py in the older SDK layout).
BODY = (
    b'{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification",'
    b'"event_id":"ac3ac95b-f97d-458c-a6e6-18981597e05f",'
    b'"created_at":"2022-07-13T20:30:59.037339943Z",'
    b'"data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}'
)
SIGNATURE = "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4="
KEY = "Ibxx_5AKakO-3qeNVR61Dw"
URL = "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9"
# test_signature_validation_escaped_pass in the same file.
ESCAPED_BODY = b'{"data":{"type":"webhooks","id":">id<"}}'
ESCAPED_SIGNATURE = "Cxt7+aTi4rKgcA0bC4g9EHdVtLSDWdqccmL5MvihU4U="
ESCAPED_KEY = "signature-key"
ESCAPED_URL = "https://webhook.site/webhooks"

NOW = 1_700_000_000.0
SOURCE = specs.validated({"verify": "square", "secret": "x", "public_url": URL})


def verify(
    headers: dict[str, str],
    body: bytes = BODY,
    url: str = URL,
    secrets: tuple[str, ...] = (KEY,),
) -> None:
    square.verifier(SOURCE, secrets)(base.Request(body, headers, url), NOW)


def sig(value: str = SIGNATURE) -> dict[str, str]:
    return {"x-square-hmacsha256-signature": value}


def test_official_vector_verifies() -> None:
    verify(sig())


def test_official_escaped_vector_verifies() -> None:
    verify(sig(ESCAPED_SIGNATURE), ESCAPED_BODY, ESCAPED_URL, (ESCAPED_KEY,))


def test_signer_reproduces_official_vector() -> None:
    signed = square.signer(SOURCE, KEY)(BODY, NOW, URL)
    assert signed.headers == {"X-Square-HmacSha256-Signature": SIGNATURE}
    assert signed.url == URL


def test_url_mismatch_fails() -> None:
    # test_signature_validation_url_mismatch in the SDK.
    with pytest.raises(errors.SignatureInvalid, match="does not match"):
        verify(sig(), url="https://webhook.site/79a4f3a-dcfa-49ee-bac5-9d0edad886b9")


def test_tampered_body_fails() -> None:
    # test_signature_validation_body_mismatch: a different created_at.
    with pytest.raises(errors.SignatureInvalid, match="does not match"):
        verify(sig(), body=BODY.replace(b"2022-07-13", b"2022-06-13"))


def test_reformatted_body_fails() -> None:
    with pytest.raises(errors.SignatureInvalid, match="does not match"):
        verify(sig(), body=BODY.replace(b",", b", "))


def test_wrong_secret_fails() -> None:
    # test_signature_validation_invalid_signature_key in the SDK.
    with pytest.raises(errors.SignatureInvalid, match="does not match"):
        verify(sig(), secrets=("MCmhFRxGX82xMwg5FsaoQA",))


def test_rotation_second_secret_matches() -> None:
    verify(sig(), secrets=("MCmhFRxGX82xMwg5FsaoQA", KEY))


def test_missing_header() -> None:
    with pytest.raises(errors.SignatureInvalid, match="missing x-square-hmacsha256-signature"):
        verify({})


@pytest.mark.parametrize("value", ["1z2n3DEJJiUPKcPzQo1ftvbxGdw=", "not base64 at all", "GF4Y"])
def test_malformed_or_wrong_signature_fails(value: str) -> None:
    # The first is test_signature_validation_invalid_signature_header in the SDK.
    with pytest.raises(errors.SignatureInvalid, match="does not match"):
        verify(sig(value))


def test_unknown_url_fails() -> None:
    with pytest.raises(errors.SignatureInvalid, match="notification URL is unknown"):
        verify(sig(), url="")


def test_round_trip_with_lower_case_headers() -> None:
    signed = square.signer(SOURCE, "k")(b'{"x":1}', NOW, "https://example.com/sq")
    headers = {k.lower(): v for k, v in signed.headers.items()}
    verify(headers, b'{"x":1}', signed.url, ("k",))
