"""The Metrics port on prometheus-client, served at /metrics.

Counting happens on the ingest hot path, so it is a plain dict increment; the registry reads the
counts at scrape time through a custom collector, instead of a locked Counter call per request."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector


class PrometheusMetrics(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self._accepted: Counter[tuple[str, bool]] = Counter()
        self._rejected: Counter[tuple[str, str]] = Counter()
        registry.register(self)

    def accepted(self, source: str, duplicate: bool) -> None:
        self._accepted[(source, duplicate)] += 1

    def rejected(self, source: str, reason: str) -> None:
        self._rejected[(source, reason)] += 1

    def collect(self) -> Iterator[CounterMetricFamily]:
        accepted = CounterMetricFamily(
            "whp_webhooks_accepted",
            "Webhooks verified and durably stored (duplicates included, with duplicate=true).",
            labels=["source", "duplicate"],
        )
        for (source, duplicate), count in sorted(self._accepted.items()):
            accepted.add_metric([source, "true" if duplicate else "false"], count)
        rejected = CounterMetricFamily(
            "whp_webhooks_rejected",
            "Webhooks refused at ingest, by reason.",
            labels=["source", "reason"],
        )
        for (source, reason), count in sorted(self._rejected.items()):
            rejected.add_metric([source, reason], count)
        yield accepted
        yield rejected
