"""In-memory fakes of every port, for tests of the services (and for users' own tests)."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Literal, NamedTuple

from webhook_processor import delivery, errors, models, ports, ratelimit


class MemoryStore:
    """EventStore in a dict. `fail = True` makes commits fail (503)."""

    def __init__(self) -> None:
        self.events: dict[str, models.Event] = {}
        self._keys: dict[tuple[str, str], str] = {}
        self.fail = False

    async def _add(self, event: models.Event) -> models.Stored:
        if self.fail:
            raise errors.StoreUnavailable("the store could not commit: simulated failure")
        if event.idempotency_key is not None:
            first = self._keys.get((event.source, event.idempotency_key))
            if first is not None:
                return models.Stored(first, duplicate=True)
            self._keys[(event.source, event.idempotency_key)] = event.id
        self.events[event.id] = event
        return models.Stored(event.id, duplicate=False)

    def add(self, event: models.Event) -> asyncio.Task[models.Stored]:
        return asyncio.ensure_future(self._add(event))

    def get(self, event_id: str) -> models.Event | None:
        return self.events.get(event_id)


PurgePosition = tuple[int, int]  # (received_ms, seq) of the last event a purge looked at
START: PurgePosition = (-1, -1)


class Purged(NamedTuple):
    """One purge call of MemoryQueue, as the SQLite queue's (adapters/sqlite/queue.py): events
    deleted, events looked at, and where the next call goes on from (None: none left)."""

    deleted: int
    looked_at: int
    after: PurgePosition | None


class MemoryMetrics:
    def __init__(self) -> None:
        self.accepted_by: Counter[tuple[str, bool]] = Counter()
        self.rejected_by: Counter[tuple[str, str]] = Counter()
        self.answers: list[tuple[str, float]] = []
        self.attempts: list[tuple[str, models.Outcome, float, float | None]] = []

    def accepted(self, source: str, duplicate: bool) -> None:
        self.accepted_by[(source, duplicate)] += 1

    def rejected(self, source: str, reason: str) -> None:
        self.rejected_by[(source, reason)] += 1

    def answered(self, source: str, seconds: float) -> None:
        self.answers.append((source, seconds))

    def attempted(
        self, destination: str, outcome: models.Outcome, seconds: float, latency: float | None
    ) -> None:
        self.attempts.append((destination, outcome, seconds, latency))


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclasses.dataclass(slots=True)
class QueuedDelivery:
    id: int
    event: models.Event
    route: str
    destination: str
    webhook_id: str
    status: Literal["pending", "delivered", "dead"] = "pending"
    attempts: int = 0
    next_attempt_ms: int = 0
    lease_until_ms: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class RecordedAttempt:
    delivery_id: int
    number: int
    started_ms: int
    duration_ms: int
    status_code: int | None
    error: str | None
    excerpt: str | None
    outcome: models.Outcome
    next_attempt_ms: int | None


class MemoryQueue:
    """DeliveryQueue in memory, with the semantics of adapters/sqlite/queue.py (leases, paused
    destinations, in-flight limits, at-least-once recording). Events come from `store`: the
    ones still `pending` there are routed. `attempts` keeps every recorded attempt, in order."""

    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = store if store is not None else MemoryStore()
        self.deliveries: dict[int, QueuedDelivery] = {}
        self.attempts: list[RecordedAttempt] = []
        self.rate_tats: dict[str, float] = {}  # destination_state.rate_tat_ms
        self.paused: set[str] = set()  # destination_state.paused (`whp destinations pause`)
        self._store_order: dict[str, int] = {}  # events.seq
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # the worker calls from threads

    def paused_destinations(self) -> set[str]:
        return set(self.paused)

    def pending_events(self, limit: int, payload: bool = True) -> Sequence[models.Event]:
        pending = [e for e in self.store.events.values() if e.status == "pending"][:limit]
        return (
            pending if payload else [dataclasses.replace(e, body=b"", headers={}) for e in pending]
        )

    def route_many(
        self, routed: Sequence[tuple[str, Sequence[tuple[str, str]]]], now_ms: int
    ) -> int:
        created = 0
        with self._lock:
            for event_id, targets in routed:
                event = self.store.events.get(event_id)
                if event is None or event.status != "pending":
                    continue  # routed already: never double its deliveries
                status: models.EventStatus = "routed" if targets else "unrouted"
                event = self.store.events[event_id] = dataclasses.replace(event, status=status)
                for route, destination in targets:
                    new_id = next(self._ids)
                    self.deliveries[new_id] = QueuedDelivery(
                        new_id, event, route, destination, event.id, next_attempt_ms=now_ms
                    )
                    created += 1
        return created

    def route_none(self) -> int:
        pending = self.pending_events(len(self.store.events))
        self.route_many([(e.id, []) for e in pending], 0)
        return len(pending)

    def claim(
        self,
        now_ms: int,
        lease_ms: int,
        limit: int,
        paused: Collection[str] = (),
        per_destination_limit: Mapping[str, int] | None = None,
        rate_limits: Mapping[str, ports.RateLimit] | None = None,
    ) -> Sequence[models.Claim]:
        rates = rate_limits or {}
        with self._lock:
            pending = [d for d in self.deliveries.values() if d.status == "pending"]
            room = dict(per_destination_limit or {})  # how many more each capped one may take
            for d in pending:
                if d.destination in room and _leased(d, now_ms):
                    room[d.destination] -= 1
            ratelimit.cap_room(room, self.rate_tats, now_ms, rates, limit)
            due = [d for d in pending if d.next_attempt_ms <= now_ms and not _leased(d, now_ms)]
            chosen: list[QueuedDelivery] = []
            for d in sorted(due, key=lambda d: (d.next_attempt_ms, d.id)):
                if len(chosen) == limit:
                    break
                if d.destination in paused or room.get(d.destination, 1) <= 0:
                    continue
                if d.destination in room:
                    room[d.destination] -= 1
                d.lease_until_ms = now_ms + lease_ms
                chosen.append(d)
            not_before, tats_after = ratelimit.book(
                self.rate_tats, now_ms, rates, ((d.id, d.destination) for d in chosen)
            )
            self.rate_tats.update(tats_after)
        return [
            models.Claim(
                delivery_id=str(d.id),
                route=d.route,
                destination=d.destination,
                webhook_id=d.webhook_id,
                attempt=d.attempts + 1,
                event=d.event,
                lease_until_ms=now_ms + lease_ms,
                not_before_ms=not_before.get(d.id),
            )
            for d in chosen
        ]

    def record_many(self, records: Sequence[models.AttemptRecord], now_ms: int) -> int:
        with self._lock:
            return sum(self._record(r) for r in records)

    def _record(self, r: models.AttemptRecord) -> bool:
        d = self.deliveries.get(int(r.delivery_id))
        if d is None:
            return False
        self.attempts.append(
            RecordedAttempt(
                int(r.delivery_id),
                r.attempt,
                r.started_ms,
                r.duration_ms,
                r.status_code,
                r.error,
                r.excerpt,
                r.outcome,
                r.next_attempt_ms,
            )
        )
        if d.status != "pending" or not (r.outcome == "delivered" or d.attempts == r.attempt - 1):
            return False  # a newer attempt owns the delivery
        d.status = "pending" if r.outcome == "retry" else r.outcome
        d.attempts = max(d.attempts, r.attempt)
        if r.next_attempt_ms is not None:
            d.next_attempt_ms = r.next_attempt_ms
        d.lease_until_ms = None
        return True

    def purge(self, older_than_ms: int, after: PurgePosition = START, batch: int = 500) -> Purged:
        with self._lock:
            order = self._store_order
            for event_id in self.store.events:  # numbered once, as seq is: stable across calls
                order.setdefault(event_id, len(order))
            scanned = sorted(
                (e.received_ms, order[e.id], e.id)
                for e in self.store.events.values()
                if after < (e.received_ms, order[e.id]) and e.received_ms < older_than_ms
            )[:batch]
            waiting = {d.event.id for d in self.deliveries.values() if d.status == "pending"}
            done = {
                event_id
                for _, _, event_id in scanned
                if self.store.events[event_id].status != "pending" and event_id not in waiting
            }
            for event_id in done:
                del self.store.events[event_id]
            self.deliveries = {k: d for k, d in self.deliveries.items() if d.event.id not in done}
        go_on = scanned[-1][:2] if len(scanned) == batch else None
        return Purged(len(done), len(scanned), go_on)

    def purge_batches(self, older_than_ms: int) -> Iterator[ports.PurgeBatch]:
        """The worker's retention over this queue (services.operations.Operator.purge_batches
        over a store's Operations, in the real thing)."""
        after = START
        while True:
            done = self.purge(older_than_ms, after)
            yield ports.PurgeBatch(done.deleted, done.looked_at, None if done.after is None else "")
            if done.after is None:
                return
            after = done.after


def _leased(d: QueuedDelivery, now_ms: int) -> bool:
    return d.lease_until_ms is not None and d.lease_until_ms > now_ms


class FakeSender:
    """Sender with scripted answers per URL: results or status codes, the last one repeating
    (200 for a URL without a script). `sent` keeps every request, `sent_at` the clock at each.
    While `gate` is set to an unset asyncio.Event, sends wait for it: attempts stay in flight."""

    def __init__(self, script: Mapping[str, Sequence[delivery.Result | int]] | None = None) -> None:
        self._script = {url: list(answers) for url, answers in (script or {}).items()}
        self.sent: list[delivery.Outgoing] = []
        self.sent_at: list[float] = []
        self.gate: asyncio.Event | None = None

    async def send(
        self, outgoing: delivery.Outgoing, timeout: float, now: Callable[[], float]
    ) -> delivery.Result:
        self.sent.append(outgoing)
        self.sent_at.append(now())
        if self.gate is not None:
            await self.gate.wait()
        answers = self._script.get(outgoing.url) or [200]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, delivery.Result):
            return answer
        return delivery.classify(answer, {}, None, None, 1, now())

    async def aclose(self) -> None:
        pass
