"""Pausing a destination on AWS: its queue's event source mapping on the delivery function.

`whp destinations pause NAME --backend aws` disables the mapping from the destination's queue to
the delivery function's `live` alias: Lambda stops receiving from the queue, whose messages wait
(14 days' retention, docs/aws.md) and keep their receive counts, so a pause uses up no attempt.
An invocation already under way finishes its batch. `resume` enables the mapping again.

The mapping is found by listing the mappings of the queue's ARN and keeping the one whose
FunctionArn is the delivery function's (its `live` alias, else any qualifier of it):
ListEventSourceMappings filters on the literal FunctionName a mapping was made with, so a
mapping made on the alias's ARN is not found by the function's name (moto and AWS alike).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from webhook_processor import errors
from webhook_processor.adapters.aws import clients
from webhook_processor.adapters.aws.dynamodb import unavailable as _unavailable

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_sqs import SQSClient

ALIAS = "live"


class Mappings:
    def __init__(
        self,
        function_name: str,
        queue_urls: dict[str, str],
        client: LambdaClient | None = None,
        sqs_client: SQSClient | None = None,
    ) -> None:
        """`function_name`: the delivery function; `queue_urls`: each destination's queue."""
        self._function = function_name
        self._queue_urls = dict(queue_urls)
        self._client = client if client is not None else clients.lambda_()
        self._sqs = sqs_client if sqs_client is not None else clients.sqs()

    def set_enabled(self, destination: str, enabled: bool) -> None:
        uuid = self.find(destination)
        with _unavailable(f"{'resuming' if enabled else 'pausing'} {destination}"):
            self._client.update_event_source_mapping(UUID=uuid, Enabled=enabled)

    def enabled(self, destination: str) -> bool:
        uuid = self.find(destination)
        with _unavailable(f"reading the event source mapping of {destination}"):
            state = self._client.get_event_source_mapping(UUID=uuid).get("State", "")
        return state in ("Enabled", "Enabling", "Updating")

    def find(self, destination: str) -> str:
        """The UUID of the mapping from `destination`'s queue to the delivery function."""
        url = self._queue_urls.get(destination)
        if url is None:
            raise errors.NotFound(f"no queue of destination {destination!r} in the outputs")
        with _unavailable(f"reading the queue of {destination}"):
            arn = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
        found = []
        with _unavailable("listing the event source mappings"):
            for page in self._client.get_paginator("list_event_source_mappings").paginate(
                EventSourceArn=arn
            ):
                found += [
                    m
                    for m in page.get("EventSourceMappings", [])
                    if self._ours(m.get("FunctionArn", "")) and m.get("EventSourceArn") == arn
                ]
        if not found:
            raise errors.NotFound(
                f"no event source mapping from {arn} to {self._function} (:{ALIAS}); is the "
                "deployment's delivery function named so?"
            )
        live = [m for m in found if m.get("FunctionArn", "").endswith(f":{ALIAS}")]
        return str((live or found)[0]["UUID"])

    def _ours(self, function_arn: str) -> bool:
        """The delivery function, unqualified or with a qualifier: AWS gives the alias's ARN
        for a mapping made on `live`, moto the version's the alias pointed to."""
        name = function_arn.split(":function:", 1)[-1]
        return name.partition(":")[0] == self._function
