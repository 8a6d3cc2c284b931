"""The Metrics port on prometheus-client, served at /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class PrometheusMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._accepted = Counter(
            "whp_webhooks_accepted",
            "Webhooks verified and durably stored (duplicates included, with duplicate=true).",
            ["source", "duplicate"],
            registry=registry,
        )
        self._rejected = Counter(
            "whp_webhooks_rejected",
            "Webhooks refused at ingest, by reason.",
            ["source", "reason"],
            registry=registry,
        )
        self._children: dict[tuple[str, str], Counter] = {}

    def accepted(self, source: str, duplicate: bool) -> None:
        key = (source, "true" if duplicate else "false")
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._accepted.labels(*key)
        child.inc()

    def rejected(self, source: str, reason: str) -> None:
        self._rejected.labels(source, reason).inc()
