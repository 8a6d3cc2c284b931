"""Shopify webhook HMAC verification against Shopify's own test values."""

from __future__ import annotations

import pytest

from tests.unit import specs
from webhook_processor import errors
from webhook_processor.verify import base, shopify

# From Shopify/shopify_app test/shopify_app/controller_concerns/webhook_verification_test.rb:
# secret "secret" (old_secret "old_secret"), request params { foo: 'anything' }. Rails' test
# request sends those params form-encoded, so the raw body is exactly b"foo=anything"; the two
# published HMACs check out against that body.
VECTOR_BODY = b"foo=anything"
VECTOR_SECRET = "secret"
VECTOR_HMAC = "yCGX/RrK4fcuNtr3ztk5tQGsOBjcAzHpGLdMUrbV8yI="
OLD_SECRET = "old_secret"
OLD_HMAC = "XqRcjrSv57VACn6apEO9znyu/wkN1VC7QxdSPwK3Hzs="


def source() -> base.Spec:
    return specs.validated({"verify": "shopify", "secret": "x"})


def verify(
    value: str | None = VECTOR_HMAC,
    *,
    secrets: tuple[str, ...] = (VECTOR_SECRET,),
    body: bytes = VECTOR_BODY,
    now: float = 1_700_000_000,
) -> None:
    headers = {} if value is None else {"x-shopify-hmac-sha256": value}
    shopify.verifier(source(), list(secrets))(base.Request(body, headers), now)


def test_official_vector_verifies() -> None:
    verify()


def test_signer_reproduces_official_vector() -> None:
    signed = shopify.signer(source(), VECTOR_SECRET)(VECTOR_BODY, 0, "https://x/")
    assert signed.headers == {"X-Shopify-Hmac-Sha256": VECTOR_HMAC}
    assert signed.url == "https://x/"


def test_signer_output_verifies_with_lower_cased_header_names() -> None:
    body = b'{"id":820982911946154508,"email":"jon@example.com"}'
    signed = shopify.signer(source(), "shpss_abc")(body, 0, "")
    headers = {k.lower(): v for k, v in signed.headers.items()}
    shopify.verifier(source(), ["shpss_abc"])(base.Request(body, headers), 0)


def test_rotation_old_secret_in_the_list_matches() -> None:
    # shopify_app's "authorized request validated with old secret should be successful".
    verify(OLD_HMAC, secrets=(VECTOR_SECRET, OLD_SECRET))


def test_no_timestamp_involved() -> None:
    verify(now=0)
    verify(now=4_000_000_000)


def test_tampered_body_fails() -> None:
    with pytest.raises(errors.SignatureInvalid, match="does not match any configured secret"):
        verify(body=b"foo=anything-else")


def test_wrong_secret_fails() -> None:
    with pytest.raises(errors.SignatureInvalid, match="does not match any configured secret"):
        verify(OLD_HMAC)


def test_missing_header() -> None:
    with pytest.raises(errors.SignatureInvalid, match="missing x-shopify-hmac-sha256 header"):
        verify(None)


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("invalid_hmac", "not base64"),  # the value shopify_app's tests send
        ("yCGX/RrK4fcuNtr3ztk5tQGsOBjcAzHpGLdMUrbV8yI", "not base64"),  # padding stripped
        ("AAAA", "32-byte"),
        ("c8a6b1" * 10 + "aaaa", "32-byte"),  # hex is not what Shopify sends
    ],
)
def test_malformed_header(value: str, detail: str) -> None:
    with pytest.raises(
        errors.SignatureInvalid, match=f"malformed x-shopify-hmac-sha256 header.*{detail}"
    ):
        verify(value)
