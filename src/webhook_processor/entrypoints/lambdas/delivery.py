"""The delivery function: a batch of one destination's queue -> adapters/aws/deliverer.py for
each message (the same attempt as the local worker's, recorded in the table), the messages
attempted concurrently on the container's event loop: at most `deliverer.attempts_at_once` of
the destination's `max_concurrency` at a time (N // 2; one after the other for N <= 3, so for
`max_concurrency: 1`). An invocation lasts about as long as its slowest receiver, not the sum.

A delivered message is acknowledged; a failed attempt's message has its visibility timeout set to
the retry policy's backoff and is reported in `batchItemFailures`, so SQS keeps it and hands it
back then (its receive count is the next attempt's number); the last attempt's is made visible at
once and reported, so that SQS moves it to the destination's DLQ at its next receive.

Each message runs as a task of its own, so its log lines carry its SQS message id as their
correlation id (powertools' context keys are a ContextVar, which each task has a copy of);
`Logger.set_correlation_id` would be one value for every message in flight.
"""

from __future__ import annotations

import asyncio
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

    class OnTheContainersLoop(batch.AsyncBatchProcessor):
        """powertools' AsyncBatchProcessor (its records' outcomes, its partial response), its
        records gathered on the container's loop. Its own `async_process` gathers them on
        `asyncio.get_event_loop()` when LAMBDA_TASK_ROOT is set, else in `asyncio.run` (a new
        loop for each invocation, closed after it; aws_lambda_powertools/utilities/batch/
        base.py): neither is `container.loop`, which the sender's pooled connections belong
        to, so a warm invocation would reuse connections of another loop, or of a closed one.
        This is that method's gather, run by `container.run`."""

        def async_process(self) -> list[tuple[Any, ...]]:
            async def every_record() -> list[tuple[Any, ...]]:
                return list(
                    await asyncio.gather(*(self._async_process_record(r) for r in self.records))
                )

            return container.run(every_record())

    processor = OnTheContainersLoop(
        event_type=batch.EventType.SQS, raise_on_entire_batch_failure=False
    )
    invoked = [0.0, 0.0]  # when this invocation began, and when it times out (monotonic)
    at_once: dict[str, asyncio.Semaphore] = {}  # per destination, for the container's life

    async def deliver(record: Any) -> None:
        _function.logger.thread_safe_append_keys(correlation_id=record.message_id)  # this task's
        destination = deliverer.destination_of(record.raw_event)  # a stray queue's fails alone
        if destination not in at_once:
            at_once[destination] = asyncio.Semaphore(deliverer.attempts_at_once(destination))
        async with at_once[destination]:
            done = await deliverer.deliver(record.raw_event, *invoked)
        if done.fate != "nothing to do":
            container.metrics.delivery(done.destination, done.fate)
        if not done.acknowledged:
            raise Kept(f"{done.fate}: visible again in {done.visibility} s")

    def process(event: common.Event, context: Any) -> Any:
        invoked[0] = time.monotonic()
        invoked[1] = invoked[0] + context.get_remaining_time_in_millis() / 1000
        container.metrics.messages("delivery", len(event.get("Records") or ()))
        return batch.async_process_partial_response(event, deliver, processor, context)

    return process


_function = common.Function(_build)


def handler(event: common.Event, context: Any) -> dict[str, Any]:
    """An SQS batch of a destination queue in, `{"batchItemFailures": [...]}` out."""
    answered: dict[str, Any] = _function(event, context)
    return answered
