"""What `whp serve` watches (monitoring.py): the store read at most once a second whoever asks,
and the alert rules evaluated over the store and this process's counts."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from webhook_processor import alerts, errors, services
from webhook_processor.adapters import prometheus
from webhook_processor.testing import FakeClock


def view(
    name: str, dead: int = 0, oldest: float | None = None
) -> services.operations.DestinationView:
    return services.operations.DestinationView(name, "http://x", (), 0, dead, 0, oldest)


class Store:
    """The read of the destinations, counted; `views` is what it answers, `fail` makes it
    raise as a store that is gone does."""

    def __init__(self) -> None:
        self.views = [view("orders")]
        self.reads = 0
        self.threads: set[str] = set()
        self.fail = False

    def read(self) -> list[services.operations.DestinationView]:
        self.reads += 1
        self.threads.add(threading.current_thread().name)
        if self.fail:
            raise errors.StoreUnavailable("cannot open the store at whp.db: disk I/O error")
        return list(self.views)


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def test_the_store_is_read_off_the_event_loop_at_most_once_a_second() -> None:
    store, clock = Store(), FakeClock()
    readings = services.monitoring.Readings(store.read, clock, max_age=1.0)

    async def scenario() -> None:
        # a scrape and the rules at once, and more scrapes within the second: one read
        found = await asyncio.gather(*(readings.refresh() for _ in range(5)))
        assert all(f == [view("orders")] for f in found)
        clock.now += 0.5
        await readings.refresh()
        assert store.reads == 1
        clock.now += 0.6
        store.views = [view("orders", dead=2)]
        assert await readings.refresh() == [view("orders", dead=2)]
        assert store.reads == 2
        assert readings.latest == [view("orders", dead=2)]

    run(scenario)
    assert threading.main_thread().name not in store.threads


def test_a_store_that_cannot_be_read_is_logged_and_keeps_the_last_good_reading(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, clock = Store(), FakeClock()
    readings = services.monitoring.Readings(store.read, clock)

    async def scenario() -> None:
        await readings.refresh()
        store.fail = True
        clock.now += 2
        assert await readings.refresh() is None
        assert readings.latest == [view("orders")]  # /metrics shows the last good one

    run(scenario)
    assert "could not read the destinations' state from the store" in caplog.text


class Notifications:
    def __init__(self) -> None:
        self.sent: list[alerts.Notification] = []

    def notify(self, notification: alerts.Notification) -> None:
        self.sent.append(notification)


RULES = [
    alerts.Rule("orders-dead", "dead_deliveries", "orders", 0),
    alerts.Rule("orders-failing", "failure_rate", "orders", 0.5, window_seconds=60),
    alerts.Rule("github-forged", "rejected_signatures", "github", 2, window_seconds=60),
]


def test_rules_measure_the_store_and_the_counts_of_this_process() -> None:
    store, clock = Store(), FakeClock()
    metrics = prometheus.PrometheusMetrics(CollectorRegistry(), ["orders"])
    notifications = Notifications()
    monitor = services.monitoring.Monitor(
        RULES, 10, services.monitoring.Readings(store.read, clock), metrics, notifications, clock
    )

    def said() -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = [(n.rule.name, n.state) for n in notifications.sent]
        notifications.sent.clear()
        return found

    async def scenario() -> None:
        monitor.start()
        assert await monitor.evaluate() == []
        # three failed attempts of four, one of them the last: a dead delivery
        for outcome in ("retry", "retry", "dead", "delivered"):
            metrics.attempted("orders", outcome, 0.1, None)
        store.views = [view("orders", dead=1)]
        for _ in range(3):
            metrics.rejected("github", "invalid_signature")
        metrics.rejected("github", "rate_limited")  # not a signature
        clock.now += 10
        await monitor.evaluate()
        assert said() == [
            ("orders-dead", "firing"),
            ("orders-failing", "firing"),
            ("github-forged", "firing"),
        ]
        assert monitor.states() == [{"name": r.name, "state": "firing"} for r in RULES]
        clock.now += 10
        await monitor.evaluate()
        assert said() == []  # still holding: nothing more
        # a minute on, the failures and the 401s are out of the window; the DLQ was redriven
        for _ in range(3):
            metrics.attempted("orders", "delivered", 0.1, 1.0)
        store.views = [view("orders")]
        clock.now += 61
        await monitor.evaluate()
        assert said() == [
            ("orders-dead", "resolved"),
            ("orders-failing", "resolved"),
            ("github-forged", "resolved"),
        ]
        assert {s["state"] for s in monitor.states()} == {"ok"}
        await monitor.stop()

    run(scenario)


def test_the_monitor_evaluates_every_interval_until_stopped() -> None:
    store = Store()
    store.views = [view("orders", dead=1)]
    notifications = Notifications()
    monitor = services.monitoring.Monitor(
        RULES[:1],
        0.01,
        services.monitoring.Readings(store.read, max_age=0),
        prometheus.PrometheusMetrics(CollectorRegistry()),
        notifications,
    )

    async def scenario() -> None:
        monitor.start()
        while store.reads < 3:
            await asyncio.sleep(0.01)
        assert monitor.ready()
        await monitor.stop()

    run(scenario)
    assert [n.state for n in notifications.sent] == ["firing"]
