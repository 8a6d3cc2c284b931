"""What entrypoints/lambdas/delivery.py reaches into in powertools' batch utility: its
AsyncBatchProcessor subclass replaces `async_process` (to gather the records on the container's
loop) and calls `_async_process_record` per record. If this fails, powertools changed them: the
message names what. Admit no powertools release in pyproject.toml that this has not passed on."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from aws_lambda_powertools.utilities import batch


def test_the_batch_internals_the_delivery_function_uses_are_there() -> None:
    cls = batch.AsyncBatchProcessor
    assert callable(getattr(cls, "async_process", None)), "AsyncBatchProcessor has no async_process"
    method = getattr(cls, "_async_process_record", None)
    assert inspect.iscoroutinefunction(method), (
        "no coroutine AsyncBatchProcessor._async_process_record"
    )
    source = inspect.getsource(batch.async_process_partial_response)
    assert "processor.async_process()" in source, (
        "async_process_partial_response no longer calls it"
    )


def test_an_override_of_async_process_is_what_processes_the_batch() -> None:
    """The partial response comes from powertools, the gathering from the override."""
    loop = asyncio.new_event_loop()
    gathered: list[int] = []

    class OnOurLoop(batch.AsyncBatchProcessor):
        def async_process(self) -> list[tuple[Any, ...]]:
            async def every() -> list[tuple[Any, ...]]:
                gathered.append(len(self.records))
                return list(
                    await asyncio.gather(*(self._async_process_record(r) for r in self.records))
                )

            return loop.run_until_complete(every())

    async def handler(record: Any) -> None:
        if record.body == "bad":
            raise ValueError("bad")

    records = [
        {"messageId": f"m{i}", "body": body, "receiptHandle": "r", "attributes": {},
         "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
         "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"}
        for i, body in enumerate(["ok", "bad", "ok"])
    ]  # fmt: skip
    processor = OnOurLoop(event_type=batch.EventType.SQS, raise_on_entire_batch_failure=False)
    try:
        answer = batch.async_process_partial_response({"Records": records}, handler, processor)
    finally:
        loop.close()
    assert gathered == [3]
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
