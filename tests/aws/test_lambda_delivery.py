"""The delivery function in-process against moto, delivering to a loopback receiver that checks
every request with the official standardwebhooks library: the original bytes, webhook-id the
event id, the attempt number the receive count, backoff by visibility timeout, the DLQ after
max_attempts, redrive and replay; the messages of a batch attempted together, each with its own
outcome."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.aws import lambdas_config, layout, runtime
from tests.e2e import receiver as receivers
from webhook_processor import config, models, routing
from webhook_processor.entrypoints.lambdas import delivery

EVENTS = Path(__file__).parents[1] / "events"
PUSH = b'{"ref": "refs/heads/main", "note": "caf\xc3\xa9"}'


def _push(rt: runtime.Runtime) -> str:
    cfg = config.load(rt.config_file)
    out = lambdas_config.signed(cfg, "github", PUSH, event_type="push")
    answer = rt.post("github", out.body, out.headers)
    assert answer.status == 202, answer.body
    event_id: str = answer.json()["id"]
    return event_id


def _orders(aws: layout.Aws, rt: runtime.Runtime, event_id: str) -> models.Delivery:
    ops = layout.stack(aws, rt.deployed).operations
    (found,) = [d for d in ops.deliveries(event_id) if d.destination == "orders"]
    return found


def _depth(aws: layout.Aws, url: str) -> tuple[int, int]:
    got = aws.sqs().get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(got["ApproximateNumberOfMessages"]), int(
        got["ApproximateNumberOfMessagesNotVisible"]
    )


def test_a_delivery_posts_the_original_bytes_signed_for_standard_webhooks(
    rt: runtime.Runtime, aws: layout.Aws, receiver: receivers.Receiver
) -> None:
    event_id = _push(rt)
    rt.settle()
    (arrival,) = receiver.arrivals("/orders")
    assert arrival.verified, arrival.error  # standardwebhooks, with the secret in Secrets Manager
    assert arrival.body == PUSH  # from the table, not the re-serialised detail
    assert arrival.headers["content-type"] == "application/json"
    assert arrival.webhook_id == event_id
    assert (arrival.attempt, arrival.headers["whp-source"]) == (1, "github")
    assert arrival.headers["whp-event-type"] == "push"
    assert receiver.arrivals("/audit")[0].verified  # its own secret
    d = _orders(aws, rt, event_id)
    assert (d.status, d.attempts, [a.status_code for a in d.history]) == ("delivered", 1, [200])
    for url in rt.deployed.destination_queue_urls.values():
        assert _depth(aws, url) == (0, 0)  # acknowledged: deleted


def _event_of(record: dict[str, Any]) -> str:
    event_id = routing.event_id_of(json.loads(record["body"])["event"])
    assert event_id is not None
    return event_id


def _orders_batch(rt: runtime.Runtime, size: int) -> runtime.Batch:
    (batch,) = [b for b in rt.batches if b.queue == "wh-test-d-orders" and len(b.records) == size]
    return batch


def test_the_messages_of_a_batch_are_in_flight_together_and_each_acknowledged(
    rt: runtime.Runtime, aws: layout.Aws, receiver: receivers.Receiver
) -> None:
    # Each answer waits until 5 requests are held at once: one after the other, each would come
    # 10 s late and the receiver would never hold more than one.
    receiver.script("/orders", receivers.Reply(200, together=5, within=10))
    event_ids = {_push(rt) for _ in range(5)}
    rt.route()
    rt.deliver("orders")
    batch = _orders_batch(rt, 5)  # one invocation (orders: max_concurrency 10, 5 at once)
    assert batch.failed == set()
    assert receiver.most_in_flight("/orders") == 5
    arrivals = receiver.arrivals("/orders")
    assert {a.webhook_id for a in arrivals} == event_ids
    assert all(a.verified and a.answered == 200 for a in arrivals)
    for event_id in event_ids:
        d = _orders(aws, rt, event_id)
        assert (d.status, d.attempts) == ("delivered", 1)
    assert _depth(aws, rt.deployed.destination_queue_urls["orders"]) == (0, 0)  # deleted


def test_a_batch_of_a_delivered_a_retried_and_a_dead_message_reports_the_two_failed(
    rt: runtime.Runtime, aws: layout.Aws, receiver: receivers.Receiver
) -> None:
    url = rt.deployed.destination_queue_urls["orders"]
    # Retry-After: each backoff is a minute, not the policy's jitter (which may be 0 s: the
    # message would be received again in the same pump)
    later = receivers.Reply(500, retry_after="60")
    doomed = _push(rt)  # two failed attempts first: its third (max_attempts: 3) is the last
    receiver.script_id(doomed, later, later, receivers.Reply(500, together=3))
    rt.route()
    rt.deliver("orders")
    rt.skip_backoffs()
    rt.deliver("orders")
    delivered, retried = _push(rt), _push(rt)
    receiver.script_id(delivered, receivers.Reply(200, together=3))
    receiver.script_id(retried, receivers.Reply(503, retry_after="60", together=3))
    rt.route()
    rt.skip_backoffs()  # the doomed message is visible again, with the two new ones
    with runtime.log_lines(delivery._function) as lines:
        rt.deliver("orders")
    batch = _orders_batch(rt, 3)
    receive = {_event_of(r): r for r in batch.records}
    assert {e: int(r["attributes"]["ApproximateReceiveCount"]) for e, r in receive.items()} == {
        doomed: 3,
        delivered: 1,
        retried: 1,
    }
    assert batch.failed == {receive[retried]["messageId"], receive[doomed]["messageId"]}
    assert receiver.most_in_flight("/orders") == 3  # attempted together
    outcomes = {e: (d.status, d.attempts) for e in receive for d in [_orders(aws, rt, e)]}
    assert outcomes == {delivered: ("delivered", 1), retried: ("pending", 1), doomed: ("dead", 3)}
    # the retried one waits out its backoff; the dead one went to the DLQ at its next receive
    assert _depth(aws, url) == (0, 1)
    (dead_message,) = layout.messages(aws.sqs(), rt.deployed.destination_dlq_urls["orders"])
    assert routing.event_id_of(dead_message["event"]) == doomed
    # attempted together, each logged its outcome with its own message id as correlation id
    logged = {x["event_id"]: x["correlation_id"] for x in lines if "event_id" in x}
    assert logged == {e: receive[e]["messageId"] for e in (retried, doomed)}


def test_failed_attempts_back_off_by_visibility_then_reach_the_dlq(
    rt: runtime.Runtime, aws: layout.Aws, receiver: receivers.Receiver
) -> None:
    receiver.script("/orders", receivers.Reply(503, retry_after="20"))
    event_id = _push(rt)
    rt.route()
    before = time.time()
    rt.deliver("orders")
    (batch,) = [b for b in rt.batches if b.queue == "wh-test-d-orders"]
    assert batch.failed == {batch.records[0]["messageId"]}  # reported, so SQS keeps it
    d = _orders(aws, rt, event_id)
    assert (d.status, d.attempts) == ("pending", 1)
    assert d.next_attempt_ms is not None
    # Retry-After 20 s, within the policy's jitter cap of 30 s: invisible that long
    assert 19 <= d.next_attempt_ms / 1000 - before <= 32
    url = rt.deployed.destination_queue_urls["orders"]
    assert _depth(aws, url) == (0, 1)
    assert rt.deliver("orders") == 0  # nothing visible yet
    for _ in range(2):  # time passes
        rt.skip_backoffs()
        rt.deliver("orders")
    assert [a.attempt for a in receiver.arrivals("/orders")] == [1, 2, 3]  # the receive counts
    d = _orders(aws, rt, event_id)
    assert (d.status, d.attempts) == ("dead", 3)  # max_attempts: 3, recorded on the last one
    # the last attempt's message was made visible at once, and the mapping's next receive
    # found it past maxReceiveCount: SQS moved it to the DLQ
    assert _depth(aws, url) == (0, 0)
    dlq = rt.deployed.destination_dlq_urls["orders"]
    (dead_message,) = layout.messages(aws.sqs(), dlq)
    assert dead_message["route"] == "github-pushes"
    ops = layout.stack(aws, rt.deployed).operations
    (letter,) = ops.dead_letters("orders", 10).items
    assert (letter.event_id, letter.attempts, letter.last_status_code) == (event_id, 3, 503)


def test_a_redriven_delivery_starts_again_at_attempt_one_with_the_same_webhook_id(
    rt: runtime.Runtime, aws: layout.Aws, receiver: receivers.Receiver
) -> None:
    receiver.script("/orders", receivers.Reply(500), receivers.Reply(500), receivers.Reply(500))
    event_id = _push(rt)
    rt.settle()
    d = _orders(aws, rt, event_id)
    assert d.status == "dead"
    ops = layout.stack(aws, rt.deployed).operations
    receiver.script("/orders", receivers.Reply(200))
    assert ops.redrive([d.id], int(time.time() * 1000)) == 1
    rt.settle()
    arrivals = receiver.arrivals("/orders")
    assert [a.attempt for a in arrivals] == [1, 2, 3, 1]
    assert {a.webhook_id for a in arrivals} == {event_id}
    d = _orders(aws, rt, event_id)
    assert (d.status, d.attempts) == ("delivered", 1)


def test_a_replay_keeps_the_webhook_id_and_new_id_makes_a_fresh_one(
    rt: runtime.Runtime, aws: layout.Aws, receiver: receivers.Receiver
) -> None:
    event_id = _push(rt)
    rt.settle()
    ops = layout.stack(aws, rt.deployed).operations
    assert ops.replay([event_id], int(time.time() * 1000)) == 1
    rt.settle()
    assert ops.replay([event_id], int(time.time() * 1000), new_id=True) == 1
    rt.settle()
    ids = [a.webhook_id for a in receiver.arrivals("/orders")]
    assert ids[:2] == [event_id, event_id]
    assert len(ids) == 3
    assert ids[2].startswith("msg_")
    assert ids[2] != event_id
    assert all(a.verified for a in receiver.arrivals())


def test_the_sample_batch_of_unknown_events_is_acknowledged(rt: runtime.Runtime) -> None:
    # tests/events/sqsDestinationQueueEvent.json: queue wh-test-d-orders, events not stored
    sample = json.loads((EVENTS / "sqsDestinationQueueEvent.json").read_text(encoding="utf-8"))
    answer = delivery.handler(sample, runtime.Context("wh-test-delivery"))
    assert answer == {"batchItemFailures": []}


def test_a_message_from_a_queue_of_no_destination_fails_alone(
    rt: runtime.Runtime, aws: layout.Aws, receiver: receivers.Receiver
) -> None:
    event_id = _push(rt)
    rt.route()
    got = aws.sqs().receive_message(
        QueueUrl=rt.deployed.destination_queue_urls["orders"], AttributeNames=["All"]
    )["Messages"]
    good = runtime.sqs_record(got[0], "arn:aws:sqs:us-east-1:123456789012:wh-test-d-orders")
    stray: dict[str, Any] = dict(
        good, messageId="stray", eventSourceARN=good["eventSourceARN"] + "x"
    )
    answer = delivery.handler({"Records": [stray, good]}, runtime.Context("wh-test-delivery"))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "stray"}]}
    assert _orders(aws, rt, event_id).status == "delivered"


def test_a_rotated_signing_secret_signs_the_next_deliveries(
    rt: runtime.Runtime, aws: layout.Aws, receiver: receivers.Receiver
) -> None:
    first = _push(rt)
    rt.settle()
    new = receivers.new_signing_secret()
    rt.put_secret("orders", new)
    rt.reset()  # a new container (a warm one: within secrets.TTL_SECONDS)
    with receivers.Receiver(new) as after:
        # the receiver learns the new secret; whp signs with AWSCURRENT
        text = rt.config_file.read_text().replace(receiver.url("/orders"), after.url("/orders"))
        rt.config_file.write_text(text)
        second = _push(rt)
        rt.settle()
        (arrival,) = after.arrivals("/orders")
        assert arrival.verified, arrival.error
        assert arrival.webhook_id == second != first
