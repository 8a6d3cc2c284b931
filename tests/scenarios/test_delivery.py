"""What receivers and operators see, on both runtimes: one event fanned out to two destinations, a
failing destination's delivery reaching the dead-letter queue after max_attempts, its redrive
(by id, and the destination's whole DLQ), and replays with the same webhook-id and with a fresh
one."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.e2e import receiver as receiving
from tests.scenarios import aws, runtimes, signers

pytestmark = pytest.mark.scenarios


def github(runtime: runtimes.Runtime, event: str = "push") -> str:
    """A signed GitHub webhook of type `event`, accepted: its event id."""
    body = json.dumps({"ref": "refs/heads/main", "after": uuid.uuid4().hex}).encode()
    status, answer = runtime.send(
        "github", body, signers.github(runtime.secrets.current("github"), body, event=event)
    )
    assert status == 202, answer
    event_id: str = answer["id"]
    return event_id


def test_one_event_routed_to_two_destinations_is_two_deliveries(
    runtime: runtimes.Runtime,
) -> None:
    event_id = github(runtime)  # routes pushes (-> orders) and audited-pushes (-> audit)
    runtime.settle()
    for receiver in ("orders", "audit"):
        (arrival,) = runtime.deliveries_received(receiver)
        assert (arrival.webhook_id, arrival.attempt, arrival.verified) == (event_id, 1, True)
        assert (arrival.headers["whp-source"], arrival.headers["whp-event-type"]) == (
            "github",
            "push",
        )
    detail = runtime.event(event_id)
    assert detail.event.status == "routed"
    assert sorted((d.route, d.destination, d.status, d.attempts) for d in detail.deliveries) == [
        ("audited-pushes", "audit", "delivered", 1),
        ("pushes", "orders", "delivered", 1),
    ]
    assert runtime.deliveries_received("flaky") == []


def fail_to_the_dlq(runtime: runtimes.Runtime, receiver: receiving.Receiver) -> str:
    """A release (route releases -> flaky, max_attempts 2) whose receiver answers 500: dead."""
    receiver.script("/flaky", receiving.Reply(500))
    event_id = github(runtime, event="release")
    runtime.settle()
    return event_id


def test_a_failing_destination_reaches_its_dlq_after_max_attempts(
    runtime: runtimes.Runtime, receiver: receiving.Receiver
) -> None:
    event_id = fail_to_the_dlq(runtime, receiver)
    tries = runtime.deliveries_received("flaky")
    assert [(a.attempt, a.answered, a.webhook_id) for a in tries] == [
        (1, 500, event_id),
        (2, 500, event_id),
    ]
    (letter,) = runtime.dlq()
    assert (letter.event_id, letter.route, letter.destination) == (event_id, "releases", "flaky")
    assert (letter.attempts, letter.last_status_code, letter.webhook_id) == (2, 500, event_id)
    assert runtime.dlq("orders") == []
    (dead,) = runtime.event(event_id).deliveries
    assert (dead.id, dead.status) == (letter.delivery_id, "dead")
    assert [a.status_code for a in dead.history] == [500, 500]


def test_a_redriven_delivery_starts_again_at_attempt_1_and_is_delivered(
    runtime: runtimes.Runtime, receiver: receiving.Receiver
) -> None:
    event_id = fail_to_the_dlq(runtime, receiver)
    (letter,) = runtime.dlq()
    receiver.script("/flaky", receiving.Reply(200))  # the receiver is fixed
    assert runtime.redrive([letter.delivery_id]) == 1
    assert runtime.redrive([letter.delivery_id]) == 0  # no longer dead: left as it is
    runtime.settle()
    tries = runtime.deliveries_received("flaky")
    assert [(a.attempt, a.answered) for a in tries] == [(1, 500), (2, 500), (1, 200)]
    assert tries[-1].webhook_id == event_id  # the same id: an idempotent receiver stays so
    assert runtime.dlq() == []
    (delivered,) = runtime.event(event_id).deliveries
    assert (delivered.status, delivered.attempts) == ("delivered", 1)
    assert [a.status_code for a in delivered.history] == [500, 500, 200]


def test_a_destination_whose_dlq_is_redriven_whole_gets_its_deliveries(
    runtime: runtimes.Runtime, receiver: receiving.Receiver
) -> None:
    event_id = fail_to_the_dlq(runtime, receiver)
    receiver.script("/flaky", receiving.Reply(200))
    assert runtime.redrive_destination("flaky") == 1
    if isinstance(runtime, aws.AwsRuntime):
        # moto 5.2 has no StartMessageMoveTask (TOOLING.md): the messages were moved one by
        # one (sqs.redrive's fallback); on AWS a message move task moves them, and its handle
        # is what `whp dlq redrive` prints
        assert [(done.moved, done.task) for done in runtime.moves] == [(1, None)]
    runtime.settle()
    tries = runtime.deliveries_received("flaky")
    assert [(a.attempt, a.answered, a.webhook_id) for a in tries][-1] == (1, 200, event_id)
    assert len(tries) == 3
    assert runtime.dlq() == []
    (delivered,) = runtime.event(event_id).deliveries
    assert (delivered.status, delivered.attempts) == ("delivered", 1)


def test_a_replay_delivers_again_with_the_same_webhook_id(runtime: runtimes.Runtime) -> None:
    event_id = github(runtime)
    runtime.settle()
    assert runtime.replay(event_id) == 1
    runtime.settle()
    for receiver in ("orders", "audit"):
        tries = runtime.deliveries_received(receiver)
        assert [(a.webhook_id, a.attempt) for a in tries] == [(event_id, 1), (event_id, 1)]
        assert tries[0].body == tries[1].body
    assert len(runtime.event(event_id).deliveries) == 4  # each routing has its own deliveries


def test_a_replay_with_new_id_gives_the_receiver_a_fresh_webhook_id(
    runtime: runtimes.Runtime,
) -> None:
    event_id = github(runtime)
    runtime.settle()
    assert runtime.replay(event_id, new_id=True) == 1
    runtime.settle()
    first, second = runtime.deliveries_received("orders")
    assert first.webhook_id == event_id
    assert second.webhook_id.startswith("msg_")
    assert second.body == first.body
    (audit_first, audit_second) = runtime.deliveries_received("audit")
    # one fresh id per replay, shared by its deliveries, as the original shares the event's
    assert (audit_first.webhook_id, audit_second.webhook_id) == (event_id, second.webhook_id)
