"""The adapters together, as the functions will use them, on docs/aws.md's layout in moto: an
event from ingest through the ingest queue, the router's records and the bus, to a destination
queue and its delivery records; and a failing delivery through the DLQ and back."""

from __future__ import annotations

import itertools
import json
from typing import Any

from tests.aws import layout
from webhook_processor import models, ports
from webhook_processor.adapters.aws import dynamodb, eventbridge, operations, records, sqs

ROUTES = {"github-pushes": "orders", "everything": "audit"}
CLOCK = itertools.count(1_000, 10)  # each attempt starts after the one before


def _receive(aws: layout.Aws, url: str) -> list[Any]:
    got = aws.sqs().receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["ApproximateReceiveCount"]
    )
    return list(got.get("Messages", []))


def _route(st: layout.Stack, publisher: eventbridge.Publisher, message: dict[str, Any]) -> None:
    """The router's part: the event, its routing round, the bus."""
    loaded = st.records.load(message["event_id"])
    assert loaded is not None
    targets = [
        (r, d)
        for r, d in ROUTES.items()
        if r != "github-pushes" or loaded.event.event_type == "push"
    ]
    if loaded.routed:  # the message delivered again: nothing to do
        return
    detail = json.loads(loaded.event.body)
    assert publisher.publish([eventbridge.entry(loaded.event, detail)]) == [None]
    assert st.records.route(loaded, targets, now_ms=loaded.event.received_ms + 10)


def _attempt(st: layout.Stack, message: dict[str, Any], ok: bool) -> records.Tracked | None:
    """The delivery function's part, for one message of a destination queue."""
    wrapped = json.loads(message["Body"])
    event_id = wrapped["event"]["resources"][0].removeprefix("whp:event:")
    loaded = st.records.load(event_id)
    assert loaded is not None
    tracked = st.records.begin(loaded, wrapped["route"], wrapped.get("generation", 0), 1_000)
    if tracked is None:
        return None
    n = sqs.receive_count({"attributes": message["Attributes"], "messageId": message["MessageId"]})
    outcome: models.Outcome = "delivered" if ok else ("dead" if n >= 3 else "retry")
    started = next(CLOCK)
    attempt = models.Attempt(n, started, 5, 200 if ok else 500, None, None)
    st.records.record(tracked, attempt, outcome, started + 5)
    return tracked


def test_an_event_travels_from_ingest_to_two_destinations(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    st = layout.stack(aws, deployed)
    store: ports.EventStore = st.store  # the ports, as the composition root will see them
    ops: ports.Operations = st.operations
    assert isinstance(st.store, dynamodb.EventStore)
    assert isinstance(ops, operations.Operations)
    publisher = eventbridge.Publisher(deployed.bus, aws.events())
    event = layout.event(key="d-1")
    st.store.add_now(event)
    del store
    for message in layout.messages(aws.sqs(), deployed.ingest_queue_url):
        _route(st, publisher, message)
        _route(st, publisher, message)  # SQS delivered it twice: nothing doubles
    for name in ("orders", "audit"):
        (message,) = _receive(aws, deployed.destination_queue_urls[name])
        assert _attempt(st, message, ok=True) is not None
    assert [(d.route, d.status, d.attempts) for d in ops.deliveries(event.id)] == [
        ("everything", "delivered", 1),
        ("github-pushes", "delivered", 1),
    ]
    assert ops.counts() == (
        {"pending": 0, "routed": 1, "unrouted": 0},
        {"pending": 0, "delivered": 2, "dead": 0},
    )


def test_a_failing_delivery_reaches_the_dlq_and_a_redrive_delivers_it(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    st = layout.stack(aws, deployed)
    publisher = eventbridge.Publisher(deployed.bus, aws.events())
    event = layout.event()
    st.store.add_now(event)
    for message in layout.messages(aws.sqs(), deployed.ingest_queue_url):
        _route(st, publisher, message)
    layout.messages(aws.sqs(), deployed.destination_queue_urls["audit"])
    queue = sqs.Queue(deployed.destination_queue_urls["orders"], aws.sqs())
    for _ in range(3):  # max_attempts: 3, each failed attempt backs off (here: none)
        (message,) = _receive(aws, queue.url)
        _attempt(st, message, ok=False)
        queue.change_visibility(message["ReceiptHandle"], sqs.visibility_timeout(0))
    assert _receive(aws, queue.url) == []  # SQS moved it to the DLQ at this receive
    (letter,) = st.operations.dead_letters("orders", 10).items
    assert (letter.event_id, letter.attempts, letter.last_status_code) == (event.id, 3, 500)
    # The whole DLQ back (moto: the receive/send/delete loop), then one delivery from scratch
    dlq = deployed.destination_dlq_urls["orders"]
    assert sqs.redrive(aws.sqs(), dlq, queue.url, wait_seconds=0).moved == 1
    (message,) = _receive(aws, queue.url)
    assert json.loads(message["Body"])["route"] == "github-pushes"
    assert _attempt(st, message, ok=True) is not None
    (orders,) = [d for d in st.operations.deliveries(event.id) if d.destination == "orders"]
    assert (orders.status, orders.attempts) == ("delivered", 1)
    assert [a.status_code for a in orders.history] == [500, 500, 500, 200]
    assert st.operations.dead_letters("orders", 10).items == []
