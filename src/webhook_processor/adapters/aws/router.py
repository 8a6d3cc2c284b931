"""The router function's work on one message of the ingest queue (docs/aws.md, "Who writes what").

    start (the event; a replay's round first) -> routing.targets (the shared pattern code)
    -> PutEvents (the bus's rules fan it out to the destination queues) -> routed: the
    event's status (routed or unrouted) and the round's targets, one write

Every step is idempotent on the event id and round, so a message SQS delivers twice routes once:
a second delivery finds the event routed at its round and does nothing. Publishing comes first,
so a crash between the two publishes the event again when the message comes back (its
deliveries then find themselves delivered, or are attempted once more at worst: records.py),
and a routed event was always published. An event the bus refuses for what it is (an entry
over 1 MB, a detail-type over 128 characters: eventbridge.Entry.problem) goes straight to its
routes' destination queues, with the message a rule target would have sent, so it is delivered
as any other.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from webhook_processor import errors, models, routing
from webhook_processor.adapters.aws import eventbridge, records, sqs

log = logging.getLogger(__name__)
Outcome = Literal["routed", "unrouted", "gone", "later round", "published before"]


@dataclass(frozen=True, slots=True)
class Routed:
    event_id: str | None
    outcome: Outcome
    deliveries: int = 0
    direct: bool = False  # sent to the destination queues, not through the bus


def destination_message(
    route: str, event: models.Event, generation: int | None = None
) -> dict[str, object]:
    """A destination queue's message, as a route's rule target sends it: the route's name and the
    EventBridge event, here without its detail (the delivery function reads the body from the
    table). EventBridge writes `time` to the second."""
    message: dict[str, object] = {
        "route": route,
        "event": {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": event.event_type,
            "source": event.source,
            "time": event.received[:19] + "Z",
            "resources": [routing.resource(event.id)],
        },
    }
    if generation is not None:
        message["generation"] = generation
    return message


class Router:
    def __init__(
        self,
        records_: records.Records,
        publisher: eventbridge.Publisher,
        routes: Sequence[routing.Route],
        queue_for: Callable[[str], sqs.Queue],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._records = records_
        self._publisher = publisher
        self._routes = list(routes)
        self._with_detail = routing.uses_detail(self._routes)
        self._queue_for = queue_for  # a destination's queue, by destination name
        self._clock = clock

    def route(self, message: str) -> Routed:
        """Route the event of one ingest queue message; an exception leaves the message to SQS
        (a batch item failure: received again later, and after 5 receives in the ingest DLQ)."""
        loaded = self._records.start(message)
        if loaded is None:  # never acknowledged (deleted after a failed hand-off) or expired
            log.warning("no such event: nothing to route", extra={"queue_message": message[:200]})
            return Routed(None, "gone")
        event = loaded.event
        if loaded.routed:  # a message delivered again, or a replay's of an older round
            return Routed(event.id, "published before", len(loaded.targets))
        targets = routing.targets(self._routes, event, self._with_detail)
        direct = self._publish(loaded, targets) if targets else False
        if not self._records.route(loaded, targets, int(self._clock() * 1000)):
            # recorded meanwhile by a message delivered twice at once, or a replay moved the
            # event on (that round's message routes it)
            return Routed(event.id, "later round")
        return Routed(event.id, "routed" if targets else "unrouted", len(targets), direct)

    def _publish(self, loaded: records.Loaded, targets: Sequence[tuple[str, str]]) -> bool:
        """Put the event on the bus; True if it had to go to the destination queues instead."""
        event = loaded.event
        detail = routing.envelope(event)["detail"]
        entry = eventbridge.entry(event, detail)
        refused = entry.problem()
        if refused is None:
            (outcome,) = self._publisher.publish([entry])
            if outcome is None:
                return False
            # Not a refusal for what it is: the bus is failing. SQS delivers the message again.
            raise errors.StoreUnavailable(f"PutEvents of {event.id}: {outcome}")
        log.info(
            "the bus takes no such event: sent to its routes' queues directly",
            extra={"event_id": event.id, "reason": refused},
        )
        by_destination: dict[str, list[str]] = {}
        for route, destination in targets:
            message = json.dumps(destination_message(route, event))
            by_destination.setdefault(destination, []).append(message)
        for destination, messages in by_destination.items():
            self._queue_for(destination).send_many(messages)
        return True
