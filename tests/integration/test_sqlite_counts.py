"""The stats' counts by status on SQLite (operations.sql: event_counts, delivery_counts), and the
listing of events by status (pending_filter), say what the store's own definition says (events_v,
and the deliveries' status column), in every state a store reaches through its write paths: new
events past the routing cursor, routed ones with one or two deliveries in each status, unrouted
ones, replays before and after their new routing, events routed out of order, rows settled by a
store from before 0004, redriven deliveries. And they read no table row by row: on a large store
that is what made the dashboard's stats slow."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract.harness import NOW, SqliteHarness, event
from webhook_processor import ports
from webhook_processor.adapters.sqlite import db

TARGETS = [[], [("r1", "orders")], [("r1", "orders"), ("r2", "audit")]]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteHarness]:
    harness = SqliteHarness(tmp_path / "whp.db")
    yield harness
    harness.close()


def defined(store: SqliteHarness) -> tuple[dict[str, int], dict[str, int]]:
    """The counts as the store defines them, row by row."""
    read = store.sqlite.queue._read
    events = dict.fromkeys(("pending", "routed", "unrouted"), 0)
    events |= dict(read("SELECT status, count(*) FROM events_v GROUP BY status", ()))
    deliveries = dict.fromkeys(("pending", "delivered", "dead"), 0)
    deliveries |= dict(read("SELECT status, count(*) FROM deliveries GROUP BY status", ()))
    return events, deliveries


def counted(store: SqliteHarness) -> tuple[dict[str, int], dict[str, int]]:
    events, deliveries = store.ops.counts()
    return dict(events), dict(deliveries)


def build(store: SqliteHarness, rng: random.Random) -> None:
    """A store in a random mix of every state its write paths reach."""
    queue = store.sqlite.queue
    made = [event() for _ in range(rng.randrange(10, 40))]
    for e in made:
        store.add(e)
    routed_upto = rng.randrange(len(made) + 1)  # the rest stay past the cursor: pending
    at = NOW
    for e in made[:routed_upto]:
        queue.route(e.id, rng.choice(TARGETS), at)
    if routed_upto + 2 < len(made) and rng.random() < 0.5:
        # routed out of order: past an earlier event still pending, so the cursor stays
        queue.route(made[routed_upto + 1].id, rng.choice(TARGETS), at)
    behind = made[:routed_upto]
    for e in behind:
        for d in queue.deliveries_of(e.id):
            fate = rng.random()
            if fate < 0.3:
                store.attempt(e.id, d.route, 200, None, dead=False, at=at)
            elif fate < 0.5:
                store.attempt(e.id, d.route, 500, "HTTP 500", dead=True, at=at)
            at += 1
    replayed = [e.id for e in behind if rng.random() < 0.3]
    if replayed:
        queue.replay(replayed, at, new_id=False)
        again = [i for i in replayed if rng.random() < 0.5]  # routed again, or still waiting
        if again:
            queue.route_many([(i, rng.choice(TARGETS)) for i in again], at + 1)
    if rng.random() < 0.5:
        queue.redrive(all=True, now_ms=at + 2)
    # Rows settled in their own row, as stores from before 0004 have them.
    for e in behind:
        if rng.random() < 0.15:
            settled = "routed" if queue.deliveries_of(e.id) else "unrouted"
            store.sqlite.queue._conn.execute(
                "UPDATE events SET status = ? WHERE id = ? AND status = 'pending'", (settled, e.id)
            )


@pytest.mark.parametrize("seed", range(40))
def test_the_counts_are_those_of_the_store(store: SqliteHarness, seed: int) -> None:
    build(store, random.Random(seed))
    assert counted(store) == defined(store)


@pytest.mark.parametrize("seed", range(12))
def test_the_listing_by_status_is_that_of_the_store(store: SqliteHarness, seed: int) -> None:
    build(store, random.Random(seed))
    read = store.sqlite.queue._read
    for status in ("pending", "routed", "unrouted"):
        view = [
            r[0]
            for r in read("SELECT id FROM events_v WHERE status = ? ORDER BY seq DESC", (status,))
        ]
        listed = []
        cursor = None
        while True:  # page by page, 4 at a time: the cursor's clause with the status's
            page = store.ops.events(ports.EventFilter(status=status), 4, cursor)
            listed += [e.id for e in page.items]
            if page.next is None:
                break
            cursor = page.next
        assert listed == view, status


def test_an_empty_store_counts_zero(store: SqliteHarness) -> None:
    assert counted(store) == (
        {"pending": 0, "routed": 0, "unrouted": 0},
        {"pending": 0, "delivered": 0, "dead": 0},
    )


def test_each_state_lands_in_its_status(store: SqliteHarness) -> None:
    queue = store.sqlite.queue
    fresh, routed, unrouted, fanned, replay = (event() for _ in range(5))
    for e in (routed, unrouted, fanned, replay, fresh):  # `fresh` last: past the cursor
        store.add(e)
    queue.route(routed.id, TARGETS[1], NOW)
    queue.route(unrouted.id, [], NOW)
    queue.route(fanned.id, TARGETS[2], NOW)
    queue.route(replay.id, TARGETS[1], NOW)
    store.attempt(fanned.id, "r2", 500, "HTTP 500", dead=True, at=NOW)
    store.attempt(routed.id, "r1", 200, None, dead=False, at=NOW)
    queue.replay([replay.id], NOW, new_id=False)
    assert counted(store) == (
        {"pending": 2, "routed": 2, "unrouted": 1},
        {"pending": 2, "delivered": 1, "dead": 1},
    )
    assert counted(store) == defined(store)


@pytest.mark.parametrize("name", ["event_counts", "delivery_counts"])
def test_the_counts_read_indexes_not_every_row(store: SqliteHarness, name: str) -> None:
    sql = db.named_queries("operations.sql")[name]
    plan = [row[-1] for row in store.sqlite.queue._read(f"EXPLAIN QUERY PLAN {sql}", ())]
    scans = [step for step in plan if step.startswith("SCAN ") and " INDEX " not in step]
    tables = [s for s in scans if s.split()[1] in ("events", "deliveries", "e", "d")]
    assert not tables, f"{name} reads a table row by row: {tables}\n" + "\n".join(plan)
