"""The AWS implementations in the contract suites: the DynamoDB event store and ports.Operations
on the table, on moto, each test with a table and queues of its own (`create`).

The harnesses write through the AWS adapters' own paths, as the functions do (tests/aws/
test_flow.py): ingest is EventStore.add, the router takes the ingest queue's messages
(Records.start: a replay's round begins there) and records the routing (Records.route), and the
delivery function begins an attempt (Records.begin) and records it (Records.record), numbered as
SQS's receive count would number it."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from tests.aws import faults, layout
from webhook_processor import models, ports
from webhook_processor.adapters.aws import dynamodb, operations, records, sqs

from .harness import NOW

RETENTION_DAYS = 7
# The destinations the suites route to: on AWS these are the config's (a destination queue
# each), which Operations lists and redrives to.
DESTINATIONS = ("orders", "audit")
_serial = itertools.count(1)


@dataclass(frozen=True)
class Resources:
    """One test's table and queues (the session's bucket is shared: keys are event ids)."""

    aws: layout.Aws
    table: str
    bucket: str
    ingest_url: str
    queue_urls: dict[str, str] = field(default_factory=dict)


def create(aws: layout.Aws, bucket: str) -> Resources:
    n = next(_serial)
    table = f"contract-{n}-events"
    layout.create_table(aws.dynamodb(), table)
    client = aws.sqs()
    ingest = client.create_queue(QueueName=f"contract-{n}-ingest")["QueueUrl"]
    urls = {
        d: client.create_queue(QueueName=f"contract-{n}-d-{d}")["QueueUrl"] for d in DESTINATIONS
    }
    return Resources(aws, table, bucket, ingest, urls)


def delete(made: Resources) -> None:
    """Keeps moto small: a queue's receives slow down as it grows."""
    made.aws.dynamodb().delete_table(TableName=made.table)
    client = made.aws.sqs()
    for url in (made.ingest_url, *made.queue_urls.values()):
        client.delete_queue(QueueUrl=url)


def _table(made: Resources) -> dynamodb.Table:
    return dynamodb.Table(made.table, made.bucket, made.aws.dynamodb(), made.aws.s3())


def _ingest(made: Resources) -> sqs.Queue:
    return sqs.Queue(made.ingest_url, made.aws.sqs(), sleep=lambda _: None)


class DynamoStore:
    """The EventStore harness: the store and what an operator reads back (Operations.event)."""

    def __init__(self, made: Resources) -> None:
        self._table = _table(made)
        self.store: ports.EventStore = dynamodb.EventStore(
            self._table, _ingest(made), RETENTION_DAYS
        )
        self._ops = operations.Operations(self._table, RETENTION_DAYS, clock=lambda: NOW / 1000)

    def add(self, *made: models.Event) -> list[models.Stored]:
        async def requests() -> list[models.Stored]:
            return list(await asyncio.gather(*(self.store.add(e) for e in made)))

        return asyncio.run(requests())

    def read(self, event_id: str) -> models.Event | None:
        return self._ops.event(event_id)

    @contextlib.contextmanager
    def broken(self) -> Iterator[None]:
        """The table takes no event (throttled, or DynamoDB unavailable): its first write, the
        payload's, fails."""
        writes = faults.fail(self._table.dynamodb, "PutItem", times=None)
        try:
            yield
        finally:
            writes.remove()

    def close(self) -> None:
        pass


class DynamoHarness:
    """The Operations harness (tests/contract/harness.py) on the AWS runtime's table."""

    runtime = "aws"

    def __init__(self, made: Resources) -> None:
        table = _table(made)
        self._sqs = made.aws.sqs()
        self._ingest = _ingest(made)
        self._store = dynamodb.EventStore(table, self._ingest, RETENTION_DAYS)
        self.records = records.Records(table)
        self.ops: ports.Operations = operations.Operations(
            table,
            RETENTION_DAYS,
            destinations=DESTINATIONS,
            ingest=self._ingest,
            queue_for=lambda name: sqs.Queue(made.queue_urls[name], self._sqs),
            clock=lambda: NOW / 1000,
        )

    def add(self, event: models.Event) -> None:
        self._store.add_now(event)

    def catch_up(self) -> None:
        """The router takes every message of the ingest queue: a replay's round begins."""
        for message in layout.raw_messages(self._sqs, self._ingest.url):
            self.records.start(message, body=False)

    def route(self, event_id: str, targets: Sequence[tuple[str, str]], at: int = NOW) -> None:
        self.catch_up()
        loaded = self.records.load(event_id, body=False)
        assert loaded is not None, f"{event_id} is not in the table"
        assert self.records.route(loaded, targets, at)

    def start_attempt(self, event_id: str, route: str, at: int) -> records.Tracked:
        loaded = self.records.load(event_id, body=False)
        assert loaded is not None
        current = self.records.delivery(event_id, loaded.round, route)
        assert current is not None, f"{event_id} has no delivery of {route}"
        tracked = self.records.begin(loaded, route, current.generation, at)
        assert tracked is not None, "the delivery is not pending"
        return tracked

    def attempt(
        self, event_id: str, route: str, status: int | None, error: str | None, dead: bool, at: int
    ) -> None:
        tracked = self.start_attempt(event_id, route, at)
        outcome: models.Outcome = "delivered" if error is None else "dead" if dead else "retry"
        number = tracked.delivery.attempts + 1  # the receive count, when none crashed
        attempt = models.Attempt(number, at, 12, status, error, "nope" if error else None)
        self.records.record(
            tracked, attempt, outcome, at, next_attempt_ms=at if outcome == "retry" else None
        )

    def close(self) -> None:
        pass
