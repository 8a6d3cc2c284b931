"""Slack v0 signature verification against Slack's published example."""

from __future__ import annotations

import pytest

from tests.unit import specs
from webhook_processor import errors
from webhook_processor.verify import base, slack

# Slack's documented example, https://api.slack.com/authentication/verifying-requests-from-slack
# (also used by slackapi/python-slack-sdk tests/slack_sdk/signature/test_signature_verifier.py).
VECTOR_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
VECTOR_TS = 1531420618
VECTOR_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
VECTOR_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
    b"&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner"
    b"&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands"
    b"%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
HEADERS = {"x-slack-request-timestamp": str(VECTOR_TS), "x-slack-signature": VECTOR_SIGNATURE}


def source(**extra: object) -> base.Spec:
    return specs.validated({"verify": "slack", "secret": "x", **extra})


def verify(
    headers: dict[str, str] = HEADERS,
    *,
    secrets: tuple[str, ...] = (VECTOR_SECRET,),
    body: bytes = VECTOR_BODY,
    now: float = VECTOR_TS,
    **extra: object,
) -> None:
    slack.verifier(source(**extra), list(secrets))(base.Request(body, headers), now)


def test_official_vector_verifies() -> None:
    verify()


def test_signer_reproduces_official_vector() -> None:
    signed = slack.signer(source(), VECTOR_SECRET)(VECTOR_BODY, VECTOR_TS + 0.5, "https://x/")
    assert signed.headers == {
        "X-Slack-Request-Timestamp": str(VECTOR_TS),
        "X-Slack-Signature": VECTOR_SIGNATURE,
    }
    assert signed.url == "https://x/"


def test_signer_output_verifies_with_lower_cased_header_names() -> None:
    signed = slack.signer(source(), "s3cret")(b'{"type":"event_callback"}', 1_700_000_000, "")
    headers = {k.lower(): v for k, v in signed.headers.items()}
    verify(headers, secrets=("s3cret",), body=b'{"type":"event_callback"}', now=1_700_000_000)


def test_tampered_body_fails() -> None:
    # As python-slack-sdk's test_is_valid_request_invalid_body.
    with pytest.raises(errors.SignatureInvalid, match="does not match any configured secret"):
        verify(body=VECTOR_BODY + b"------")


def test_wrong_secret_fails() -> None:
    with pytest.raises(errors.SignatureInvalid, match="does not match any configured secret"):
        verify(secrets=("8f742231b10e8888abcd99yyyzzz85a6",))


def test_rotation_second_secret_matches() -> None:
    verify(secrets=("new-signing-secret", VECTOR_SECRET))


def test_timestamp_is_part_of_the_signature() -> None:
    headers = {**HEADERS, "x-slack-request-timestamp": str(VECTOR_TS + 1)}
    with pytest.raises(errors.SignatureInvalid, match="does not match"):
        verify(headers, now=VECTOR_TS)


@pytest.mark.parametrize(
    ("now", "message"), [(VECTOR_TS + 301, "too old"), (VECTOR_TS - 301, "too new")]
)
def test_stale_and_future_timestamps_fail(now: float, message: str) -> None:
    with pytest.raises(
        errors.SignatureInvalid, match=f"x-slack-request-timestamp header is {message}"
    ):
        verify(now=now)


def test_source_tolerance_is_used() -> None:
    verify(now=VECTOR_TS + 60, tolerance_seconds=60)
    with pytest.raises(errors.SignatureInvalid, match="too old"):
        verify(now=VECTOR_TS + 61, tolerance_seconds=60)


@pytest.mark.parametrize("name", ["x-slack-request-timestamp", "x-slack-signature"])
def test_missing_header(name: str) -> None:
    headers = {k: v for k, v in HEADERS.items() if k != name}
    with pytest.raises(errors.SignatureInvalid, match=f"missing {name} header"):
        verify(headers)


@pytest.mark.parametrize(
    "value", [VECTOR_SIGNATURE[3:], "v1=" + VECTOR_SIGNATURE[3:], "sha256=" + VECTOR_SIGNATURE[3:]]
)
def test_malformed_signature_header(value: str) -> None:
    with pytest.raises(errors.SignatureInvalid, match="malformed x-slack-signature header"):
        verify({**HEADERS, "x-slack-signature": value})


def test_malformed_timestamp_header() -> None:
    with pytest.raises(errors.SignatureInvalid, match="malformed x-slack-request-timestamp header"):
        verify({**HEADERS, "x-slack-request-timestamp": "yesterday"})
