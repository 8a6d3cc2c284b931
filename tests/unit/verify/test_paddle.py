"""Paddle Billing signature verification against Paddle's SDK test vectors."""

from __future__ import annotations

import pytest

from tests.unit import specs
from webhook_processor import errors
from webhook_processor.verify import base, paddle

# From PaddleHQ/paddle-node-sdk src/__tests__/notifications/webhooks-validator.test.ts
# (hashes generated with the key "VALID_SECRET"; the SDK's clock is set to 2023-11-01 = ts).
NODE_SECRET = "VALID_SECRET"
NODE_TS = 1698796800
NODE_BODY = b'{"data": ["1", "2"]}'
NODE_HEADER = "ts=1698796800;h1=a300428748dce5c70e4da19bffd60769591ea969c99dea3105d0ec9612cf43f9"
NODE_MULTI_BODY = b'{"data": "value"}'
NODE_MULTI_HEADER = (
    "ts=1698796800;h1=28981e941fae76e53db32f3d2a83cb69db41476595e84e1970a1b5d98f62b261"
    ";h1=28981e941fae76e53db32f3d2a83cb69db41476595e84e1970a1b5d98f62b261;h2=RANDOM_HASH"
)

# From PaddleHQ/paddle-python-sdk tests/Unit/Notification/test_Verifier.py: three secrets, only
# the third matches; the header carries a dummy h1 before the real one.
PY_SECRETS = (
    "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_TjIG2BXbm83HPXqNfziwe506sBEdqL/4",
    "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_vB/yIOnTOCWIvpBadM5jzBZPHc7OmdSo",
    "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_WvRO0eL4Bj9rgYYIBZY6wZhG4EHy9jzh",
)
PY_TS = 1696195954
PY_BODY = b"hello-world"
PY_HEADER = (
    "ts=1696195954;h1=dummy;h1=d96299976a6eb066f484d7fde011ac56fc32b38fc9940bc419d6e537fdc6ef02"
)


def source(**extra: object) -> base.Spec:
    return specs.validated({"verify": "paddle", "secret": "x", **extra})


def verify(
    header: str | None = NODE_HEADER,
    *,
    secrets: tuple[str, ...] = (NODE_SECRET,),
    body: bytes = NODE_BODY,
    now: float = NODE_TS,
    **extra: object,
) -> None:
    headers = {} if header is None else {"paddle-signature": header}
    paddle.verifier(source(**extra), list(secrets))(base.Request(body, headers), now)


def test_node_sdk_vector_verifies() -> None:
    verify()


def test_node_sdk_vector_with_several_h1_and_unknown_keys() -> None:
    verify(NODE_MULTI_HEADER, body=NODE_MULTI_BODY)


def test_python_sdk_rotation_vector_third_secret_matches() -> None:
    verify(PY_HEADER, secrets=PY_SECRETS, body=PY_BODY, now=PY_TS)
    with pytest.raises(errors.SignatureInvalid, match="does not match"):
        verify(PY_HEADER, secrets=PY_SECRETS[:2], body=PY_BODY, now=PY_TS)


def test_signer_reproduces_node_sdk_vector() -> None:
    signed = paddle.signer(source(), NODE_SECRET)(NODE_BODY, NODE_TS + 0.25, "https://x/")
    assert signed.headers == {"Paddle-Signature": NODE_HEADER}
    assert signed.url == "https://x/"


def test_signer_output_verifies_with_lower_cased_header_names() -> None:
    secret = "pdl_ntfset_01abc_secret"
    signed = paddle.signer(source(), secret)(b'{"event_type":"x"}', 1_700_000_000, "")
    headers = {k.lower(): v for k, v in signed.headers.items()}
    request = base.Request(b'{"event_type":"x"}', headers)
    paddle.verifier(source(), [secret])(request, 1_700_000_000)


def test_tampered_body_fails() -> None:
    # The node SDK's "Invalid data - has more space" case.
    with pytest.raises(errors.SignatureInvalid, match="does not match any configured secret"):
        verify(body=b'{ "data": [ "1", "2" ]}')


def test_wrong_secret_fails() -> None:
    # The node SDK's "Invalid secret" case.
    with pytest.raises(errors.SignatureInvalid, match="does not match any configured secret"):
        verify(secrets=("INVALID_VALID_SECRET",))


def test_rotation_second_secret_matches() -> None:
    verify(secrets=("pdl_ntfset_new", NODE_SECRET))


@pytest.mark.parametrize(
    ("now", "ok"),
    [(NODE_TS + 1, True), (NODE_TS + 5, True), (NODE_TS + 6, False), (NODE_TS - 6, False)],
)
def test_tolerance_like_the_sdks_five_seconds(now: float, ok: bool) -> None:
    # The node SDK's 5-second window, here set through the source's tolerance_seconds.
    if ok:
        verify(now=now, tolerance_seconds=5)
    else:
        with pytest.raises(errors.SignatureInvalid, match=r"too old|too new"):
            verify(now=now, tolerance_seconds=5)


@pytest.mark.parametrize(
    ("now", "message"), [(NODE_TS + 301, "too old"), (NODE_TS - 301, "too new")]
)
def test_stale_and_future_timestamps_fail_with_default_tolerance(now: float, message: str) -> None:
    with pytest.raises(errors.SignatureInvalid, match=f"paddle-signature timestamp is {message}"):
        verify(now=now)


def test_missing_header() -> None:
    with pytest.raises(errors.SignatureInvalid, match="missing paddle-signature header"):
        verify(None)


@pytest.mark.parametrize(
    "header",
    # The node SDK's header-integrity cases, plus a Stripe-style header.
    ["invalid_header", "h1=invalid_header", "ts=1234;h2=invalid_header", f"t={NODE_TS},v1=abc"],
)
def test_malformed_header(header: str) -> None:
    with pytest.raises(errors.SignatureInvalid, match="malformed paddle-signature header"):
        verify(header)


def test_non_numeric_timestamp() -> None:
    with pytest.raises(errors.SignatureInvalid, match="malformed paddle-signature timestamp"):
        verify("ts=now;h1=" + "0" * 64)
