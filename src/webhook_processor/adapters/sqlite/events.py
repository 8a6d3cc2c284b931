"""Event storage on SQLite with group commit.

Ingest requests hand their events to one writer thread, which inserts everything waiting in one
transaction and commits it (one fsync for the batch), then wakes every waiting request at once:

    request A --put-->|
    request B --put-->|  writer: BEGIN; INSERT A; INSERT B; INSERT C; COMMIT (fsync)
    request C --put-->|                                                  |
    A, B, C <----------------- resolved together (call_soon_threadsafe) -+

A request's future resolves only after the COMMIT that holds its event, so a 2xx always means
"on disk". If the commit fails, every request of the batch gets StoreUnavailable (503).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Sequence

import orjson

from webhook_processor import errors, models, ports
from webhook_processor.adapters.sqlite import db

log = logging.getLogger(__name__)
MAX_BATCH = 1024

_Item = tuple[models.Event, "asyncio.Future[models.Stored]"]
_STOP = None


class GroupCommitStore:
    """The EventStore port for the ingest side of `whp serve`."""

    def __init__(self, path: str, busy_timeout: float) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Opened here so that a store that cannot be opened fails start-up, not the first request.
        self._conn = db.connect(path, busy_timeout)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="whp-store-writer", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Commit everything queued, then stop the writer."""
        if self._thread is not None:
            self._queue.put(_STOP)
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        self._conn.close()

    def add(self, event: models.Event) -> asyncio.Future[models.Stored]:
        assert self._loop is not None, "GroupCommitStore.start() was not called"
        future: asyncio.Future[models.Stored] = self._loop.create_future()
        self._queue.put((event, future))
        return future

    def ready(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            outcome = self._commit([event for event, _ in batch])
            assert self._loop is not None
            try:
                self._loop.call_soon_threadsafe(_resolve, batch, outcome)
            except RuntimeError:  # the loop is gone: nobody is waiting any more
                return

    def _commit(self, events: list[models.Event]) -> list[models.Stored] | errors.StoreUnavailable:
        conn = self._conn
        insert = db.QUERIES["insert_event"]
        try:
            conn.execute("BEGIN IMMEDIATE")
            results = []
            for ev in events:
                cursor = conn.execute(insert, (
                    ev.id, ev.source, ev.event_type, ev.idempotency_key, ev.received_ms,
                    ev.content_type, orjson.dumps(ev.headers), ev.body,
                ))
                if cursor.rowcount == 1:
                    results.append(models.Stored(ev.id, duplicate=False))
                else:
                    first = conn.execute(db.QUERIES["event_by_key"], (ev.source, ev.idempotency_key))
                    results.append(models.Stored(first.fetchone()[0], duplicate=True))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.error("store commit failed: %s", exc, extra={"batch": len(events)})
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return errors.StoreUnavailable(f"the store could not commit: {exc}")
        return results


def _resolve(batch: list[_Item], outcome: list[models.Stored] | errors.StoreUnavailable) -> None:
    for i, (_, future) in enumerate(batch):
        if future.done():  # the request went away; its event is stored all the same
            continue
        if isinstance(outcome, errors.StoreUnavailable):
            future.set_exception(outcome)
        else:
            future.set_result(outcome[i])


class Reader:
    """The EventReader port over a store file."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def get(self, event_id: str) -> models.Event | None:
        row = self._conn.execute(db.QUERIES["select_events"] + " WHERE id = ?", (event_id,)).fetchone()
        return _event(row) if row else None

    def list(
        self, where: ports.EventFilter, limit: int, before: str | None = None
    ) -> Sequence[models.Event]:
        clauses, args = [], []
        for column, value in (
            ("source", where.source),
            ("event_type", where.event_type),
            ("status", where.status),
            ("idempotency_key", where.idempotency_key),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if where.since_ms is not None:
            clauses.append("received_ms >= ?")
            args.append(where.since_ms)
        if where.until_ms is not None:
            clauses.append("received_ms < ?")
            args.append(where.until_ms)
        if before is not None:
            clauses.append("seq < (SELECT seq FROM events WHERE id = ?)")
            args.append(before)
        sql = db.QUERIES["select_events"]
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY seq DESC LIMIT ?"
        return [_event(row) for row in self._conn.execute(sql, (*args, limit))]


def _event(row: tuple[object, ...]) -> models.Event:
    id_, source, event_type, key, received_ms, content_type, headers, body, status = row
    return models.Event(
        id=str(id_),
        source=str(source),
        event_type=str(event_type),
        idempotency_key=None if key is None else str(key),
        received_ms=int(received_ms),  # type: ignore[call-overload]
        content_type=None if content_type is None else str(content_type),
        headers=orjson.loads(headers),  # type: ignore[arg-type]
        body=bytes(body),  # type: ignore[call-overload]
        status=status,  # type: ignore[arg-type]
    )
