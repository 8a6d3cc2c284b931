"""Standard Webhooks / Svix verification: the specification's published vector, and agreement
with the official `standardwebhooks` library in both directions."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
import standardwebhooks
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.unit import specs
from webhook_processor import errors
from webhook_processor.verify import base, standard

# From standard-webhooks/standard-webhooks libraries/python/tests/test_webhooks.py
# (test_sign_function, test_invalid_signature_raises_error, test_multi_sig_payload_is_valid); the
# same values are in svix/svix-webhooks python/tests/test_webhooks.py.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
VECTOR_BAD_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="
OTHER_SECRET = "whsec_" + base64.b64encode(b"another endpoint's 32-byte key!!").decode()

# The spec's example header (spec/standard-webhooks.md, "Webhook headers") carries a v1 and a v1a
# entry, but the spec publishes neither the secret nor the key pair behind them, so it cannot be
# verified; it is used below only to check that such a header parses. Asymmetric (v1a) signatures
# are instead checked against `cryptography` directly, as the Python library has no v1a support.
SPEC_SIGNATURE = (
    "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4= "
    "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg=="
)

SEED = bytes(range(32))
PRIVATE_KEY = Ed25519PrivateKey.from_private_bytes(SEED)
PUBLIC_RAW = PRIVATE_KEY.public_key().public_bytes_raw()
WHSK = "whsk_" + base64.b64encode(SEED).decode()
WHPK = "whpk_" + base64.b64encode(PUBLIC_RAW).decode()


def source(scheme: str = "standard-webhooks", **extra: object) -> base.Spec:
    return specs.validated({"verify": scheme, "secret": "x", **extra})


def headers(
    signature: str = VECTOR_SIGNATURE, prefix: str = "webhook-", msg_id: str = VECTOR_ID
) -> dict[str, str]:
    return {
        prefix + "id": msg_id,
        prefix + "timestamp": str(VECTOR_TS),
        prefix + "signature": signature,
    }


def verify(
    hdrs: dict[str, str] | None = None,
    *,
    secrets: tuple[str, ...] = (VECTOR_SECRET,),
    body: bytes = VECTOR_BODY,
    now: float = VECTOR_TS,
    scheme: str = "standard-webhooks",
    **extra: object,
) -> None:
    check = standard.verifier(source(scheme, **extra), list(secrets))
    check(base.Request(body, headers() if hdrs is None else hdrs), now)


def v1a(msg_id: str, ts: int, body: bytes, key: Ed25519PrivateKey = PRIVATE_KEY) -> str:
    signed = msg_id.encode() + b"." + str(ts).encode() + b"." + body
    return "v1a," + base64.b64encode(key.sign(signed)).decode()


def lower(signed: base.Signed) -> dict[str, str]:
    return {k.lower(): v for k, v in signed.headers.items()}


# --- the published vector ---------------------------------------------------------------------


def test_official_vector_verifies() -> None:
    verify()


def test_official_vector_verifies_for_svix_with_svix_headers() -> None:
    verify(headers(prefix="svix-"), scheme="svix")


def test_svix_source_also_accepts_webhook_headers() -> None:
    verify(headers(), scheme="svix")


def test_standard_source_also_accepts_svix_headers() -> None:
    verify(headers(prefix="svix-"))


def test_official_invalid_signature_fails() -> None:
    with pytest.raises(errors.SignatureInvalid, match="does not match any configured secret"):
        verify(headers(VECTOR_BAD_SIGNATURE))


def test_official_multi_signature_header_verifies() -> None:
    sigs = [
        "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
        "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
        VECTOR_SIGNATURE,
        "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
    ]
    verify(headers(" ".join(sigs)))


def test_spec_example_header_parses_but_matches_no_secret_we_have() -> None:
    with pytest.raises(errors.SignatureInvalid, match="does not match"):
        verify(headers(SPEC_SIGNATURE), secrets=(VECTOR_SECRET, WHPK))


# --- agreement with the official library ------------------------------------------------------


def test_signer_output_verifies_with_official_library() -> None:
    body = b'{"type":"contact.created","data":{"id":"1f81eb52"}}'
    signed = standard.signer(source(), VECTOR_SECRET)(body, time.time(), "https://x/")
    assert signed.url == "https://x/"
    assert standardwebhooks.Webhook(VECTOR_SECRET).verify(body, signed.headers) == {
        "type": "contact.created",
        "data": {"id": "1f81eb52"},
    }


def test_official_library_signature_verifies_with_ours() -> None:
    body = '{"type":"invoice.paid","data":{"n":1}}'
    when = datetime.fromtimestamp(1_700_000_000, tz=UTC)
    sig = standardwebhooks.Webhook(VECTOR_SECRET).sign(
        "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", when, body
    )
    hdrs = {
        "webhook-id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
        "webhook-timestamp": "1700000000",
        "webhook-signature": sig,
    }
    verify(hdrs, body=body.encode(), now=1_700_000_000)


def test_svix_signer_uses_svix_headers_and_verifies_with_official_library() -> None:
    body = b'{"type":"user.created"}'
    signed = standard.signer(source("svix"), VECTOR_SECRET)(body, time.time(), "")
    assert set(signed.headers) == {"svix-id", "svix-timestamp", "svix-signature"}
    renamed = {k.replace("svix-", "webhook-"): v for k, v in signed.headers.items()}
    standardwebhooks.Webhook(VECTOR_SECRET).verify(body, renamed)
    verify(lower(signed), body=body, now=int(signed.headers["svix-timestamp"]), scheme="svix")


def test_signer_uses_given_now_and_fresh_message_ids() -> None:
    sign = standard.signer(source(), VECTOR_SECRET)
    first, second = sign(b"{}", 1_700_000_000.9, ""), sign(b"{}", 1_700_000_000.9, "")
    assert first.headers["webhook-timestamp"] == "1700000000"
    ids = {first.headers["webhook-id"], second.headers["webhook-id"]}
    assert len(ids) == 2
    assert all(i.startswith("msg_") and "." not in i for i in ids)
    assert first.headers["webhook-signature"].startswith("v1,")
    verify(lower(first), body=b"{}", now=1_700_000_000)


# --- ed25519 (v1a) ----------------------------------------------------------------------------


def test_v1a_signature_made_with_cryptography_verifies() -> None:
    sig = v1a(VECTOR_ID, VECTOR_TS, VECTOR_BODY)
    verify(headers(sig), secrets=(WHPK,))


def test_signer_with_whsk_signs_v1a_that_cryptography_accepts() -> None:
    body = b'{"type":"a.b"}'
    signed = standard.signer(source(), WHSK)(body, 1_700_000_000, "")
    hdrs = lower(signed)
    version, _, encoded = hdrs["webhook-signature"].partition(",")
    assert version == "v1a"
    content = f"{hdrs['webhook-id']}.1700000000.".encode() + body
    PRIVATE_KEY.public_key().verify(base64.b64decode(encoded), content)  # raises if wrong
    verify(hdrs, secrets=(WHPK,), body=body, now=1_700_000_000)


def test_whsk_may_be_libsodium_seed_plus_public_key() -> None:
    whsk64 = "whsk_" + base64.b64encode(SEED + PUBLIC_RAW).decode()
    signed = standard.signer(source(), whsk64)(b"{}", 1_700_000_000, "")
    verify(lower(signed), secrets=(WHPK,), body=b"{}", now=1_700_000_000)


def test_v1a_tampered_body_fails() -> None:
    with pytest.raises(errors.SignatureInvalid, match="does not match"):
        verify(headers(v1a(VECTOR_ID, VECTOR_TS, VECTOR_BODY)), secrets=(WHPK,), body=b"{}")


def test_v1a_signed_id_is_checked() -> None:
    sig = v1a("msg_other", VECTOR_TS, VECTOR_BODY)
    with pytest.raises(errors.SignatureInvalid, match="does not match"):
        verify(headers(sig), secrets=(WHPK,))


def test_v1a_wrong_public_key_fails() -> None:
    other = Ed25519PrivateKey.from_private_bytes(b"\x01" * 32).public_key().public_bytes_raw()
    with pytest.raises(errors.SignatureInvalid, match="does not match"):
        verify(
            headers(v1a(VECTOR_ID, VECTOR_TS, VECTOR_BODY)),
            secrets=("whpk_" + base64.b64encode(other).decode(),),
        )


def test_mixed_header_and_mixed_secrets() -> None:
    both = VECTOR_SIGNATURE + " " + v1a(VECTOR_ID, VECTOR_TS, VECTOR_BODY)
    verify(headers(both), secrets=(VECTOR_SECRET,))
    verify(headers(both), secrets=(WHPK,))
    verify(headers(v1a(VECTOR_ID, VECTOR_TS, VECTOR_BODY)), secrets=(OTHER_SECRET, WHPK))


# --- failures ---------------------------------------------------------------------------------


def test_tampered_body_fails() -> None:
    with pytest.raises(errors.SignatureInvalid, match="does not match any configured secret"):
        verify(body=b'{"test": 2432232315}')


def test_tampered_id_fails() -> None:
    with pytest.raises(errors.SignatureInvalid, match="does not match"):
        verify(headers(msg_id="msg_p5jXN8AQM9LWM0D4loKWxJel"))


def test_wrong_secret_fails() -> None:
    with pytest.raises(errors.SignatureInvalid, match="does not match any configured secret"):
        verify(secrets=(OTHER_SECRET,))


def test_rotation_second_secret_matches() -> None:
    verify(secrets=(OTHER_SECRET, VECTOR_SECRET))


@pytest.mark.parametrize(
    ("now", "message"), [(VECTOR_TS + 301, "too old"), (VECTOR_TS - 301, "too new")]
)
@pytest.mark.parametrize("scheme", ["standard-webhooks", "svix"])
def test_stale_and_future_timestamps_fail(now: float, message: str, scheme: str) -> None:
    with pytest.raises(errors.SignatureInvalid, match=f"webhook-timestamp header is {message}"):
        verify(now=now, scheme=scheme)


def test_source_tolerance_is_used() -> None:
    verify(now=VECTOR_TS + 30, tolerance_seconds=30)
    with pytest.raises(errors.SignatureInvalid, match=r"too new \(more than 30s"):
        verify(now=VECTOR_TS - 31, tolerance_seconds=30)


@pytest.mark.parametrize("name", ["id", "timestamp", "signature"])
def test_missing_header(name: str) -> None:
    hdrs = {k: v for k, v in headers().items() if k != f"webhook-{name}"}
    with pytest.raises(errors.SignatureInvalid, match=f"missing webhook-{name} header"):
        verify(hdrs)


def test_missing_headers_for_svix_name_the_svix_header() -> None:
    with pytest.raises(errors.SignatureInvalid, match="missing svix-id header"):
        verify({}, scheme="svix")


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        VECTOR_SIGNATURE[3:],
        "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
        "v1,!!!",
        "v1,",
    ],
)
def test_malformed_signature_header(value: str) -> None:
    with pytest.raises(errors.SignatureInvalid, match="malformed webhook-signature header"):
        verify(headers(value))


def test_malformed_timestamp_header() -> None:
    # As the library's test_invalid_timestamp_raises_error.
    with pytest.raises(errors.SignatureInvalid, match="malformed webhook-timestamp header"):
        verify({**headers(), "webhook-timestamp": "hello"})


# --- secret forms -----------------------------------------------------------------------------


def assert_secret_absent(secret: str, message: str) -> None:
    material = secret.split("_", 1)[-1]  # the key material after the prefix (all of it if none)
    assert not material or material not in message


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_<base64>"),  # prefix missing
        ("whsec_not*base64", "malformed whsec_ secret"),
        ("whsec_", "malformed whsec_ secret"),
        ("whpk_" + base64.b64encode(b"short").decode(), "32-byte key"),
        (WHSK, "whpk_<base64>"),  # a private key has no place on the receiving side
    ],
)
def test_verifier_rejects_secrets_of_the_wrong_form(secret: str, expected: str) -> None:
    with pytest.raises(ValueError, match="verify: standard-webhooks") as info:
        standard.verifier(source(), [VECTOR_SECRET, secret])
    assert expected in str(info.value)
    assert_secret_absent(secret, str(info.value))


def test_signer_refuses_a_public_key() -> None:
    with pytest.raises(
        ValueError, match="cannot sign with a public key; pass the private key whsk_"
    ):
        standard.signer(source(), WHPK)


@pytest.mark.parametrize(
    "secret", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsk_" + base64.b64encode(b"x" * 31).decode()]
)
def test_signer_rejects_secrets_of_the_wrong_form(secret: str) -> None:
    with pytest.raises(ValueError, match="verify: svix") as info:
        standard.signer(source("svix"), secret)
    assert_secret_absent(secret, str(info.value))
