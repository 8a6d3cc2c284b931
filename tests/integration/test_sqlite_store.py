"""The SQLite store on real files: durability, dedupe, failure, migrations, reading back."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from webhook_processor import errors, models, ports
from webhook_processor.adapters.sqlite import db, events

T = Any


def event(
    n: int, key: str | None = None, source: str = "github", received_ms: int = 0
) -> models.Event:
    return models.Event(
        id=models.new_event_id(1_700_000_000 + n),
        source=source,
        event_type="push",
        idempotency_key=key,
        received_ms=received_ms or 1_700_000_000_000 + n,
        content_type="application/json",
        headers={"x-github-event": "push"},
        body=b'{"n": %d}' % n,
    )


def with_store(
    path: Path, busy: float, body: Callable[[events.GroupCommitStore], Coroutine[T, T, T]]
) -> T:
    async def run() -> T:
        store = events.GroupCommitStore(str(path), busy)
        store.start()
        try:
            return await body(store)
        finally:
            await store.stop()

    return asyncio.run(run())


def rows(path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT id, idempotency_key, body FROM events ORDER BY seq").fetchall()
    finally:
        conn.close()


def test_concurrent_adds_are_all_committed_once_each(tmp_path: Path) -> None:
    path = tmp_path / "whp.db"
    batch = [event(i, key=f"k{i}") for i in range(600)]

    async def body(store: events.GroupCommitStore) -> list[models.Stored]:
        return list(await asyncio.gather(*(store.add(e) for e in batch)))

    stored = with_store(path, 5, body)
    assert [s.id for s in stored] == [e.id for e in batch]
    assert not any(s.duplicate for s in stored)
    assert [r[0] for r in rows(path)] == [e.id for e in batch]


def test_a_resolved_add_is_on_disk_before_the_store_stops(tmp_path: Path) -> None:
    path = tmp_path / "whp.db"

    async def body(store: events.GroupCommitStore) -> list[tuple[Any, ...]]:
        stored = await store.add(event(1))
        return [r for r in rows(path) if r[0] == stored.id]  # read by another connection

    assert len(with_store(path, 5, body)) == 1


def test_duplicates_within_one_batch_and_across_batches(tmp_path: Path) -> None:
    path = tmp_path / "whp.db"
    first, same_batch, other_source, unkeyed = (
        event(1, key="k"),
        event(2, key="k"),
        event(3, key="k", source="stripe"),
        event(4),
    )

    async def body(store: events.GroupCommitStore) -> list[models.Stored]:
        together = await asyncio.gather(
            *(store.add(e) for e in (first, same_batch, other_source, unkeyed))
        )
        later = await store.add(event(5, key="k"))
        return [*together, later]

    got = with_store(path, 5, body)
    assert got == [
        models.Stored(first.id, False),
        models.Stored(first.id, True),
        models.Stored(other_source.id, False),
        models.Stored(unkeyed.id, False),
        models.Stored(first.id, True),
    ]
    assert len(rows(path)) == 3


def test_a_held_lock_makes_adds_fail_then_recover(tmp_path: Path) -> None:
    path = tmp_path / "whp.db"
    db.connect(str(path), 1).close()  # create and migrate
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")

    async def body(store: events.GroupCommitStore) -> models.Stored:
        with pytest.raises(errors.StoreUnavailable, match="could not commit: database is locked"):
            await store.add(event(1))
        blocker.execute("ROLLBACK")
        return await store.add(event(2))

    try:
        stored = with_store(path, 0.2, body)
    finally:
        blocker.close()
    assert [r[0] for r in rows(path)] == [stored.id]


async def until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def test_a_store_that_cannot_commit_is_not_ready_until_a_commit_succeeds(tmp_path: Path) -> None:
    """Not ready from the first failed commit (/readyz 503) until one succeeds again, which the
    store tries by itself: no webhook may come while a load balancer keeps it out."""
    path = tmp_path / "whp.db"
    db.connect(str(path), 1).close()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")

    async def body(store: events.GroupCommitStore) -> bool:
        assert store.ready()
        with pytest.raises(errors.StoreUnavailable):
            await store.add(event(1))
        assert not store.ready()
        await asyncio.sleep(events.PROBE_EVERY * 2.5)  # the probes fail too
        assert not store.ready()
        blocker.execute("ROLLBACK")
        return await until(store.ready, events.PROBE_EVERY * 10)

    try:
        assert with_store(path, 0.1, body), "still not ready once the lock was gone"
    finally:
        blocker.close()
    assert rows(path) == []  # a probe leaves nothing behind


def test_an_outage_is_logged_at_a_bounded_rate_with_the_webhooks_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "REPORT_EVERY", 0.5)
    path = tmp_path / "whp.db"
    db.connect(str(path), 1).close()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")

    async def body(store: events.GroupCommitStore) -> int:
        refused = 0
        started = asyncio.get_running_loop().time()
        while asyncio.get_running_loop().time() - started < 2:
            outcomes = await asyncio.gather(
                *(store.add(event(i)) for i in range(10)), return_exceptions=True
            )
            refused += sum(isinstance(o, errors.StoreUnavailable) for o in outcomes)
        blocker.execute("ROLLBACK")
        assert await until(store.ready, 10)
        return refused

    caplog.set_level("INFO", logger="whp.store")
    try:
        refused = with_store(path, 0.05, body)
    finally:
        blocker.close()
    reports = [r for r in caplog.records if r.name == "whp.store" and hasattr(r, "refused")]
    assert refused >= 100
    assert 3 <= len(reports) <= 8, [r.getMessage() for r in reports]  # 2 s, one per 0.5 s
    assert sum(r.__dict__["refused"] for r in reports) == refused
    assert reports[0].getMessage().startswith("store cannot commit: database is locked")
    assert reports[1].getMessage() == "store still cannot commit: database is locked"
    assert reports[-1].getMessage() == "store commits again"


def test_a_store_that_cannot_be_opened_fails_at_start(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(errors.StoreUnavailable, match="cannot open the store"):
        events.GroupCommitStore(str(tmp_path / "dir.db"), 1)


def test_migrations_run_once_and_newer_stores_are_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "whp.db")
    conn = db.connect(path, 1)
    latest = db.migrations()[-1][0]
    assert conn.execute("PRAGMA user_version").fetchone()[0] == latest
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    conn.execute(f"PRAGMA user_version = {latest + 1}")
    conn.close()
    with pytest.raises(errors.StoreUnavailable, match="newer than this whp knows"):
        db.connect(path, 1)


def test_reader_filters_and_pages_newest_first(tmp_path: Path) -> None:
    path = tmp_path / "whp.db"
    made = [
        event(i, key=f"k{i}", source="github" if i % 2 else "stripe", received_ms=1000 * i)
        for i in range(1, 8)
    ]

    async def body(store: events.GroupCommitStore) -> None:
        for e in made:
            await store.add(e)

    with_store(path, 5, body)
    reader = events.Reader(db.connect(str(path), 1, readonly=True))
    assert reader.get(made[0].id) == made[0]
    assert reader.get("evt_missing") is None
    page = reader.list(ports.EventFilter(source="github"), limit=2)
    assert [e.id for e in page] == [made[6].id, made[4].id]
    page2 = reader.list(ports.EventFilter(source="github"), limit=2, before=page[-1].id)
    assert [e.id for e in page2] == [made[2].id, made[0].id]
    window = reader.list(ports.EventFilter(since_ms=2000, until_ms=4000), limit=10)
    assert [e.id for e in window] == [made[2].id, made[1].id]
    assert [e.id for e in reader.list(ports.EventFilter(idempotency_key="k3"), 10)] == [made[2].id]


def test_reading_a_store_that_does_not_exist_says_so(tmp_path: Path) -> None:
    with pytest.raises(errors.StoreUnavailable, match="has `whp serve` run yet"):
        db.connect(str(tmp_path / "none.db"), 1, readonly=True)


def test_two_processes_opening_an_old_store_at_once_both_start(tmp_path: Path) -> None:
    path = str(tmp_path / "whp.db")
    (first_version, first_sql), *_ = db.migrations()
    old = sqlite3.connect(path, isolation_level=None)
    old.executescript(f"{first_sql}\nPRAGMA user_version = {first_version};")
    old.close()
    script = (
        "import sys\n"
        "from webhook_processor.adapters.sqlite import db\n"
        "db.connect(sys.argv[1], 10).close()\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, path], stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    outcomes = [(p.communicate(timeout=30)[1].decode(), p.returncode) for p in procs]
    assert [err for err, code in outcomes if code != 0] == []
    conn = db.connect(path, 1)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == db.migrations()[-1][0]
    conn.close()


@pytest.mark.parametrize("restarts", [True, False])
def test_the_wal_stops_growing_under_a_steady_stream_of_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restarts: bool
) -> None:
    """PASSIVE checkpoints alone never let SQLite start the WAL over while commits keep coming;
    the store has its writer restart it (the `restarts=False` case shows the growth)."""
    monkeypatch.setattr(events, "CHECKPOINT_EVERY", 0.05)
    monkeypatch.setattr(events, "WAL_RESTART_FRAMES", 64 if restarts else 10**9)
    path = tmp_path / "whp.db"
    wal = tmp_path / "whp.db-wal"
    body = b'{"pad": "%s"}' % (b"x" * 2000)
    sizes: list[int] = []

    async def stream(store: events.GroupCommitStore) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.5
        n = 0
        while loop.time() < deadline:  # one small commit after another, without a pause
            batch = [event(n + i, key=f"k{n + i}") for i in range(20)]
            n += 20
            await asyncio.gather(*(store.add(dataclasses.replace(e, body=body)) for e in batch))
            sizes.append(wal.stat().st_size)

    with_store(path, 5, stream)
    written = len(sizes) * 20 * len(body)
    if restarts:
        # Once restarted, the WAL is written from its start again: the file stops growing. (Its
        # high-water mark depends on how soon the first restart came, which a loaded machine
        # delays; the growth after it does not.)
        mid = len(sizes) // 2
        assert sizes[-1] - sizes[mid] < (len(sizes) - mid) * 20 * len(body) / 4
    else:
        assert sizes[-1] > written  # every commit appended: the WAL only grew
    assert not wal.exists() or wal.stat().st_size == 0  # the last checkpoint emptied it


def test_a_long_reader_does_not_hold_up_ingest_when_the_wal_is_restarted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "CHECKPOINT_EVERY", 0.05)
    monkeypatch.setattr(events, "WAL_RESTART_FRAMES", 16)
    path = tmp_path / "whp.db"
    db.connect(str(path), 5).close()
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM events").fetchone()  # a snapshot held all along
    slowest = 0.0

    async def stream(store: events.GroupCommitStore) -> None:
        nonlocal slowest
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.0
        n = 0
        while loop.time() < deadline:
            started = loop.time()
            await asyncio.gather(*(store.add(event(n + i)) for i in range(20)))
            slowest = max(slowest, loop.time() - started)
            n += 20

    try:
        with_store(path, 5, stream)  # a busy timeout of 5 s: a RESTART may wait that long
    finally:
        reader.close()
    assert slowest < 1.0


WRITER_PROCESS = """
import sqlite3, sys
for line in sys.stdin:  # one new connection per write, as each `whp destinations ...` makes
    try:
        conn = sqlite3.connect(sys.argv[1], timeout=5, isolation_level=None)
        conn.execute(
            "INSERT INTO destination_state (name, paused, updated_ms) VALUES ('d', 0, ?)"
            " ON CONFLICT (name) DO UPDATE SET updated_ms = excluded.updated_ms",
            (int(line),),
        )
        conn.close()
        print("ok", flush=True)
    except sqlite3.Error as exc:
        print(f"error: {exc}", flush=True)
"""


def test_writes_from_another_process_are_seen_while_the_wal_is_restarted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under ingest with WAL restarts, another connection of the process (the worker's, in
    `whp serve`) sees each write another process (the CLI) makes: nothing in the store's
    process may disturb SQLite's locks on the file (closing any descriptor of it would)."""
    monkeypatch.setattr(events, "CHECKPOINT_EVERY", 0.02)
    monkeypatch.setattr(events, "WAL_RESTART_FRAMES", 16)
    restarts = 0
    restart = events.GroupCommitStore._restart_now

    def counted(store: events.GroupCommitStore) -> None:
        nonlocal restarts
        restarts += 1
        restart(store)

    monkeypatch.setattr(events.GroupCommitStore, "_restart_now", counted)
    path = tmp_path / "whp.db"
    db.connect(str(path), 5).close()
    observer = db.connect(str(path), 5)
    other = subprocess.Popen(
        [sys.executable, "-c", WRITER_PROCESS, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    stdin, stdout = other.stdin, other.stdout
    assert stdin is not None
    assert stdout is not None
    seen: list[tuple[int, int]] = []

    async def stream(store: events.GroupCommitStore) -> None:
        k = 0
        deadline = asyncio.get_running_loop().time() + 30
        while k < 40 or restarts < 3:  # at least 40 writes, and 3 restarts among them
            assert asyncio.get_running_loop().time() < deadline, (k, restarts)
            k += 1
            await asyncio.gather(
                *(store.add(event(k * 100 + i, key=f"k{k}-{i}")) for i in range(50))
            )
            stdin.write(f"{k}\n")
            stdin.flush()
            assert stdout.readline() == "ok\n"
            [(updated,)] = observer.execute("SELECT updated_ms FROM destination_state").fetchall()
            seen.append((k, updated))

    try:
        with_store(path, 5, stream)
    finally:
        stdin.close()
        other.wait(10)
        stdout.close()
        observer.close()
    assert restarts >= 3  # what the test is about happened
    assert [updated for _, updated in seen] == [k for k, _ in seen]


def test_the_database_file_is_synced_before_each_wal_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pages PASSIVE checkpoints copied are synced by the checkpointer, through SQLite's own
    descriptor, not by the RESTART that ingest waits behind on the writer."""
    monkeypatch.setattr(events, "CHECKPOINT_EVERY", 0.05)
    monkeypatch.setattr(events, "WAL_RESTART_FRAMES", 16)
    path = tmp_path / "whp.db"
    calls: list[str] = []
    fsync, restart = os.fsync, events.GroupCommitStore._restart_now

    def recording_fsync(fd: int) -> None:
        calls.append("sync whp.db" if os.path.samestat(os.fstat(fd), path.stat()) else "sync")
        fsync(fd)

    def recording_restart(store: events.GroupCommitStore) -> None:
        calls.append("restart")
        restart(store)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(events.GroupCommitStore, "_restart_now", recording_restart)

    async def stream(store: events.GroupCommitStore) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.0
        n = 0
        while loop.time() < deadline:
            await asyncio.gather(*(store.add(event(n + i)) for i in range(20)))
            n += 20

    with_store(path, 5, stream)
    restarts = [i for i, call in enumerate(calls) if call == "restart"]
    assert len(restarts) >= 3, calls
    for k, i in enumerate(restarts, start=1):  # each RESTART has a sync of its own before it
        assert calls[:i].count("sync whp.db") >= k, calls


def test_the_descriptor_found_is_the_connections_own(tmp_path: Path) -> None:
    path = tmp_path / "whp.db"
    db.connect(str(path), 5).close()
    conn, fd = db.connect_with_descriptor(str(path), 5)
    try:
        assert fd is not None
        assert os.path.samestat(os.fstat(fd), path.stat())
    finally:
        conn.close()
    with pytest.raises(OSError):  # SQLite closed it with the connection: it was SQLite's
        os.fstat(fd)
