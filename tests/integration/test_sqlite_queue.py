"""The SQLite delivery queue on real files: routing, leases, outcomes, DLQ, replay, purge."""

from __future__ import annotations

import asyncio
import itertools
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

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


def test_an_event_fans_out_to_every_route_and_no_route_means_unrouted(
    tmp_path: Path, q: queue.DeliveryQueue
) -> None:
    a, b = event(1), event(2)

    async def ingest() -> None:  # through the real ingest writer
        store = events.GroupCommitStore(str(tmp_path / "whp.db"), 5)
        store.start()
        await asyncio.gather(store.add(a), store.add(b))
        await store.stop()

    asyncio.run(ingest())
    assert [e.id for e in q.pending_events(10)] == [a.id, b.id]
    assert q.pending_events(10)[0].body == a.body
    light = q.pending_events(10, payload=False)  # what routes on metadata only read
    assert [(e.id, e.source, e.event_type, e.body, e.headers) for e in light] == [
        (a.id, a.source, a.event_type, b"", {}),
        (b.id, b.source, b.event_type, b"", {}),
    ]
    assert q.route(a.id, [("payments", "orders"), ("audit", "archive")], NOW) == 2
    assert q.route(b.id, [], NOW) == 0
    assert q.pending_events(10) == []
    got = q.deliveries_of(a.id)
    assert [(d.route, d.destination, d.status, d.attempts) for d in got] == [
        ("payments", "orders", "pending", 0),
        ("audit", "archive", "pending", 0),
    ]
    assert {d.webhook_id for d in got} == {a.id}
    assert q.deliveries_of(b.id) == []
    assert q.counts() == {
        "events": {"pending": 0, "routed": 1, "unrouted": 1},
        "deliveries": {"pending": 2, "delivered": 0, "dead": 0},
    }


def test_without_routes_every_pending_event_is_unrouted_at_once(
    conn: sqlite3.Connection, q: queue.DeliveryQueue
) -> None:
    old = routed(q, conn, ("r", "orders"))
    add(conn, event(31), event(32))
    q.replay([old], NOW)
    assert q.route_none() == 3  # two new events and a replay
    assert q.pending_events(10) == []
    assert q.counts()["events"] == {"pending": 0, "routed": 1, "unrouted": 2}
    assert len(q.deliveries_of(old)) == 1  # the replay made no new delivery
    assert q.route_none() == 0
    add(conn, event(33))
    assert q.route_none() == 1


def test_routing_an_event_twice_creates_its_deliveries_once(
    conn: sqlite3.Connection, q: queue.DeliveryQueue
) -> None:
    add(conn, event(1))
    assert q.route(event(1).id, [("r", "orders")], NOW) == 1
    assert q.route(event(1).id, [("r", "orders"), ("s", "other")], NOW) == 0  # already routed
    assert q.route("evt_missing", [("r", "orders")], NOW) == 0
    assert len(q.deliveries_of(event(1).id)) == 1


def test_a_batch_routes_new_events_and_replays_once_each_even_out_of_order(
    conn: sqlite3.Connection, q: queue.DeliveryQueue
) -> None:
    old = routed(q, conn, ("r", "orders"))
    q.replay([old], NOW)
    one, two, three, four = event(11), event(12), event(13), event(14)
    add(conn, one, two, three, four)
    assert [e.id for e in q.pending_events(10)] == [old, one.id, two.id, three.id, four.id]

    batch = [(old, [("r", "orders")]), (one.id, [("r", "orders"), ("s", "other")])]
    batch += [(two.id, []), (one.id, [("r", "orders")])]  # one given twice: routed once
    assert q.route_many(batch, NOW) == 3
    assert [e.id for e in q.pending_events(10)] == [three.id, four.id]
    assert [d.destination for d in q.deliveries_of(one.id)] == ["orders", "other"]
    assert len(q.deliveries_of(old)) == 2
    assert q.deliveries_of(two.id) == []

    # Four before three: the cursor cannot pass three, which stays pending until routed.
    assert q.route_many([(four.id, [("r", "orders")])], NOW) == 1
    assert [e.id for e in q.pending_events(10)] == [three.id]
    assert q.route_many([(four.id, [("r", "orders")]), (three.id, [])], NOW) == 0
    assert q.pending_events(10) == []
    assert len(q.deliveries_of(four.id)) == 1
    assert q.counts()["events"] == {"pending": 0, "routed": 3, "unrouted": 2}


def test_claim_leases_due_deliveries_and_an_expired_lease_frees_them(
    conn: sqlite3.Connection, q: queue.DeliveryQueue
) -> None:
    eid = routed(q, conn, ("r", "orders"))
    assert q.claim(NOW - 1, LEASE, 10) == []  # not due yet
    [c] = q.claim(NOW, LEASE, 10)
    assert (c.route, c.destination, c.webhook_id, c.attempt) == ("r", "orders", eid, 1)
    assert c.lease_until_ms == NOW + LEASE
    assert c.event.id == eid
    assert c.event.body.startswith(b'{"n": ')
    assert c.event.headers == {"stripe-signature": "t=1,v1=x"}
    assert (c.event.source, c.event.event_type, c.event.content_type) == (
        "stripe",
        "charge.succeeded",
        "application/json",
    )
    assert q.claim(NOW + LEASE - 1, LEASE, 10) == []  # leased
    # The worker crashed: once the lease expires, the same attempt is claimed again.
    [again] = q.claim(NOW + LEASE, LEASE, 10)
    assert (again.delivery_id, again.attempt) == (c.delivery_id, 1)


def test_claim_skips_paused_destinations_and_caps_each_destination_in_flight(
    conn: sqlite3.Connection, q: queue.DeliveryQueue
) -> None:
    for _ in range(5):
        routed(q, conn, ("r", "busy"))  # first in due order
    routed(q, conn, ("r", "calm"))
    routed(q, conn, ("r", "paused"))
    caps = {"busy": 2}
    first = q.claim(NOW, LEASE, 3, paused={"paused"}, per_destination_limit=caps)
    assert [c.destination for c in first] == ["busy", "busy", "calm"]
    # Two busy deliveries are in flight: no more of them, though three are due.
    assert q.claim(NOW, LEASE, 10, paused={"paused"}, per_destination_limit=caps) == []
    settle(q, first[0], "delivered", NOW)
    second = q.claim(NOW, LEASE, 10, paused={"paused"}, per_destination_limit=caps)
    assert [c.destination for c in second] == ["busy"]
    assert [c.destination for c in q.claim(NOW, LEASE, 10)] == ["busy", "busy", "paused"]


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


def test_a_rate_limit_is_kept_by_the_store_for_every_worker_claiming_from_it(
    conn: sqlite3.Connection, q: queue.DeliveryQueue, tmp_path: Path
) -> None:
    """Two workers (two connections to one file) claim for a destination limited to 2/s with a
    burst of 2: each claim books starts after the last one booked, whoever booked it, up to
    ratelimit.BOOK_AHEAD_MS (1 s) ahead."""
    other_conn = db.connect(str(tmp_path / "whp.db"), 5)
    other = queue.DeliveryQueue(other_conn)
    for _ in range(6):
        routed(q, conn, ("r", "limited"))
    routed(q, conn, ("r", "free"))
    limits = {"limited": (2.0, 2)}

    first = q.claim(NOW, LEASE, 10, rate_limits=limits)
    assert [(c.destination, c.not_before_ms) for c in first] == [
        ("limited", NOW),
        ("limited", NOW),
        ("limited", NOW + 500),
        ("limited", NOW + 1000),
        ("free", None),
    ]
    assert other.claim(NOW, LEASE, 10, rate_limits=limits) == []  # next start: NOW + 1500
    [later] = other.claim(NOW + 600, LEASE, 10, rate_limits=limits)
    assert (later.destination, later.not_before_ms) == ("limited", NOW + 1500)
    # A minute on (every lease has expired): the burst is back, and no more.
    again = q.claim(NOW + 60_000, LEASE, 10, rate_limits={"limited": (0.5, 2)})
    assert [c.not_before_ms for c in again if c.destination == "limited"] == [NOW + 60_000] * 2
    other_conn.close()


def test_record_delivered_retry_and_dead_with_their_attempts(
    conn: sqlite3.Connection, q: queue.DeliveryQueue
) -> None:
    eid = routed(q, conn, ("r", "orders"), ("s", "other"))
    one, two = q.claim(NOW, LEASE, 10)
    assert q.record(
        models.AttemptRecord(
            one.delivery_id,
            1,
            started_ms=NOW,
            duration_ms=40,
            status_code=204,
            error=None,
            excerpt="",
            outcome="delivered",
            next_attempt_ms=None,
        ),
        NOW + 40,
    )
    assert settle(q, two, "retry", NOW)
    assert q.claim(NOW + 4999, LEASE, 10) == []  # the retry is due at NOW + 5000, lease gone
    [retry] = q.claim(NOW + 5000, LEASE, 10)
    assert (retry.delivery_id, retry.attempt) == (two.delivery_id, 2)
    assert settle(q, retry, "dead", NOW + 5000)
    assert q.claim(NOW + 10**9, LEASE, 10) == []
    by_route = {d.route: d for d in q.deliveries_of(eid)}
    assert (by_route["r"].status, by_route["r"].attempts) == ("delivered", 1)
    assert (by_route["s"].status, by_route["s"].attempts) == ("dead", 2)
    assert by_route["s"].lease_until_ms is None
    assert q.attempts_of(int(one.delivery_id)) == [queue.Attempt(1, NOW, 40, 204, None, "")]
    assert [(a.number, a.status_code) for a in q.attempts_of(int(two.delivery_id))] == [
        (1, 500),
        (2, 500),
    ]
    with pytest.raises(ValueError, match="next_attempt_ms"):  # a retry says when
        models.AttemptRecord(one.delivery_id, 2, NOW, 1, None, "timeout", None, "retry")


def test_a_worker_that_lost_its_lease_keeps_its_attempt_but_not_the_delivery(
    conn: sqlite3.Connection, q: queue.DeliveryQueue
) -> None:
    eid = routed(q, conn, ("r", "orders"))
    [slow] = q.claim(NOW, LEASE, 10)
    [fast] = q.claim(NOW + LEASE, LEASE, 10)  # the slow worker's lease expired
    assert settle(q, fast, "delivered", NOW + LEASE)
    assert not settle(q, slow, "retry", NOW + LEASE + 1)  # must not undo the delivery
    [d] = q.deliveries_of(eid)
    assert (d.status, d.attempts) == ("delivered", 1)
    assert len(q.attempts_of(d.id)) == 2
    q.purge(NOW + 10**9)
    assert not settle(q, slow, "retry", NOW + LEASE + 2)  # purged meanwhile: nothing to keep


def test_outcomes_recorded_together_apply_in_order(
    conn: sqlite3.Connection, q: queue.DeliveryQueue
) -> None:
    eid = routed(q, conn, ("r", "orders"), ("s", "other"))
    first, other = q.claim(NOW, LEASE, 10)

    def outcome(c: models.Claim, attempt: int, what: models.Outcome) -> models.AttemptRecord:
        retry_at = NOW + 1 if what == "retry" else None
        return models.AttemptRecord(c.delivery_id, attempt, NOW, 5, 503, None, None, what, retry_at)

    # A retry then the next attempt's success of one delivery, a stale attempt 1 of it after
    # that, and the other delivery dead: one transaction, applied in the order given.
    records = [outcome(first, 1, "retry"), outcome(other, 1, "dead")]
    records += [outcome(first, 2, "delivered"), outcome(first, 1, "retry")]
    assert q.record_many(records, NOW + 10) == 3
    by_route = {d.route: d for d in q.deliveries_of(eid)}
    assert (by_route["r"].status, by_route["r"].attempts) == ("delivered", 2)
    assert (by_route["s"].status, by_route["s"].attempts) == ("dead", 1)
    assert [a.number for a in q.attempts_of(int(first.delivery_id))] == [1, 2, 1]  # all kept
    assert q.claim(NOW + 10**6, LEASE, 10) == []


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
    after: ports.PurgePosition | None = ports.START
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
