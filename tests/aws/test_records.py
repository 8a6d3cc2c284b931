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


def test_routing_creates_one_delivery_per_route_once(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    st = layout.stack(aws, deployed)
    loaded = _stored(st)
    assert (loaded.round, loaded.webhook_id, loaded.event.body) == (
        0,
        loaded.event.id,
        b'{"action": "opened"}',
    )
    first = st.records.route(loaded, TARGETS, now_ms=1_000)
    assert first == records.Routing(
        loaded.event.id, 0, tuple(TARGETS), published=False, created=True
    )
    # SQS delivers the message again (the router crashed before deleting it)
    again = st.records.route(loaded, TARGETS, now_ms=2_000)
    assert again is not None
    assert (again.targets, again.created, again.published) == (tuple(TARGETS), False, False)
    st.records.published(first)
    assert st.records.route(loaded, TARGETS, now_ms=3_000) == records.Routing(
        loaded.event.id, 0, tuple(TARGETS), published=True, created=False
    )
    deliveries = st.operations.deliveries(loaded.event.id)
    assert [(d.route, d.destination, d.status, d.webhook_id) for d in deliveries] == [
        ("everything", "audit", "pending", loaded.event.id),
        ("github-pushes", "orders", "pending", loaded.event.id),
    ]
    assert deliveries[0].id == f"{loaded.event.id}:0:everything"
    event = st.operations.event(loaded.event.id)
    assert event is not None
    assert event.status == "routed"


def test_an_event_matching_no_route_is_unrouted(aws: layout.Aws, deployed: layout.Layout) -> None:
    st = layout.stack(aws, deployed)
    loaded = _stored(st)
    routing = st.records.route(loaded, [], now_ms=1_000)
    assert routing is not None
    assert routing.targets == ()
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
    # the first round's message comes late: its round is no longer pending
    assert st.records.route(loaded, TARGETS[:1], now_ms=1_500) is not None
    st.records.route(replayed, TARGETS, now_ms=2_000)
    got = [(d.id.split(":", 1)[1], d.webhook_id) for d in st.operations.deliveries(loaded.event.id)]
    assert got == [
        ("0:github-pushes", loaded.event.id),
        ("1:everything", "msg_fresh"),
        ("1:github-pushes", "msg_fresh"),
    ]


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


def test_an_event_matching_too_many_routes_is_refused_clearly(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    st = layout.stack(aws, deployed)
    loaded = _stored(st)
    many = [(f"r{i}", "orders") for i in range(records.MAX_ROUTES + 1)]
    with pytest.raises(errors.WhpError, match="at most 98 routes"):
        st.records.route(loaded, many, now_ms=1_000)


def test_begin_says_what_a_destination_message_should_attempt(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    st = layout.stack(aws, deployed)
    loaded = _stored(st)
    st.records.route(loaded, TARGETS, now_ms=1_000)
    tracked = st.records.begin(loaded, "github-pushes", 0, now_ms=2_000)
    assert tracked is not None
    assert tracked.delivery.status == "pending"
    assert st.records.begin(loaded, "no-such-route", 0, now_ms=2_000) is None
    st.records.record(tracked, _attempt(3, 2_000), "dead", 2_100)
    # a whole-DLQ redrive moved the message back (same generation): the delivery lives again
    revived = st.records.begin(loaded, "github-pushes", 0, now_ms=3_000)
    assert revived is not None
    assert (revived.delivery.status, revived.delivery.attempts) == ("pending", 0)
    st.records.record(revived, _attempt(1, 3_000), "dead", 3_100)
    # `whp dlq redrive` sent generation 1; the old message, moved later, is stale
    fresh = st.records.begin(loaded, "github-pushes", 1, now_ms=4_000)
    assert fresh is not None
    assert fresh.generation == 1
    assert st.records.begin(loaded, "github-pushes", 0, now_ms=4_100) is None
    assert st.records.record(fresh, _attempt(1, 4_200, 200), "delivered", 4_300)
    assert st.records.begin(loaded, "github-pushes", 1, now_ms=5_000) is None  # delivered


def test_attempts_of_two_generations_are_both_kept_even_when_their_clocks_tie(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    st = layout.stack(aws, deployed)
    loaded = _stored(st)
    st.records.route(loaded, TARGETS[:1], now_ms=1_000)
    first = st.records.begin(loaded, "github-pushes", 0, now_ms=2_000)
    assert first is not None
    st.records.record(first, _attempt(1, 5_000), "dead", 5_000)
    again = st.records.begin(loaded, "github-pushes", 1, now_ms=5_000)  # a redrive
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
