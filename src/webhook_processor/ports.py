"""The ports: what the services need from the outside world, as Protocols.

Adapters (adapters/sqlite, adapters/aws) implement them; testing.py has in-memory fakes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, NamedTuple, Protocol, TypeVar

from webhook_processor import delivery, models, ratelimit


class EventStore(Protocol):
    """Durable event storage. `add` returns only after the event is committed (or was there)."""

    def add(self, event: models.Event) -> Awaitable[models.Stored]:
        """Store `event`, or report the first event with the same (source, idempotency key).

        The awaitable raises errors.StoreUnavailable when the store cannot commit."""
        ...


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What an operator selects events by (every field None: all of them). `status` is an event
    status or `dead` (events with a dead delivery); times are Unix ms, `until_ms` excluded."""

    source: str | None = None
    event_type: str | None = None
    status: str | None = None
    idempotency_key: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing, newest first. `next` is an opaque cursor for the page after this
    one (None: this is the last); only the implementation that made it can read it, and it
    raises errors.UsageError for a cursor it did not make."""

    items: Sequence[T]
    next: str | None


@dataclass(frozen=True, slots=True)
class Activity:
    """What happened in a time window: webhooks stored, attempts that delivered, that failed."""

    received: int
    delivered: int
    failed: int


class Operations(Protocol):
    """What operators do to a store (the CLI, the admin API, the dashboard), on either runtime.

    Bulk changes take at most a batch of ids per call; services/operations.py pages and paces
    them. Ids are the store's own, as strings."""

    def events(
        self, where: EventFilter, limit: int, cursor: str | None = None
    ) -> Page[models.Event]:
        """Events matching `where`, newest first, without body and headers."""
        ...

    def event(self, event_id: str) -> models.Event | None:
        """One event, with its body and headers (credentials removed as stored)."""
        ...

    def deliveries(self, event_id: str) -> Sequence[models.Delivery]:
        """The event's deliveries, oldest first, each with its whole attempt history."""
        ...

    def replay(self, event_ids: Sequence[str], now_ms: int, new_id: bool = False) -> int:
        """Route these events again with today's routes; their deliveries keep the event id as
        webhook id unless `new_id`. Returns how many of them exist (and were replayed)."""
        ...

    def dead_letters(
        self, destination: str | None, limit: int, cursor: str | None = None
    ) -> Page[models.DeadLetter]:
        """The dead-letter queue (of one destination, or all), newest first."""
        ...

    def redrive(self, delivery_ids: Sequence[str], now_ms: int) -> int:
        """Send these dead deliveries back to their queues, due now, attempts again from 1.
        Returns how many were dead (and so redriven); others are left as they are."""
        ...

    def set_paused(self, destination: str, paused: bool, now_ms: int) -> None: ...

    def paused(self) -> set[str]:
        """Destinations paused at runtime (the config's `paused: true` is not stored)."""
        ...

    def destinations(self, now_ms: int) -> Mapping[str, models.DestinationState]:
        """Every destination the store knows of (the config's may have none yet)."""
        ...

    def counts(self) -> tuple[Mapping[str, int], Mapping[str, int]]:
        """(events by status, deliveries by status), every status present, one snapshot."""
        ...

    def activity(self, since_ms: int) -> Activity:
        """What happened from `since_ms` on (the stats' rates)."""
        ...

    def purge(self, older_than_ms: int, cursor: str | None = None) -> PurgeBatch:
        """Retention, one batch: delete events received before `older_than_ms` whose work is
        done (routed, nothing pending), oldest first, from `cursor` (PurgeBatch.next) on. A store
        that expires items itself (DynamoDB's TTL) deletes nothing and says it is done."""
        ...


class Service(Protocol):
    """Something `whp serve` starts with the server and stops after it (store writer, worker)."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...

    def ready(self) -> bool: ...


class PurgeBatch(NamedTuple):
    """One batch of Operations.purge: events deleted, events looked at (the rest still have work
    pending), and the cursor to go on from (None: no older event is left to look at)."""

    deleted: int
    looked_at: int
    next: str | None


RateLimit = ratelimit.Rate  # per second, burst


class DeliveryQueue(Protocol):
    """The delivery queue, synchronous (the worker calls it from a thread). See
    adapters/sqlite/queue.py for the semantics: leases, at-least-once recording."""

    def pending_events(self, limit: int, payload: bool = True) -> Sequence[models.Event]:
        """The next events to route, oldest first; without `payload`, their body and headers
        are left empty (routing on metadata only)."""
        ...

    def route_many(
        self, routed: Sequence[tuple[str, Sequence[tuple[str, str]]]], now_ms: int
    ) -> int: ...

    def route_none(self) -> int:
        """No routes: every pending event is unrouted, without reading them; how many."""
        ...

    def claim(
        self,
        now_ms: int,
        lease_ms: int,
        limit: int,
        paused: Collection[str] = (),
        per_destination_limit: Mapping[str, int] | None = None,
        rate_limits: Mapping[str, RateLimit] | None = None,
    ) -> Sequence[models.Claim]: ...

    def paused_destinations(self) -> set[str]:
        """Destinations paused at runtime (`whp destinations pause`; not the config's)."""
        ...

    def record_many(self, records: Sequence[models.AttemptRecord], now_ms: int) -> int:
        """Keep each attempt and move its delivery to the attempt's outcome, in order, all in
        one transaction. Returns how many deliveries followed their attempt."""
        ...


class Sender(delivery.Sender, Protocol):
    """Sends delivery attempts (delivery.Sender), and closes its connections when done."""

    async def aclose(self) -> None: ...


class Metrics(Protocol):
    """What the services count, on their hot paths: each call must cost next to nothing."""

    def accepted(self, source: str, duplicate: bool) -> None: ...

    def rejected(self, source: str, reason: str) -> None: ...

    def answered(self, source: str, seconds: float) -> None:
        """A webhook answered `seconds` after its request was received."""
        ...

    def attempted(
        self, destination: str, outcome: models.Outcome, seconds: float, latency: float | None
    ) -> None:
        """A delivery attempt that took `seconds` and led to `outcome`; `latency`, when it
        delivered, is the time since the event was received."""
        ...
