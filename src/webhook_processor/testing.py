"""In-memory fakes of every port, for tests of the services (and for users' own tests)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence

from webhook_processor import errors, models, ports


class MemoryStore:
    """EventStore + EventReader in a dict. `fail = True` makes commits fail (503)."""

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

    def list(
        self, where: ports.EventFilter, limit: int, before: str | None = None
    ) -> Sequence[models.Event]:
        found = sorted(self.events.values(), key=lambda e: e.id, reverse=True)
        if before is not None:
            found = [e for e in found if e.id < before]
        wanted = (
            ("source", where.source),
            ("event_type", where.event_type),
            ("status", where.status),
            ("idempotency_key", where.idempotency_key),
        )
        found = [e for e in found if all(v is None or getattr(e, k) == v for k, v in wanted)]
        if where.since_ms is not None:
            found = [e for e in found if e.received_ms >= where.since_ms]
        if where.until_ms is not None:
            found = [e for e in found if e.received_ms < where.until_ms]
        return found[:limit]


class MemoryMetrics:
    def __init__(self) -> None:
        self.accepted_by: Counter[tuple[str, bool]] = Counter()
        self.rejected_by: Counter[tuple[str, str]] = Counter()

    def accepted(self, source: str, duplicate: bool) -> None:
        self.accepted_by[(source, duplicate)] += 1

    def rejected(self, source: str, reason: str) -> None:
        self.rejected_by[(source, reason)] += 1


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
