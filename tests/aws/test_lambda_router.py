"""The router function in-process against moto: SQS batches of the ingest queue in, the routing
recorded (routed / unrouted, one delivery per route), the routed events on the bus, which the
layout's rules fan out to the destination queues; partial batch failures; idempotence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.aws import lambdas_config, layout, runtime
from webhook_processor import config
from webhook_processor.entrypoints.lambdas import router

EVENTS = Path(__file__).parents[1] / "events"


def _post(rt: runtime.Runtime, source: str, body: bytes, **kwargs: Any) -> str:
    cfg = config.load(rt.config_file)
    out = lambdas_config.signed(cfg, source, body, **kwargs)  # a fresh delivery id in it
    answer = rt.post(source, out.body, out.headers)
    assert answer.status == 202, answer.body
    event_id: str = answer.json()["id"]
    return event_id


def _queued(aws: layout.Aws, rt: runtime.Runtime, destination: str) -> list[dict[str, Any]]:
    return layout.messages(aws.sqs(), rt.deployed.destination_queue_urls[destination])


def test_an_event_is_routed_to_every_matching_route_through_the_bus(
    rt: runtime.Runtime, aws: layout.Aws
) -> None:
    push = _post(rt, "github", b'{"ref": "refs/heads/main"}', event_type="push")
    payment = _post(rt, "stripe", b'{"id": "evt_1", "type": "payment_intent.succeeded"}')
    call = _post(rt, "twilio", b"CallSid=CA1&From=%2B1")  # no route takes twilio
    assert rt.route() == 3
    (batch,) = rt.batches
    assert batch.queue == "wh-test-ingest"
    assert batch.failed == set()
    ops = layout.stack(aws, rt.deployed).operations
    listed = ops.events(layout.ports_filter(), 10).items
    assert sorted((e.id, e.status) for e in listed) == sorted(
        [(push, "routed"), (payment, "routed"), (call, "unrouted")]
    )
    assert [(d.route, d.destination) for d in ops.deliveries(push)] == [
        ("everything", "audit"),
        ("github-pushes", "orders"),
    ]
    (order,) = _queued(aws, rt, "orders")
    assert order["route"] == "github-pushes"
    assert order["event"]["resources"] == [
        f"whp:event:{push}"
    ]  # the envelope of docs/architecture.md
    assert (order["event"]["source"], order["event"]["detail-type"]) == ("github", "push")
    audit = {m["event"]["resources"][0] for m in _queued(aws, rt, "audit")}
    assert audit == {f"whp:event:{push}", f"whp:event:{payment}"}


def test_a_message_received_twice_routes_once(rt: runtime.Runtime, aws: layout.Aws) -> None:
    push = _post(rt, "github", b'{"ref": "refs/heads/main"}', event_type="push")
    client = aws.sqs()
    url = rt.deployed.ingest_queue_url
    arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    (message,) = client.receive_message(QueueUrl=url, AttributeNames=["All"])["Messages"]
    record = runtime.sqs_record(message, arn)
    for _ in range(2):  # SQS delivers at least once
        answer = router.handler({"Records": [record]}, runtime.Context("wh-test-router"))
        assert answer == {"batchItemFailures": []}
    ops = layout.stack(aws, rt.deployed).operations
    assert len(ops.deliveries(push)) == 2
    assert len(_queued(aws, rt, "orders")) == 1  # published once: the second found it published


def test_one_bad_message_fails_alone(rt: runtime.Runtime, aws: layout.Aws) -> None:
    push = _post(rt, "github", b'{"ref": "refs/heads/main"}', event_type="push")
    aws.sqs().send_message(QueueUrl=rt.deployed.ingest_queue_url, MessageBody='{"not": "ours"}')
    client = aws.sqs()
    url = rt.deployed.ingest_queue_url
    arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    got = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
    records = [runtime.sqs_record(m, arn) for m in got["Messages"]]
    assert len(records) == 2
    answer = router.handler({"Records": records}, runtime.Context("wh-test-router"))
    bad = next(r["messageId"] for r in records if "not" in r["body"])
    assert answer == {"batchItemFailures": [{"itemIdentifier": bad}]}
    ops = layout.stack(aws, rt.deployed).operations
    event = ops.event(push)
    assert event is not None
    assert event.status == "routed"


def test_the_sample_batch_of_events_never_stored_is_acknowledged(rt: runtime.Runtime) -> None:
    # tests/events/sqsIngestQueueEvent.json: its events are not in this table (expired, say)
    sample = json.loads((EVENTS / "sqsIngestQueueEvent.json").read_text(encoding="utf-8"))
    answer = router.handler(sample, runtime.Context("wh-test-router"))
    assert answer == {"batchItemFailures": []}


def test_an_event_the_bus_refuses_goes_to_its_routes_queues_directly(
    rt: runtime.Runtime, aws: layout.Aws, receiver: Any
) -> None:
    long_type = "t" * 200  # EventBridge takes a detail-type of at most 128 characters
    body = json.dumps({"type": long_type, "n": 1}).encode()
    event_id = _post(rt, "acme", body)
    assert rt.route() == 1
    assert rt.batches[-1].failed == set()
    (message,) = _queued(aws, rt, "audit")
    assert message["route"] == "everything"
    assert message["event"]["resources"] == [f"whp:event:{event_id}"]
    assert message["event"]["detail-type"] == long_type


def test_a_body_over_the_item_and_bus_limits_is_delivered_whole(
    rt: runtime.Runtime, aws: layout.Aws, receiver: Any
) -> None:
    # 1.5 MB: past a DynamoDB item (S3 holds it) and past a PutEvents entry (1 MB): the
    # router sends it to the queue itself, and the delivery POSTs the stored bytes
    body = json.dumps({"type": "big", "blob": "é" * 750_000}, ensure_ascii=False).encode()
    assert len(body) > 1_400_000
    event_id = _post(rt, "acme", body)
    rt.settle()
    (arrival,) = receiver.arrivals("/audit")
    assert arrival.verified, arrival.error
    assert arrival.body == body
    assert arrival.webhook_id == event_id
