"""Alert rules: what they measure, when they hold, and the notifications they send. Pure: the
runtime measures (alerting.py locally) and sends; this decides.

A rule holds while its value is above its threshold. Each evaluation compares with the last one:

    ok      --holds-->        firing   one "firing" notification
    firing  --holds-->        firing   nothing, however many evaluations
    firing  --stops holding-> ok       one "resolved" notification
    either  --not measured--> as it was (a failed read of the store changes nothing)

The measures (docs/configuration.md): `dead_deliveries`, a destination's dead-letter count now;
`failure_rate`, the share of its attempts in the window that failed (0..1; 0 without attempts);
`oldest_pending_seconds`, the age of its oldest pending delivery (0 when none is pending);
`rejected_signatures`, the 401s of a source in the window. The windowed ones are the increase of
a running count over the window (`History`), like Prometheus's increase().
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from webhook_processor import models

Metric = Literal["dead_deliveries", "failure_rate", "oldest_pending_seconds", "rejected_signatures"]
State = Literal["ok", "firing"]
Change = Literal["firing", "resolved"]
WINDOWED: frozenset[str] = frozenset({"failure_rate", "rejected_signatures"})
BY_SOURCE: frozenset[str] = frozenset({"rejected_signatures"})
# Running counts by (what, subject): what a window is measured over.
ATTEMPTS, FAILED, REJECTED = "attempts", "failed_attempts", "rejected_signatures"
Totals = Mapping[tuple[str, str], float]


@dataclass(frozen=True, slots=True)
class Rule:
    """One `alerts.rules` entry. `subject` is its destination, or its source for
    rejected_signatures; `window_seconds` is None for the metrics measured now."""

    name: str
    metric: Metric
    subject: str
    above: float
    window_seconds: float | None = None

    @property
    def subject_key(self) -> str:
        return "source" if self.metric in BY_SOURCE else "destination"


@dataclass(frozen=True, slots=True)
class Gauge:
    """What the store says of a destination now."""

    dead: int
    oldest_pending_seconds: float | None


@dataclass(frozen=True, slots=True)
class Notification:
    rule: Rule
    state: Change
    value: float
    at_ms: int

    @property
    def id(self) -> str:
        """The webhook-id: one per notification, the same on its retries."""
        return f"alert_{self.rule.name}_{self.state}_{self.at_ms}"

    def text(self) -> str:
        """One line for humans (Slack shows `text`)."""
        rule = self.rule
        what = _METRIC_WORDS[rule.metric]
        window = f" over {_number(rule.window_seconds)} s" if rule.window_seconds else ""
        relation = "above" if self.state == "firing" else "back to at most"
        return (
            f"[{self.state}] {rule.name}: {what} of {rule.subject_key} {rule.subject}{window} "
            f"is {_shown(rule.metric, self.value)}, {relation} {_shown(rule.metric, rule.above)}"
        )

    def body(self) -> dict[str, Any]:
        """The JSON docs/architecture.md gives, key for key."""
        return {
            "text": self.text(),
            "alert": self.rule.name,
            "state": self.state,
            "metric": self.rule.metric,
            "value": self.value,
            "threshold": self.rule.above,
            self.rule.subject_key: self.rule.subject,
            "at": models.rfc3339(self.at_ms),
        }


_METRIC_WORDS: dict[str, str] = {
    "dead_deliveries": "dead deliveries",
    "failure_rate": "failure rate",
    "oldest_pending_seconds": "oldest pending delivery (seconds)",
    "rejected_signatures": "rejected signatures",
}


def _number(value: float) -> str:
    return f"{value:g}"


def _shown(metric: Metric, value: float) -> str:
    return f"{value:.0%}" if metric == "failure_rate" else _number(round(value, 3))


def holds(rule: Rule, value: float) -> bool:
    return value > rule.above


def evaluate(
    rules: Sequence[Rule],
    firing: frozenset[str],
    values: Mapping[str, float | None],
    now_ms: int,
) -> tuple[frozenset[str], list[Notification]]:
    """The rules firing after this evaluation, and the notifications of the changes. `firing`:
    the names firing before it; `values`: each rule's measure by name (None or absent: not
    measured this time, so its state stays)."""
    now_firing = set(firing)
    sent: list[Notification] = []
    for rule in rules:
        value = values.get(rule.name)
        if value is None:
            continue
        was, now = rule.name in firing, holds(rule, value)
        if now and not was:
            now_firing.add(rule.name)
            sent.append(Notification(rule, "firing", value, now_ms))
        elif was and not now:
            now_firing.discard(rule.name)
            sent.append(Notification(rule, "resolved", value, now_ms))
    return frozenset(now_firing & {r.name for r in rules}), sent


def states(rules: Sequence[Rule], firing: frozenset[str]) -> list[dict[str, str]]:
    """`GET /api/stats`'s `alerts`: each rule's name and state, in the config's order."""
    return [{"name": r.name, "state": "firing" if r.name in firing else "ok"} for r in rules]


class History:
    """Samples of running counts, kept as long as the longest window needs them."""

    def __init__(self, keep_seconds: float) -> None:
        self._keep = keep_seconds
        self._times: list[float] = []
        self._totals: list[Totals] = []

    def add(self, now: float, totals: Totals) -> None:
        self._times.append(now)
        self._totals.append(dict(totals))
        # Drop what is older than every window needs, but keep the newest sample at or before
        # the cut: it is the start of the longest window.
        cut = bisect.bisect_right(self._times, now - self._keep) - 1
        if cut > 0:
            del self._times[:cut], self._totals[:cut]

    def increase(self, key: tuple[str, str], now: float, window: float) -> float:
        """How much the count `key` grew over the last `window` seconds: from the newest sample
        at or before its start (or the oldest, when the history is shorter) to the latest."""
        if not self._totals:
            return 0.0
        start = max(0, bisect.bisect_right(self._times, now - window) - 1)
        return self._totals[-1].get(key, 0.0) - self._totals[start].get(key, 0.0)


def measure(
    rules: Sequence[Rule],
    gauges: Mapping[str, Gauge] | None,
    history: History,
    now: float,
) -> dict[str, float | None]:
    """Each rule's value now. `gauges`: the store's destinations (None: the store could not be
    read, so the rules on them are not measured); `history`: the running counts, sampled."""
    values: dict[str, float | None] = {}
    for rule in rules:
        if rule.metric == "failure_rate":
            window = rule.window_seconds or 0.0
            attempts = history.increase((ATTEMPTS, rule.subject), now, window)
            failed = history.increase((FAILED, rule.subject), now, window)
            values[rule.name] = failed / attempts if attempts > 0 else 0.0
        elif rule.metric == "rejected_signatures":
            window = rule.window_seconds or 0.0
            values[rule.name] = history.increase((REJECTED, rule.subject), now, window)
        elif gauges is None:
            values[rule.name] = None
        else:
            gauge = gauges.get(rule.subject, Gauge(0, None))
            if rule.metric == "dead_deliveries":
                values[rule.name] = float(gauge.dead)
            else:
                values[rule.name] = gauge.oldest_pending_seconds or 0.0
    return values
