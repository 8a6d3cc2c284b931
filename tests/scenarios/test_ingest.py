"""What a provider sees, on both runtimes: signatures of several schemes checked over the exact
bytes, duplicates answered with the first id, and a body larger than a DynamoDB item stored and
delivered byte-exact."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.scenarios import aws, runtimes, signers, whp_config

pytestmark = pytest.mark.scenarios

ITEM_LIMIT = 400 * 1024  # DynamoDB's item size: what the AWS runtime offloads to S3


@pytest.fixture(params=(*runtimes.RUNTIMES, "aws-http"))
def runtime(request: pytest.FixtureRequest) -> Iterator[runtimes.Runtime]:
    """Also through the HTTP API, whose events carry a UTF-8 body as text, not base64."""
    yield from runtimes.started(request)


def push(**fields: object) -> bytes:
    text = json.dumps({"ref": "refs/heads/main", **fields}, ensure_ascii=False, indent=1)
    return text.encode()


def test_a_github_webhook_verifies_only_with_its_secret(runtime: runtimes.Runtime) -> None:
    body = push(after=uuid.uuid4().hex)
    forged = signers.github("not-the-secret", body)
    status, answer = runtime.send("github", body, forged)
    assert (status, answer["error"]) == (401, "invalid_signature")
    assert "does not match" in answer["detail"]
    unsigned = {k: v for k, v in forged.items() if k != "X-Hub-Signature-256"}
    status, answer = runtime.send("github", body, unsigned)
    assert (status, answer) == (
        401,
        {"error": "invalid_signature", "detail": "missing x-hub-signature-256 header"},
    )
    tampered = signers.github(runtime.secrets.current("github"), body)
    status, _ = runtime.send("github", body + b" ", tampered)  # one byte more than was signed
    assert status == 401

    status, answer = runtime.send(
        "github", body, signers.github(runtime.secrets.current("github"), body)
    )
    assert (status, answer["duplicate"], answer["id"][:4]) == (202, False, "evt_")
    runtime.settle()
    assert [e.id for e in runtime.events("github")] == [answer["id"]]  # none of the refused
    (arrival,) = runtime.deliveries_received("orders")
    assert (arrival.webhook_id, arrival.body, arrival.verified) == (answer["id"], body, True)


def test_a_stripe_signature_holds_within_the_tolerance_only(runtime: runtimes.Runtime) -> None:
    secret, now = runtime.secrets.current("stripe"), int(time.time())
    answers = {}
    for label, at in (("recent", now - 200), ("stale", now - 400), ("future", now + 400)):
        body = json.dumps(
            {"id": f"evt_{label}_{secrets.token_hex(4)}", "type": "payment_intent.created"}
        ).encode()
        answers[label] = runtime.send("stripe", body, signers.stripe(secret, body, timestamp=at))
    assert answers["recent"][0] == 202
    assert answers["stale"] == (
        401,
        {
            "error": "invalid_signature",
            "detail": "stripe-signature timestamp is too old (more than 300s in the past)",
        },
    )
    assert answers["future"][0] == 401
    assert "too new" in answers["future"][1]["detail"]
    runtime.settle()
    assert [e.id for e in runtime.events("stripe")] == [answers["recent"][1]["id"]]
    (arrival,) = runtime.deliveries_received("orders")  # route payments: payment_intent.*
    assert arrival.headers["whp-event-type"] == "payment_intent.created"


def test_a_standard_webhooks_v1_signature_verifies(runtime: runtimes.Runtime) -> None:
    body = json.dumps({"type": "order.paid", "order": 42}).encode()
    signed = signers.standard(runtime.secrets.current("app"), body)
    status, answer = runtime.send("app", body, signed)
    assert status == 202
    other_key = signers.standard(whp_config.standard_secret(), body)
    assert runtime.send("app", body, other_key)[0] == 401
    replayed_elsewhere = {**signed, "webhook-id": "msg_someone_else"}  # the id is signed too
    assert runtime.send("app", body, replayed_elsewhere)[0] == 401
    runtime.settle()
    (arrival,) = runtime.deliveries_received("orders")
    # whp signs its delivery anew, with its own id: the event's, not the sender's
    assert (arrival.webhook_id, arrival.body, arrival.verified) == (answer["id"], body, True)
    assert arrival.headers["whp-event-type"] == "order.paid"


def test_a_duplicate_delivery_is_answered_with_the_first_id_and_delivered_once(
    runtime: runtimes.Runtime,
) -> None:
    body = push(after="dup")
    delivery = str(uuid.uuid4())  # X-GitHub-Delivery: GitHub's retry of the same delivery
    secret = runtime.secrets.current("github")
    first = runtime.send("github", body, signers.github(secret, body, delivery=delivery))
    again = runtime.send("github", body, signers.github(secret, body, delivery=delivery))
    assert first[0] == 202
    assert again == (200, {"id": first[1]["id"], "duplicate": True})
    runtime.settle()
    later = runtime.send("github", body, signers.github(secret, body, delivery=delivery))
    assert later == (200, {"id": first[1]["id"], "duplicate": True})  # routed: nothing queued
    runtime.settle()
    assert [e.id for e in runtime.events("github")] == [first[1]["id"]]
    assert [a.webhook_id for a in runtime.deliveries_received("orders")] == [first[1]["id"]]
    assert [a.webhook_id for a in runtime.deliveries_received("audit")] == [first[1]["id"]]


def test_a_body_over_the_dynamodb_item_limit_is_stored_and_delivered_byte_exact(
    runtime: runtimes.Runtime,
) -> None:
    # 600 KB of JSON, with non-ASCII text, whose exact bytes (spacing included) are signed; its
    # random text compresses little, so even compressed it is over what an item holds
    body = push(commits=[{"message": "é-" + secrets.token_urlsafe(300)} for _ in range(1500)])
    assert len(body) > 600_000 > ITEM_LIMIT
    status, answer = runtime.send(
        "github", body, signers.github(runtime.secrets.current("github"), body)
    )
    assert status == 202
    runtime.settle()
    assert runtime.event(answer["id"]).event.body == body
    for receiver in ("orders", "audit"):
        (arrival,) = runtime.deliveries_received(receiver)
        assert (arrival.body, arrival.verified) == (body, True)
        assert arrival.headers["content-type"] == "application/json"
    expected = {"local": "sqlite", "aws": "s3"}  # over an item's 400 KB: offloaded to S3
    assert runtime.body_location(answer["id"]) == expected[runtime.name]
    if isinstance(runtime, aws.AwsRuntime):
        moto_carries_the_detail(runtime, answer["id"], body)


def moto_carries_the_detail(runtime: aws.AwsRuntime, event_id: str, body: bytes) -> None:
    """Where moto differs from AWS in this scenario, asserted so that a moto that changes says
    so. The rule targets' input transformer: AWS's `<aws.events.event>` is the event without
    its detail (docs/aws.md, "Queues"), moto knows only `<aws.events.event.json>`
    (tests/aws/layout.py, MOTO_EVENT_VARIABLE), so on moto the 600 KB detail rides in every
    destination message; and moto writes the envelope's `time` as Unix seconds (a float) and
    adds an `ingestion-time`, where AWS writes RFC 3339 to the second. The deliveries are
    byte-exact all the same: the delivery function POSTs the stored body (here from S3), never
    the detail, which is the body parsed, not its bytes."""
    for destination in ("orders", "audit"):
        (message,) = runtime.destination_messages(destination)
        envelope = message["event"]
        assert envelope["resources"] == [f"whp:event:{event_id}"]
        assert envelope["detail"] == json.loads(body)  # moto: the detail is there
        assert json.dumps(envelope["detail"]).encode() != body
        assert isinstance(envelope["time"], float)  # moto: not "2026-11-30T12:00:00Z"
        assert "ingestion-time" in envelope
