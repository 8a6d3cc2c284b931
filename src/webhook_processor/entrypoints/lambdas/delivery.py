"""The delivery function: a batch of one destination's queue -> adapters/aws/deliverer.py for
each message, one after the other (the same attempt as the local worker's, recorded in the
table).

A delivered message is acknowledged; a failed attempt's message has its visibility timeout set to
the retry policy's backoff and is reported in `batchItemFailures`, so SQS keeps it and hands it
back then (its receive count is the next attempt's number); the last attempt's is made visible at
once and reported, so that SQS moves it to the destination's DLQ at its next receive.
"""

from __future__ import annotations

import time
from typing import Any

from webhook_processor.entrypoints.lambdas import common


class Kept(Exception):  # not an error: the message stays in its queue
    """The message is left to SQS: retried after its new visibility timeout, or moved to DLQ."""


def _build() -> common.Handler:
    from aws_lambda_powertools.utilities import batch  # noqa: PLC0415 - the first invocation's

    from webhook_processor.bootstrap import aws  # noqa: PLC0415

    container = aws.container()
    deliverer = container.deliverer()
    processor = batch.BatchProcessor(
        event_type=batch.EventType.SQS, raise_on_entire_batch_failure=False
    )
    invoked = [0.0, 0.0]  # when this invocation began, and when it times out (monotonic)

    def deliver(record: Any) -> None:
        _function.logger.set_correlation_id(record.message_id)
        done = container.run(deliverer.deliver(record.raw_event, *invoked))
        if done.fate != "nothing to do":
            container.metrics.delivery(done.destination, done.fate)
        if not done.acknowledged:
            raise Kept(f"{done.fate}: visible again in {done.visibility} s")

    def process(event: common.Event, context: Any) -> Any:
        invoked[0] = time.monotonic()
        invoked[1] = invoked[0] + context.get_remaining_time_in_millis() / 1000
        container.metrics.messages("delivery", len(event.get("Records") or ()))
        return batch.process_partial_response(event, deliver, processor, context)

    return process


_function = common.Function(_build)


def handler(event: common.Event, context: Any) -> dict[str, Any]:
    """An SQS batch of a destination queue in, `{"batchItemFailures": [...]}` out."""
    answered: dict[str, Any] = _function(event, context)
    return answered
