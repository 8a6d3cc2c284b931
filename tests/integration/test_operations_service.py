"""The operator's use cases (services.operations.Operator) over a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract.harness import NOW, SqliteHarness, event, stored
from webhook_processor import errors, ports, services

CONFIG = {
    "orders": services.operations.DestinationConfig("http://127.0.0.1:9/orders", paused=False),
    "audit": services.operations.DestinationConfig("http://127.0.0.1:9/audit", paused=True),
}


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[SqliteHarness]:
    made = SqliteHarness(tmp_path / "whp.db")
    yield made
    made.close()


@pytest.fixture
def operator(harness: SqliteHarness) -> services.operations.Operator:
    pauses: list[float] = []
    return services.operations.Operator(
        harness.ops, CONFIG, clock=lambda: NOW / 1000, sleep=pauses.append
    )


def test_replay_by_ids_refuses_unknown_ids_and_replays_nothing(
    harness: SqliteHarness, operator: services.operations.Operator
) -> None:
    e = stored(harness, event())[0]
    harness.route(e.id, [])
    with pytest.raises(errors.NotFound, match="evt_nope"):
        operator.replay([e.id, "evt_nope"], new_id=False)
    assert harness.ops.events(ports.EventFilter(status="pending"), 10).items == []
    assert operator.replay([e.id, e.id], new_id=False) == 1


def test_bulk_replay_needs_a_filter_or_all_and_counts_on_a_dry_run(
    harness: SqliteHarness, operator: services.operations.Operator
) -> None:
    made = stored(harness, *(event(source="github") for _ in range(3)), event(source="stripe"))
    for e in made:
        harness.route(e.id, [])
    with pytest.raises(errors.UsageError, match="all"):
        operator.replay_matching(ports.EventFilter(), new_id=False)
    github = ports.EventFilter(source="github")
    assert operator.replay_matching(github, new_id=False, dry_run=True) == 3
    assert harness.ops.events(ports.EventFilter(status="pending"), 10).items == []
    done: list[int] = []
    assert operator.replay_matching(github, new_id=False, progress=done.append) == 3
    assert sum(done) == 3
    assert operator.replay_matching(ports.EventFilter(), new_id=False, everything=True) == 4


def test_bulk_replay_pages_through_more_than_a_batch(
    harness: SqliteHarness, operator: services.operations.Operator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services.operations, "BATCH", 3)
    made = stored(harness, *(event() for _ in range(8)))
    for e in made:
        harness.route(e.id, [])
    assert operator.matching(ports.EventFilter(source="stripe")) == [e.id for e in reversed(made)]
    assert operator.replay_matching(ports.EventFilter(source="stripe"), new_id=True) == 8


def test_redrive_all_pages_down_the_queue_and_by_destination(
    harness: SqliteHarness, operator: services.operations.Operator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services.operations, "BATCH", 2)
    made = stored(harness, *(event() for _ in range(5)))
    for i, e in enumerate(made):
        harness.route(e.id, [("r", "orders" if i < 4 else "audit")])
        harness.attempt(e.id, "r", 500, "HTTP 500", dead=True, at=NOW)
    assert operator.dead_count(None) == 5
    assert operator.redrive_all("audit") == 1
    assert operator.dead_count("orders") == 4
    assert operator.redrive_all(None) == 4
    assert operator.dead_count(None) == 0
    with pytest.raises(errors.NotFound, match="nowhere"):
        operator.redrive_all("nowhere")


def test_destinations_join_the_config_and_the_store(
    harness: SqliteHarness, operator: services.operations.Operator
) -> None:
    e = stored(harness, event())[0]
    harness.route(e.id, [("r", "orders")], at=NOW - 30_000)
    views = {v.name: v for v in operator.destinations()}
    assert views["orders"].pending == 1
    assert views["orders"].oldest_pending_seconds == 30.0
    assert views["audit"].paused_by == ("config",)
    paused = operator.pause("orders")
    assert paused.paused_by == ("runtime",)
    assert operator.resume("orders").paused_by == ()
    assert operator.resume("audit").paused_by == ("config",)  # the config still holds it
    with pytest.raises(errors.NotFound, match="destinations: audit, orders"):
        operator.pause("nope")


def test_event_detail_and_stats(
    harness: SqliteHarness, operator: services.operations.Operator
) -> None:
    e = stored(harness, event(received_ms=NOW - 1000))[0]
    harness.route(e.id, [("r", "orders")], at=NOW - 1000)
    harness.attempt(e.id, "r", 200, None, dead=False, at=NOW - 500)
    detail = operator.event(e.id)
    assert [d.status for d in detail.deliveries] == ["delivered"]
    with pytest.raises(errors.NotFound):
        operator.event("evt_nope")
    stats = operator.stats()
    assert stats.events["routed"] == 1
    assert stats.rates == {"received": 1 / 60, "delivered": 1 / 60, "failed": 0.0}


def test_purge_counts_what_it_deleted_and_what_it_kept(
    harness: SqliteHarness, operator: services.operations.Operator
) -> None:
    old = stored(harness, *(event(received_ms=NOW - 30 * 86_400_000 + i) for i in range(3)))
    harness.route(old[0].id, [])
    harness.route(old[1].id, [])
    harness.route(old[2].id, [("r", "orders")])
    done: list[int] = []
    assert operator.purge(NOW - 7 * 86_400_000, done.append) == (2, 1)
    assert sum(done) == 2
