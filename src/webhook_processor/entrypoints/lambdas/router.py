"""The router function: a batch of the ingest queue -> adapters/aws/router.py for each message
(match with the shared pattern code, record routed/unrouted and the deliveries, PutEvents).

`ReportBatchItemFailures` (powertools' BatchProcessor): a message that fails is left to SQS, and
only it is received again (five receives, then the ingest queue's DLQ), never the whole batch.
Messages are routed one after the other; each is idempotent on its event id.
"""

from __future__ import annotations

from typing import Any

from webhook_processor.entrypoints.lambdas import common


def _build() -> common.Handler:
    from aws_lambda_powertools.utilities import batch  # noqa: PLC0415 - the first invocation's

    from webhook_processor.bootstrap import aws  # noqa: PLC0415

    container = aws.container()
    routing = container.router()
    processor = batch.BatchProcessor(
        event_type=batch.EventType.SQS, raise_on_entire_batch_failure=False
    )

    def route(record: Any) -> None:
        _function.logger.set_correlation_id(record.message_id)
        routed = routing.route(record.body)
        container.metrics.routed(routed.outcome, routed.direct)
        _function.logger.info(
            "event %s", routed.outcome, extra={"event_id": routed.event_id, "n": routed.deliveries}
        )

    def process(event: common.Event, context: Any) -> Any:
        container.metrics.messages("router", len(event.get("Records") or ()))
        return batch.process_partial_response(event, route, processor, context)

    return process


_function = common.Function(_build)


def handler(event: common.Event, context: Any) -> dict[str, Any]:
    """An SQS batch in, `{"batchItemFailures": [...]}` out."""
    answered: dict[str, Any] = _function(event, context)
    return answered
