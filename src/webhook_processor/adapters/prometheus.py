"""The Metrics port on prometheus-client, served at /metrics.

Counting happens on the hot paths (every webhook, every delivery attempt), so it is a plain dict
increment, and a histogram's observation a bisect and two additions into a list (`Buckets`);
the registry reads them at scrape time through a custom collector. prometheus_client's own
Counter and Histogram take a lock on every call, which this process does not need: the event
loop's thread makes every call, and the scrape runs on it too. bench/metrics_cost.py measures
both ways.

Label values are bounded: sources and destinations are the config's (an unknown name is
"(unknown)"), reasons are error codes, outcomes the three of models.Outcome. The gauges of the
deliveries come from the store, read at most once a second (`refresh`, before a scrape).

    whp_webhooks_received_total{source}          every answered webhook (the next three summed)
    whp_webhooks_accepted_total{source}          stored (202)
    whp_webhooks_duplicates_total{source}        a repeated idempotency key (200)
    whp_webhooks_rejected_total{source,reason}   refused, by error code
    whp_ingest_duration_seconds{source}          request received -> answer sent (histogram)
    whp_delivery_attempts_total{destination,outcome}   delivered | retry | dead
    whp_delivery_attempt_duration_seconds{destination} one attempt (histogram)
    whp_delivery_latency_seconds{destination}    event received -> delivered (histogram)
    whp_deliveries_pending / _in_flight / _dead{destination}     now, from the store
    whp_oldest_pending_delivery_age_seconds{destination}         likewise
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from webhook_processor import models, services

UNKNOWN = "(unknown)"
OUTCOMES: tuple[models.Outcome, ...] = ("delivered", "retry", "dead")
# Seconds. Ingest answers in about a millisecond unless the disk is slow; an attempt takes what
# its receiver takes, up to its timeout (15 s by default); the latency of a delivery includes
# its retries, whose backoff reaches hours.
INGEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
ATTEMPT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0)
LATENCY_BUCKETS = (
    *(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
    *(300.0, 900.0, 3600.0, 4 * 3600.0, 24 * 3600.0),
)
LabelValues = TypeVar("LabelValues", bound=tuple[str, ...])
Views = Callable[[], Sequence[services.operations.DestinationView]]


class Buckets:
    """One histogram's counts, per bucket (not cumulative: `observe` touches one), and its sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one: above every bound (+Inf)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        # bisect_left: a value equal to a bound belongs to that bound's bucket (le = "<=").
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    def cumulative(self) -> list[tuple[str, float]]:
        """Prometheus's buckets: (le, observations <= le), +Inf last."""
        out: list[tuple[str, float]] = []
        total = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            total += count
            out.append((_le(bound), total))
        return out


class Histograms:
    """Buckets by label value, made on first use."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self._bounds = tuple(bounds)
        self.by: dict[str, Buckets] = {}

    def observe(self, label: str, value: float) -> None:
        found = self.by.get(label)
        if found is None:
            found = self.by[label] = Buckets(self._bounds)
        found.observe(value)


class PrometheusMetrics(Collector):
    def __init__(
        self,
        registry: CollectorRegistry,
        destinations: Collection[str] = (),
        views: Views | None = None,
    ) -> None:
        """`destinations`: the names attempts are counted under (others: "(unknown)"); `views`
        the destinations' state, read at scrape time (refreshed by whoever caches it)."""
        self._accepted: Counter[str] = Counter()
        self._duplicates: Counter[str] = Counter()
        self._rejected: Counter[tuple[str, str]] = Counter()
        self._ingest = Histograms(INGEST_BUCKETS)
        self._attempts: Counter[tuple[str, models.Outcome]] = Counter()
        self._attempt_seconds = Histograms(ATTEMPT_BUCKETS)
        self._latency = Histograms(LATENCY_BUCKETS)
        self._destinations = frozenset(destinations)
        self._views = views
        registry.register(self)

    def configure(self, destinations: Collection[str]) -> None:
        """The destinations of a reloaded config. Series counted so far stay, as counters must."""
        self._destinations = frozenset(destinations)

    # -- the port (ports.Metrics) ---------------------------------------------------------------

    def accepted(self, source: str, duplicate: bool) -> None:
        if duplicate:
            self._duplicates[source] += 1
        else:
            self._accepted[source] += 1

    def rejected(self, source: str, reason: str) -> None:
        self._rejected[(source, reason)] += 1

    def answered(self, source: str, seconds: float) -> None:
        self._ingest.observe(source, seconds)

    def attempted(
        self, destination: str, outcome: models.Outcome, seconds: float, latency: float | None
    ) -> None:
        if destination not in self._destinations:
            destination = UNKNOWN
        self._attempts[(destination, outcome)] += 1
        self._attempt_seconds.observe(destination, seconds)
        if latency is not None:
            self._latency.observe(destination, latency)

    # -- what the alert rules measure -----------------------------------------------------------

    def attempts(self, destination: str) -> tuple[int, int]:
        """(attempts, failed attempts) to `destination` since the process started."""
        counts = [self._attempts[(destination, outcome)] for outcome in OUTCOMES]
        return sum(counts), counts[1] + counts[2]

    def rejections(self, source: str, reason: str) -> int:
        return self._rejected[(source, reason)]

    # -- the scrape -----------------------------------------------------------------------------

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        yield from self._ingest_families()
        yield from self._delivery_families()
        if self._views is not None:
            yield from _gauges(self._views())

    def _ingest_families(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        received: Counter[str] = Counter()
        received.update(self._accepted)
        received.update(self._duplicates)
        for (source, _), count in self._rejected.items():
            received[source] += count
        yield _counter(
            "whp_webhooks_received",
            "Webhooks answered at /webhooks/{source}: accepted, duplicates and rejected "
            '(under "(unknown)" too: requests refused before their source was known).',
            ["source"],
            {(s,): n for s, n in received.items()},
        )
        yield _counter(
            "whp_webhooks_accepted",
            "Webhooks verified and durably stored (answered 202).",
            ["source"],
            {(s,): n for s, n in self._accepted.items()},
        )
        yield _counter(
            "whp_webhooks_duplicates",
            "Webhooks whose idempotency key was stored before (answered 200, not stored again).",
            ["source"],
            {(s,): n for s, n in self._duplicates.items()},
        )
        yield _counter(
            "whp_webhooks_rejected",
            "Webhooks refused, by reason (the error code of the answer).",
            ["source", "reason"],
            self._rejected,
        )
        yield _histogram(
            "whp_ingest_duration_seconds",
            "From a webhook's request received to its answer sent.",
            "source",
            self._ingest,
        )

    def _delivery_families(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        yield _counter(
            "whp_delivery_attempts",
            "Delivery attempts, by what they led to: delivered (2xx), retry (failed, attempted "
            "again later) or dead (failed, and the delivery is in the dead-letter queue).",
            ["destination", "outcome"],
            self._attempts,
        )
        yield _histogram(
            "whp_delivery_attempt_duration_seconds",
            "One delivery attempt, from its request's start to its answer (or failure).",
            "destination",
            self._attempt_seconds,
        )
        yield _histogram(
            "whp_delivery_latency_seconds",
            "From a webhook's receipt to its successful delivery, retries included (a replayed "
            "or redriven delivery counts from the original receipt).",
            "destination",
            self._latency,
        )


def _le(bound: float) -> str:
    text: str = floatToGoString(bound)  # type: ignore[no-untyped-call]
    return text


def _counter(
    name: str, doc: str, labels: list[str], counts: Mapping[LabelValues, int]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=labels)
    for values, count in sorted(counts.items()):
        family.add_metric(list(values), count)
    return family


def _histogram(name: str, doc: str, label: str, histograms: Histograms) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=[label])
    for value, buckets in sorted(histograms.by.items()):
        family.add_metric([value], buckets.cumulative(), buckets.sum)
    return family


def _gauges(views: Sequence[services.operations.DestinationView]) -> Iterator[GaugeMetricFamily]:
    pending = GaugeMetricFamily(
        "whp_deliveries_pending",
        "Deliveries waiting to be delivered (in flight included).",
        labels=["destination"],
    )
    in_flight = GaugeMetricFamily(
        "whp_deliveries_in_flight", "Deliveries being attempted now.", labels=["destination"]
    )
    dead = GaugeMetricFamily(
        "whp_deliveries_dead",
        "Deliveries in the dead-letter queue (until redriven).",
        labels=["destination"],
    )
    oldest = GaugeMetricFamily(
        "whp_oldest_pending_delivery_age_seconds",
        "How long the oldest pending delivery has waited (0: none is pending).",
        labels=["destination"],
    )
    for view in sorted(views, key=lambda v: v.name):
        pending.add_metric([view.name], view.pending)
        in_flight.add_metric([view.name], view.in_flight)
        dead.add_metric([view.name], view.dead)
        oldest.add_metric([view.name], view.oldest_pending_seconds or 0.0)
    yield from (pending, in_flight, dead, oldest)
