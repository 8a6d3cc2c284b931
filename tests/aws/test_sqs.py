"""The SQS adapter: batches, retried failed entries, the visibility backoff, receive counts, DLQ."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.aws import faults, layout
from webhook_processor import errors
from webhook_processor.adapters.aws import sqs

EVENTS = Path(__file__).parents[1] / "events"


def test_messages_go_in_batches_of_ten(aws: layout.Aws, deployed: layout.Layout) -> None:
    client = aws.sqs()
    calls = faults.count(client, "SendMessageBatch")
    queue = sqs.Queue(deployed.ingest_queue_url, client)
    bodies = [json.dumps({"event_id": f"e{i}"}) for i in range(23)]
    queue.send_many(bodies)
    assert calls.hits == 3
    got = layout.messages(client, deployed.ingest_queue_url)
    assert sorted(m["event_id"] for m in got) == sorted(f"e{i}" for i in range(23))


def test_only_the_failed_entries_are_sent_again(aws: layout.Aws, deployed: layout.Layout) -> None:
    client = aws.sqs()
    calls = faults.count(client, "SendMessageBatch")
    faults.drop_entries(client, "SendMessageBatch", count=3)
    queue = sqs.Queue(deployed.ingest_queue_url, client, sleep=lambda _: None)
    queue.send_many([f"m{i}" for i in range(10)])
    assert calls.hits == 2
    got = client.receive_message(QueueUrl=deployed.ingest_queue_url, MaxNumberOfMessages=10)
    bodies = sorted(m["Body"] for m in got["Messages"])
    more = client.receive_message(QueueUrl=deployed.ingest_queue_url, MaxNumberOfMessages=10)
    bodies += sorted(m["Body"] for m in more.get("Messages", []))
    assert sorted(bodies) == sorted(f"m{i}" for i in range(10))  # each once


def test_entries_that_keep_failing_end_in_an_error_naming_them(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    client = aws.sqs()
    calls = faults.count(client, "SendMessageBatch")
    faults.drop_entries(client, "SendMessageBatch", count=2, times=100)
    queue = sqs.Queue(deployed.ingest_queue_url, client, attempts=3, sleep=lambda _: None)
    with pytest.raises(errors.StoreUnavailable, match="did not take 2 of 5 message"):
        queue.send_many([f"m{i}" for i in range(5)])
    assert calls.hits == 3


def test_an_entry_refused_for_what_it_is_is_not_sent_again(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    client = aws.sqs()
    calls = faults.count(client, "SendMessageBatch")
    faults.drop_entries(client, "SendMessageBatch", count=1, code="InvalidMessageContents")
    queue = sqs.Queue(deployed.ingest_queue_url, client, sleep=lambda _: None)
    with pytest.raises(errors.StoreUnavailable, match=r"refused 1 message.*InvalidMessageContents"):
        queue.send_many(["a", "b"])
    assert calls.hits == 1


def test_a_message_over_the_limit_is_refused_before_any_call(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    queue = sqs.Queue(deployed.ingest_queue_url, aws.sqs())
    with pytest.raises(errors.StoreUnavailable, match="over SQS's limit of 1048576"):
        queue.send_many(["x" * (sqs.MAX_MESSAGE_BYTES + 1)])


@pytest.mark.parametrize(
    ("delay", "elapsed", "timeout"),
    [
        (10, 0, 10),
        (0.2, 0, 1),  # whole seconds, never sooner than asked
        (-3, 0, 0),
        (36_000, 0, 36_000),  # the default max_interval_seconds fits
        (50_000, 0, 43_200 - 360),  # 12 h from the receipt, less the poller's margin
        (42_840, 100.5, 42_840 - 101),  # the handler's own time counts too
    ],
)
def test_a_backoff_becomes_a_visibility_timeout_within_12_hours(
    delay: float, elapsed: float, timeout: int
) -> None:
    assert sqs.visibility_timeout(delay, elapsed) == timeout


def test_moto_refuses_a_visibility_timeout_over_12_hours(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    """As SQS does for one call. SQS also counts the time since the receipt (so a change late in
    a long invocation may be refused below 43200); moto does not: visibility_timeout's margin is
    pinned by the table above, not here."""
    client = aws.sqs()
    queue = sqs.Queue(deployed.ingest_queue_url, client)
    queue.send("m")
    (message,) = client.receive_message(QueueUrl=deployed.ingest_queue_url)["Messages"]
    with pytest.raises(errors.StoreUnavailable, match="maximum visibility timeout is 43200"):
        queue.change_visibility(message["ReceiptHandle"], sqs.MAX_VISIBILITY + 1)
    queue.change_visibility(message["ReceiptHandle"], sqs.visibility_timeout(10**6))
    assert queue.depth() == (0, 1)


def test_receive_counts_come_from_the_records() -> None:
    batch = json.loads((EVENTS / "sqsDestinationQueueEvent.json").read_text())
    assert [sqs.receive_count(r) for r in batch["Records"]] == [1, 3]
    with pytest.raises(errors.WhpError, match="msg-1 has no valid ApproximateReceiveCount"):
        sqs.receive_count({"messageId": "msg-1", "attributes": {}})


def test_a_destination_message_reaches_its_dlq_after_max_attempts_receives(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    client = aws.sqs()
    url = deployed.destination_queue_urls["orders"]  # max_attempts: 3
    client.send_message(QueueUrl=url, MessageBody="m")
    counts = []
    for _ in range(4):
        got = client.receive_message(
            QueueUrl=url, AttributeNames=["ApproximateReceiveCount"], VisibilityTimeout=0
        ).get("Messages", [])
        counts += [int(m["Attributes"]["ApproximateReceiveCount"]) for m in got]
    assert counts == [1, 2, 3]
    assert sqs.Queue(deployed.destination_dlq_urls["orders"], client).depth() == (1, 0)


def test_redrive_falls_back_to_moving_messages_where_move_tasks_are_missing(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    """moto has no StartMessageMoveTask (it answers an HTML 500): the loop moves them."""
    client = aws.sqs()
    dlq, queue = deployed.destination_dlq_urls["orders"], deployed.destination_queue_urls["orders"]
    for i in range(13):
        client.send_message(QueueUrl=dlq, MessageBody=f"m{i}")
    with pytest.raises(client.exceptions.ClientError) as missing:
        client.start_message_move_task(SourceArn="arn:aws:sqs:us-east-1:123456789012:x")
    assert sqs.unsupported(missing.value)
    assert sqs.redrive(client, dlq, queue, wait_seconds=0) == sqs.Redriven(13, None)
    assert sorted(m for m in _bodies(client, queue)) == sorted(f"m{i}" for i in range(13))
    assert sqs.Queue(dlq, client).depth() == (0, 0)


def test_redrive_uses_a_move_task_where_there_is_one(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    """Stands in for AWS: the call answers as SQS documents it (a task handle)."""
    client = aws.sqs()
    dlq, queue = deployed.destination_dlq_urls["orders"], deployed.destination_queue_urls["orders"]
    client.send_message(QueueUrl=dlq, MessageBody="m")
    _, bodies = faults.answer(client, "StartMessageMoveTask", {"TaskHandle": "task-1"})
    assert sqs.redrive(client, dlq, queue) == sqs.Redriven(1, "task-1")
    assert [json.loads(b) for b in bodies] == [
        {
            "SourceArn": "arn:aws:sqs:us-east-1:123456789012:wh-test-d-orders-dlq",
            "DestinationArn": "arn:aws:sqs:us-east-1:123456789012:wh-test-d-orders",
        }
    ]


def _bodies(client: object, url: str) -> list[str]:
    out: list[str] = []
    for _ in range(10):
        got = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])  # type: ignore[attr-defined]
        if not got:
            return out
        out += [m["Body"] for m in got]
    return out
