"""Event storage on SQLite with group commit.

Requests add their events to a pending batch. When no write is in flight, the event loop turns the
batch into the parameters of one multi-row INSERT and hands it to the writer thread. There the
INSERT runs in autocommit mode, so it is its own transaction: one SQLite call inserts the batch and
commits it with one fsync, without the GIL. Meanwhile the loop takes requests for the next batch:

    loop:    add A, add B | params(A, B) |  add C, add D, add E  | resolve A, B | params(C..E)
    writer:               | INSERT A, B + COMMIT (fsync) ------->|              | INSERT C..E ...

A request's future resolves only after the commit that holds its event, so a 2xx always means
"on disk". If the write fails, every request of the batch gets StoreUnavailable (503), and the
store is not ready (`/readyz` 503) until a commit succeeds again: a batch's, or a probe's, tried
every PROBE_EVERY seconds while no webhook tries it (`_Outage`). An outage is logged when it
begins, at most every REPORT_EVERY seconds while it lasts, and when it ends, each line with the
number of webhooks refused since the one before: a disk that fills under load refuses thousands a
second.

Why this shape: each SQLite call releases and re-takes the GIL, and a thread that re-takes it while
the loop is busy waits for the loop to yield. One call per batch, not a few per row, keeps that
hand-off off the hot path; the loop itself never touches the disk or waits for a lock.

The writer thread is an executor that others may share (`writer`): in `whp serve` the processing
worker runs its transactions there too, between two batches, so the two never wait on each other
for SQLite's write lock (SQLite's busy handler sleeps 1, 2, 5... ms: on the commit path, that stalls
every request of the batch).

Checkpoints (copying the WAL into the database file) run on their own thread and connection, in
PASSIVE mode, which never blocks the writer: done by the committing connection, as SQLite does by
default, they would stall every request waiting on that commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor

import orjson

from webhook_processor import errors, models, ports
from webhook_processor.adapters.sqlite import db

log = logging.getLogger("whp.store")

MAX_BATCH = 256  # rows per INSERT statement: 2,048 parameters, well within SQLite's limit
CHECKPOINT_EVERY = 1.0  # seconds
WAL_RESTART_FRAMES = 4096  # pages: 16 MB of WAL at SQLite's default page size
CAUGHT_UP_SECONDS = 0.005  # a PASSIVE checkpoint this short leaves the RESTART little to copy
RESTART_WAIT_MS = 20  # how long the writer's RESTART waits for readers
PROBE_EVERY = 1.0  # seconds between commits tried while the store cannot commit
REPORT_EVERY = 10.0  # seconds: at most one line per this while the store cannot commit
PROBE_ID = "whp-probe"  # the id of the row a probe adds and takes out again
RESTART_WAIT_SECONDS = 30.0  # how long the checkpointer waits for the writer to run a RESTART
_Item = tuple[models.Event, "asyncio.Future[models.Stored]"]
_Written = list[str] | None  # None: every row new; else the id stored per row


@functools.cache
def _insert_sql(rows: int) -> str:
    head, values, tail = db.QUERIES["insert_event"].partition("VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
    assert values, "insert_event must have one VALUES tuple of 8 parameters"
    return head + "VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * rows) + tail


class GroupCommitStore:
    """The EventStore port for the ingest side of `whp serve`."""

    def __init__(self, path: str, busy_timeout: float) -> None:
        # Opened here so that a store that cannot be opened fails start-up, not the first request.
        # One cached statement per batch size: each is prepared once.
        self._conn = db.connect(
            path, busy_timeout, cached_statements=MAX_BATCH + 32, checkpoints=False
        )
        self._busy_timeout = busy_timeout
        self._checkpoints = _Checkpointer(path, busy_timeout, self._restart_wal)
        self._pending: list[_Item] = []
        self._writing: list[_Item] | None = None
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="whp-store-writer")
        self._running = False
        self._idle = asyncio.Event()
        self._outage: _Outage | None = None  # while the store cannot commit
        self._next_probe: asyncio.TimerHandle | None = None

    @property
    def writer(self) -> Executor:
        """The one thread that writes: share it to write without contending with ingest. It
        stops with the store, so whoever shares it must stop first."""
        return self._writer

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._checkpoints.start()
        self._running = True

    async def stop(self) -> None:
        """Commit everything added so far, then stop the writer and close."""
        while self._writing is not None or self._pending:
            self._idle.clear()
            if self._writing is None:
                self._flush()
            await self._idle.wait()
        self._running = False
        if self._next_probe is not None:
            self._next_probe.cancel()
        if self._outage is not None:
            self._outage.stopped()
        await asyncio.to_thread(self._writer.shutdown)
        await asyncio.to_thread(self._checkpoints.stop)
        self._conn.close()

    def ready(self) -> bool:
        """Started, and the last commit tried succeeded."""
        return self._running and self._outage is None

    def _restart_wal(self) -> Future[None] | None:
        """From the checkpointer: start the WAL over, on the writer thread, between batches.
        None when the store stopped meanwhile (its last checkpoint does it)."""
        try:
            return self._writer.submit(self._restart_now)
        except RuntimeError:
            return None

    def _restart_now(self) -> None:
        """A RESTART checkpoint that waits for readers (a long `whp events list`, say) at most
        RESTART_WAIT_MS, not the busy timeout: ingest waits behind it. If they are not done by
        then, a later one starts the WAL over."""
        conn = self._conn
        conn.execute(f"PRAGMA busy_timeout = {RESTART_WAIT_MS}")
        try:
            checkpoint(conn, "RESTART")
        finally:
            conn.execute(f"PRAGMA busy_timeout = {round(self._busy_timeout * 1000)}")

    def add(self, event: models.Event) -> asyncio.Future[models.Stored]:
        loop = self._loop
        assert loop is not None, "GroupCommitStore.start() was not called"
        future: asyncio.Future[models.Stored] = loop.create_future()
        self._pending.append((event, future))
        if not self._scheduled and self._writing is None:
            self._scheduled = True
            loop.call_soon(self._flush)  # after this loop turn, so that its requests share a commit
        return future

    def _flush(self) -> None:
        self._scheduled = False
        if self._writing is not None or not self._pending:
            return
        batch = self._pending[:MAX_BATCH]
        del self._pending[:MAX_BATCH]
        params: list[object] = []
        for ev, _ in batch:
            params += (
                ev.id,
                ev.source,
                ev.event_type,
                ev.idempotency_key,
                ev.received_ms,
                ev.content_type,
                orjson.dumps(ev.headers),
                ev.body,
            )
        self._writing = batch
        assert self._loop is not None
        self._loop.run_in_executor(self._writer, self._write, params).add_done_callback(
            self._written
        )

    def _write(self, params: list[object]) -> _Written:
        """On the writer thread: one autocommit INSERT (insert and commit, atomically)."""
        conn = self._conn
        rows = len(params) // 8
        before = conn.total_changes
        conn.execute(_insert_sql(rows), params)
        if conn.total_changes - before == rows:
            return None
        # Some idempotency key was stored before: find which event holds each key.
        lookup = db.QUERIES["event_by_key"]
        firsts = []
        for i in range(0, len(params), 8):
            event_id, source, key = params[i], params[i + 1], params[i + 3]
            if key is not None:
                event_id = conn.execute(lookup, (source, key)).fetchone()[0]
            firsts.append(str(event_id))
        return firsts

    def _written(self, done: asyncio.Future[_Written]) -> None:
        batch, self._writing = self._writing or [], None
        failure = done.exception()  # every failure is the whole batch's answer
        if failure is not None:
            self._failed(failure, len(batch))
            error = errors.StoreUnavailable(f"the store could not commit: {failure}")
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
        else:
            if self._outage is not None:
                self._outage.ended()
                self._outage = None
            outcome = done.result()
            for i, (event, future) in enumerate(batch):
                if future.done():  # the request went away; its event is stored all the same
                    continue
                first = event.id if outcome is None else outcome[i]
                future.set_result(models.Stored(first, duplicate=first != event.id))
        if self._pending:
            self._flush()
        else:
            self._idle.set()

    def _failed(self, failure: BaseException, refused: int) -> None:
        if self._outage is None:
            self._outage = _Outage(failure, refused)
        else:
            self._outage.failed(failure, refused)
        self._probe_later()

    def _probe_later(self) -> None:
        if self._next_probe is None and self._running:
            assert self._loop is not None
            self._next_probe = self._loop.call_later(PROBE_EVERY, self._probe)

    def _probe(self) -> None:
        """While the store cannot commit: try a commit, unless webhooks are trying already."""
        self._next_probe = None
        if self._outage is None or not self._running:
            return
        if self._writing is not None or self._pending:
            self._probe_later()
            return
        assert self._loop is not None
        self._writing = []  # a batch of no webhook: batches wait for it, as for any other
        self._loop.run_in_executor(self._writer, self._write_probe).add_done_callback(self._probed)

    def _probed(self, done: asyncio.Future[_Written]) -> None:
        self._written(done)  # its outcome is the store's, as a batch's is
        if self._outage is not None:
            self._probe_later()

    def _write_probe(self) -> _Written:
        """On the writer thread: a commit that leaves nothing behind, yet writes what a webhook's
        would (a row in the events table and its indexes, added and taken out again)."""
        conn = self._conn
        params = (PROBE_ID, "", "", None, 0, None, b"{}", b"")
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(_insert_sql(1), params)
            conn.execute("DELETE FROM events WHERE id = ?", (PROBE_ID,))
            conn.execute("COMMIT")
        finally:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
        return None


class _Outage:
    """A time during which the store cannot commit, and what is logged of it: a line when it
    begins, one at most every REPORT_EVERY seconds while it lasts, one when it ends, each with
    `refused`, the number of webhooks refused since the line before."""

    def __init__(self, failure: BaseException, refused: int) -> None:
        self._began = self._reported = time.monotonic()
        self._refused = 0
        log.error(
            "store cannot commit: %s; webhooks get 503 until it can",
            failure,
            extra={"refused": refused},
        )

    def failed(self, failure: BaseException, refused: int) -> None:
        self._refused += refused
        now = time.monotonic()
        if now - self._reported >= REPORT_EVERY:
            log.error(
                "store still cannot commit: %s",
                failure,
                extra={"refused": self._refused, "seconds": round(now - self._began)},
            )
            self._reported, self._refused = now, 0

    def ended(self) -> None:
        self._report("store commits again")

    def stopped(self) -> None:
        self._report("store stopped while it could not commit")

    def _report(self, message: str) -> None:
        seconds = round(time.monotonic() - self._began, 1)
        log.warning(message, extra={"refused": self._refused, "seconds": seconds})


class _Checkpointer:
    """Copies the WAL into the database every CHECKPOINT_EVERY seconds, off the commit path.

    PASSIVE checkpoints never block the writer, but under a steady stream of commits they never
    catch up with the last one either, and SQLite only starts the WAL over once a checkpoint has
    copied all of it: the WAL would grow without bound (about a GB a minute at full ingest). So
    once it holds more than WAL_RESTART_FRAMES, `restart` is called: the store's writer thread
    then runs a RESTART checkpoint between two batches, and the next commit writes the WAL from
    its start again. The RESTART holds the writer while it copies what the PASSIVE ones have not,
    so these first catch up until one is short (at full ingest on a small VM, the RESTART took
    20-300 ms after a single PASSIVE, a few ms after catching up), and the database file is synced
    here first (`_synced`). Run from here, the RESTART would make the writer wait in SQLite's busy
    handler instead. The WAL file keeps its largest size (truncating it on the commit path costs
    more) until the store stops.
    """

    def __init__(
        self, path: str, busy_timeout: float, restart: Callable[[], Future[None] | None]
    ) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._restart = restart
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="whp-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop, after a last full checkpoint that leaves an empty WAL behind."""
        if self._thread is not None:
            self._stopping.set()
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        conn, file = db.connect_with_descriptor(self._path, self._busy_timeout)
        if file is None:
            log.debug("the database file's descriptor was not found: not synced before RESTARTs")
        try:
            while not self._stopping.wait(CHECKPOINT_EVERY):
                if checkpoint(conn, "PASSIVE") <= WAL_RESTART_FRAMES:
                    continue
                # Copy what was committed during that checkpoint, then during this one...: each
                # is shorter, and the writer's RESTART is left only the last few frames.
                for _ in range(8):
                    started = time.monotonic()
                    checkpoint(conn, "PASSIVE")
                    if time.monotonic() - started < CAUGHT_UP_SECONDS:
                        break
                if file is not None and not _synced(file):
                    file = None
                restarted = self._restart()
                # Wait for it before the next PASSIVE: a RESTART needs the checkpoint lock that a
                # PASSIVE holds, and on a loaded machine the writer ran it just as the next one
                # began, failed after RESTART_WAIT_MS, and the WAL grew on (seen under load).
                if restarted is not None:
                    with contextlib.suppress(Exception):  # logged by checkpoint(); the next goes on
                        restarted.result(timeout=RESTART_WAIT_SECONDS)
            checkpoint(conn, "TRUNCATE")
        finally:
            conn.close()


def _synced(fd: int) -> bool:
    """fsync the database file, off the writer; False if that failed.

    The pages that PASSIVE checkpoints copy into the file stay in the OS's cache: SQLite syncs the
    file only after a checkpoint that copied the whole WAL, and under steady commits only the
    writer's RESTART does that. Its sync then wrote out a second's worth of checkpoints while
    ingest waited: 100-300 ms on a store of 460,000 events (docs/performance-notes.md). Synced
    here first, the RESTART's own sync has only its last few pages left. `fd` is SQLite's own
    descriptor (`db.connect_with_descriptor`): a descriptor opened and closed here would cancel
    SQLite's locks on the file."""
    try:
        os.fsync(fd)
    except OSError as exc:  # the RESTART still syncs, only on the writer
        log.warning("syncing the database file failed, not tried again: %s", exc)
        return False
    return True


def checkpoint(conn: sqlite3.Connection, mode: str) -> int:
    """Checkpoint; how many frames the WAL holds (0 when unknown)."""
    try:
        _, frames, _ = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    except sqlite3.Error as exc:  # a later checkpoint catches up; commits are unaffected
        log.warning("WAL checkpoint (%s) failed: %s", mode, exc)
        return 0
    return int(frames)


class Reader:
    """The EventReader port over a store file."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def get(self, event_id: str) -> models.Event | None:
        row = self._conn.execute(
            db.QUERIES["select_events"] + " WHERE id = ?", (event_id,)
        ).fetchone()
        return event_from_row(row) if row else None

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
        return [event_from_row(row) for row in self._conn.execute(sql, (*args, limit))]


def event_from_row(row: tuple[object, ...]) -> models.Event:
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
