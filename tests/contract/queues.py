"""Harnesses of the DeliveryQueue contract (test_delivery_queue.py): each implementation of the
port with the store it routes from, and a way to see what it holds without reaching past it.

Events go in as ingest puts them (SQLite: the store's own INSERT; the fake: its MemoryStore);
runtime pauses as an operator sets them (SQLite: Operations.set_paused). What a delivery became
is read through the implementation's own view (SQLite: Operations.deliveries), so a test reads as
a worker's and an operator's view of the same queue."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from webhook_processor import models, ports, testing
from webhook_processor.adapters.sqlite import db, events, operations, queue

from . import harness


@dataclasses.dataclass(frozen=True, slots=True)
class Seen:
    """A delivery as an operator sees it: where it goes, where it is, every attempt kept."""

    route: str
    destination: str
    webhook_id: str
    status: str
    attempts: int
    history: tuple[models.Attempt, ...]


class Purging(ports.DeliveryQueue, Protocol):
    """The port, and the purge by positions both implementations keep for their own store."""

    def purge(
        self, older_than_ms: int, after: queue.PurgePosition = queue.START, batch: int = 500
    ) -> queue.Purged | testing.Purged: ...


class QueueHarness(Protocol):
    queue: Purging

    def add(self, *made: models.Event) -> None: ...

    def second_worker(self) -> ports.DeliveryQueue:
        """Another worker process's queue on the same store."""
        ...

    def set_paused(self, destination: str, paused: bool) -> None: ...

    def deliveries(self, event_id: str) -> list[Seen]:
        """The event's deliveries, in the order routing made them."""
        ...

    def status(self, event_id: str) -> models.EventStatus | None:
        """The event's status; None when it is not in the store (purged)."""
        ...

    def close(self) -> None: ...


class MemoryHarness:
    def __init__(self) -> None:
        self.fake = testing.MemoryQueue()
        self.queue: Purging = self.fake

    def add(self, *made: models.Event) -> None:
        async def ingest() -> None:
            for e in made:
                await self.fake.store.add(e)

        asyncio.run(ingest())

    def second_worker(self) -> ports.DeliveryQueue:
        return self.fake  # one process: every worker shares the object

    def set_paused(self, destination: str, paused: bool) -> None:
        if paused:
            self.fake.paused.add(destination)
        else:
            self.fake.paused.discard(destination)

    def deliveries(self, event_id: str) -> list[Seen]:
        mine = sorted(
            (d for d in self.fake.deliveries.values() if d.event.id == event_id),
            key=lambda d: d.id,
        )
        return [
            Seen(
                d.route,
                d.destination,
                d.webhook_id,
                d.status,
                d.attempts,
                tuple(
                    models.Attempt(
                        a.number, a.started_ms, a.duration_ms, a.status_code, a.error, a.excerpt
                    )
                    for a in self.fake.attempts
                    if a.delivery_id == d.id
                ),
            )
            for d in mine
        ]

    def status(self, event_id: str) -> models.EventStatus | None:
        found = self.fake.store.get(event_id)
        return None if found is None else found.status

    def close(self) -> None:
        pass


class SqliteHarness:
    """The SQLite queue on a real file, each worker on its own connection as in `whp serve`."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._conns = [db.connect(str(path), 5)]
        self._ops = operations.SqliteOperations(self._conns[0])
        self.queue: Purging = queue.DeliveryQueue(self._conns[0])

    def add(self, *made: models.Event) -> None:
        for e in made:
            harness.insert_event(self._conns[0], e)

    def second_worker(self) -> ports.DeliveryQueue:
        conn = db.connect(str(self._path), 5)
        self._conns.append(conn)
        return queue.DeliveryQueue(conn)

    def set_paused(self, destination: str, paused: bool) -> None:
        self._ops.set_paused(destination, paused, harness.NOW)

    def deliveries(self, event_id: str) -> list[Seen]:
        return [
            Seen(d.route, d.destination, d.webhook_id, d.status, d.attempts, d.history)
            for d in self._ops.deliveries(event_id)
        ]

    def status(self, event_id: str) -> models.EventStatus | None:
        found = events.Reader(self._conns[0]).get(event_id)
        return None if found is None else found.status

    def close(self) -> None:
        for conn in self._conns:
            conn.close()


def statuses(h: QueueHarness, made: Sequence[models.Event]) -> list[models.EventStatus | None]:
    return [h.status(e.id) for e in made]
