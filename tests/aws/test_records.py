"""What the router and delivery functions record: idempotent under SQS's at-least-once."""

from __future__ import annotations

import json

import pytest

from tests.aws import layout
from webhook_processor import errors, models
from webhook_processor.adapters.aws import records

TARGETS = [("github-pushes", "orders"), ("everything", "audit")]


def _stored(st: layout.Stack, **kwargs: object) -> records.Loaded:
    event = layout.event(**kwargs)  # type: ignore[arg-type]
    st.store.add_now(event)
    loaded = st.records.load(event.id)
    assert loaded is not None
    return loaded


def _attempt(n: int, started_ms: int, status: int | None = 500) -> models.Attempt:
    return models.Attempt(n, started_ms, 12, status, None if status else "timeout", "oops")


def _fresh(st: layout.Stack, loaded: records.Loaded) -> records.Loaded:
    """The event as the next message's function reads it."""
    again = st.records.load(loaded.event.id)
    assert again is not None
    return again


def test_routing_records_the_round_once(aws: layout.Aws, deployed: layout.Layout) -> None:
    st = layout.stack(aws, deployed)
    loaded = _stored(st)
    assert (loaded.round, loaded.webhook_id, loaded.event.body, loaded.routed) == (
        0,
        loaded.event.id,
        b'{"action": "opened"}',
        False,
    )
    assert st.records.route(loaded, TARGETS, now_ms=1_000)
    # SQS delivers the message again (the router crashed before deleting it): routed already
    again = _fresh(st, loaded)
    assert (again.routed, again.targets, again.routed_ms) == (True, tuple(TARGETS), 1_000)
    # two deliveries of the message at once: the second one's record finds it taken
    assert not st.records.route(loaded, TARGETS, now_ms=2_000)
    deliveries = st.operations.deliveries(loaded.event.id)
    assert [(d.route, d.destination, d.status, d.webhook_id) for d in deliveries] == [
        ("everything", "audit", "pending", loaded.event.id),
        ("github-pushes", "orders", "pending", loaded.event.id),
    ]
    assert deliveries[0].id == f"{loaded.event.id}:0:everything"
    assert (deliveries[0].attempts, deliveries[0].next_attempt_ms) == (0, 1_000)
    event = st.operations.event(loaded.event.id)
    assert event is not None
    assert event.status == "routed"


def test_an_event_matching_no_route_is_unrouted(aws: layout.Aws, deployed: layout.Layout) -> None:
    st = layout.stack(aws, deployed)
    loaded = _stored(st)
    assert st.records.route(loaded, [], now_ms=1_000)
    page = st.operations.events(layout.ports_filter(status="unrouted"), 10)
    assert [e.id for e in page.items] == [loaded.event.id]
    assert st.operations.deliveries(loaded.event.id) == []


def test_a_message_for_an_event_that_is_gone_has_nothing_to_do(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    st = layout.stack(aws, deployed)
    assert st.records.load("evt_0000000000000000000000000000") is None


def test_a_replay_round_routes_again_with_its_own_deliveries_and_webhook_id(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    st = layout.stack(aws, deployed)
    loaded = _stored(st)
    st.records.route(loaded, TARGETS[:1], now_ms=1_000)
    assert st.records.advance(loaded.event.id, 1, "msg_fresh")
    assert not st.records.advance(loaded.event.id, 1, "msg_fresh")  # the same replay, again
    replayed = st.records.load(loaded.event.id)
    assert replayed is not None
    assert (replayed.round, replayed.webhook_id) == (1, "msg_fresh")
    assert replayed.event.status == "pending"
    # the first round's message comes late: its round is not the event's any more
    assert not st.records.route(loaded, TARGETS[:1], now_ms=1_500)
    assert st.records.route(replayed, TARGETS, now_ms=2_000)
    # the first round's delivery had no attempt yet: its message attempts the new round's
    got = [(d.id.split(":", 1)[1], d.webhook_id) for d in st.operations.deliveries(loaded.event.id)]
    assert got == [("1:everything", "msg_fresh"), ("1:github-pushes", "msg_fresh")]


def test_attempts_move_a_delivery_forward_only(aws: layout.Aws, deployed: layout.Layout) -> None:
    st = layout.stack(aws, deployed)
    loaded = _stored(st)
    st.records.route(loaded, TARGETS[:1], now_ms=1_000)
    tracked = st.records.delivery(loaded.event.id, 0, "github-pushes")
    assert tracked is not None
    assert st.records.record(tracked, _attempt(1, 2_000), "retry", 2_100, next_attempt_ms=9_000)
    # the same attempt's outcome recorded twice (a redelivered message): kept, not followed
    assert not st.records.record(tracked, _attempt(1, 2_050), "retry", 2_200, next_attempt_ms=9_500)
    # attempt 2 crashed (its receive was used up): attempt 3 still moves the delivery on
    assert st.records.record(tracked, _attempt(3, 10_000, 200), "delivered", 10_100)
    # a late outcome of an older attempt cannot move it back from delivered
    assert not st.records.record(tracked, _attempt(2, 9_000), "retry", 10_200, next_attempt_ms=1)
    (delivery,) = st.operations.deliveries(loaded.event.id)
    assert (delivery.status, delivery.attempts, delivery.next_attempt_ms) == ("delivered", 3, None)
    assert [a.attempt for a in delivery.history] == [1, 1, 2, 3]  # every attempt is kept
    assert delivery.history[-1].status_code == 200


def test_the_last_attempt_makes_a_dead_letter_and_a_redriven_message_revives_it(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    st = layout.stack(aws, deployed)
    loaded = _stored(st)
    st.records.route(loaded, TARGETS, now_ms=1_000)
    tracked = st.records.delivery(loaded.event.id, 0, "github-pushes")
    assert tracked is not None
    assert st.records.record(tracked, _attempt(3, 5_000, 503), "dead", 5_100)
    (letter,) = st.operations.dead_letters("orders", 10).items
    assert letter == models.DeadLetter(
        f"{loaded.event.id}:0:github-pushes",
        loaded.event.id,
        "github-pushes",
        "orders",
        loaded.event.id,
        3,
        503,
        None,
        5_100,
    )
    dead_events = st.operations.events(layout.ports_filter(status="dead"), 10)
    assert [e.id for e in dead_events.items] == [loaded.event.id]
    dead = st.records.delivery(loaded.event.id, 0, "github-pushes")
    assert dead is not None
    assert st.records.revive(dead, 1, now_ms=6_000)
    assert not st.records.revive(dead, 1, now_ms=6_000)  # the same message, again
    revived = st.records.delivery(loaded.event.id, 0, "github-pushes")
    assert revived is not None
    assert (revived.delivery.status, revived.delivery.attempts, revived.generation) == (
        "pending",
        0,
        1,
    )
    assert st.operations.dead_letters("orders", 10).items == []
    assert st.operations.events(layout.ports_filter(status="dead"), 10).items == []


def test_begin_says_what_a_destination_message_should_attempt(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    st = layout.stack(aws, deployed)
    loaded = _stored(st)
    # a message can come before the router has recorded the round (it publishes first): the
    # queue it came from names the destination
    early = st.records.begin(loaded, "github-pushes", 0, now_ms=900, destination="orders")
    assert early is not None
    assert (early.delivery.destination, early.exists) == ("orders", False)
    st.records.route(loaded, TARGETS, now_ms=1_000)
    tracked = st.records.begin(_fresh(st, loaded), "github-pushes", 0, now_ms=2_000)
    assert tracked is not None
    assert tracked.delivery.status == "pending"
    assert st.records.begin(_fresh(st, loaded), "no-such-route", 0, now_ms=2_000) is None
    st.records.record(tracked, _attempt(3, 2_000), "dead", 2_100)
    # a whole-DLQ redrive moved the message back (same generation): the delivery lives again
    revived = st.records.begin(_fresh(st, loaded), "github-pushes", 0, now_ms=3_000)
    assert revived is not None
    assert (revived.delivery.status, revived.delivery.attempts) == ("pending", 0)
    st.records.record(revived, _attempt(1, 3_000), "dead", 3_100)
    # `whp dlq redrive` sent generation 1; the old message, moved later, is stale
    fresh = st.records.begin(_fresh(st, loaded), "github-pushes", 1, now_ms=4_000)
    assert fresh is not None
    assert fresh.generation == 1
    assert st.records.begin(_fresh(st, loaded), "github-pushes", 0, now_ms=4_100) is None
    assert st.records.record(fresh, _attempt(1, 4_200, 200), "delivered", 4_300)
    assert st.records.begin(_fresh(st, loaded), "github-pushes", 1, now_ms=5_000) is None


def test_attempts_of_two_generations_are_both_kept_even_when_their_clocks_tie(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    st = layout.stack(aws, deployed)
    loaded = _stored(st)
    st.records.route(loaded, TARGETS[:1], now_ms=1_000)
    first = st.records.begin(_fresh(st, loaded), "github-pushes", 0, now_ms=2_000)
    assert first is not None
    st.records.record(first, _attempt(1, 5_000), "dead", 5_000)
    again = st.records.begin(_fresh(st, loaded), "github-pushes", 1, now_ms=5_000)  # a redrive
    assert again is not None
    st.records.record(again, _attempt(1, 5_000, 200), "delivered", 5_000)
    (delivery,) = st.operations.deliveries(loaded.event.id)
    assert [(a.attempt, a.status_code) for a in delivery.history] == [(1, 500), (1, 200)]


def test_start_reads_the_ingest_queues_messages(aws: layout.Aws, deployed: layout.Layout) -> None:
    st = layout.stack(aws, deployed)
    loaded = _stored(st)
    event_id = loaded.event.id
    (message,) = layout.raw_messages(st.sqs_client, deployed.ingest_queue_url)
    started = st.records.start(message)
    assert started == loaded
    st.records.route(loaded, TARGETS[:1], now_ms=1_000)
    st.operations.replay([event_id], 2_000, new_id=True)
    (replay,) = layout.raw_messages(st.sqs_client, deployed.ingest_queue_url)
    replayed = st.records.start(replay)
    assert replayed is not None
    assert (replayed.round, replayed.event.status) == (1, "pending")
    assert replayed.webhook_id.startswith("msg_")
    assert st.records.start(replay) == replayed  # delivered twice: the round starts once
    assert st.records.start(json.dumps({"event_id": "evt_gone"})) is None
    with pytest.raises(errors.WhpError, match="not a message of the ingest queue"):
        st.records.start('{"id": 1}')
