"""Event storage on SQLite with group commit.

Requests add their events to a pending batch. When no commit is in flight, the batch is inserted on
the event loop with a few multi-row INSERTs, and its COMMIT (the fsync) runs on the writer thread
while the loop goes on taking requests for the next batch:

    loop:    add A, add B | INSERT A, B |  add C, add D, add E  | resolve A, B | INSERT C..E
    writer:               |             | COMMIT (fsync) ------>|              | COMMIT ...

A request's future resolves only after the COMMIT that holds its event, so a 2xx always means
"on disk". If the write fails, every request of the batch gets StoreUnavailable (503).

Why this shape: each SQLite call releases and re-takes the GIL, and a thread that re-takes it while
the loop is busy waits for the loop to yield. One hand-off per batch, not one per row, keeps that
off the hot path. The loop never waits for SQLite's lock: when another process holds it, the
batch goes to the writer thread whole, which waits up to `busy_timeout`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import orjson

from webhook_processor import errors, models, ports
from webhook_processor.adapters.sqlite import db

log = logging.getLogger(__name__)

_Item = tuple[models.Event, "asyncio.Future[models.Stored]"]
_Row = tuple[object, ...]
_Firsts = list[str] | None
CHUNKS = (256, 64, 16, 4, 1)  # multi-row INSERT sizes: few distinct statements, all cached


@functools.cache
def _insert_sql(rows: int) -> str:
    head, values, tail = db.QUERIES["insert_event"].partition("VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
    assert values, "insert_event must have one VALUES tuple of 8 parameters"
    return head + "VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * rows) + tail


class GroupCommitStore:
    """The EventStore port for the ingest side of `whp serve`."""

    def __init__(self, path: str, busy_timeout: float) -> None:
        # Opened here so that a store that cannot be opened fails start-up, not the first request.
        self._conn = db.connect(path, busy_timeout)
        self._conn.execute("PRAGMA busy_timeout = 0")  # the loop must never sleep on the lock
        self._busy_timeout = busy_timeout
        self._pending: list[_Item] = []
        self._scheduled = False
        self._inflight: asyncio.Future[_Firsts] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: ThreadPoolExecutor | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="whp-store-writer")

    async def stop(self) -> None:
        """Commit everything added so far, then close."""
        while self._inflight is not None or self._pending:
            if self._inflight is not None:
                await asyncio.wait([self._inflight])
            else:
                self._flush()
        if self._writer is not None:
            self._writer.shutdown()
            self._writer = None
        self._conn.close()

    def ready(self) -> bool:
        return self._writer is not None

    def add(self, event: models.Event) -> asyncio.Future[models.Stored]:
        loop = self._loop
        assert loop is not None, "GroupCommitStore.start() was not called"
        future: asyncio.Future[models.Stored] = loop.create_future()
        self._pending.append((event, future))
        if not self._scheduled and self._inflight is None:
            self._scheduled = True
            loop.call_soon(self._flush)  # after this loop turn, so that its requests share a commit
        return future

    def _flush(self) -> None:
        self._scheduled = False
        if self._inflight is not None or not self._pending:
            return
        batch, self._pending = self._pending, []
        rows: list[_Row] = [
            (
                ev.id,
                ev.source,
                ev.event_type,
                ev.idempotency_key,
                ev.received_ms,
                ev.content_type,
                orjson.dumps(ev.headers),
                ev.body,
            )
            for ev, _ in batch
        ]
        assert self._loop is not None
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                self._failed(batch, exc)
                return
            job = self._loop.run_in_executor(self._writer, self._write_when_free, rows)
        else:
            try:
                firsts = self._insert(rows)
            except sqlite3.Error as exc:
                self._conn.execute("ROLLBACK")
                self._failed(batch, exc)
                return
            job = self._loop.run_in_executor(self._writer, self._commit, firsts)
        self._inflight = job
        job.add_done_callback(functools.partial(self._written, batch))

    def _written(self, batch: list[_Item], done: asyncio.Future[_Firsts]) -> None:
        self._inflight = None
        exc = done.exception()
        if exc is not None:
            self._failed(batch, exc)
            return
        firsts = done.result()
        for i, (event, future) in enumerate(batch):
            if future.done():  # the request went away; its event is stored all the same
                continue
            first = event.id if firsts is None else firsts[i]
            future.set_result(models.Stored(first, duplicate=first != event.id))
        if self._pending:
            self._flush()

    def _failed(self, batch: list[_Item], exc: BaseException) -> None:
        _fail(batch, exc)
        if self._pending:
            self._flush()

    def _insert(self, rows: Sequence[_Row]) -> _Firsts:
        """In an open transaction: insert the rows. None when every row is new, else, per row, the
        id of the event stored under its idempotency key (its own, or the first one's)."""
        conn = self._conn
        before = conn.total_changes
        start = 0
        for size in CHUNKS:
            while len(rows) - start >= size:
                chunk = rows[start : start + size]
                conn.execute(_insert_sql(size), [value for row in chunk for value in row])
                start += size
        if conn.total_changes - before == len(rows):
            return None
        lookup = db.QUERIES["event_by_key"]
        return [
            str(row[0]) if row[3] is None else conn.execute(lookup, (row[1], row[3])).fetchone()[0]
            for row in rows
        ]

    def _commit(self, firsts: _Firsts) -> _Firsts:
        """On the writer thread."""
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error:
            self._conn.execute("ROLLBACK")
            raise
        return firsts

    def _write_when_free(self, rows: Sequence[_Row]) -> _Firsts:
        """On the writer thread, when another process holds the lock: wait for it, then write."""
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)
        try:
            firsts = self._insert(rows)
        except sqlite3.Error:
            self._conn.execute("ROLLBACK")
            raise
        return self._commit(firsts)


def _fail(batch: list[_Item], exc: BaseException) -> None:
    log.error("store write failed: %s", exc, extra={"batch": len(batch)})
    error = errors.StoreUnavailable(f"the store could not commit: {exc}")
    for _, future in batch:
        if not future.done():
            future.set_exception(error)


class Reader:
    """The EventReader port over a store file."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def get(self, event_id: str) -> models.Event | None:
        row = self._conn.execute(
            db.QUERIES["select_events"] + " WHERE id = ?", (event_id,)
        ).fetchone()
        return _event(row) if row else None

    def list(
        self, where: ports.EventFilter, limit: int, before: str | None = None
    ) -> Sequence[models.Event]:
        clauses: list[str] = []
        args: list[object] = []
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
