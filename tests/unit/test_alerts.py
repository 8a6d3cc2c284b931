"""Alert rules as tables: the values measured evaluation after evaluation -> what is notified."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from webhook_processor import alerts

DEAD = alerts.Rule("orders-dead", "dead_deliveries", "orders", above=0)
FAILING = alerts.Rule("orders-failing", "failure_rate", "orders", above=0.5, window_seconds=60)
STALE = alerts.Rule("orders-stale", "oldest_pending_seconds", "orders", above=120)
FORGED = alerts.Rule("github-forged", "rejected_signatures", "github", above=5, window_seconds=300)


def run(rule: alerts.Rule, values: Sequence[float | None]) -> list[str]:
    """Evaluate `rule` once per value; each evaluation's notifications, as "firing:value"."""
    firing: frozenset[str] = frozenset()
    said = []
    for i, value in enumerate(values):
        firing, sent = alerts.evaluate([rule], firing, {rule.name: value}, now_ms=i * 10_000)
        said += [f"{n.state}:{n.value:g}" for n in sent]
    return said


@pytest.mark.parametrize(
    ("rule", "values", "notified"),
    [
        # never above: nothing, however often evaluated
        (DEAD, [0, 0, 0], []),
        # starts to hold: one "firing", and nothing more while it holds, whatever its value
        (DEAD, [0, 1, 1, 3, 2], ["firing:1"]),
        # holds from the first evaluation on
        (DEAD, [4, 4], ["firing:4"]),
        # stops holding: one "resolved", and nothing more while it stays below
        (DEAD, [0, 2, 0, 0, 0], ["firing:2", "resolved:0"]),
        # each start and each end, once: a rule that comes back fires again
        (DEAD, [1, 0, 1, 0], ["firing:1", "resolved:0", "firing:1", "resolved:0"]),
        # "above" is strict: at the threshold it does not hold
        (FAILING, [0.5, 0.75, 0.5], ["firing:0.75", "resolved:0.5"]),
        (STALE, [120, 121, 119.5], ["firing:121", "resolved:119.5"]),
        (FORGED, [5, 6, 6, 6, 0], ["firing:6", "resolved:0"]),
        # not measured (the store could not be read): the state stays, nothing is said
        (DEAD, [1, None, None, 1], ["firing:1"]),
        (DEAD, [1, None, 0], ["firing:1", "resolved:0"]),
        (DEAD, [None, None], []),
    ],
)
def test_a_rule_fires_once_when_it_starts_to_hold_and_resolves_once_when_it_stops(
    rule: alerts.Rule, values: Sequence[float | None], notified: list[str]
) -> None:
    assert run(rule, values) == notified


def test_rules_are_evaluated_each_on_its_own() -> None:
    rules = [DEAD, FAILING]
    firing, sent = alerts.evaluate(rules, frozenset(), {DEAD.name: 1, FAILING.name: 0.1}, 0)
    assert [(n.rule.name, n.state) for n in sent] == [("orders-dead", "firing")]
    firing, sent = alerts.evaluate(rules, firing, {DEAD.name: 1, FAILING.name: 0.9}, 1)
    assert [(n.rule.name, n.state) for n in sent] == [("orders-failing", "firing")]
    assert alerts.states(rules, firing) == [
        {"name": "orders-dead", "state": "firing"},
        {"name": "orders-failing", "state": "firing"},
    ]
    firing, sent = alerts.evaluate(rules, firing, {DEAD.name: 0, FAILING.name: 0.9}, 2)
    assert [(n.rule.name, n.state) for n in sent] == [("orders-dead", "resolved")]
    assert alerts.states(rules, firing) == [
        {"name": "orders-dead", "state": "ok"},
        {"name": "orders-failing", "state": "firing"},
    ]


def test_the_notification_body_is_the_one_design_md_gives() -> None:
    _, [fired] = alerts.evaluate([DEAD], frozenset(), {DEAD.name: 3}, 1_767_225_600_250)
    assert fired.body() == {
        "text": "[firing] orders-dead: dead deliveries of destination orders is 3, above 0",
        "alert": "orders-dead",
        "state": "firing",
        "metric": "dead_deliveries",
        "value": 3,
        "threshold": 0,
        "destination": "orders",
        "at": "2026-01-01T00:00:00.250Z",
    }
    _, [resolved] = alerts.evaluate([FORGED], frozenset({FORGED.name}), {FORGED.name: 0}, 0)
    body = resolved.body()
    assert body["source"] == "github"
    assert "destination" not in body
    assert body["state"] == "resolved"
    assert body["text"] == (
        "[resolved] github-forged: rejected signatures of source github over 300 s is 0, "
        "back to at most 5"
    )


def test_a_failure_rate_reads_as_a_percentage() -> None:
    _, [fired] = alerts.evaluate([FAILING], frozenset(), {FAILING.name: 2 / 3}, 0)
    assert fired.text() == (
        "[firing] orders-failing: failure rate of destination orders over 60 s is 67%, above 50%"
    )
    assert fired.body()["value"] == pytest.approx(0.6667, abs=1e-4)


def test_each_notification_has_a_webhook_id_of_its_own() -> None:
    """Receivers dedupe on webhook-id: a firing, its resolution and a later firing differ."""
    _, [fired] = alerts.evaluate([DEAD], frozenset(), {DEAD.name: 1}, 5)
    _, [resolved] = alerts.evaluate([DEAD], frozenset({DEAD.name}), {DEAD.name: 0}, 5)
    _, [again] = alerts.evaluate([DEAD], frozenset(), {DEAD.name: 1}, 6)
    assert len({fired.id, resolved.id, again.id}) == 3


# -- measuring -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("samples", "now", "window", "increase"),
    [
        # (time, running count) samples; the increase over [now - window, now]
        ([(0, 0), (10, 4), (20, 9)], 20, 10, 5),
        ([(0, 0), (10, 4), (20, 9)], 20, 15, 9),  # from the newest sample at or before 5: t=0
        ([(0, 0), (10, 4), (20, 9)], 20, 300, 9),  # a history shorter than the window: all of it
        ([(0, 3), (10, 3), (20, 3)], 20, 10, 0),
        ([(0, 2)], 0, 60, 0),
        ([], 0, 60, 0),
    ],
)
def test_a_window_measures_the_increase_of_a_running_count(
    samples: list[tuple[float, float]], now: float, window: float, increase: float
) -> None:
    history = alerts.History(keep_seconds=window)
    for t, count in samples:
        history.add(t, {("failed_attempts", "orders"): count})
    assert history.increase(("failed_attempts", "orders"), now, window) == increase


def test_history_keeps_only_what_the_longest_window_needs() -> None:
    history = alerts.History(keep_seconds=30)
    for t in range(0, 1000, 10):
        history.add(t, {("attempts", "a"): t})
    assert history.increase(("attempts", "a"), 990, 30) == 30
    assert len(history._times) <= 5


def test_measure_reads_the_store_for_gauges_and_the_history_for_windows() -> None:
    history = alerts.History(keep_seconds=300)
    history.add(0, {})
    history.add(
        60,
        {
            ("attempts", "orders"): 8,
            ("failed_attempts", "orders"): 6,
            ("rejected_signatures", "github"): 7,
        },
    )
    gauges = {"orders": alerts.Gauge(dead=2, oldest_pending_seconds=150.5)}
    rules = [DEAD, FAILING, STALE, FORGED]
    assert alerts.measure(rules, gauges, history, 60) == {
        "orders-dead": 2,
        "orders-failing": 0.75,
        "orders-stale": 150.5,
        "github-forged": 7,
    }
    # a destination the store knows nothing of has nothing dead or pending; no attempts: 0 %
    quiet = [
        alerts.Rule("b-dead", "dead_deliveries", "b", 0),
        *(
            alerts.Rule("b-stale", "oldest_pending_seconds", "b", 0),
            alerts.Rule("b-failing", "failure_rate", "b", 0.1, 60),
        ),
    ]
    assert alerts.measure(quiet, {}, history, 60) == {"b-dead": 0, "b-stale": 0, "b-failing": 0}
    # the store unreadable: its rules are not measured, the windowed ones still are
    assert alerts.measure(rules, None, history, 60) == {
        "orders-dead": None,
        "orders-failing": 0.75,
        "orders-stale": None,
        "github-forged": 7,
    }
