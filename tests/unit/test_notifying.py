"""Alert notifications on their way (services.notifying.Notifier) against the FakeSender: what a
receiver of alerts gets, and how failures are retried without holding anything else up."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from webhook_processor import alerts, retry, services
from webhook_processor.testing import FakeSender

KEY = b"0123456789abcdef0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
A = "http://a.example/alerts"
B = "http://b.example/alerts"
FAST = retry.Policy(  # the waits of the default policy, in milliseconds
    max_attempts=3, initial_interval_seconds=0.005, multiplier=2, max_interval_seconds=0.02
)
RULE = alerts.Rule("orders-dead", "dead_deliveries", "orders", above=0)


def fired(at_ms: int = 1_767_225_600_000, state: alerts.Change = "firing") -> alerts.Notification:
    return alerts.Notification(RULE, state, 1.0 if state == "firing" else 0.0, at_ms)


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 10))


async def until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.001)


def test_a_notification_is_posted_as_json_signed_with_standard_webhooks_headers() -> None:
    sender = FakeSender()
    notifier = services.notifying.Notifier(
        [services.notifying.Receiver("alerts.notify[0]", A, KEY)], sender
    )

    async def scenario() -> None:
        notifier.start()
        notifier.notify(fired())
        await until(lambda: len(sender.sent) == 1)
        await notifier.stop()

    run(scenario)
    [sent] = sender.sent
    assert sent.url == A
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["whp-source"] == "alerts"
    assert sent.headers["whp-event-type"] == "alert.firing"
    # The official library verifies it, as the receiver's own code would.
    Webhook(SECRET).verify(sent.body, sent.headers)
    assert json.loads(sent.body) == fired().body()


def test_a_receiver_without_a_signing_secret_gets_no_signature() -> None:
    sender = FakeSender()
    notifier = services.notifying.Notifier(
        [services.notifying.Receiver("alerts.notify[0]", A)], sender
    )

    async def scenario() -> None:
        notifier.start()
        notifier.notify(fired())
        await until(lambda: len(sender.sent) == 1)
        await notifier.stop()

    run(scenario)
    assert "webhook-signature" not in sender.sent[0].headers
    assert sender.sent[0].headers["webhook-id"] == fired().id


def test_a_failed_notification_is_retried_with_the_same_id_until_it_is_delivered() -> None:
    sender = FakeSender({A: [503, 500, 200]})
    notifier = services.notifying.Notifier(
        [services.notifying.Receiver("r", A, KEY)], sender, policy=FAST
    )

    async def scenario() -> None:
        notifier.start()
        notifier.notify(fired())
        await until(lambda: len(sender.sent) == 3)
        await asyncio.sleep(0.05)  # nothing more once delivered
        await notifier.stop()

    run(scenario)
    assert [s.headers["whp-attempt"] for s in sender.sent] == ["1", "2", "3"]
    assert {s.headers["webhook-id"] for s in sender.sent} == {fired().id}


def test_a_resolution_never_overtakes_its_firing_and_a_dead_one_lets_the_next_go(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The firing fails every attempt of the policy (dead: logged as an error); the resolution
    goes after it, never before."""
    sender = FakeSender({A: [500, 500, 500, 200]})
    notifier = services.notifying.Notifier(
        [services.notifying.Receiver("alerts.notify[0]", A)], sender, policy=FAST
    )

    async def scenario() -> None:
        notifier.start()
        notifier.notify(fired(state="firing"))
        notifier.notify(fired(state="resolved"))
        await until(lambda: len(sender.sent) == 4)
        await notifier.stop()

    with caplog.at_level(logging.INFO, "whp.alerts"):
        run(scenario)
    assert [s.headers["whp-event-type"] for s in sender.sent] == [
        *["alert.firing"] * 3,
        "alert.resolved",
    ]
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert error.getMessage() == "alert notification not sent: its last attempt failed"
    assert getattr(error, "receiver", None) == "alerts.notify[0]"
    assert A not in caplog.text  # a Slack webhook URL is its credential


def test_a_receiver_that_is_down_holds_up_neither_the_others_nor_the_caller() -> None:
    sender = FakeSender({A: [500]})
    notifier = services.notifying.Notifier(
        [services.notifying.Receiver("down", A), services.notifying.Receiver("up", B)],
        sender,
        policy=retry.Policy(max_attempts=8, initial_interval_seconds=60),
    )

    async def scenario() -> None:
        notifier.start()
        notifier.notify(fired(1))
        notifier.notify(fired(2))
        await until(lambda: len([s for s in sender.sent if s.url == B]) == 2)
        await notifier.stop()

    run(scenario)
    assert [s.url for s in sender.sent].count(A) == 1  # the first attempt, then a long wait


def test_a_full_queue_drops_its_oldest_notification_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender = FakeSender()
    notifier = services.notifying.Notifier(
        [services.notifying.Receiver("r", A)], sender, queue_size=2
    )

    async def scenario() -> None:
        gate = sender.gate = asyncio.Event()
        notifier.start()
        notifier.notify(fired(1))
        await until(lambda: len(sender.sent) == 1)  # in flight: no longer waiting
        for at in (2, 3, 4):
            notifier.notify(fired(at))  # 2 is dropped for 4
        gate.set()
        await until(lambda: len(sender.sent) == 3)
        await asyncio.sleep(0.02)
        await notifier.stop()

    run(scenario)
    assert [json.loads(s.body)["at"][-5:] for s in sender.sent] == [".001Z", ".003Z", ".004Z"]
    assert "alert notification dropped: 2 wait for r already" in caplog.text
