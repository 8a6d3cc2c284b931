"""Stripe signature verification against Stripe's own published test vector."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from tests.unit import specs
from webhook_processor import errors
from webhook_processor.verify import base, stripe

# Vector from stripe/stripe-dotnet: src/StripeTests/Services/Events/EventUtilityTest.cs (secret,
# timestamp, header) over the fixture src/StripeTests/Resources/event_test_signature.json (the
# body, reproduced byte for byte including its final newline). The test file gives the recipe:
#   (echo -n "1533204620." && cat event_test_signature.json) | openssl sha256 -hmac "webhook_secret"
VECTOR_SECRET = "webhook_secret"
VECTOR_TS = 1533204620
VECTOR_V1 = "2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7"
VECTOR_HEADER = (
    f"t={VECTOR_TS},v1={VECTOR_V1},"
    "v0=63f3a72374a733066c4be69ed7f8e5ac85c22c9f0a6a612ab9a025a9e4ee7eef"
)
VECTOR_BODY = b"""{
  "id": "evt_123",
  "object": "event",
  "account": "acct_123",
  "api_version": "2017-05-25",
  "created": 1533204620,
  "data": {
    "object": {
      "id": "cus_123",
      "object": "customer",
      "created": 123456789,
      "email": "test@stripe.com",
      "livemode": false,
      "metadata": {}
    }
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {
    "id": "req_123",
    "idempotency_key": "idempotency-key-123"
  },
  "type": "customer.created"
}
"""


def source(**extra: object) -> base.Spec:
    return specs.validated({"verify": "stripe", "secret": "x", **extra})


def request(header: str | None, body: bytes = VECTOR_BODY) -> base.Request:
    headers = {} if header is None else {"stripe-signature": header}
    return base.Request(body=body, headers=headers)


def verify(
    header: str | None,
    *,
    secrets: tuple[str, ...] = (VECTOR_SECRET,),
    body: bytes = VECTOR_BODY,
    now: float = VECTOR_TS + 100,
    **extra: object,
) -> None:
    stripe.verifier(source(**extra), list(secrets))(request(header, body), now)


def test_official_vector_verifies() -> None:
    verify(VECTOR_HEADER)


def test_signer_reproduces_official_vector() -> None:
    signed = stripe.signer(source(), VECTOR_SECRET)(VECTOR_BODY, VECTOR_TS + 0.9, "https://x/y")
    assert signed.headers == {"Stripe-Signature": f"t={VECTOR_TS},v1={VECTOR_V1}"}
    assert signed.url == "https://x/y"


def test_whsec_secret_is_used_as_raw_utf8_not_base64_decoded() -> None:
    secret = "whsec_H68eTX02a4bCbiQOOoSAsIytOvuWZrQC"
    expected = hmac.new(secret.encode(), b"1533204620." + VECTOR_BODY, hashlib.sha256).hexdigest()
    verify(f"t={VECTOR_TS},v1={expected}", secrets=(secret,))
    signed = stripe.signer(source(), secret)(VECTOR_BODY, VECTOR_TS, "")
    assert signed.headers["Stripe-Signature"] == f"t={VECTOR_TS},v1={expected}"


def test_signer_output_verifies_with_lower_cased_header_names() -> None:
    signed = stripe.signer(source(), "whsec_abc")(b'{"a":1}', 1_700_000_000, "")
    headers = {k.lower(): v for k, v in signed.headers.items()}
    stripe.verifier(source(), ["whsec_abc"])(base.Request(b'{"a":1}', headers), 1_700_000_000)


def test_tampered_body_fails() -> None:
    with pytest.raises(errors.SignatureInvalid, match="does not match any configured secret"):
        verify(VECTOR_HEADER, body=VECTOR_BODY.replace(b"cus_123", b"cus_124"))


def test_wrong_secret_fails() -> None:
    with pytest.raises(errors.SignatureInvalid, match="does not match any configured secret"):
        verify(VECTOR_HEADER, secrets=("whsec_other",))


def test_rotation_second_secret_matches() -> None:
    verify(VECTOR_HEADER, secrets=("whsec_new", VECTOR_SECRET))


def test_any_v1_may_match() -> None:
    # As stripe-python's test_header_contains_valid_signature: extra bad v1 entries are ignored.
    verify(f"t={VECTOR_TS},v1=bad_signature,v1={VECTOR_V1},v1={'0' * 64}")


@pytest.mark.parametrize(
    ("now", "message"),
    [
        (VECTOR_TS + 301, "too old"),
        (VECTOR_TS - 301, "too new"),
    ],
)
def test_stale_and_future_timestamps_fail(now: float, message: str) -> None:
    with pytest.raises(errors.SignatureInvalid, match=message):
        verify(VECTOR_HEADER, now=now)


@pytest.mark.parametrize("now", [VECTOR_TS + 300, VECTOR_TS - 300])
def test_tolerance_edges_pass(now: float) -> None:
    verify(VECTOR_HEADER, now=now)


def test_source_tolerance_is_used() -> None:
    verify(VECTOR_HEADER, now=VECTOR_TS + 10, tolerance_seconds=10)
    with pytest.raises(errors.SignatureInvalid, match=r"too old \(more than 10s"):
        verify(VECTOR_HEADER, now=VECTOR_TS + 11, tolerance_seconds=10)


def test_missing_header() -> None:
    with pytest.raises(errors.SignatureInvalid, match="missing stripe-signature header"):
        verify(None)


@pytest.mark.parametrize(
    "header",
    [
        "bad_header",  # stripe-python tests/test_webhook.py
        "i'm not even a real signature header",  # stripe-python tests/test_webhook.py
        f"t={VECTOR_TS},v0={'0' * 64}",  # no v1 (stripe-python: no signatures with scheme v1)
        f"v1={VECTOR_V1}",  # no timestamp
        "",
    ],
)
def test_malformed_header(header: str) -> None:
    expected = "missing" if header == "" else "malformed stripe-signature header"
    with pytest.raises(errors.SignatureInvalid, match=expected):
        verify(header)


def test_non_numeric_timestamp() -> None:
    with pytest.raises(errors.SignatureInvalid, match="malformed stripe-signature timestamp"):
        verify(f"t=soon,v1={VECTOR_V1}")
