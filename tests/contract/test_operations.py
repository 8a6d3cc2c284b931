"""The Operations port's contract, run against every implementation (SQLite on a real file now;
DynamoDB on moto joins through its own harness in tests/aws).

A harness puts a store in a known state through the implementation's own write paths (ingest,
routing, attempts), so each test reads as an operator's view of what happened."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from webhook_processor import errors, models, ports

from .harness import NOW, Harness, SqliteHarness, event, stored


@pytest.fixture(params=["sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    harness = SqliteHarness(tmp_path / "whp.db")
    yield harness
    harness.close()


def ids(page: ports.Page[models.Event]) -> list[str]:
    return [e.id for e in page.items]


def test_events_are_listed_newest_first_and_paged_to_the_end_without_repeats(
    store: Harness,
) -> None:
    made = stored(store, *(event() for _ in range(7)))
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = store.ops.events(ports.EventFilter(), 3, cursor)
        seen += ids(page)
        pages += 1
        cursor = page.next
        if cursor is None:
            break
    assert seen == [e.id for e in reversed(made)]
    assert pages == 3  # 3 + 3 + 1: the last page says it is the last
    first = store.ops.events(ports.EventFilter(), 3).items[0]
    assert first.body == b""  # listings leave the payload out
    assert first.status == "pending"


def test_a_page_that_ends_exactly_at_the_last_event_has_no_next(store: Harness) -> None:
    stored(store, event(), event())
    assert store.ops.events(ports.EventFilter(), 2).next is None


def test_events_filters(store: Harness) -> None:
    a = stored(store, event(source="github", event_type="push", key="d1", received_ms=NOW - 50))[0]
    b = stored(store, event(source="stripe", event_type="charge", key="d2", received_ms=NOW - 40))[
        0
    ]
    c = stored(store, event(source="github", event_type="issues", received_ms=NOW - 30))[0]
    store.route(a.id, [("r", "orders")])
    store.route(b.id, [])

    def found(**kw: object) -> list[str]:
        return ids(store.ops.events(ports.EventFilter(**kw), 50))  # type: ignore[arg-type]

    assert found(source="github") == [c.id, a.id]
    assert found(event_type="charge") == [b.id]
    assert found(idempotency_key="d1") == [a.id]
    assert found(status="routed") == [a.id]
    assert found(status="unrouted") == [b.id]
    assert found(status="pending") == [c.id]
    assert found(since_ms=NOW - 40) == [c.id, b.id]
    assert found(until_ms=NOW - 40) == [a.id]
    assert found(source="github", status="pending") == [c.id]


def test_an_event_whose_delivery_died_is_found_with_status_dead(store: Harness) -> None:
    dead, alive = stored(store, event(), event())
    store.route(dead.id, [("r", "orders")])
    store.route(alive.id, [("r", "orders")])
    store.attempt(dead.id, "r", 500, "HTTP 500", dead=True, at=NOW)
    store.attempt(alive.id, "r", 200, None, dead=False, at=NOW)
    assert ids(store.ops.events(ports.EventFilter(status="dead"), 50)) == [dead.id]


def test_a_cursor_that_is_not_one_of_ours_is_a_usage_error(store: Harness) -> None:
    stored(store, event())
    # the last two hold the right keys with values that are no position: {"seq": "x", "id":
    # "x"} and {"seq": null, "id": true}
    wrong = ("eyJzZXEiOiJ4IiwiaWQiOiJ4In0", "eyJzZXEiOm51bGwsImlkIjp0cnVlfQ")
    for bad in ("nonsense", "eyJ4IjogMX0", "!!!", "x" * 5000, *wrong):
        with pytest.raises(errors.UsageError, match="cursor"):
            store.ops.events(ports.EventFilter(), 10, bad)
        with pytest.raises(errors.UsageError, match="cursor"):
            store.ops.dead_letters(None, 10, bad)


@pytest.mark.parametrize(
    "value", ["x", 1.5, True, None, [1], {"a": 1}, 2**63, -(2**63) - 1], ids=repr
)
def test_a_forged_cursor_of_our_encoding_is_a_usage_error(store: Harness, value: object) -> None:
    """What a client may hand back: our encoding, any JSON inside. Whatever position it holds,
    the listing refuses it as a cursor (not a 500 from deep in the store)."""
    stored(store, event())
    every_key = dict.fromkeys(("seq", "id", "ms", "after", "position", "key"), value)
    forged = base64.urlsafe_b64encode(json.dumps(every_key).encode()).decode().rstrip("=")
    with pytest.raises(errors.UsageError, match="cursor"):
        store.ops.events(ports.EventFilter(), 10, forged)
    with pytest.raises(errors.UsageError, match="cursor"):
        store.ops.dead_letters(None, 10, forged)
    with pytest.raises(errors.UsageError, match="cursor"):
        store.ops.purge(NOW, forged)


def test_event_detail_and_deliveries_with_every_attempt(store: Harness) -> None:
    e = stored(store, event())[0]
    assert store.ops.event("evt_unknown") is None
    shown = store.ops.event(e.id)
    assert shown is not None
    assert (shown.body, shown.headers) == (e.body, e.headers)
    store.route(e.id, [("r1", "orders"), ("r2", "audit")])
    store.attempt(e.id, "r1", 503, "HTTP 503", dead=False, at=NOW + 1)
    store.attempt(e.id, "r1", 200, None, dead=False, at=NOW + 2)
    found = {d.route: d for d in store.ops.deliveries(e.id)}
    assert set(found) == {"r1", "r2"}
    first = found["r1"]
    assert (first.destination, first.webhook_id, first.status) == ("orders", e.id, "delivered")
    assert [(a.attempt, a.status_code, a.error) for a in first.history] == [
        (1, 503, "HTTP 503"),
        (2, 200, None),
    ]
    assert first.history[0].started_ms == NOW + 1
    assert found["r2"].status == "pending"
    assert found["r2"].history == ()


def test_replay_counts_the_events_it_found_and_makes_them_pending(store: Harness) -> None:
    e = stored(store, event())[0]
    store.route(e.id, [])
    assert store.ops.replay([e.id, "evt_unknown"], NOW) == 1
    assert ids(store.ops.events(ports.EventFilter(status="pending"), 10)) == [e.id]


def test_dead_letters_newest_first_by_destination_with_their_last_outcome(store: Harness) -> None:
    made = stored(store, *(event() for _ in range(5)))
    for i, e in enumerate(made):
        store.route(e.id, [("r", "orders" if i % 2 == 0 else "audit")])
        store.attempt(e.id, "r", 500 + i, f"HTTP {500 + i}", dead=True, at=NOW + i)
    everything: list[models.DeadLetter] = []
    cursor = None
    while True:
        page = store.ops.dead_letters(None, 2, cursor)
        everything += page.items
        if page.next is None:
            break
        cursor = page.next
    assert [d.event_id for d in everything] == [e.id for e in reversed(made)]
    newest = everything[0]
    assert (newest.destination, newest.route, newest.attempts) == ("orders", "r", 1)
    assert (newest.last_status_code, newest.last_error) == (504, "HTTP 504")
    assert newest.dead_ms == NOW + 4
    orders = store.ops.dead_letters("orders", 50).items
    assert [d.event_id for d in orders] == [made[4].id, made[2].id, made[0].id]


def test_redrive_brings_dead_deliveries_back_with_attempts_from_one(store: Harness) -> None:
    dead, delivered = stored(store, event(), event())
    store.route(dead.id, [("r", "orders")])
    store.route(delivered.id, [("r", "orders")])
    store.attempt(dead.id, "r", 500, "HTTP 500", dead=True, at=NOW)
    store.attempt(delivered.id, "r", 200, None, dead=False, at=NOW)
    letter = store.ops.dead_letters(None, 10).items[0]
    other = store.ops.deliveries(delivered.id)[0].id
    assert store.ops.redrive([letter.delivery_id, other, "nonsense"], NOW + 5) == 1
    back = store.ops.deliveries(dead.id)[0]
    assert (back.status, back.attempts) == ("pending", 0)
    assert store.ops.dead_letters(None, 10).items == []
    assert store.ops.redrive([letter.delivery_id], NOW + 6) == 0  # not dead any more


def test_pause_resume_and_destination_health(store: Harness) -> None:
    a, b, c = stored(store, event(), event(), event())
    for e in (a, b, c):
        store.route(e.id, [("r", "orders")])
    store.attempt(a.id, "r", 500, "HTTP 500", dead=True, at=NOW + 10)
    store.ops.set_paused("audit", True, NOW)
    assert store.ops.paused() == {"audit"}
    health = store.ops.destinations(NOW + 20)
    orders = health["orders"]
    assert (orders.pending, orders.dead, orders.paused) == (2, 1, False)
    assert orders.oldest_pending_ms == NOW  # routed (became due) at NOW
    assert health["audit"].paused
    store.ops.set_paused("audit", False, NOW)
    assert store.ops.paused() == set()


def test_counts_and_activity(store: Harness) -> None:
    a, b, c = stored(
        store, event(received_ms=NOW - 120_000), *(event(received_ms=NOW - 30_000) for _ in "bc")
    )
    store.route(a.id, [("r", "orders")], at=NOW - 100_000)
    store.route(b.id, [])
    store.attempt(a.id, "r", 500, "HTTP 500", dead=False, at=NOW - 90_000)
    store.attempt(a.id, "r", 200, None, dead=False, at=NOW - 1_000)
    events_by, deliveries_by = store.ops.counts()
    assert dict(events_by) == {"pending": 1, "routed": 1, "unrouted": 1}
    assert dict(deliveries_by) == {"pending": 0, "delivered": 1, "dead": 0}
    recent = store.ops.activity(NOW - 60_000)
    assert dataclasses.astuple(recent) == (2, 1, 0)
    assert dataclasses.astuple(store.ops.activity(NOW - 200_000)) == (3, 1, 1)
    assert c.status == "pending"


def test_purge_deletes_old_finished_events_and_keeps_what_still_has_work(store: Harness) -> None:
    old_done, old_waiting, old_unrouted = stored(
        store, *(event(received_ms=NOW - 10 * 86_400_000 + i) for i in range(3))
    )
    new = stored(store, event())[0]
    store.route(old_done.id, [("r", "orders")])
    store.attempt(old_done.id, "r", 200, None, dead=False, at=NOW)
    store.route(old_waiting.id, [("r", "orders")])
    store.route(old_unrouted.id, [])
    store.route(new.id, [])
    deleted = looked_at = 0
    cursor = None
    while True:
        batch = store.ops.purge(NOW - 7 * 86_400_000, cursor)
        deleted, looked_at = deleted + batch.deleted, looked_at + batch.looked_at
        if batch.next is None:
            break
        cursor = batch.next
    assert deleted == 2
    assert store.ops.event(old_waiting.id) is not None  # its delivery is still pending
    assert store.ops.event(old_done.id) is None
    assert store.ops.event(new.id) is not None
