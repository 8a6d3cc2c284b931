"""The event store on DynamoDB (ports.EventStore), with the hand-off to the ingest queue.

An event is acknowledged (2xx) only once its record is in the table *and* its id is in the ingest
queue, and a duplicate is acknowledged only once its first event is: a duplicate whose first
event is still `pending` (not routed yet) sends that event's id again before it answers, so a
provider's retry repairs a first request that stored the event but never queued it.

    ingest A (key k)      put body -> transact [key k: A | event A] -> send A -> 202
    crash after the put   (no answer: the provider retries, same key)
    retry B (key k)       transact fails: key k is A's, A is pending -> send A -> 200 duplicate
    SQS down at the send  503; A stays pending; the retry sends A as above
    no key, send fails    event A deleted (best effort) -> 503; the retry is a new event

The router is idempotent on the event id, so a message sent twice (a retry racing the first
request, or coming while A waits in the queue) routes the event once. Nothing is written to say
"queued": that would cost a write per webhook, where this costs a read per duplicate. An event
whose provider never retries after a 503 or a crash stays `pending`: never acknowledged, so
nothing acknowledged is lost; it expires with the retention and `whp replay` routes it if wanted.

The store's calls are synchronous boto3 calls made from `add`'s coroutine: a Lambda invocation
handles one request, so there is no other work on its loop to wait.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from webhook_processor import errors, models
from webhook_processor.adapters.aws import clients, items, sqs

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)


@contextmanager
def unavailable(what: str) -> Iterator[None]:
    """AWS failures inside become StoreUnavailable (503 / exit 3), naming what was attempted."""
    try:
        yield
    except clients.FAILURES as exc:
        raise errors.StoreUnavailable(f"{what}: {clients.describe(exc)}") from None


def cancellation_codes(exc: BaseException) -> list[str]:
    """The per-item reasons of a cancelled TransactWriteItems ('None' for items that were fine)."""
    if not isinstance(exc, botocore.exceptions.ClientError):
        return []
    if clients.error_code(exc) != "TransactionCanceledException":
        return []
    reasons = exc.response.get("CancellationReasons", [])
    return [str(r.get("Code", "None")) for r in reasons]


class Table:
    """The events table and the bucket of large bodies: the calls every AWS adapter shares."""

    def __init__(
        self,
        name: str,
        bucket: str,
        dynamodb: DynamoDBClient | None = None,
        s3: S3Client | None = None,
    ) -> None:
        self.name = name
        self.bucket = bucket
        self.dynamodb = dynamodb if dynamodb is not None else clients.dynamodb()
        self._s3 = s3

    @property
    def s3(self) -> S3Client:
        """Made at first use: most invocations never touch a large body."""
        if self._s3 is None:
            self._s3 = clients.s3()
        return self._s3

    def get(self, key: items.Item, consistent: bool = False) -> items.Item | None:
        with unavailable(f"reading {key['pk']['S']} from {self.name}"):
            got = self.dynamodb.get_item(TableName=self.name, Key=key, ConsistentRead=consistent)
        return got.get("Item")

    def query(self, **kwargs: Any) -> Iterator[items.Item]:
        """Every item of a query, page after page."""
        kwargs["TableName"] = self.name
        while True:
            with unavailable(f"querying {self.name}"):
                page = self.dynamodb.query(**kwargs)
            yield from page.get("Items", [])
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def event_items(self, event_id: str) -> tuple[items.Item | None, items.Item | None]:
        """An event's metadata and body items, in one query."""
        found = self.query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :event)",
            ExpressionAttributeValues={
                ":pk": items.s(items.event_pk(event_id)),
                ":event": items.s(items.EVENT_SK),
            },
        )
        by_sk = {item["sk"]["S"]: item for item in found}
        return by_sk.get(items.EVENT_SK), by_sk.get(items.BODY_SK)

    def load_event(
        self, event_id: str, body: bool = True
    ) -> tuple[items.Item, models.Event] | None:
        """An event's metadata item and the event, with headers and body unless `body` is
        False; None when there is no such event (or it expired)."""
        if body:
            meta, stored = self.event_items(event_id)
        else:
            meta = self.get(items.event_key(event_id))
            stored = None
        if meta is None:
            return None
        event = items.event_from_item(meta, stored)
        if stored is not None and "body_ref" in stored:
            event.body = self.read_body(stored["body_ref"]["S"])
        return meta, event

    def put_body(self, event: models.Event, expires: int) -> None:
        """The body item; a body too large for it goes to the bucket first."""
        ref = None
        if not items.inline(event):
            ref = items.body_ref(event.id)
            with unavailable(f"storing the body of {event.id} in {self.bucket}"):
                self.s3.put_object(Bucket=self.bucket, Key=ref, Body=event.body)
        with unavailable(f"storing {event.id} in {self.name}"):
            self.dynamodb.put_item(TableName=self.name, Item=items.body_item(event, expires, ref))

    def read_body(self, ref: str) -> bytes:
        with unavailable(f"reading {ref} from {self.bucket}"):
            return self.s3.get_object(Bucket=self.bucket, Key=ref)["Body"].read()

    def delete_event(self, event: models.Event) -> None:
        """Best effort (logged): an event that was never acknowledged."""
        keys = [items.EVENT_SK, items.BODY_SK]
        try:
            for sk in keys:
                self.dynamodb.delete_item(
                    TableName=self.name,
                    Key={"pk": items.s(items.event_pk(event.id)), "sk": items.s(sk)},
                )
            if not items.inline(event):
                self.s3.delete_object(Bucket=self.bucket, Key=items.body_ref(event.id))
        except clients.FAILURES as exc:
            log.warning(
                "could not delete unacknowledged event %s (it expires with the retention): %s",
                event.id,
                clients.describe(exc),
            )


def ingest_message(event_id: str) -> str:
    return json.dumps({"event_id": event_id})


class EventStore:
    """ports.EventStore: the record, dedupe and the hand-off to the ingest queue."""

    def __init__(self, table: Table, ingest: sqs.Queue, retention_days: int) -> None:
        self._table = table
        self._ingest = ingest
        self._retention_days = retention_days

    async def add(self, event: models.Event) -> models.Stored:
        return self.add_now(event)

    def add_now(self, event: models.Event) -> models.Stored:
        expires = items.expires_at(event.received_ms, self._retention_days)
        # The body first: an event item never exists without its body. A duplicate's body is
        # then removed again; a crash leaves it to the retention.
        self._table.put_body(event, expires)
        if event.idempotency_key is None:
            with unavailable(f"storing {event.id} in {self._table.name}"):
                self._table.dynamodb.put_item(
                    TableName=self._table.name, Item=items.event_item(event, expires)
                )
            try:
                self._ingest.send(ingest_message(event.id))
            except errors.StoreUnavailable:
                self._table.delete_event(event)  # no key: a retry is a new event
                raise
            return models.Stored(event.id, duplicate=False)
        first = self._put_keyed(event, event.idempotency_key, expires)
        if first is None:
            self._ingest.send(ingest_message(event.id))  # 503 if not: the retry sends it
            return models.Stored(event.id, duplicate=False)
        self._table.delete_event(event)
        meta = self._table.get(items.event_key(first), consistent=True)
        if meta is not None and items.text(meta, "status") == "pending":
            self._ingest.send(ingest_message(first))  # maybe never queued: queue it now
        return models.Stored(first, duplicate=True)

    def _put_keyed(self, event: models.Event, key: str, expires: int) -> str | None:
        """Store the event and its key item atomically; the first event's id when the key was
        taken (a key item past its expiry, which TTL has not deleted yet, is taken over)."""
        try:
            self._table.dynamodb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table.name,
                            "Item": items.key_item(event, key, expires),
                            "ConditionExpression": "attribute_not_exists(pk) OR expires_at < :now",
                            "ExpressionAttributeValues": {
                                ":now": items.n(event.received_ms // 1000)
                            },
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table.name,
                            "Item": items.event_item(event, expires),
                        }
                    },
                ]
            )
        except clients.FAILURES as exc:
            codes = cancellation_codes(exc)
            if codes[:1] != ["ConditionalCheckFailed"]:
                raise errors.StoreUnavailable(
                    f"storing {event.id} in {self._table.name}: {clients.describe(exc)}"
                ) from None
            old = exc.response["CancellationReasons"][0].get("Item")  # type: ignore[attr-defined]
            if old is None:  # not returned: read it (the key is there, the condition said so)
                old = self._table.get(items.dedupe_key(event.source, key), consistent=True) or {}
            return items.required_text(old, "event_id")
        return None


def chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
