"""CloudWatch metrics of the functions, as EMF through aws-lambda-powertools' Metrics.

Powertools' Metrics instances share one store, flushed into the invocation's log by the handler's
`log_metrics` (entrypoints/lambdas/common.py), with the cold-start metric. One invocation of
ingest is one webhook and one batch of a destination queue is one destination, so the source,
the reason of a refusal and the destination are the invocation's dimensions.

    ingest     WebhooksAccepted, WebhooksDuplicate, WebhooksRejected    source (+ reason)
    router     Messages; EventsRouted, EventsUnrouted, EventsSentDirect function
    delivery   Messages; Delivered, DeliveryAttemptsFailed,             function; destination
               DeliveriesDead
    rotation   RotationSteps                                            step
    any        SetupFailures (entrypoints/lambdas/common.py)

Every invocation counts something (powertools warns of an empty flush): an SQS function counts
the messages of its batch.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics as _Powertools
from aws_lambda_powertools.metrics import MetricUnit

from webhook_processor import models

DELIVERY_METRICS = {
    "delivered": "Delivered",
    "retry": "DeliveryAttemptsFailed",
    "dead": "DeliveriesDead",
    "busy": "DeliveriesWaitedForLease",  # max_concurrency: 1, the lease not free in time
}


class Metrics:
    """ports.Metrics for ingest, and the router's and delivery function's counts."""

    def __init__(self, metrics: Any | None = None) -> None:
        self._metrics = metrics if metrics is not None else _Powertools()

    def _count(self, name: str, **dimensions: str) -> None:
        for key, value in dimensions.items():  # the same value again is no change
            self._metrics.add_dimension(name=key, value=value)
        self._metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)

    # ports.Metrics
    def accepted(self, source: str, duplicate: bool) -> None:
        self._count("WebhooksDuplicate" if duplicate else "WebhooksAccepted", source=source)

    def rejected(self, source: str, reason: str) -> None:
        self._count("WebhooksRejected", source=source, reason=reason)

    def answered(self, source: str, seconds: float) -> None:
        self._metrics.add_metric(
            name="IngestDuration", unit=MetricUnit.Milliseconds, value=seconds * 1000
        )

    def attempted(
        self, destination: str, outcome: models.Outcome, seconds: float, latency: float | None
    ) -> None:
        """The attempt's duration, and when it delivered, the time since the event was received
        (its count is `delivered`'s, by the delivery function)."""
        self._metrics.add_metric(
            name="DeliveryAttemptDuration", unit=MetricUnit.Milliseconds, value=seconds * 1000
        )
        if latency is not None:
            self._metrics.add_metric(
                name="DeliveryLatency", unit=MetricUnit.Milliseconds, value=latency * 1000
            )

    def messages(self, function: str, count: int) -> None:
        self._metrics.add_dimension(name="function", value=function)
        self._metrics.add_metric(name="Messages", unit=MetricUnit.Count, value=count)

    def rotation_step(self, step: str) -> None:
        self._count("RotationSteps", step=step)

    def routed(self, outcome: str, direct: bool) -> None:
        if outcome == "routed":
            self._count("EventsSentDirect" if direct else "EventsRouted")
        elif outcome == "unrouted":
            self._count("EventsUnrouted")

    def delivery(self, destination: str, outcome: str) -> None:
        self._count(DELIVERY_METRICS[outcome], destination=destination)
