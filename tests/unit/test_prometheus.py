"""The metrics as Prometheus scrapes them (adapters/prometheus.py): names, labels, bucket
boundaries, and label values that stay bounded whatever the store holds."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from webhook_processor import services
from webhook_processor.adapters import prometheus


def scrape(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, parsed by prometheus_client's own parser."""
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_webhooks_are_counted_by_source_and_reason_and_received_is_their_sum() -> None:
    registry = CollectorRegistry()
    metrics = prometheus.PrometheusMetrics(registry)
    metrics.accepted("github", duplicate=False)
    metrics.accepted("github", duplicate=False)
    metrics.accepted("github", duplicate=True)
    metrics.rejected("github", "invalid_signature")
    metrics.rejected("(unknown)", "unknown_source")
    found = scrape(registry)
    assert found[("whp_webhooks_accepted_total", (("source", "github"),))] == 2
    assert found[("whp_webhooks_duplicates_total", (("source", "github"),))] == 1
    assert (
        found[
            (
                "whp_webhooks_rejected_total",
                (("reason", "invalid_signature"), ("source", "github")),
            )
        ]
        == 1
    )
    assert found[("whp_webhooks_received_total", (("source", "github"),))] == 4
    assert found[("whp_webhooks_received_total", (("source", "(unknown)"),))] == 1


def test_a_histogram_has_cumulative_buckets_and_a_value_on_a_bound_is_in_its_bucket() -> None:
    registry = CollectorRegistry()
    metrics = prometheus.PrometheusMetrics(registry)
    for seconds in (0.0002, 0.001, 0.003, 7.0):  # 0.001 is a bound: le="0.001" holds it
        metrics.answered("github", seconds)
    found = scrape(registry)

    def bucket(le: str) -> float:
        return found[("whp_ingest_duration_seconds_bucket", (("le", le), ("source", "github")))]

    assert bucket("0.0005") == 1
    assert bucket("0.001") == 2
    assert bucket("0.0025") == 2
    assert bucket("0.005") == 3
    assert bucket("5.0") == 3
    assert bucket("+Inf") == 4
    assert found[("whp_ingest_duration_seconds_count", (("source", "github"),))] == 4
    assert found[("whp_ingest_duration_seconds_sum", (("source", "github"),))] == (
        0.0002 + 0.001 + 0.003 + 7.0
    )


def test_attempts_are_counted_under_configured_destinations_only() -> None:
    """A delivery to a destination since removed from the config (dead at once) must not add a
    series of its own: the label values are the config's names and "(unknown)"."""
    registry = CollectorRegistry()
    metrics = prometheus.PrometheusMetrics(registry, ["orders"])
    metrics.attempted("orders", "retry", 0.2, None)
    metrics.attempted("orders", "delivered", 0.02, 12.5)
    metrics.attempted("gone", "dead", 0.0, None)
    found = scrape(registry)
    attempts = {
        labels: value
        for (name, labels), value in found.items()
        if name == "whp_delivery_attempts_total"
    }
    assert attempts == {
        (("destination", "orders"), ("outcome", "retry")): 1,
        (("destination", "orders"), ("outcome", "delivered")): 1,
        (("destination", "(unknown)"), ("outcome", "dead")): 1,
    }
    orders = (("destination", "orders"),)
    assert found[("whp_delivery_attempt_duration_seconds_count", orders)] == 2
    assert found[("whp_delivery_latency_seconds_count", orders)] == 1
    assert found[("whp_delivery_latency_seconds_bucket", (*orders, ("le", "10.0")))] == 0
    assert found[("whp_delivery_latency_seconds_bucket", (*orders, ("le", "30.0")))] == 1
    # the failure rate the alert rules read: 1 failed of 2
    assert metrics.attempts("orders") == (2, 1)
    metrics.configure(["orders", "gone"])  # a reload brings it back
    metrics.attempted("gone", "delivered", 0.1, 1.0)
    found = scrape(registry)
    gone = (("destination", "gone"), ("outcome", "delivered"))
    assert found[("whp_delivery_attempts_total", gone)] == 1


def test_the_deliveries_gauges_are_the_store_s_destinations() -> None:
    views = [
        services.operations.DestinationView("orders", "http://x", (), 5, 2, 1, 42.5),
        services.operations.DestinationView("billing", "http://y", ("config",), 0, 0, 0, None),
    ]
    registry = CollectorRegistry()
    prometheus.PrometheusMetrics(registry, ["orders", "billing"], lambda: views)
    found = scrape(registry)
    orders, billing = (("destination", "orders"),), (("destination", "billing"),)
    assert found[("whp_deliveries_pending", orders)] == 5
    assert found[("whp_deliveries_dead", orders)] == 2
    assert found[("whp_deliveries_in_flight", orders)] == 1
    assert found[("whp_oldest_pending_delivery_age_seconds", orders)] == 42.5
    assert found[("whp_oldest_pending_delivery_age_seconds", billing)] == 0
