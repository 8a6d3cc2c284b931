"""ports.Operations on DynamoDB: listings through the indexes, cursors, counts, replay, redrive."""

from __future__ import annotations

import base64
import json
import random
import time

import pytest

from tests.aws import layout
from webhook_processor import errors, models, ports
from webhook_processor.adapters.aws import items, records

DAY = 86_400_000


def _all_pages(st: layout.Stack, where: ports.EventFilter, limit: int) -> list[str]:
    ids: list[str] = []
    cursor = None
    for _ in range(100):
        page = st.operations.events(where, limit, cursor)
        assert len(page.items) <= limit
        ids += [e.id for e in page.items]
        assert all(not e.body and not e.headers for e in page.items)  # listings carry neither
        if page.next is None:
            return ids
        cursor = page.next
    raise AssertionError("the listing does not end")


@pytest.fixture
def history(aws: layout.Aws, deployed: layout.Layout) -> tuple[layout.Stack, list[models.Event]]:
    """30 events over the last 3 days, two sources, three types, some keyed, some routed."""
    st = layout.stack(aws, deployed)
    rng = random.Random(7)
    now = int(time.time() * 1000)
    made = []
    for i in range(30):
        event = layout.event(
            source=("github", "acme")[i % 2],
            event_type=("push", "issues", "ping")[i % 3],
            key=f"key-{i // 2}" if i % 4 in (0, 1) else None,  # key-0 twice: two sources
            received_ms=now - rng.randrange(3 * DAY),
        )
        st.store.add_now(event)
        loaded = st.records.load(event.id)
        assert loaded is not None
        if i % 5:
            st.records.route(loaded, [("everything", "audit")] if i % 5 > 1 else [], now)
        made.append(event)
    layout.messages(st.sqs_client, deployed.ingest_queue_url)
    return st, made


def _newest_first(events: list[models.Event]) -> list[str]:
    return [e.id for e in sorted(events, key=lambda e: (e.received_ms, e.id), reverse=True)]


@pytest.mark.parametrize(
    "where",
    [
        ports.EventFilter(),  # by_time
        ports.EventFilter(source="acme"),  # by_source
        ports.EventFilter(status="routed"),  # by_status
        ports.EventFilter(status="pending"),
        ports.EventFilter(status="unrouted", source="github"),  # by_status, source filtered
        ports.EventFilter(source="github", status="routed"),  # by_source, status filtered
        ports.EventFilter(event_type="issues"),  # by_time, type filtered
        ports.EventFilter(idempotency_key="key-0"),  # by_key
        ports.EventFilter(idempotency_key="key-0", source="acme"),
    ],
    ids=repr,
)
def test_every_filter_pages_newest_first_across_days_and_shards(
    history: tuple[layout.Stack, list[models.Event]], where: ports.EventFilter
) -> None:
    st, made = history
    status = {e.id: e.status for e in made}
    for e in made:
        found = st.operations.event(e.id)
        assert found is not None
        status[e.id] = found.status
    expected = [
        e
        for e in made
        if (where.source is None or e.source == where.source)
        and (where.status is None or status[e.id] == where.status)
        and (where.event_type is None or e.event_type == where.event_type)
        and (where.idempotency_key is None or e.idempotency_key == where.idempotency_key)
    ]
    assert expected, "the history should have events for every filter"
    assert _all_pages(st, where, limit=4) == _newest_first(expected)


def test_since_and_until_bound_the_listing(
    history: tuple[layout.Stack, list[models.Event]],
) -> None:
    st, made = history
    times = sorted(e.received_ms for e in made)
    since, until = times[5], times[20]
    expected = [e for e in made if since <= e.received_ms < until]
    where = ports.EventFilter(since_ms=since, until_ms=until)
    assert _all_pages(st, where, limit=7) == _newest_first(expected)
    assert st.operations.events(ports.EventFilter(since_ms=until, until_ms=since), 10).items == []


def test_a_cursor_is_opaque_and_only_this_listing_reads_it(
    history: tuple[layout.Stack, list[models.Event]],
) -> None:
    st, _ = history
    page = st.operations.events(ports.EventFilter(), 3)
    assert page.next is not None
    decoded = json.loads(base64.urlsafe_b64decode(page.next + "=" * (-len(page.next) % 4)))
    assert decoded["i"] == "events"  # the sort key of the page's last item
    assert decoded["k"] == items.order(page.items[-1].received_ms, page.items[-1].id)
    for bad in ("not a cursor!", base64.urlsafe_b64encode(b'{"i": "events"}').decode()):
        with pytest.raises(errors.UsageError, match="was not made by this listing"):
            st.operations.events(ports.EventFilter(), 3, bad)
    with pytest.raises(errors.UsageError):  # another listing's cursor
        st.operations.dead_letters(None, 3, page.next)
    with pytest.raises(errors.UsageError, match="status 'bogus'"):
        st.operations.events(ports.EventFilter(status="bogus"), 3)


def test_expired_items_are_not_listed_although_moto_keeps_them(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    """DynamoDB deletes expired items within days, not at once; moto never does. Either way a
    listing filters on expires_at."""
    st = layout.stack(aws, deployed, retention_days=1)
    old = layout.event(received_ms=int(time.time() * 1000) - int(1.5 * DAY))
    new = layout.event()
    st.store.add_now(old)
    st.store.add_now(new)
    assert [e.id for e in st.operations.events(ports.EventFilter(), 10).items] == [new.id]
    assert st.table.state(old.id)


def test_counts_destinations_and_activity(aws: layout.Aws, deployed: layout.Layout) -> None:
    st = layout.stack(aws, deployed)
    now = int(time.time() * 1000)
    loaded = []
    for i in range(4):
        event = layout.event(received_ms=now - i * 1000)
        st.store.add_now(event)
        got = st.records.load(event.id)
        assert got is not None
        loaded.append(got)
    st.records.route(loaded[0], [("github-pushes", "orders"), ("everything", "audit")], now)
    st.records.route(loaded[1], [("github-pushes", "orders")], now + 5)
    st.records.route(loaded[2], [], now)
    d0 = st.records.delivery(loaded[0].event.id, 0, "github-pushes")
    d1 = st.records.delivery(loaded[0].event.id, 0, "everything")
    assert d0 is not None
    assert d1 is not None
    st.records.record(d0, models.Attempt(1, now - 2_000, 5, 500, None, None), "dead", now)
    st.records.record(d1, models.Attempt(1, now - 1_000, 5, 200, None, None), "delivered", now)
    st.operations.set_paused("orders", True, now)

    assert st.operations.counts() == (
        {"pending": 1, "routed": 2, "unrouted": 1},
        {"pending": 1, "delivered": 1, "dead": 1},
    )
    assert st.operations.paused() == {"orders"}
    assert st.operations.destinations(now) == {
        "audit": models.DestinationState("audit", False, 0, 0, 0, None),
        "orders": models.DestinationState("orders", True, 1, 1, 0, now + 5),
    }
    st.operations.set_paused("orders", False, now)
    assert st.operations.paused() == set()
    assert st.operations.activity(now - 60_000) == ports.Activity(4, 1, 1)
    assert st.operations.activity(now - 1_500) == ports.Activity(2, 1, 0)
    assert st.operations.purge(now) == ports.PurgeBatch(0, 0, None)  # DynamoDB's TTL does it


def test_dead_letters_of_every_destination_page_newest_first(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    st = layout.stack(aws, deployed)
    now = int(time.time() * 1000)
    expected = []
    for i in range(7):
        event = layout.event()
        st.store.add_now(event)
        got = st.records.load(event.id)
        assert got is not None
        route, destination = [("github-pushes", "orders"), ("everything", "audit")][i % 2]
        st.records.route(got, [(route, destination)], now)
        tracked = st.records.delivery(event.id, 0, route)
        assert tracked is not None
        st.records.record(tracked, models.Attempt(3, now, 5, 500, None, None), "dead", now + i)
        expected.append(tracked.delivery.id)
    seen: list[str] = []
    cursor = None
    while True:
        page = st.operations.dead_letters(None, 3, cursor)
        seen += [d.delivery_id for d in page.items]
        if page.next is None:
            break
        cursor = page.next
    assert seen == expected[::-1]
    only = st.operations.dead_letters("audit", 10).items
    assert [d.delivery_id for d in only] == expected[1::2][::-1]


def test_replay_sends_each_existing_event_to_the_router_one_round_on(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    st = layout.stack(aws, deployed)
    event = layout.event()
    st.store.add_now(event)
    layout.messages(st.sqs_client, deployed.ingest_queue_url)
    missing = "evt_00000000000000000000000000000000"
    assert st.operations.replay([event.id, missing, event.id], 1_000) == 1
    assert layout.messages(st.sqs_client, deployed.ingest_queue_url) == [
        {"event_id": event.id, "round": 1}
    ]
    assert st.operations.replay([event.id], 1_000, new_id=True) == 1
    (message,) = layout.messages(st.sqs_client, deployed.ingest_queue_url)
    assert message["webhook_id"].startswith("msg_")
    assert message["webhook_id"] != event.id


def test_redrive_queues_a_new_generation_and_revives_the_delivery(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    st = layout.stack(aws, deployed)
    now = int(time.time() * 1000)
    event = layout.event()
    st.store.add_now(event)
    got = st.records.load(event.id)
    assert got is not None
    st.records.route(got, [("github-pushes", "orders"), ("everything", "audit")], now)
    dead = st.records.delivery(event.id, 0, "github-pushes")
    assert dead is not None
    st.records.record(dead, models.Attempt(3, now, 5, 500, None, None), "dead", now)
    pending = f"{event.id}:0:everything"
    assert st.operations.redrive([dead.delivery.id, pending], now + 10) == 1
    (message,) = layout.messages(st.sqs_client, deployed.destination_queue_urls["orders"])
    assert message["route"] == "github-pushes"
    assert message["generation"] == 1
    assert message["event"]["resources"] == [f"whp:event:{event.id}"]
    assert message["event"]["source"] == "github"
    revived = st.records.delivery(event.id, 0, "github-pushes")
    assert isinstance(revived, records.Tracked)
    assert (revived.delivery.status, revived.delivery.attempts, revived.generation) == (
        "pending",
        0,
        1,
    )
    assert st.operations.redrive([dead.delivery.id], now + 20) == 0  # not dead any more
    with pytest.raises(errors.UsageError, match="not a delivery id"):
        st.operations.redrive(["42"], now)
