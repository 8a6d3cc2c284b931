"""The ports: what the services need from the outside world, as Protocols.

Adapters (adapters/sqlite, adapters/aws) implement them; testing.py has in-memory fakes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol

from webhook_processor import delivery, models, ratelimit


class EventStore(Protocol):
    """Durable event storage. `add` returns only after the event is committed (or was there)."""

    def add(self, event: models.Event) -> Awaitable[models.Stored]:
        """Store `event`, or report the first event with the same (source, idempotency key).

        The awaitable raises errors.StoreUnavailable when the store cannot commit."""
        ...


@dataclass(frozen=True, slots=True)
class EventFilter:
    source: str | None = None
    event_type: str | None = None
    status: str | None = None
    idempotency_key: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None


class EventReader(Protocol):
    def get(self, event_id: str) -> models.Event | None: ...

    def list(
        self, where: EventFilter, limit: int, before: str | None = None
    ) -> Sequence[models.Event]:
        """Newest first; `before` is the id of the last event of the previous page."""
        ...


class Service(Protocol):
    """Something `whp serve` starts with the server and stops after it (store writer, worker)."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...

    def ready(self) -> bool: ...


Outcome = Literal["delivered", "retry", "dead"]
PurgePosition = tuple[int, int]  # (received_ms, store order) of the last event a purge looked at
START: PurgePosition = (-1, -1)


class Purged(NamedTuple):
    """One purge call: events deleted, events looked at (the rest still have work pending), and
    where the next call goes on from (None: no older event is left to look at)."""

    deleted: int
    looked_at: int
    after: PurgePosition | None


RateLimit = ratelimit.Rate  # per second, burst


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A leased delivery: POST `event` to `destination` as attempt number `attempt`."""

    delivery_id: int
    route: str
    destination: str
    webhook_id: str
    attempt: int
    lease_until_ms: int
    event: models.Event
    not_before_ms: float | None = None  # the destination's rate limit: not sent before this


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """What one delivery attempt did, to be recorded. `next_attempt_ms` is set for a retry."""

    delivery_id: int
    attempt: int
    started_ms: int
    duration_ms: int
    status_code: int | None
    error: str | None
    excerpt: str | None
    outcome: Outcome
    next_attempt_ms: int | None = None

    def __post_init__(self) -> None:
        if self.outcome == "retry" and self.next_attempt_ms is None:
            raise ValueError("a retry needs next_attempt_ms")


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
    ) -> Sequence[ClaimedDelivery]: ...

    def paused_destinations(self) -> set[str]:
        """Destinations paused at runtime (`whp destinations pause`; not the config's)."""
        ...

    def record_many(self, records: Sequence[AttemptRecord], now_ms: int) -> int:
        """Keep each attempt and move its delivery to the attempt's outcome, in order, all in
        one transaction. Returns how many deliveries followed their attempt."""
        ...

    def purge(self, older_than_ms: int, after: PurgePosition = START, batch: int = 500) -> Purged:
        """Look at up to `batch` events received before `older_than_ms`, oldest first, after
        `after`, and delete those whose work is done (routed, no delivery pending), with their
        deliveries and attempts, in one short transaction. An acknowledged webhook that is not
        delivered yet (its destination paused past the retention, say) is never purged."""
        ...


class Sender(Protocol):
    """Sends one delivery attempt; never raises for network problems (they are a failed Result)."""

    async def send(
        self, outgoing: delivery.Outgoing, timeout: float, now: Callable[[], float]
    ) -> delivery.Result: ...

    async def aclose(self) -> None: ...


class Metrics(Protocol):
    def accepted(self, source: str, duplicate: bool) -> None: ...

    def rejected(self, source: str, reason: str) -> None: ...
