"""`max_concurrency` on AWS. For 1, the event source mapping runs at least 2 invocations, so
attempts to such a destination take turns through a lease in the table (adapters/aws/leases.py):
a second invocation waits for it, and hands its message back unattempted only when it would run
out of time; within an invocation, its batch's messages go one after the other. For N >= 2, an
invocation attempts at most N // 2 of its batch's messages at once (the module sizes the mapping's
maximum concurrency to that, docs/aws.md "Concurrency per destination")."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.aws import lambdas_config, layout, runtime
from tests.e2e import receiver as receivers
from webhook_processor import config
from webhook_processor.adapters.aws import items
from webhook_processor.entrypoints.lambdas import delivery

SECRET = receivers.new_signing_secret()
CONFIG = """\
sources:
  github: {verify: github, secret: "aws-sm:github"}
destinations:
  serial: {url: "%s", signing_secret: "aws-sm:serial", max_concurrency: %d, timeout_seconds: 1}
routes:
  - {name: all, destination: serial, pattern: {source: [github]}}
"""


@pytest.fixture
def serial(
    aws: layout.Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[tuple[runtime.Runtime, receivers.Receiver]]:
    """The destination `serial`, of `max_concurrency: 1` (or of the test's indirect parameter)."""
    n = int(getattr(request, "param", 1))
    with receivers.Receiver(SECRET) as receiver:
        secrets = {"github": lambdas_config.SECRETS["github"], "serial": SECRET}
        rt = runtime.deploy(aws, tmp_path, CONFIG % (receiver.url("/s"), n), monkeypatch, secrets)
        yield rt, receiver
        rt.reset()


def _push(rt: runtime.Runtime) -> None:
    body = b'{"ref": "refs/heads/main"}'
    out = lambdas_config.signed(config.load(rt.config_file), "github", body, event_type="push")
    assert rt.post("github", out.body, out.headers).status == 202


def _routed_message(rt: runtime.Runtime, aws: layout.Aws) -> dict[str, object]:
    _push(rt)
    rt.route()
    url = rt.deployed.destination_queue_urls["serial"]
    (message,) = aws.sqs().receive_message(QueueUrl=url, AttributeNames=["All"])["Messages"]
    arn = "arn:aws:sqs:us-east-1:123456789012:wh-test-d-serial"
    return runtime.sqs_record(message, arn)


def _hold_lease(aws: layout.Aws, rt: runtime.Runtime, seconds: float) -> None:
    """Another invocation's lease on `serial`, for `seconds` from now."""
    until = int((time.time() + seconds) * 1000)
    aws.dynamodb().put_item(
        TableName=rt.deployed.table,
        Item={
            "pk": items.s("lease#serial"),
            "sk": items.s("lease"),
            "holder": items.s("another-message"),
            "until_ms": items.n(until),
        },
    )


def test_an_attempt_waits_for_the_other_invocations_lease(
    serial: tuple[runtime.Runtime, receivers.Receiver], aws: layout.Aws
) -> None:
    rt, receiver = serial
    record = _routed_message(rt, aws)
    _hold_lease(aws, rt, 1.5)
    started = time.monotonic()
    answer = delivery.handler({"Records": [record]}, runtime.Context("wh-test-delivery"))
    waited = time.monotonic() - started
    assert answer == {"batchItemFailures": []}
    assert waited >= 1.2  # until the other lease's time was up
    (arrival,) = receiver.arrivals("/s")
    assert arrival.verified
    lease = aws.dynamodb().get_item(
        TableName=rt.deployed.table, Key={"pk": items.s("lease#serial"), "sk": items.s("lease")}
    )
    assert "Item" not in lease  # given back


def test_without_time_to_wait_the_message_goes_back_unattempted(
    serial: tuple[runtime.Runtime, receivers.Receiver], aws: layout.Aws
) -> None:
    rt, receiver = serial
    record = _routed_message(rt, aws)
    _hold_lease(aws, rt, 600)
    # 8 s left: minus the attempt's 1 s timeout and 5 s for recording, 2 s to wait
    context = runtime.Context("wh-test-delivery", remaining_ms=8_000)
    started = time.monotonic()
    answer = delivery.handler({"Records": [record]}, context)
    assert answer == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert 1.0 <= time.monotonic() - started < 6
    assert receiver.arrivals() == []
    ops = layout.stack(aws, rt.deployed).operations
    event_id = str(record["body"]).split("whp:event:")[1].split('"')[0]
    (d,) = ops.deliveries(event_id)
    assert (d.status, d.attempts) == ("pending", 0)  # nothing attempted, nothing recorded


def _one_batch(rt: runtime.Runtime, receiver: receivers.Receiver, size: int) -> None:
    for _ in range(size):
        _push(rt)
    rt.route()
    rt.deliver("serial")
    (batch,) = [b for b in rt.batches if b.queue == "wh-test-d-serial"]
    assert len(batch.records) == size  # one invocation
    assert batch.failed == set()
    assert [a.answered for a in receiver.arrivals("/s")] == [200] * size


def test_a_serial_destinations_batch_is_attempted_one_after_the_other(
    serial: tuple[runtime.Runtime, receivers.Receiver],
) -> None:
    rt, receiver = serial
    # Each answer waits 0.3 s for a second request in flight: attempted together, one would come.
    receiver.script("/s", receivers.Reply(200, together=2, within=0.3))
    _one_batch(rt, receiver, 3)
    assert receiver.most_in_flight("/s") == 1


@pytest.mark.parametrize("serial", [4], indirect=True)
def test_a_batch_has_at_most_half_of_max_concurrency_in_flight(
    serial: tuple[runtime.Runtime, receivers.Receiver],
) -> None:
    """max_concurrency 4: the mapping's 2 invocations, 2 at once each."""
    rt, receiver = serial
    receiver.script("/s", receivers.Reply(200, together=3, within=0.3))
    _one_batch(rt, receiver, 4)
    assert receiver.most_in_flight("/s") == 2
