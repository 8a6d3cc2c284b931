"""The SQLite delivery queue on real files: what only SQLite has (replays and the routing cursor,
the DLQ and redrive by row id, purge by row order, claims that read no backlog, the busy timeout,
the ingest writer beside it, migrations). The port's contract (routing, leases, outcomes, rate
limits, purge) runs over SQLite and the in-memory fake alike in tests/contract."""

from __future__ import annotations

import asyncio
import itertools
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract import harness
from webhook_processor import errors, models, ports
from webhook_processor.adapters.sqlite import db, events, queue

NOW = 1_700_000_000_000
LEASE = 30_000
_serial = itertools.count(100)


def event(n: int, source: str = "stripe", event_type: str = "charge.succeeded") -> models.Event:
    return models.Event(
        id=f"evt_{n:032x}",
        source=source,
        event_type=event_type,
        idempotency_key=None,
        received_ms=NOW - 1000 + n,
        content_type="application/json",
        headers={"stripe-signature": "t=1,v1=x"},
        body=b'{"n": %d}' % n,
    )


def add(conn: sqlite3.Connection, *made: models.Event) -> None:
    for e in made:
        harness.insert_event(conn, e)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = db.connect(str(tmp_path / "whp.db"), 5)
    yield connection
    connection.close()


@pytest.fixture
def q(conn: sqlite3.Connection) -> queue.DeliveryQueue:
    return queue.DeliveryQueue(conn)


def routed(q: queue.DeliveryQueue, conn: sqlite3.Connection, *routes: tuple[str, str]) -> str:
    """One event routed to `routes`; its id."""
    e = event(next(_serial))
    add(conn, e)
    q.route(e.id, routes, NOW)
    return e.id


def settle(q: queue.DeliveryQueue, c: models.Claim, outcome: models.Outcome, at: int) -> bool:
    return q.record(
        models.AttemptRecord(
            c.delivery_id,
            c.attempt,
            started_ms=at,
            duration_ms=12,
            status_code=500,
            error=None,
            excerpt="oops",
            outcome=outcome,
            next_attempt_ms=at + 5000 if outcome == "retry" else None,
        ),
        at + 12,
    )


def test_without_routes_a_replay_is_settled_too_without_a_new_delivery(
    conn: sqlite3.Connection, q: queue.DeliveryQueue
) -> None:
    old = routed(q, conn, ("r", "orders"))
    add(conn, event(31))
    q.replay([old], NOW)
    assert q.route_none() == 2  # a new event and a replay
    assert q.pending_events(10) == []
    assert q.counts()["events"] == {"pending": 0, "routed": 1, "unrouted": 1}
    assert len(q.deliveries_of(old)) == 1  # the replay made no new delivery


def test_a_batch_routes_replays_and_new_events_once_each(
    conn: sqlite3.Connection, q: queue.DeliveryQueue
) -> None:
    """A replay is pending beside the new events (both in store order) and routed in the same
    batch, once; tests/contract has the rest of routing, on every implementation."""
    old = routed(q, conn, ("r", "orders"))
    q.replay([old], NOW)
    one, two, three = event(11), event(12), event(13)
    add(conn, one, two, three)
    assert [e.id for e in q.pending_events(10)] == [old, one.id, two.id, three.id]

    batch = [(old, [("r", "orders")]), (one.id, [("r", "orders"), ("s", "other")])]
    batch += [(two.id, []), (old, [("r", "orders")])]  # the replay given twice: routed once
    assert q.route_many(batch, NOW) == 3
    assert [e.id for e in q.pending_events(10)] == [three.id]
    assert len(q.deliveries_of(old)) == 2
    assert q.counts()["events"] == {"pending": 1, "routed": 2, "unrouted": 1}


def test_a_claim_does_not_read_the_backlog_of_paused_or_full_destinations(
    conn: sqlite3.Connection, q: queue.DeliveryQueue
) -> None:
    """A paused destination's queue, or that of one at its max_concurrency, may be long (its
    receiver is down): claims for the others must not step over it. Measured in SQLite VM
    instructions (rows read), not time: the same work with 10 or 5,000 deliveries waiting."""
    caps = {"busy": 2}

    def backlog(n: int, destination: str) -> None:
        made = [event(next(_serial)) for _ in range(n)]
        conn.execute("BEGIN")
        add(conn, *made)
        conn.execute("COMMIT")
        q.route_many([(e.id, [("r", destination)]) for e in made], NOW)

    def claim_cost() -> tuple[int, list[str]]:
        steps = 0

        def count() -> int:
            nonlocal steps
            steps += 1
            return 0  # go on

        conn.set_progress_handler(count, 10)
        try:
            claimed = q.claim(NOW, LEASE, 10, paused={"paused"}, per_destination_limit=caps)
        finally:
            conn.set_progress_handler(None, 0)
        return steps, [c.destination for c in claimed]

    backlog(2, "busy")
    assert [c.destination for c in q.claim(NOW, LEASE, 10)] == ["busy", "busy"]  # busy is full
    for n in (10, 5000):
        backlog(n, "busy")
        backlog(n, "paused")
        backlog(1, "calm")
        steps, claimed = claim_cost()
        assert claimed == ["calm"]
        if n == 10:
            small = steps
    assert steps < small * 1.5, f"a claim ran {steps} VM steps with 5,000 waiting, {small} with 10"


def test_the_dlq_lists_dead_deliveries_and_a_redrive_starts_again_at_attempt_1(
    conn: sqlite3.Connection, q: queue.DeliveryQueue
) -> None:
    ids = [routed(q, conn, ("r", dest)) for dest in ("orders", "orders", "other", "fine")]
    for c in q.claim(NOW, LEASE, 10):
        settle(q, c, "delivered" if c.destination == "fine" else "dead", NOW)
    dead = q.dead()
    assert [d.event_id for d in dead] == ids[2::-1]  # newest first
    assert (dead[0].last_status_code, dead[0].source, dead[0].attempts) == (500, "stripe", 1)
    assert [d.event_id for d in q.dead("orders", limit=1)] == [ids[1]]
    assert [d.event_id for d in q.dead("orders", before_id=dead[1].id)] == [ids[0]]

    with pytest.raises(ValueError, match="needs ids"):
        q.redrive(now_ms=NOW)
    later = NOW + 60_000
    assert q.redrive([dead[0].id, dead[1].id], now_ms=later) == 2
    assert q.redrive([dead[0].id], now_ms=later) == 0  # not dead any more
    again = q.claim(later, LEASE, 10)
    assert sorted((c.event.id, c.attempt, c.webhook_id) for c in again) == [
        (ids[1], 1, ids[1]),
        (ids[2], 1, ids[2]),
    ]
    for c in again:
        settle(q, c, "dead", later)
    assert q.redrive(destination="orders", now_ms=later, batch=1) == 2
    assert q.redrive(all=True, now_ms=later) == 1
    assert q.dead() == []
    assert q.counts()["deliveries"] == {"pending": 3, "delivered": 1, "dead": 0}


def test_an_event_replayed_before_its_first_routing_is_routed_once(
    conn: sqlite3.Connection, q: queue.DeliveryQueue
) -> None:
    fresh, unrouted = event(21), event(22)
    add(conn, fresh, unrouted)
    assert q.replay([fresh.id, unrouted.id], NOW) == 2
    assert [e.id for e in q.pending_events(10)] == [fresh.id, unrouted.id]
    assert q.route_many([(fresh.id, [("r", "orders")]), (unrouted.id, [])], NOW) == 1
    assert q.pending_events(10) == []
    assert len(q.deliveries_of(fresh.id)) == 1
    assert q.counts()["events"] == {"pending": 0, "routed": 1, "unrouted": 1}


def test_a_replay_routes_again_keeping_the_webhook_id_unless_new_id(
    conn: sqlite3.Connection, q: queue.DeliveryQueue
) -> None:
    eid = routed(q, conn, ("r", "orders"))
    assert q.replay([eid, "evt_missing"], NOW + 1) == 1
    assert [e.id for e in q.pending_events(10)] == [eid]
    assert q.route(eid, [("r", "orders"), ("new", "audit")], NOW + 1) == 2  # today's routes
    assert [d.webhook_id for d in q.deliveries_of(eid)] == [eid, eid, eid]

    assert q.replay([eid], NOW + 2, new_id=True) == 1
    q.route(eid, [("r", "orders")], NOW + 2)
    fresh = q.deliveries_of(eid)[-1].webhook_id
    assert re.fullmatch(r"msg_[0-9a-f]{32}", fresh)
    assert fresh != eid
    assert q.replay([eid], NOW + 3, new_id=True) == 1
    q.route(eid, [("r", "orders")], NOW + 3)
    assert q.deliveries_of(eid)[-1].webhook_id not in {eid, fresh}
    # A redrive keeps the delivery's own webhook id.
    c = next(c for c in q.claim(NOW + 3, LEASE, 10) if c.webhook_id == fresh)
    settle(q, c, "dead", NOW + 3)
    q.redrive([int(c.delivery_id)], now_ms=NOW + 4)
    assert [(x.delivery_id, x.webhook_id, x.attempt) for x in q.claim(NOW + 4, LEASE, 10)] == [
        (c.delivery_id, fresh, 1)
    ]


def test_replay_filter_selects_events_for_a_bulk_replay(
    conn: sqlite3.Connection, q: queue.DeliveryQueue
) -> None:
    made = [
        event(i, source="github" if i % 2 else "stripe", event_type=f"t{i % 3}") for i in range(9)
    ]
    add(conn, *made)
    for e in made[:4]:
        q.route(e.id, [], NOW)
    ids = [e.id for e in made]
    assert q.replay_filter(ports.EventFilter()) == ids
    assert q.replay_filter(ports.EventFilter(source="github")) == ids[1::2]
    assert q.replay_filter(ports.EventFilter(event_type="t0", status="unrouted")) == [
        ids[0],
        ids[3],
    ]
    window = ports.EventFilter(since_ms=made[2].received_ms, until_ms=made[5].received_ms)
    assert q.replay_filter(window) == ids[2:5]
    assert q.replay_filter(ports.EventFilter(source="stripe"), limit=2) == ids[0:4:2]


def test_purge_deletes_old_events_whose_work_is_done_in_batches(
    conn: sqlite3.Connection, q: queue.DeliveryQueue
) -> None:
    """Old events go with their deliveries and attempts once their work is done. One with a
    delivery still pending, or not routed yet, stays: it is acknowledged and not delivered."""
    made = [event(i) for i in range(9)]
    add(conn, *made)
    for e in made[:7]:  # 7 and 8 are not routed yet
        q.route(e.id, [("r", "orders"), ("s", "other")], NOW)
    for c in q.claim(NOW, LEASE, 100):
        settle(q, c, "retry" if c.event.id == made[1].id else "dead", NOW)
    cutoff = made[8].received_ms  # events 0..7 are older
    calls = []
    after: queue.PurgePosition | None = queue.START
    while after is not None:
        done = q.purge(cutoff, after, batch=2)
        calls.append(done[:2])
        after = done.after
    assert calls == [(1, 2), (2, 2), (2, 2), (1, 2), (0, 0)]  # (deleted, looked at)
    left = {made[1].id, made[7].id, made[8].id}
    assert {r[0] for r in conn.execute("SELECT id FROM events")} == left
    assert {r[0] for r in conn.execute("SELECT event_id FROM deliveries")} == {made[1].id}
    assert conn.execute("SELECT count(*) FROM attempts").fetchone()[0] == 2
    # once its delivery is done, the kept event goes at the next purge
    for c in q.claim(NOW + 10_000, LEASE, 100):
        settle(q, c, "dead", NOW + 10_000)
    assert q.purge(cutoff).deleted == 1


def test_operations_wait_for_another_writer_and_fail_only_past_the_busy_timeout(
    tmp_path: Path, conn: sqlite3.Connection, q: queue.DeliveryQueue
) -> None:
    add(conn, event(1))
    blocker = sqlite3.connect(tmp_path / "whp.db", isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, blocker.execute, ("COMMIT",))
    release.start()
    started = time.monotonic()
    try:
        assert q.route(event(1).id, [("r", "orders")], NOW) == 1
    finally:
        release.join()
    assert time.monotonic() - started >= 0.25

    other = db.connect(str(tmp_path / "whp.db"), 0.1)
    impatient = queue.DeliveryQueue(other)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(errors.StoreUnavailable, match="database is locked"):
            impatient.claim(NOW, LEASE, 10)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert len(impatient.claim(NOW, LEASE, 10)) == 1  # nothing was half-done
    other.close()


def test_routing_and_delivering_while_the_ingest_writer_commits(tmp_path: Path) -> None:
    path = str(tmp_path / "whp.db")
    made = [event(i) for i in range(300)]
    delivered: list[str] = []

    def worker() -> None:  # as the worker will: its own connection, on a thread
        conn = db.connect(path, 5)
        q = queue.DeliveryQueue(conn)
        deadline = time.monotonic() + 10
        while len(delivered) < len(made) and time.monotonic() < deadline:
            for e in q.pending_events(50):
                q.route(e.id, [("r", "orders")], NOW)
            for c in q.claim(NOW, LEASE, 50):
                settle(q, c, "delivered", NOW)
                delivered.append(c.event.id)
        conn.close()

    async def ingest() -> None:
        store = events.GroupCommitStore(path, 5)
        store.start()
        for start in range(0, len(made), 30):
            await asyncio.gather(*(store.add(e) for e in made[start : start + 30]))
        await store.stop()

    db.connect(path, 5).close()
    thread = threading.Thread(target=worker)
    thread.start()
    try:
        asyncio.run(ingest())
    finally:
        thread.join()
    assert sorted(delivered) == sorted(e.id for e in made)


def test_a_store_of_the_first_schema_is_migrated_for_the_queue(tmp_path: Path) -> None:
    path = str(tmp_path / "whp.db")
    old = sqlite3.connect(path, isolation_level=None)
    old.executescript(db.migrations()[0][1] + "\nPRAGMA user_version = 1;")
    add(old, event(1))
    old.close()
    conn = db.connect(path, 5)
    q = queue.DeliveryQueue(conn)
    assert q.route(event(1).id, [("r", "orders")], NOW) == 1
    assert [c.webhook_id for c in q.claim(NOW, LEASE, 10)] == [event(1).id]
    conn.close()
