"""Generic HMAC, shaped by the source's config."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
from typing import Any

import pytest

from tests.unit import specs
from webhook_processor import errors
from webhook_processor.verify import base, hmac_generic

# HMAC test case 2 of RFC 2202 (SHA-1, https://www.rfc-editor.org/rfc/rfc2202#section-3) and of
# RFC 4231 (SHA-256, SHA-512, https://www.rfc-editor.org/rfc/rfc4231#section-4.3).
RFC_KEY = "Jefe"
RFC_DATA = b"what do ya want for nothing?"
RFC_HEX = {
    "sha1": "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
    "sha256": "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    "sha512": (
        "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
        "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
    ),
}

# GitHub's published test values, "Testing the webhook payload validation":
# https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
GH_SECRET = "It's a Secret to Everybody"
GH_BODY = b"Hello, World!"
GH_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

# Slack's published example, https://docs.slack.dev/authentication/verifying-requests-from-slack/
# as used in slackapi/python-slack-sdk tests/slack_sdk/signature/test_signature_verifier.py.
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_TIMESTAMP = "1531420618"
SLACK_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"

NOW = 1_700_000_000.0


def source(**keys: Any) -> base.Spec:
    return specs.validated({"verify": "hmac", "secret": "x", "header": "X-Sig", **keys})


def verify(
    src: base.Spec,
    headers: dict[str, str],
    body: bytes,
    secrets: tuple[str, ...],
    now: float = NOW,
) -> None:
    hmac_generic.verifier(src, secrets)(base.Request(body, headers), now)


def encode(hex_digest: str, encoding: str) -> str:
    return hex_digest if encoding == "hex" else base64.b64encode(bytes.fromhex(hex_digest)).decode()


@pytest.mark.parametrize("encoding", ["hex", "base64"])
@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
def test_rfc_vectors(algorithm: str, encoding: str) -> None:
    src = source(algorithm=algorithm, encoding=encoding)
    value = encode(RFC_HEX[algorithm], encoding)
    verify(src, {"x-sig": value}, RFC_DATA, (RFC_KEY,))
    signed = hmac_generic.signer(src, RFC_KEY)(RFC_DATA, NOW, "https://example.com/h")
    assert signed == base.Signed({"X-Sig": value}, "https://example.com/h")
    with pytest.raises(errors.SignatureInvalid, match="signature does not match"):
        verify(src, {"x-sig": value}, RFC_DATA + b"!", (RFC_KEY,))
    with pytest.raises(errors.SignatureInvalid, match="signature does not match"):
        verify(src, {"x-sig": value}, RFC_DATA, ("jefe",))
    verify(src, {"x-sig": value}, RFC_DATA, ("old", RFC_KEY))


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
def test_hex_is_case_insensitive(algorithm: str) -> None:
    src = source(algorithm=algorithm)
    verify(src, {"x-sig": RFC_HEX[algorithm].upper()}, RFC_DATA, (RFC_KEY,))


def test_github_vector_with_prefix() -> None:
    src = source(header="X-Hub-Signature-256", prefix="sha256=")
    verify(src, {"x-hub-signature-256": GH_SIGNATURE}, GH_BODY, (GH_SECRET,))
    signed = hmac_generic.signer(src, GH_SECRET)(GH_BODY, NOW, "")
    assert signed.headers == {"X-Hub-Signature-256": GH_SIGNATURE}


@pytest.mark.parametrize("value", [GH_SIGNATURE[7:], "sha1=" + GH_SIGNATURE[7:], "sha256="])
def test_missing_or_wrong_prefix_is_malformed(value: str) -> None:
    src = source(header="X-Hub-Signature-256", prefix="sha256=")
    with pytest.raises(errors.SignatureInvalid, match="malformed x-hub-signature-256 header"):
        verify(src, {"x-hub-signature-256": value}, GH_BODY, (GH_SECRET,))


@pytest.mark.parametrize(
    ("encoding", "value"), [("hex", "xyz"), ("hex", "12 34"), ("base64", "a*b="), ("base64", "abc")]
)
def test_malformed_signature(encoding: str, value: str) -> None:
    with pytest.raises(errors.SignatureInvalid, match="malformed x-sig header"):
        verify(source(encoding=encoding), {"x-sig": value}, b"body", ("k",))


def test_missing_header() -> None:
    with pytest.raises(errors.SignatureInvalid, match="missing x-sig header"):
        verify(source(), {"x-other": "00"}, b"body", ("k",))


SLACK = {
    "header": "X-Slack-Signature",
    "prefix": "v0=",
    "timestamp_header": "X-Slack-Request-Timestamp",
    "signed_content": "v0:{timestamp}:{body}",
}
SLACK_HEADERS = {
    "x-slack-signature": SLACK_SIGNATURE,
    "x-slack-request-timestamp": SLACK_TIMESTAMP,
}
SLACK_NOW = float(SLACK_TIMESTAMP)


def test_slack_vector_with_timestamp_template() -> None:
    verify(source(**SLACK), SLACK_HEADERS, SLACK_BODY, (SLACK_SECRET,), SLACK_NOW)


def test_signer_reproduces_slack_vector() -> None:
    signed = hmac_generic.signer(source(**SLACK), SLACK_SECRET)(SLACK_BODY, SLACK_NOW, "")
    assert signed.headers == {
        "X-Slack-Request-Timestamp": SLACK_TIMESTAMP,
        "X-Slack-Signature": SLACK_SIGNATURE,
    }


def test_slack_vector_tampered_body_fails() -> None:
    with pytest.raises(errors.SignatureInvalid, match="signature does not match"):
        verify(source(**SLACK), SLACK_HEADERS, SLACK_BODY + b"------", (SLACK_SECRET,), SLACK_NOW)


def test_slack_vector_tampered_timestamp_fails() -> None:
    headers = {**SLACK_HEADERS, "x-slack-request-timestamp": str(int(SLACK_NOW) + 1)}
    with pytest.raises(errors.SignatureInvalid, match="signature does not match"):
        verify(source(**SLACK), headers, SLACK_BODY, (SLACK_SECRET,), SLACK_NOW)


@pytest.mark.parametrize(("offset", "problem"), [(-301, "too old"), (301, "too new")])
def test_stale_and_future_timestamps(offset: int, problem: str) -> None:
    with pytest.raises(
        errors.SignatureInvalid, match=f"x-slack-request-timestamp header is {problem}"
    ):
        verify(source(**SLACK), SLACK_HEADERS, SLACK_BODY, (SLACK_SECRET,), SLACK_NOW - offset)


@pytest.mark.parametrize("offset", [-300, 300])
def test_timestamp_at_tolerance_edge_passes(offset: int) -> None:
    verify(source(**SLACK), SLACK_HEADERS, SLACK_BODY, (SLACK_SECRET,), SLACK_NOW - offset)


def test_custom_tolerance() -> None:
    src = source(**SLACK, tolerance_seconds=10)
    with pytest.raises(errors.SignatureInvalid, match="too old"):
        verify(src, SLACK_HEADERS, SLACK_BODY, (SLACK_SECRET,), SLACK_NOW + 11)


def test_missing_timestamp_header() -> None:
    headers = {"x-slack-signature": SLACK_SIGNATURE}
    with pytest.raises(errors.SignatureInvalid, match="missing x-slack-request-timestamp header"):
        verify(source(**SLACK), headers, SLACK_BODY, (SLACK_SECRET,), SLACK_NOW)


def test_malformed_timestamp() -> None:
    headers = {**SLACK_HEADERS, "x-slack-request-timestamp": "yesterday"}
    with pytest.raises(errors.SignatureInvalid, match="malformed x-slack-request-timestamp"):
        verify(source(**SLACK), headers, SLACK_BODY, (SLACK_SECRET,), SLACK_NOW)


def test_timestamp_enforced_even_when_not_signed() -> None:
    src = source(timestamp_header="X-Ts")
    digest = hmac.new(b"k", b"body", hashlib.sha256).hexdigest()
    verify(src, {"x-sig": digest, "x-ts": str(int(NOW))}, b"body", ("k",))
    with pytest.raises(errors.SignatureInvalid, match="x-ts header is too old"):
        verify(src, {"x-sig": digest, "x-ts": str(int(NOW) - 3600)}, b"body", ("k",))


ID_TEMPLATE = {
    "algorithm": "sha512",
    "encoding": "base64",
    "prefix": "v1,",
    "timestamp_header": "Webhook-Timestamp",
    "id_header": "Webhook-Id",
    "signed_content": "{id}.{timestamp}.{body}",
}


def id_signature(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    # Computed independently with the standard library: no provider publishes this shape keyed
    # with the secret's UTF-8 bytes.
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha512).digest()
    return "v1," + base64.b64encode(digest).decode()


def test_id_timestamp_body_template() -> None:
    ts = str(int(NOW))
    headers = {
        "webhook-id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
        "webhook-timestamp": ts,
        "x-sig": id_signature(b"k", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", ts, b'{"a":1}'),
    }
    verify(source(**ID_TEMPLATE), headers, b'{"a":1}', ("k",))
    with pytest.raises(errors.SignatureInvalid, match="signature does not match"):
        verify(source(**ID_TEMPLATE), {**headers, "webhook-id": "msg_other"}, b'{"a":1}', ("k",))
    with pytest.raises(errors.SignatureInvalid, match="missing webhook-id header"):
        verify(
            source(**ID_TEMPLATE),
            {k: v for k, v in headers.items() if k != "webhook-id"},
            b'{"a":1}',
            ("k",),
        )


def test_id_template_round_trip_with_lower_case_headers() -> None:
    src = source(**ID_TEMPLATE)
    signed = hmac_generic.signer(src, "k")(b"\x00\xffraw bytes", NOW, "")
    assert set(signed.headers) == {"Webhook-Id", "Webhook-Timestamp", "X-Sig"}
    assert signed.headers["Webhook-Timestamp"] == str(int(NOW))
    expected = id_signature(
        b"k",
        signed.headers["Webhook-Id"],
        signed.headers["Webhook-Timestamp"],
        b"\x00\xffraw bytes",
    )
    assert signed.headers["X-Sig"] == expected
    headers = {k.lower(): v for k, v in signed.headers.items()}
    verify(src, headers, b"\x00\xffraw bytes", ("k",))


def test_template_literal_text_is_signed() -> None:
    src = source(signed_content="prefix:{body}:suffix")
    digest = hmac.new(b"k", b"prefix:body:suffix", hashlib.sha256).hexdigest()
    verify(src, {"x-sig": digest}, b"body", ("k",))


def test_body_placeholder_text_in_body_is_not_substituted() -> None:
    src = source(**{**ID_TEMPLATE, "signed_content": "{timestamp}.{body}"})
    signed = hmac_generic.signer(src, "k")(b"{id}{timestamp}", NOW, "")
    verify(src, {k.lower(): v for k, v in signed.headers.items()}, b"{id}{timestamp}", ("k",))


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        ({"signed_content": "{timestamp}.{body}"}, "uses {timestamp} but no timestamp_header"),
        ({"signed_content": "{id}.{body}"}, "uses {id} but no id_header"),
        (
            {"signed_content": "{id}.{body}", "timestamp_header": "X-Ts"},
            "uses {id} but no id_header",
        ),
        ({"signed_content": "{ts}.{body}"}, "unknown placeholder {ts}"),
    ],
)
def test_bad_template_raises_at_start_up(keys: dict[str, Any], problem: str) -> None:
    """The config refuses these too; this is the verifier's own guard, past the config."""
    src = dataclasses.replace(base.Spec(scheme="hmac", header="X-Sig"), **keys)
    with pytest.raises(ValueError, match=problem.replace("{", r"\{").replace("}", r"\}")):
        hmac_generic.verifier(src, ["k"])
    with pytest.raises(ValueError, match=problem.replace("{", r"\{").replace("}", r"\}")):
        hmac_generic.signer(src, "k")
