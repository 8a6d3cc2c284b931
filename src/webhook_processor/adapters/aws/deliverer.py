"""The delivery function's work on one message of a destination queue.

    the destination (the queue's name in eventSourceARN) and the event (the whp event id in the
    EventBridge event's resources) -> records.begin: the pending delivery of the event's current
    round (revived first for a redriven message), or nothing to do -> delivery.attempt, the same
    attempt as the local worker's: the original body bytes and content type from the table, not
    the re-serialised detail; webhook-id the event id (or a `--new-id` replay's); attempt number
    the SQS receive count -> records.record -> the message's fate:

    delivered   acknowledged (the batch reports it done; Lambda deletes it)
    retry       its visibility timeout becomes the backoff of the destination's retry policy
                (within SQS's 12 hours), and the batch reports it failed: SQS keeps it
    dead        the last attempt (receive count = max_attempts = the redrive policy's
                maxReceiveCount): recorded dead, made visible at once and reported failed, so
                SQS moves it to the destination's DLQ when it is received next
    busy        (`max_concurrency: 1` only) the destination's lease was not free before the
                invocation would run out of time (leases.py): back in BUSY_SECONDS, unattempted

A crashed or timed-out invocation records nothing for the message; its receive count goes up all
the same (an attempt used up, as docs/architecture.md says), and the next receive attempts it again.

The delivery function runs `deliver` for the messages of a batch concurrently on the container's
event loop, at most `attempts_at_once` at a time. Only the receiver's answer is awaited: the
DynamoDB and SQS calls around it (load, begin, record, the visibility change, the lease) are
boto3's, synchronous, and hold the loop for their few milliseconds each, which the other
messages' requests then wait; what overlaps is the receivers' answer times, the bulk of a batch's.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from webhook_processor import delivery, errors, models, routing
from webhook_processor.adapters.aws import leases, records, sqs

log = logging.getLogger(__name__)
Fate = Literal["delivered", "retry", "dead", "nothing to do", "busy"]
BUSY_SECONDS = 5  # a message whose destination's lease was not free in time comes back then
# What an invocation keeps of its time after the last attempt: recording it, the visibility.
RESERVE_SECONDS = 5.0


def attempts_at_once(max_concurrency: int) -> int:
    """How many messages of a batch one invocation attempts at once, for a destination of
    `max_concurrency` N: N // 2, at least 1 (docs/aws.md, "Concurrency per destination").

    The event source mapping runs at least 2 invocations (AWS's minimum) and the module sets its
    maximum to N // min(batch size, N // 2) (infra/terraform/queues.tf, `dest_mapping_concurrency`):
    invocations x attempts each stay within N. For N <= 3 that is 1, one after the other: for
    `max_concurrency: 1` a second message of the batch would wait for the lease its sibling holds
    (leases.py, which polls synchronously: the sibling could not even finish meanwhile)."""
    return max(1, max_concurrency // 2)


@dataclass(frozen=True, slots=True)
class Delivered:
    """What became of one message: `visibility` is its new visibility timeout in seconds when
    SQS keeps it (retry, dead), None when it is acknowledged."""

    fate: Fate
    destination: str
    event_id: str | None = None
    attempt: int | None = None
    visibility: int | None = None

    @property
    def acknowledged(self) -> bool:
        return self.visibility is None


@dataclass(frozen=True, slots=True)
class Message:
    """A destination queue's message, read: `{"route", "event", "generation"?}`."""

    route: str
    event_id: str
    generation: int

    @classmethod
    def parse(cls, body: str) -> Message:
        try:
            doc = json.loads(body)
            route, generation = doc["route"], doc.get("generation", 0)
            event_id = routing.event_id_of(doc["event"])
            if not isinstance(route, str) or not isinstance(generation, int) or event_id is None:
                raise TypeError
        except (ValueError, TypeError, KeyError, AttributeError):
            raise errors.WhpError(
                'not a message of a destination queue (want {"route": ..., "event": <an '
                f"EventBridge event whose resources name whp:event:<id>>}}): {body[:200]!r}"
            ) from None
        return cls(route, event_id, generation)


class Deliverer:
    def __init__(
        self,
        records_: records.Records,
        destinations: Callable[[], Mapping[str, delivery.Destination]],
        sender: delivery.Sender,
        queues: Mapping[str, str],
        queue: Callable[[str], sqs.Queue],
        clock: Callable[[], float] = time.time,
        uniform: Callable[[], float] = random.random,
        leases_: leases.Leases | None = None,
    ) -> None:
        """`destinations` gives the configured destinations now (their signing keys follow a
        rotation); `queues` maps a destination queue's name to its destination; `queue` gives
        the queue of a destination, for visibility changes; `leases_` serialises the attempts
        to destinations of `max_concurrency: 1`."""
        self._records = records_
        self._destinations = destinations
        self._sender = sender
        self._queues = dict(queues)
        self._queue = queue
        self._clock = clock
        self._uniform = uniform
        self._leases = leases_

    def destination_of(self, record: Mapping[str, Any]) -> str:
        """The destination whose queue a Lambda SQS record comes from."""
        arn = str(record.get("eventSourceARN", ""))
        name = arn.rsplit(":", 1)[-1]
        found = self._queues.get(name)
        if found is None:
            raise errors.WhpError(
                f"message from {arn or 'no eventSourceARN'}: not the queue of a destination of "
                f"this function's whp.yaml (expected one of {', '.join(sorted(self._queues))}); "
                "is the package built from the deployed config?"
            )
        return found

    def attempts_at_once(self, destination: str) -> int:
        """`attempts_at_once` of the destination's `max_concurrency` (1 if it has no config)."""
        config = self._destinations().get(destination)
        return 1 if config is None else attempts_at_once(config.max_concurrency)

    async def deliver(
        self, record: Mapping[str, Any], invoked: float, ends: float | None = None
    ) -> Delivered:
        """One SQS record of a destination queue; `invoked` is when the invocation began and
        `ends` when it times out (time.monotonic): the 12 hours of a visibility change are
        counted from the first, a wait for a lease ends in time for the second."""
        destination = self.destination_of(record)
        message = Message.parse(str(record.get("body", "")))
        number = sqs.receive_count(record)
        loaded = self._records.load(message.event_id)
        if loaded is None:  # expired (retention) or never acknowledged
            log.warning(
                "no such event: nothing to deliver",
                extra={"event_id": message.event_id, "destination": destination},
            )
            return Delivered("nothing to do", destination, message.event_id)
        now_ms = int(self._clock() * 1000)
        tracked = self._records.begin(
            loaded, message.route, message.generation, now_ms, destination
        )
        if tracked is None:  # delivered already, a stale message, or a later round
            return Delivered("nothing to do", destination, message.event_id)
        d = tracked.delivery
        config = self._destinations().get(d.destination)
        holder = str(record.get("messageId", ""))
        serial = config is not None and config.max_concurrency < 2
        lease = self._leases if serial else None
        if lease is not None and config is not None:
            give_up = (ends if ends is not None else time.monotonic()) - config.timeout_seconds
            seconds = config.timeout_seconds + leases.MARGIN_SECONDS
            if not lease.take(d.destination, holder, seconds, give_up - RESERVE_SECONDS):
                receipt = str(record["receiptHandle"])
                self._queue(destination).change_visibility(receipt, BUSY_SECONDS)
                return Delivered("busy", destination, loaded.event.id, number, BUSY_SECONDS)
        try:
            return await self._attempt(
                record, destination, loaded, tracked, config, number, invoked
            )
        finally:
            if lease is not None:
                lease.give_back(d.destination, holder)

    async def _attempt(
        self,
        record: Mapping[str, Any],
        destination: str,
        loaded: records.Loaded,
        tracked: records.Tracked,
        config: delivery.Destination | None,
        number: int,
        invoked: float,
    ) -> Delivered:
        d = tracked.delivery
        claim = models.Claim(d.id, d.route, d.destination, d.webhook_id, number, loaded.event)
        done = await delivery.attempt(
            loaded.event,
            config,
            d.webhook_id,
            number,
            self._sender,
            self._clock,
            self._uniform,
            destination_name=d.destination,
        )
        kept = delivery.record(claim, done)
        attempt = models.Attempt(
            kept.attempt,
            kept.started_ms,
            kept.duration_ms,
            kept.status_code,
            kept.error,
            kept.excerpt,
        )
        self._records.record(
            tracked, attempt, kept.outcome, int(self._clock() * 1000), kept.next_attempt_ms
        )
        if kept.outcome == "delivered":
            return Delivered("delivered", destination, loaded.event.id, number)
        if kept.outcome == "dead":
            seconds = 0  # SQS moves it to the DLQ at its next receive
        else:
            assert kept.next_attempt_ms is not None  # a retry has its time
            delay = kept.next_attempt_ms / 1000 - self._clock()
            seconds = sqs.visibility_timeout(delay, time.monotonic() - invoked)
        self._queue(destination).change_visibility(str(record["receiptHandle"]), seconds)
        return Delivered(kept.outcome, destination, loaded.event.id, number, seconds)
