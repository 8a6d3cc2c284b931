"""The DeliveryQueue port's contract, run against every implementation: the in-memory fake the
services' tests use (testing.MemoryQueue) and the SQLite queue on a real file. What only SQLite
has (its routing cursor, replays, leases read by index, migrations, the busy timeout) is tested
in tests/integration/test_sqlite_queue.py.

A delivery's life (adapters/sqlite/queue.py): routed -> pending, due now -> claimed (leased) ->
delivered | retry (pending again, due later) | dead; an expired lease makes it claimable again."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from webhook_processor import models, ports
from webhook_processor.adapters.sqlite import queue as sqlite_queue

from . import queues
from .harness import NOW, event
from .queues import QueueHarness, Seen, statuses

LEASE = 30_000


@pytest.fixture(params=["memory", "sqlite"])
def h(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[QueueHarness]:
    made: QueueHarness = (
        queues.MemoryHarness()
        if request.param == "memory"
        else queues.SqliteHarness(tmp_path / "whp.db")
    )
    yield made
    made.close()


def routed(h: QueueHarness, *targets: tuple[str, str]) -> models.Event:
    """One new event, routed at NOW to `targets`."""
    e = event()
    h.add(e)
    assert h.queue.route_many([(e.id, targets)], NOW) == len(targets)
    return e


def record(
    c: models.Claim, outcome: models.Outcome, at: int, attempt: int | None = None
) -> models.AttemptRecord:
    return models.AttemptRecord(
        c.delivery_id,
        c.attempt if attempt is None else attempt,
        started_ms=at,
        duration_ms=12,
        status_code=500,
        error=None,
        excerpt="oops",
        outcome=outcome,
        next_attempt_ms=at + 5000 if outcome == "retry" else None,
    )


def settle(q: ports.DeliveryQueue, c: models.Claim, outcome: models.Outcome, at: int) -> bool:
    """Record one attempt of `c`; whether its delivery followed."""
    return q.record_many([record(c, outcome, at)], at + 12) == 1


def test_pending_events_come_oldest_first_with_or_without_their_payload(h: QueueHarness) -> None:
    a, b = event(), event()
    h.add(a, b)
    assert h.queue.pending_events(10) == [a, b]  # every field, body and headers byte-exact
    assert h.queue.pending_events(1) == [a]
    light = h.queue.pending_events(10, payload=False)  # what routes on metadata only read
    assert light == [dataclasses.replace(e, body=b"", headers={}) for e in (a, b)]


def test_an_event_fans_out_to_every_route_and_no_route_means_unrouted(h: QueueHarness) -> None:
    a, b = event(), event()
    h.add(a, b)
    assert h.queue.route_many([(a.id, [("payments", "orders"), ("audit", "archive")])], NOW) == 2
    assert h.queue.route_many([(b.id, [])], NOW) == 0
    assert h.queue.pending_events(10) == []
    assert h.deliveries(a.id) == [
        Seen("payments", "orders", a.id, "pending", 0, ()),
        Seen("audit", "archive", a.id, "pending", 0, ()),
    ]
    assert h.deliveries(b.id) == []
    assert statuses(h, [a, b]) == ["routed", "unrouted"]


def test_routing_again_never_doubles_deliveries_whatever_the_order(h: QueueHarness) -> None:
    one, two, three, four = (event() for _ in range(4))
    h.add(one, two, three, four)
    batch = [(one.id, [("r", "orders"), ("s", "other")]), (two.id, [])]
    batch += [(one.id, [("r", "orders")]), ("evt_missing", [("r", "orders")])]  # one twice
    assert h.queue.route_many(batch, NOW) == 2
    assert [d.destination for d in h.deliveries(one.id)] == ["orders", "other"]
    assert h.queue.route_many([(one.id, [("t", "third")])], NOW) == 0  # routed already
    assert h.queue.pending_events(10) == [three, four]
    # four before three: three stays pending until it is routed itself
    assert h.queue.route_many([(four.id, [("r", "orders")])], NOW) == 1
    assert h.queue.pending_events(10) == [three]
    assert h.queue.route_many([(four.id, [("r", "orders")]), (three.id, [])], NOW) == 0
    assert h.queue.pending_events(10) == []
    assert len(h.deliveries(four.id)) == 1
    assert statuses(h, [one, two, three, four]) == ["routed", "unrouted", "unrouted", "routed"]


def test_without_routes_every_pending_event_is_unrouted_at_once(h: QueueHarness) -> None:
    old = routed(h, ("r", "orders"))
    a, b = event(), event()
    h.add(a, b)
    assert h.queue.route_none() == 2
    assert h.queue.pending_events(10) == []
    assert statuses(h, [old, a, b]) == ["routed", "unrouted", "unrouted"]
    assert h.queue.route_none() == 0
    h.add(event())
    assert h.queue.route_none() == 1


def test_claim_leases_due_deliveries_and_an_expired_lease_frees_them(h: QueueHarness) -> None:
    e = routed(h, ("r", "orders"))
    assert h.queue.claim(NOW - 1, LEASE, 10) == []  # not due yet
    [c] = h.queue.claim(NOW, LEASE, 10)
    assert (c.route, c.destination, c.webhook_id, c.attempt) == ("r", "orders", e.id, 1)
    assert c.lease_until_ms == NOW + LEASE
    assert c.not_before_ms is None  # no rate limit
    assert c.event == dataclasses.replace(e, status="routed")  # the whole event, to send
    assert h.queue.claim(NOW + LEASE - 1, LEASE, 10) == []  # leased
    # The worker crashed: once the lease expires, the same attempt is claimed again.
    [again] = h.queue.claim(NOW + LEASE, LEASE, 10)
    assert (again.delivery_id, again.attempt) == (c.delivery_id, 1)
    assert again.lease_until_ms == NOW + 2 * LEASE


def test_claim_takes_the_earliest_due_first_up_to_its_limit(h: QueueHarness) -> None:
    first, second, third = (routed(h, ("r", "orders")) for _ in range(3))
    [a] = h.queue.claim(NOW, LEASE, 1)
    assert settle(h.queue, a, "retry", NOW)  # due again at NOW + 5000
    got = h.queue.claim(NOW + 5000, LEASE, 10)
    assert [c.event.id for c in got] == [second.id, third.id, first.id]
    assert a.event.id == first.id


def test_claim_skips_paused_destinations_and_caps_each_destination_in_flight(
    h: QueueHarness,
) -> None:
    for _ in range(5):
        routed(h, ("r", "busy"))  # first in due order
    routed(h, ("r", "calm"))
    routed(h, ("r", "paused"))
    caps = {"busy": 2}
    first = h.queue.claim(NOW, LEASE, 3, paused={"paused"}, per_destination_limit=caps)
    assert [c.destination for c in first] == ["busy", "busy", "calm"]
    # Two busy deliveries are in flight: no more of them, though three are due.
    assert h.queue.claim(NOW, LEASE, 10, paused={"paused"}, per_destination_limit=caps) == []
    settle(h.queue, first[0], "delivered", NOW)
    second = h.queue.claim(NOW, LEASE, 10, paused={"paused"}, per_destination_limit=caps)
    assert [c.destination for c in second] == ["busy"]
    assert [c.destination for c in h.queue.claim(NOW, LEASE, 10)] == ["busy", "busy", "paused"]


def test_paused_destinations_are_the_runtime_pauses(h: QueueHarness) -> None:
    assert h.queue.paused_destinations() == set()
    for name in ("orders", "audit"):
        h.set_paused(name, True)
    h.set_paused("audit", False)
    h.set_paused("never-paused", False)
    assert h.queue.paused_destinations() == {"orders"}


def test_a_rate_limit_is_kept_by_the_store_for_every_worker_claiming_from_it(
    h: QueueHarness,
) -> None:
    """Two workers claim for a destination limited to 2/s with a burst of 2: each claim books
    starts after the last one booked, whoever booked it, up to ratelimit.BOOK_AHEAD_MS (1 s)."""
    other = h.second_worker()
    for _ in range(6):
        routed(h, ("r", "limited"))
    routed(h, ("r", "free"))
    limits = {"limited": (2.0, 2)}

    first = h.queue.claim(NOW, LEASE, 10, rate_limits=limits)
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
    again = h.queue.claim(NOW + 60_000, LEASE, 10, rate_limits={"limited": (0.5, 2)})
    assert [c.not_before_ms for c in again if c.destination == "limited"] == [NOW + 60_000] * 2


def test_record_delivered_retry_and_dead_with_their_attempts(h: QueueHarness) -> None:
    e = routed(h, ("r", "orders"), ("s", "other"))
    one, two = h.queue.claim(NOW, LEASE, 10)
    delivered = models.AttemptRecord(
        one.delivery_id, 1, NOW, 40, 204, None, "", "delivered", next_attempt_ms=None
    )
    assert h.queue.record_many([delivered], NOW + 40) == 1
    assert settle(h.queue, two, "retry", NOW)
    assert h.queue.claim(NOW + 4999, LEASE, 10) == []  # the retry is due at NOW + 5000
    [retry] = h.queue.claim(NOW + 5000, LEASE, 10)  # its lease was released by the record
    assert (retry.delivery_id, retry.attempt) == (two.delivery_id, 2)
    assert settle(h.queue, retry, "dead", NOW + 5000)
    assert h.queue.claim(NOW + 10**9, LEASE, 10) == []
    r, s = h.deliveries(e.id)
    assert (r.status, r.attempts, r.history) == (
        "delivered",
        1,
        (models.Attempt(1, NOW, 40, 204, None, ""),),
    )
    assert (s.status, s.attempts) == ("dead", 2)
    assert s.history == (
        models.Attempt(1, NOW, 12, 500, None, "oops"),
        models.Attempt(2, NOW + 5000, 12, 500, None, "oops"),
    )


def test_a_worker_that_lost_its_lease_keeps_its_attempt_but_not_the_delivery(
    h: QueueHarness,
) -> None:
    e = routed(h, ("r", "orders"))
    [slow] = h.queue.claim(NOW, LEASE, 10)
    [fast] = h.queue.claim(NOW + LEASE, LEASE, 10)  # the slow worker's lease expired
    assert settle(h.queue, fast, "delivered", NOW + LEASE)
    assert not settle(h.queue, slow, "retry", NOW + LEASE + 1)  # must not undo the delivery
    [d] = h.deliveries(e.id)
    assert (d.status, d.attempts) == ("delivered", 1)
    assert [a.attempt for a in d.history] == [1, 1]  # both attempts happened: both are kept
    h.queue.purge(NOW + 10**9)
    assert h.status(e.id) is None
    assert not settle(h.queue, slow, "retry", NOW + LEASE + 2)  # purged meanwhile: nothing left


def test_outcomes_recorded_together_apply_in_order(h: QueueHarness) -> None:
    e = routed(h, ("r", "orders"), ("s", "other"))
    first, other = h.queue.claim(NOW, LEASE, 10)
    # A retry then the next attempt's success of one delivery, a stale attempt 1 of it after
    # that, and the other delivery dead: applied in the order given.
    records = [record(first, "retry", NOW, 1), record(other, "dead", NOW, 1)]
    records += [record(first, "delivered", NOW, 2), record(first, "retry", NOW, 1)]
    assert h.queue.record_many(records, NOW + 10) == 3
    r, s = h.deliveries(e.id)
    assert (r.status, r.attempts) == ("delivered", 2)
    assert (s.status, s.attempts) == ("dead", 1)
    assert [a.attempt for a in r.history] == [1, 2, 1]  # all kept
    assert h.queue.claim(NOW + 10**6, LEASE, 10) == []


def test_a_delivered_outcome_wins_over_a_newer_attempts_retry(h: QueueHarness) -> None:
    """Attempt 1 was slow and delivered after attempt 2 (its lease had expired) failed: the
    receiver has it, so the delivery is delivered, not retried a third time."""
    e = routed(h, ("r", "orders"))
    [one] = h.queue.claim(NOW, LEASE, 10)
    [two] = h.queue.claim(NOW + LEASE, LEASE, 10)
    assert (one.attempt, two.attempt) == (1, 1)
    assert settle(h.queue, two, "retry", NOW + LEASE)
    assert h.queue.record_many([record(one, "delivered", NOW + LEASE + 5)], NOW + LEASE + 6) == 1
    [d] = h.deliveries(e.id)
    assert (d.status, d.attempts) == ("delivered", 1)
    assert h.queue.claim(NOW + 10**6, LEASE, 10) == []


def test_purge_deletes_old_events_whose_work_is_done_and_keeps_the_rest(h: QueueHarness) -> None:
    """An acknowledged webhook that is not delivered yet (a delivery pending, or not routed
    yet) is never purged; one whose work is done goes, with its deliveries."""
    done, waiting, unrouted, not_routed = (event() for _ in range(4))
    new = event(received_ms=NOW)  # not older than the cutoff
    h.add(done, waiting, unrouted, not_routed, new)
    batch = [(done.id, [("r", "orders")]), (waiting.id, [("r", "orders")]), (unrouted.id, [])]
    h.queue.route_many(batch, NOW)
    for c in h.queue.claim(NOW, LEASE, 10):
        if c.event.id == done.id:
            settle(h.queue, c, "dead", NOW)
    deleted, after, calls = 0, sqlite_queue.START, 0
    while calls < 10:
        calls += 1
        step = h.queue.purge(NOW, after, batch=2)
        deleted += step.deleted
        if step.after is None:
            break
        after = step.after
    assert deleted == 2
    made = [done, waiting, unrouted, not_routed, new]
    assert statuses(h, made) == [None, "routed", None, "pending", "pending"]
    assert h.deliveries(done.id) == []
    assert [d.status for d in h.deliveries(waiting.id)] == ["pending"]


def test_a_retry_record_says_when_it_is_due() -> None:
    with pytest.raises(ValueError, match="next_attempt_ms"):
        models.AttemptRecord("1", 2, NOW, 1, None, "timeout", None, "retry")
