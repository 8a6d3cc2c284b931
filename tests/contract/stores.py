"""Harnesses of the EventStore contract (test_event_store.py): a store, what reads it back, and
a way to make it unable to commit. The DynamoDB one is in aws.py.

Adds go in together, on one event loop, as concurrent requests do: the SQLite store commits
them as one batch (adapters/sqlite/events.py), so dedupe is tested within a commit too."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from webhook_processor import models, ports, testing
from webhook_processor.adapters.sqlite import db, events, operations


class StoreHarness(Protocol):
    store: ports.EventStore

    def add(self, *made: models.Event) -> list[models.Stored]:
        """Add them at once (concurrent requests); each one's answer, in order."""
        ...

    def read(self, event_id: str) -> models.Event | None:
        """The event as an operator reads it back (with body and headers)."""
        ...

    def broken(self) -> contextlib.AbstractContextManager[None]:
        """While inside, the store cannot commit."""
        ...

    def close(self) -> None: ...


class MemoryHarness:
    def __init__(self) -> None:
        self.fake = testing.MemoryStore()
        self.store: ports.EventStore = self.fake

    def add(self, *made: models.Event) -> list[models.Stored]:
        async def requests() -> list[models.Stored]:
            return list(await asyncio.gather(*(self.store.add(e) for e in made)))

        return asyncio.run(requests())

    def read(self, event_id: str) -> models.Event | None:
        return self.fake.get(event_id)

    @contextlib.contextmanager
    def broken(self) -> Iterator[None]:
        self.fake.fail = True
        try:
            yield
        finally:
            self.fake.fail = False

    def close(self) -> None:
        pass


BUSY_TIMEOUT = 0.2  # s: how long a commit waits for a lock another process holds


class SqliteHarness:
    """The ingest writer of `whp serve` (GroupCommitStore) on a real file, on a loop of its own
    that runs while a test waits on it; operators read through another connection."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._loop = asyncio.new_event_loop()
        self._writer = events.GroupCommitStore(str(path), BUSY_TIMEOUT)
        self.store: ports.EventStore = self._writer
        self._loop.run_until_complete(self._started())
        self._conn = db.connect(str(path), 5)
        self._ops = operations.SqliteOperations(self._conn)

    async def _started(self) -> None:
        self._writer.start()

    def add(self, *made: models.Event) -> list[models.Stored]:
        async def requests() -> list[models.Stored]:
            return list(await asyncio.gather(*(self.store.add(e) for e in made)))

        return self._loop.run_until_complete(requests())

    def read(self, event_id: str) -> models.Event | None:
        return self._ops.event(event_id)

    @contextlib.contextmanager
    def broken(self) -> Iterator[None]:
        """Another process holds the write lock past the busy timeout."""
        blocker = sqlite3.connect(self._path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()

    def close(self) -> None:
        self._loop.run_until_complete(self._writer.stop())
        self._loop.close()
        self._conn.close()
