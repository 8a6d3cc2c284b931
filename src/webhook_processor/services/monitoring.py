"""What `whp serve` watches: the destinations' state in the store (for /metrics and the alert
rules), and the alert rules themselves, evaluated every `alerts.interval_seconds`.

    every interval: read the store (Readings, at most once a second, off the event loop)
                    + sample the running counts of this process (attempts, 401s)
                    -> alerts.measure -> alerts.evaluate -> notifying.Notifier (its own tasks)

The counts behind failure_rate and rejected_signatures are this process's (the same as
/metrics shows): the attempts of a `whp worker` beside it are not among them. The dead-letter
counts and pending ages come from the store, and so cover every process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from webhook_processor import alerts
from webhook_processor.services import operations

log = logging.getLogger("whp.alerts")
Clock = Callable[[], float]
Views = Sequence[operations.DestinationView]
READ_AT_MOST_EVERY = 1.0  # seconds: a scrape every second, and the rules, share one read


class Readings:
    """The destinations as the store has them, read on a thread (the query counts a partial
    index: milliseconds with a large backlog, never to be paid on the event loop), at most once
    every `max_age` seconds whoever asks: a scrape, the rules."""

    def __init__(
        self,
        read: Callable[[], Views],
        clock: Clock = time.monotonic,
        max_age: float = READ_AT_MOST_EVERY,
    ) -> None:
        self.read = read  # replaced by a reload (its destinations)
        self.latest: Views = []  # what the last read gave: for /metrics, which cannot wait
        self._clock = clock
        self._max_age = max_age
        self._at: float | None = None
        self._ok = False
        self._lock = asyncio.Lock()

    async def refresh(self) -> Views | None:
        """The destinations, read again unless the last read is recent; None when the store
        could not be read (logged; `latest` keeps the last good read)."""
        async with self._lock:  # callers at once share one read
            if self._at is not None and self._clock() - self._at < self._max_age:
                return self.latest if self._ok else None
            try:
                self.latest = await asyncio.to_thread(self.read)
                self._ok = True
            except Exception as exc:  # the store is busy or gone: said, and tried next time
                log.warning("could not read the destinations' state from the store: %s", exc)
                self._ok = False
            self._at = self._clock()
            return self.latest if self._ok else None


class Counts(Protocol):
    """The running counts of this process (adapters/prometheus.py's PrometheusMetrics)."""

    def attempts(self, destination: str) -> tuple[int, int]:
        """(attempts, failed attempts) since the process started."""
        ...

    def rejections(self, source: str, reason: str) -> int: ...


class Notify(Protocol):
    """Where notifications go (notifying.Notifier): never waits."""

    def notify(self, notification: alerts.Notification) -> None: ...


def totals(counts: Counts, rules: Sequence[alerts.Rule]) -> dict[tuple[str, str], float]:
    """The running counts the windowed rules measure."""
    found: dict[tuple[str, str], float] = {}
    for rule in rules:
        if rule.metric == "failure_rate":
            attempted, failed = counts.attempts(rule.subject)
            found[(alerts.ATTEMPTS, rule.subject)] = attempted
            found[(alerts.FAILED, rule.subject)] = failed
        elif rule.metric == "rejected_signatures":
            found[(alerts.REJECTED, rule.subject)] = counts.rejections(
                rule.subject, "invalid_signature"
            )
    return found


class Monitor:
    """Evaluates the alert rules every `interval` seconds (a ports.Service of `whp serve`)."""

    def __init__(
        self,
        rules: Sequence[alerts.Rule],
        interval: float,
        readings: Readings,
        counts: Counts,
        notifier: Notify,
        clock: Clock = time.time,
    ) -> None:
        self._rules = list(rules)
        self._interval = interval
        self._readings = readings
        self._counts = counts
        self._notifier = notifier
        self._clock = clock
        self._firing: frozenset[str] = frozenset()
        self._history = alerts.History(_longest_window(self._rules))
        self._stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        # The counts at start: the first windows measure from here.
        self._history.add(self._clock(), totals(self._counts, self._rules))
        if self._rules:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="whp-alerts")

    async def stop(self) -> None:
        self._stopped.set()
        if self._task is not None:
            await self._task

    def ready(self) -> bool:
        return self._task is None or not self._task.done()

    def states(self) -> list[dict[str, str]]:
        """Each rule's name and state ("ok" or "firing"): `GET /api/stats`'s `alerts`."""
        return alerts.states(self._rules, self._firing)

    async def _run(self) -> None:
        while not self._stopped.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self._interval)
            if self._stopped.is_set():
                return
            try:
                await self.evaluate()
            except Exception:  # a bug: said, and the next evaluation goes on
                log.exception("alert evaluation failed")

    async def evaluate(self) -> list[alerts.Notification]:
        """Measure every rule and notify what changed; the notifications sent."""
        gauges = None
        if any(r.metric not in alerts.WINDOWED for r in self._rules):
            views = await self._readings.refresh()
            if views is not None:
                gauges = {v.name: alerts.Gauge(v.dead, v.oldest_pending_seconds) for v in views}
        now = self._clock()
        self._history.add(now, totals(self._counts, self._rules))
        values = alerts.measure(self._rules, gauges, self._history, now)
        self._firing, sent = alerts.evaluate(self._rules, self._firing, values, int(now * 1000))
        for notification in sent:
            level = logging.WARNING if notification.state == "firing" else logging.INFO
            log.log(level, "alert %s", notification.text())
            self._notifier.notify(notification)
        return sent


def _longest_window(rules: Sequence[alerts.Rule]) -> float:
    return max((r.window_seconds or 0.0 for r in rules), default=0.0)
