"""Outgoing deliveries: the exact request built for an attempt, checked against the official
Standard Webhooks library, and what each kind of answer means."""

from __future__ import annotations

import base64
import dataclasses
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from webhook_processor import delivery, models, signing

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
SIGNED = delivery.Destination(
    "orders", "https://receiver.example/hooks", signing_key=delivery.signing_key(SECRET)
)
DESTINATION = dataclasses.replace(SIGNED, signing_key=None)
BODY = '{"type":"payment_intent.succeeded","amount":"42 €"}'.encode()


def event(**changes: object) -> models.Event:
    fields: dict[str, object] = {
        "id": "evt_0190a1b2c3d4aabbccddeeff00112233",
        "source": "stripe",
        "event_type": "payment_intent.succeeded",
        "idempotency_key": None,
        "received_ms": 1_700_000_000_000,
        "content_type": "application/json; charset=utf-8",
        "headers": {"user-agent": "Stripe/1.0", "x-request-id": "req_1"},
        "body": BODY,
    }
    fields.update(changes)
    return models.Event(**fields)  # type: ignore[arg-type]


def build(
    attempt: int = 1, now: float | None = None, forward_headers: tuple[str, ...] = ()
) -> delivery.Outgoing:
    evt = event()
    return delivery.build(
        evt,
        dataclasses.replace(SIGNED, forward_headers=forward_headers),
        evt.id,
        attempt,
        time.time() if now is None else now,
    )


def test_request_carries_body_content_type_and_headers() -> None:
    out = build(now=1_700_000_123.9)
    expected_signature = signing.v1(
        b"k" * 32, "evt_0190a1b2c3d4aabbccddeeff00112233", "1700000123", BODY
    )
    assert out == delivery.Outgoing(
        url="https://receiver.example/hooks",
        headers={
            "content-type": "application/json; charset=utf-8",
            "webhook-id": "evt_0190a1b2c3d4aabbccddeeff00112233",
            "webhook-timestamp": "1700000123",
            "webhook-signature": expected_signature,
            "whp-source": "stripe",
            "whp-event-type": "payment_intent.succeeded",
            "whp-attempt": "1",
        },
        body=BODY,  # the raw bytes as received, not re-serialised
        destination="orders",
    )
    assert expected_signature.startswith("v1,")


def test_official_library_verifies_the_signature() -> None:
    out = build()
    assert Webhook(SECRET).verify(out.body, out.headers) == {
        "type": "payment_intent.succeeded",
        "amount": "42 €",
    }


def test_a_retry_keeps_the_id_gets_a_new_timestamp_and_still_verifies() -> None:
    first = build(attempt=1, now=time.time() - 60)
    second = build(attempt=2)
    assert second.headers["webhook-id"] == first.headers["webhook-id"]
    assert second.headers["webhook-timestamp"] != first.headers["webhook-timestamp"]
    assert second.headers["whp-attempt"] == "2"
    for out in (first, second):
        Webhook(SECRET).verify(out.body, out.headers, json_parse=False)


def test_official_library_rejects_a_tampered_body_or_another_key() -> None:
    out = build()
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(out.body.replace(b"42", b"43"), out.headers)
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(out.body, out.headers)


def test_replay_with_a_new_id_signs_that_id() -> None:
    out = delivery.build(event(), SIGNED, "evt_fresh", 1, time.time())
    assert out.headers["webhook-id"] == "evt_fresh"
    Webhook(SECRET).verify(out.body, out.headers, json_parse=False)


def test_no_signing_secret_no_signature_header() -> None:
    unsigned = delivery.Destination("local", "http://127.0.0.1:9000/hooks")
    out = delivery.build(event(), unsigned, "evt_1", 1, 1_700_000_000.0)
    assert "webhook-signature" not in out.headers
    assert out.headers["webhook-id"] == "evt_1"
    assert out.headers["webhook-timestamp"] == "1700000000"


def test_no_content_type_no_header() -> None:
    out = delivery.build(event(content_type=None), DESTINATION, "evt_1", 1, 0.0)
    assert "content-type" not in out.headers


def test_control_characters_in_the_event_type_cannot_break_its_header() -> None:
    evt = event(event_type="order.paid\r\nx-injected: 1\x00\t€")
    out = delivery.build(evt, DESTINATION, "evt_1", 1, 0.0)
    assert out.headers["whp-event-type"] == "order.paid??x-injected: 1?\t€"


def test_forward_headers_copied_only_when_present() -> None:
    out = build(forward_headers=("x-request-id", "x-missing", "user-agent"))
    assert out.headers["x-request-id"] == "req_1"
    assert out.headers["user-agent"] == "Stripe/1.0"
    assert "x-missing" not in out.headers
    assert "x-request-id" not in build().headers  # only the ones listed


def test_forward_headers_never_replace_the_signed_ones() -> None:
    inbound = {
        "webhook-id": "msg_provider",
        "webhook-signature": "v1,forged",
        "content-type": "text/plain",
        "whp-attempt": "99",
    }
    evt = event(headers=inbound)
    forwarding = dataclasses.replace(SIGNED, forward_headers=tuple(inbound))
    out = delivery.build(evt, forwarding, evt.id, 1, time.time())
    assert out.headers["webhook-id"] == evt.id
    assert out.headers["content-type"] == "application/json; charset=utf-8"
    assert out.headers["whp-attempt"] == "1"
    Webhook(SECRET).verify(out.body, out.headers, json_parse=False)
    unsigned = delivery.build(
        evt, dataclasses.replace(forwarding, signing_key=None), evt.id, 1, time.time()
    )
    assert "webhook-signature" not in unsigned.headers  # not the provider's, passed along


@pytest.mark.parametrize(
    "secret",
    [
        "s3cr3t-plain-text",  # no prefix
        "whsec_",  # nothing after it
        "whsec_not*base64!",
        "whpk_" + base64.b64encode(b"k" * 32).decode(),  # another kind of key
    ],
)
def test_malformed_secret_is_refused_without_repeating_it(secret: str) -> None:
    with pytest.raises(ValueError, match=r"whsec_<base64") as caught:
        delivery.signing_key(secret)
    secret_part = secret.removeprefix("whsec_")
    assert not secret_part or secret_part not in str(caught.value)
    assert caught.value.__context__ is None  # no chained decoding error quoting it either


def test_unpadded_secret_is_accepted() -> None:
    key = bytes(range(25))
    unpadded = "whsec_" + base64.b64encode(key).decode().rstrip("=")
    assert delivery.signing_key(unpadded) == key


NOW = 1445412420.0  # 2015-10-21T07:27:00Z


@pytest.mark.parametrize(
    ("status", "headers", "body", "error", "expected"),
    [
        # 2xx is success, with or without a body
        (200, {}, b"thanks", None, delivery.Result(True, 200, 12, None, "thanks", None)),
        (204, {}, None, None, delivery.Result(True, 204, 12, None, None, None)),
        # a redirect is not followed: a failure that says where it pointed
        (
            301,
            {"Location": "https://new.example/hooks"},
            b"",
            None,
            delivery.Result(
                False,
                301,
                12,
                "HTTP 301: redirect to https://new.example/hooks not followed; "
                "update the destination URL",
                None,
                None,
            ),
        ),
        # Retry-After honoured on 429 and 503, as seconds or as an HTTP date
        (
            429,
            {"retry-after": "7"},
            b"slow down",
            None,
            delivery.Result(False, 429, 12, "HTTP 429", "slow down", 7.0),
        ),
        (
            429,
            {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"},
            None,
            None,
            delivery.Result(False, 429, 12, "HTTP 429", None, 60.0),
        ),
        (
            503,
            {"Retry-After": "120"},
            None,
            None,
            delivery.Result(False, 503, 12, "HTTP 503", None, 120.0),
        ),
        (503, {}, None, None, delivery.Result(False, 503, 12, "HTTP 503", None, None)),
        # ...and ignored on any other status
        (
            500,
            {"Retry-After": "7"},
            b"boom",
            None,
            delivery.Result(False, 500, 12, "HTTP 500", "boom", None),
        ),
        (404, {}, None, None, delivery.Result(False, 404, 12, "HTTP 404", None, None)),
        # no response at all
        (
            None,
            {},
            None,
            "timeout after 15.0 s",
            delivery.Result(False, None, 12, "timeout after 15.0 s", None, None),
        ),
        (
            None,
            {},
            None,
            "connection refused",
            delivery.Result(False, None, 12, "connection refused", None, None),
        ),
        # a 2xx whose body then timed out is not trusted: a retry is safe, a loss is not
        (
            200,
            {},
            b"par",
            "timeout after 15.0 s",
            delivery.Result(False, 200, 12, "timeout after 15.0 s", "par", None),
        ),
    ],
)
def test_classify(
    status: int | None,
    headers: dict[str, str],
    body: bytes | None,
    error: str | None,
    expected: delivery.Result,
) -> None:
    assert delivery.classify(status, headers, body, error, 12, NOW) == expected


def test_excerpt_is_the_first_512_bytes_decoded_leniently() -> None:
    body = "é".encode() * 300 + b"\xff"  # 601 bytes, ending in invalid UTF-8
    excerpt = delivery.classify(500, {}, body, None, 1, NOW).excerpt
    assert excerpt == "é" * 256
    assert delivery.classify(500, {}, b"\xffok", None, 1, NOW).excerpt == "\ufffdok"
    cut = delivery.classify(500, {}, b"a" + "é".encode() * 300, None, 1, NOW).excerpt
    assert cut == "a" + "é" * 255 + "\ufffd"  # a character cut in two
