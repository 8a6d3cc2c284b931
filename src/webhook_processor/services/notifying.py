"""Alert notifications on their way to `alerts.notify`'s receivers, beside the deliveries and
never in their way: a sender (connection pool) of their own, one task per receiver, each with a
bounded queue (the oldest notification is dropped, and said, when a receiver is down long enough
to fill it).

A notification goes as a delivery goes (delivery.attempt): POST of its JSON with Standard
Webhooks headers, `webhook-signature` when the receiver has a `signing_secret`, retried with
backoff after a failure (RETRY), dead after the last attempt. A receiver's notifications go in
order, each retried until it is delivered or dead before the next: a "resolved" never overtakes
its "firing". The URL is not logged (a Slack incoming webhook's URL is its credential).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson

from webhook_processor import alerts, delivery, models, ports, retry

log = logging.getLogger("whp.alerts")
Clock = Callable[[], float]
# Like a destination's default, but an alert loses its worth with age: the waits are capped
# at 5 minutes, so the last of 8 attempts goes within about 20 minutes.
RETRY = retry.Policy(
    max_attempts=8, initial_interval_seconds=5, multiplier=4, max_interval_seconds=300
)
TIMEOUT_SECONDS = 10.0
QUEUE_SIZE = 100  # per receiver
SOURCE = "alerts"  # the whp-source header of a notification


@dataclass(frozen=True, slots=True)
class Receiver:
    """One `alerts.notify` entry: `where` names it in logs (`alerts.notify[0]`)."""

    where: str
    url: str
    signing_key: bytes | None = None

    def destination(self, policy: retry.Policy) -> delivery.Destination:
        return delivery.Destination(
            name=self.where,
            url=self.url,
            signing_key=self.signing_key,
            timeout_seconds=TIMEOUT_SECONDS,
            retry=policy,
        )


def request_of(notification: alerts.Notification) -> models.Event:
    """The notification as delivery.attempt takes it: an event of its own."""
    return models.Event(
        id=notification.id,
        source=SOURCE,
        event_type=f"alert.{notification.state}",
        idempotency_key=None,
        received_ms=notification.at_ms,
        content_type="application/json",
        headers={},
        body=orjson.dumps(notification.body()),
    )


class Notifier:
    """Sends notifications (monitoring.Notify) with `sender`, which it closes when it stops."""

    def __init__(
        self,
        receivers: Sequence[Receiver],
        sender: ports.Sender,
        clock: Clock = time.time,
        policy: retry.Policy = RETRY,
        queue_size: int = QUEUE_SIZE,
        uniform: Callable[[], float] = random.random,
    ) -> None:
        self._receivers = list(receivers)
        self._sender = sender
        self._clock = clock
        self._policy = policy
        self._uniform = uniform
        self._queues = [collections.deque[alerts.Notification]() for _ in self._receivers]
        self._queue_size = queue_size
        self._wakeups = [asyncio.Event() for _ in self._receivers]
        self._sending: list[alerts.Notification | None] = [None for _ in self._receivers]
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._run(i), name=f"whp-notify-{i}")
            for i in range(len(self._receivers))
        ]

    async def stop(self) -> None:
        """Give up on what is queued or being retried (said in the log), close the sender."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        left = sum(len(q) for q in self._queues) + sum(n is not None for n in self._sending)
        if left:
            log.warning("%d alert notification(s) not sent: the server is stopping", left)
        await self._sender.aclose()

    def ready(self) -> bool:
        return all(not t.done() for t in self._tasks)

    def notify(self, notification: alerts.Notification) -> None:
        for receiver, queue, wakeup in zip(
            self._receivers, self._queues, self._wakeups, strict=True
        ):
            if len(queue) >= self._queue_size:
                dropped = queue.popleft()
                log.warning(
                    "alert notification dropped: %d wait for %s already (the oldest goes): %s",
                    len(queue) + 1,
                    receiver.where,
                    dropped.text(),
                )
            queue.append(notification)
            wakeup.set()

    async def _run(self, index: int) -> None:
        receiver, queue, wakeup = self._receivers[index], self._queues[index], self._wakeups[index]
        destination = receiver.destination(self._policy)
        while True:
            while not queue:
                wakeup.clear()
                await wakeup.wait()
            notification = self._sending[index] = queue.popleft()
            try:
                await self._send(destination, notification)
            except Exception:  # a bug: said, and the next notifications still go
                log.exception("alert notification failed", extra={"receiver": receiver.where})
            self._sending[index] = None

    async def _send(
        self, destination: delivery.Destination, notification: alerts.Notification
    ) -> None:
        event = request_of(notification)
        number = 1
        while True:
            done = await delivery.attempt(
                event,
                destination,
                notification.id,
                number,
                self._sender,
                self._clock,
                self._uniform,
            )
            extra = {
                "receiver": destination.name,
                "alert": notification.rule.name,
                "state": notification.state,
                "attempt": number,
                "status": done.result.status,
                "error": done.result.error,
            }
            if done.outcome == "delivered":
                log.info("alert notification sent", extra=extra)
                return
            if done.outcome == "dead":
                log.error("alert notification not sent: its last attempt failed", extra=extra)
                return
            log.info("alert notification failed; retrying", extra=extra)
            await asyncio.sleep(max(0.0, (done.retry_at_ms or 0) / 1000 - self._clock()))
            number += 1
