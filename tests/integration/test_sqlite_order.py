"""Store order on real SQLite files: the seq the worker's routing cursor follows is never given
twice, across purges and restarts; migration 0007 rebuilds older stores keeping everything, and
routes the webhooks that older stores lost behind the cursor after a purge."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from webhook_processor import models, ports
from webhook_processor.adapters.sqlite import db, events, operations, queue

NOW = 1_700_000_000_000
LATER = NOW + 86_400_000  # a purge's cutoff above every event below
OLD_SCHEMA = 6  # before AUTOINCREMENT


def event(n: int, key: str | None = None) -> models.Event:
    return models.Event(
        id=f"evt_{n:032x}",
        source="github",
        event_type="push",
        idempotency_key=key,
        received_ms=NOW + n,
        content_type="application/json",
        headers={"x-github-event": "push"},
        body=b'{"n": %d}' % n,
    )


def add(conn: sqlite3.Connection, *made: models.Event) -> None:
    for e in made:
        conn.execute(
            db.QUERIES["insert_event"],
            (
                e.id,
                e.source,
                e.event_type,
                e.idempotency_key,
                e.received_ms,
                e.content_type,
                orjson.dumps(e.headers),
                e.body,
            ),
        )


def ingest(path: Path, *made: models.Event) -> None:
    """Through the real ingest writer, started and stopped as `whp serve` does."""

    async def run() -> None:
        store = events.GroupCommitStore(str(path), 5)
        store.start()
        await asyncio.gather(*(store.add(e) for e in made))
        await store.stop()

    asyncio.run(run())


def route_pending(q: queue.DeliveryQueue, *targets: tuple[str, str]) -> list[str]:
    """What the worker does: route every pending event (to `targets`); their ids."""
    pending = q.pending_events(100, payload=False)
    q.route_many([(e.id, targets) for e in pending], NOW)
    return [e.id for e in pending]


def deliver_all(q: queue.DeliveryQueue) -> None:
    for c in q.claim(NOW, 30_000, 100):
        record = models.AttemptRecord(c.delivery_id, c.attempt, NOW, 5, 200, None, "", "delivered")
        q.record(record, NOW)


def purge_all(q: queue.DeliveryQueue, cutoff: int = LATER) -> int:
    deleted = 0
    after: queue.PurgePosition | None = queue.START
    while after is not None:
        done = q.purge(cutoff, after)
        deleted, after = deleted + done.deleted, done.after
    return deleted


def status(conn: sqlite3.Connection, event_id: str) -> str:
    found = events.Reader(conn).get(event_id)
    assert found is not None, event_id
    return found.status


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "whp.db"


# How whp inserted deliveries before 0008 added pending_since_ms: the one statement of today's
# queue that a store of schema 6 cannot run.
SCHEMA_6_INSERT_DELIVERY = """
INSERT INTO deliveries (event_id, route, destination, webhook_id, next_attempt_ms, created_ms,
                        updated_ms)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""


@pytest.fixture
def old(path: Path) -> Iterator[sqlite3.Connection]:
    """A store of schema 6, as whp wrote them before 0007, open as whp opened it. Write it inside
    `schema_6()`."""
    conn = sqlite3.connect(path, isolation_level=None)
    for version, sql in db.migrations():
        if version <= OLD_SCHEMA:
            conn.executescript(sql)
    conn.execute(f"PRAGMA user_version = {OLD_SCHEMA}")
    conn.execute("PRAGMA foreign_keys = ON")
    yield conn
    conn.close()


@contextlib.contextmanager
def schema_6() -> Iterator[None]:
    """Today's queue writing a store of schema 6 as whp did then."""
    today = queue.Q["insert_delivery"]
    queue.Q["insert_delivery"] = SCHEMA_6_INSERT_DELIVERY
    try:
        yield
    finally:
        queue.Q["insert_delivery"] = today


def up_to(version: int) -> Callable[[], list[tuple[int, str]]]:
    """db.migrations, as a whp that knew the migrations up to `version` had them."""
    known = db.migrations()
    return lambda: [m for m in known if m[0] <= version]


def test_webhooks_stored_after_the_newest_were_purged_are_routed_across_restarts(
    path: Path,
) -> None:
    conn = db.connect(str(path), 5)
    q = queue.DeliveryQueue(conn)
    ingest(path, event(1), event(2))
    assert route_pending(q, ("all", "hooks")) == [event(1).id, event(2).id]
    deliver_all(q)
    assert purge_all(q) == 2  # the store is empty, the cursor still at the second seq

    ingest(path, event(3))
    assert route_pending(q, ("all", "hooks")) == [event(3).id]
    assert [d.status for d in q.deliveries_of(event(3).id)] == ["pending"]
    deliver_all(q)
    assert purge_all(q) == 1
    conn.close()

    conn = db.connect(str(path), 5)  # a restart: whp serve opens the store again
    q = queue.DeliveryQueue(conn)
    ingest(path, event(4))
    assert route_pending(q, ("all", "hooks")) == [event(4).id]
    assert status(conn, event(4).id) == "routed"
    seqs = conn.execute("SELECT seq FROM events").fetchall()
    assert seqs == [(4,)], "each webhook gets a seq of its own, however many were purged"
    conn.close()


def _schema(conn: sqlite3.Connection) -> dict[str, str]:
    rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
    return {name: " ".join(re.sub(r"--[^\n]*", "", sql).split()) for name, sql in rows}


def test_the_migration_keeps_every_event_delivery_attempt_index_and_the_view(
    path: Path, old: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    with schema_6():
        oq = queue.DeliveryQueue(old)
        add(old, event(1, key="k1"), event(2), event(3, key="k3"), event(4))
        oq.route(event(1).id, [("all", "hooks"), ("audit", "archive")], NOW)
        oq.route(event(2).id, [], NOW)  # unrouted
        oq.route(event(3).id, [("all", "hooks")], NOW)
        deliver_all(oq)
        oq.replay([event(3).id], NOW, new_id=True)  # waits to be routed again; 4 is not routed yet
    tables = ("events", "events_v", "deliveries", "attempts", "routing_cursor")
    before = {t: old.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in tables}
    schema = _schema(old)

    with monkeypatch.context() as m:  # 0007 alone
        m.setattr(db, "migrations", up_to(7))
        conn = db.connect(str(path), 5)

    assert conn.execute("PRAGMA user_version").fetchone()[0] == 7
    after = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in tables}
    assert after == before
    migrated = _schema(conn)
    assert "seq INTEGER PRIMARY KEY AUTOINCREMENT" in migrated["events"]
    assert set(migrated) == set(schema) | {"sqlite_sequence"}
    others = set(schema) - {"events"}  # indexes, the view, the other tables: as they were
    assert {n: migrated[n] for n in others} == {n: schema[n] for n in others}
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone() == (4,)
    # The deliveries' foreign key holds on the new table, and still cascades.
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        conn.execute(
            "INSERT INTO deliveries (event_id, route, destination, webhook_id, next_attempt_ms,"
            " created_ms, updated_ms) VALUES ('evt_none', 'r', 'd', 'w', 0, 0, 0)"
        )
    conn.execute("DELETE FROM events WHERE id = ?", (event(1).id,))
    assert conn.execute(
        "SELECT count(*) FROM deliveries WHERE event_id = ?", (event(1).id,)
    ).fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM attempts").fetchone() == (1,)  # event 3's
    conn.close()
    # Today's whp (0008 too) goes on where the worker was: the replay, then the event past the
    # cursor.
    conn = db.connect(str(path), 5)
    q = queue.DeliveryQueue(conn)
    assert route_pending(q, ("all", "hooks")) == [event(3).id, event(4).id]
    assert [d.webhook_id.startswith("msg_") for d in q.deliveries_of(event(3).id)] == [False, True]
    conn.close()


def test_a_store_that_lost_webhooks_behind_the_cursor_routes_them_once_migrated(
    path: Path, old: sqlite3.Connection
) -> None:
    with schema_6():
        oq = queue.DeliveryQueue(old)
        add(old, event(1), event(2), event(3))
        assert route_pending(oq, ("all", "hooks")) == [event(1).id, event(2).id, event(3).id]
        deliver_all(oq)
        assert purge_all(oq) == 3
        add(old, event(4), event(5))  # given seqs 1 and 2: behind the cursor, at 3
    assert oq.pending_events(10) == [], "schema 6 loses them: the bug this migration repairs"
    assert status(old, event(4).id) == "unrouted"

    conn = db.connect(str(path), 5)
    q = queue.DeliveryQueue(conn)

    assert route_pending(q, ("all", "hooks")) == [event(4).id, event(5).id]
    for lost in (event(4), event(5)):
        assert status(conn, lost.id) == "routed"
        (d,) = q.deliveries_of(lost.id)
        assert (d.status, d.webhook_id) == ("pending", lost.id)
    add(conn, event(6))
    (seq,) = conn.execute("SELECT seq FROM events WHERE id = ?", (event(6).id,)).fetchone()
    assert seq > 3, "a new seq is above the cursor, not the next free one"
    assert route_pending(q, ("all", "hooks")) == [event(6).id]
    conn.close()
    assert route_pending(queue.DeliveryQueue(db.connect(str(path), 5))) == []  # routed once


def test_unrouted_events_of_a_store_that_lost_nothing_stay_unrouted_once_migrated(
    path: Path, old: sqlite3.Connection
) -> None:
    """An event routed as `unrouted` is, by the cursor's reading, pending behind the cursor with
    no delivery: what a lost one looks like. The migration must not route it again: with today's
    routes it might be delivered, long after no route wanted it."""
    with schema_6():
        oq = queue.DeliveryQueue(old)
        add(old, event(1), event(2), event(3))
        oq.route_many([(event(1).id, [("all", "hooks")]), (event(2).id, [])], NOW)
        oq.route(event(3).id, [("all", "hooks")], NOW)
        deliver_all(oq)
        assert purge_all(oq, cutoff=event(2).received_ms) == 1  # the oldest goes, as retention does
    assert status(old, event(2).id) == "unrouted"

    conn = db.connect(str(path), 5)
    q = queue.DeliveryQueue(conn)

    assert route_pending(q, ("all", "hooks")) == []
    assert status(conn, event(2).id) == "unrouted"
    assert q.deliveries_of(event(2).id) == []
    conn.close()


def test_a_listing_goes_on_past_purged_events_without_mixing_in_newer_ones(path: Path) -> None:
    """The operator's listing pages by seq (`whp events list --cursor`): the page's last event
    may be purged before the next page is read, and the webhooks stored meanwhile, newer, must
    not turn up among the older pages (with seqs given again, they did)."""
    conn = db.connect(str(path), 5)
    ops = operations.SqliteOperations(conn)
    q = ops.queue
    ingest(path, *(event(n) for n in range(1, 5)))
    route_pending(q, ("all", "hooks"))
    deliver_all(q)
    first = ops.events(ports.EventFilter(), 2)
    assert [e.id for e in first.items] == [event(4).id, event(3).id]
    assert first.next is not None
    assert purge_all(q) == 4
    ingest(path, event(5), event(6))

    second = ops.events(ports.EventFilter(), 2, first.next)

    assert (second.items, second.next) == ([], None)
    assert [e.id for e in ops.events(ports.EventFilter(), 10).items] == [event(6).id, event(5).id]
    conn.close()
