"""What counting costs on the ingest hot path: per call, whp's metrics (adapters/prometheus.py:
dict increments, and histograms kept as bucket counts in a list) against prometheus_client's own
Counter and Histogram (a lock per call), and the whole of what a webhook pays for its metrics.

    .venv/bin/python -m bench.metrics_cost [--calls 1000000] [--repeat 5]

A micro-benchmark: one core, a few seconds, no server; the median of `--repeat` runs of
`--calls` calls each, in nanoseconds per call. Exit status 0.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram

from webhook_processor.adapters import prometheus


def per_call_ns(fn: Callable[[], None], calls: int, repeat: int) -> float:
    """The median over `repeat` runs of the time per call of `fn`, the loop's own cost taken
    off (measured with a call that does nothing)."""

    def run(target: Callable[[], None]) -> float:
        started = time.perf_counter_ns()
        for _ in range(calls):
            target()
        return (time.perf_counter_ns() - started) / calls

    def nothing() -> None:
        pass

    loop = statistics.median(run(nothing) for _ in range(repeat))
    return max(0.0, statistics.median(run(fn) for _ in range(repeat)) - loop)


def cases() -> dict[str, Callable[[], None]]:
    ours = prometheus.PrometheusMetrics(CollectorRegistry(), ["orders"])
    registry = CollectorRegistry()
    counter = Counter("c", "c", ["source"], registry=registry)
    histogram = Histogram(
        "h", "h", ["source"], buckets=prometheus.INGEST_BUCKETS, registry=registry
    )
    bound_counter = counter.labels("github")
    bound_histogram = histogram.labels("github")
    clock = time.perf_counter

    def webhook() -> None:
        # What a webhook's answer adds, as web.py and services/ingest.py do it: the two clock
        # readings around it, the count of its outcome, the observation of its duration.
        started = clock()
        ours.accepted("github", False)
        ours.answered("github", clock() - started)

    return {
        "whp: accepted (dict increment)": lambda: ours.accepted("github", False),
        "whp: answered (histogram observe)": lambda: ours.answered("github", 0.0012),
        "whp: attempted (count + 2 histograms)": lambda: ours.attempted(
            "orders", "delivered", 0.02, 0.4
        ),
        "whp: one webhook's metrics, clocks included": webhook,
        "prometheus_client: Counter.labels().inc()": lambda: counter.labels("github").inc(),
        # Each case one call of a lambda, as the loop's baseline: the same frame for all.
        "prometheus_client: bound Counter.inc()": lambda: bound_counter.inc(),  # noqa: PLW0108
        "prometheus_client: Histogram.labels().observe()": lambda: histogram.labels(
            "github"
        ).observe(0.0012),
        "prometheus_client: bound Histogram.observe()": lambda: bound_histogram.observe(0.0012),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"Python {sys.version.split()[0]}; median of {args.repeat} x {args.calls:,} calls")
    for name, fn in cases().items():
        print(f"  {name:<50} {per_call_ns(fn, args.calls, args.repeat):7.0f} ns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
