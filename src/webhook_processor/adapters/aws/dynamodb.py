"""The event store on DynamoDB (ports.EventStore), with the hand-off to the ingest queue.

An event is acknowledged (2xx) only once its record is in the table *and* its id is in the ingest
queue, and a duplicate is acknowledged only once its first event is: a duplicate whose first
event is still `pending` (not routed yet) sends that event's id again before it answers, so a
provider's retry repairs a first request that stored the event but never queued it.

    ingest A (key k)      put payload k: A (conditional: the dedupe) -> put A's state -> send A
                          -> 202
    crash after payload   (no answer: the provider retries, same key)
    retry B (key k)       payload k is A's; A has no state -> put it (from the payload), send A
                          -> 200 duplicate
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


def condition_failed(exc: BaseException) -> bool:
    return clients.error_code(exc) == "ConditionalCheckFailedException"


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

    def state(self, event_id: str) -> items.Item | None:
        """An event's state item (strongly consistent: it changes); None for no such event."""
        key = items.state_key(event_id)
        return None if key is None else self.get(key, consistent=True)

    def payload(self, state: items.Item) -> items.Item | None:
        """The payload item of the event `state` is of. It never changes once written, so an
        eventually consistent read does, unless it comes too soon after the write."""
        event_id = items.required_text(state, "id")
        key = items.payload_key(
            event_id, items.required_text(state, "source"), items.text(state, "idempotency_key")
        )
        found = self.get(key) or self.get(key, consistent=True)
        if found is None or items.text(found, "id") != event_id:
            return None  # a later event took the key over after this one expired
        return found

    def load_event(
        self, event_id: str, body: bool = True
    ) -> tuple[items.Item, models.Event] | None:
        """An event's state item and the event, with headers and body unless `body` is False;
        None when there is no such event (or it expired)."""
        state = self.state(event_id)
        if state is None:
            return None
        payload = self.payload(state) if body else None
        event = items.event_from_item(state, payload)
        if payload is not None and "body_ref" in payload:
            event.body = self.read_body(payload["body_ref"]["S"])
        return state, event

    def read_body(self, ref: str) -> bytes:
        with unavailable(f"reading {ref} from {self.bucket}"):
            return self.s3.get_object(Bucket=self.bucket, Key=ref)["Body"].read()

    def delete_event(
        self, event: models.Event, ref: str | None, keyed_payload: bool = True
    ) -> None:
        """Best effort (logged): an event that was never acknowledged, and its body in the
        bucket at `ref`. `keyed_payload` False keeps a keyed payload item (it is another
        event's: the dedupe said so)."""
        keys = [items.state_key(event.id)]
        if event.idempotency_key is None or keyed_payload:
            keys.append(items.payload_key(event.id, event.source, event.idempotency_key))
        try:
            for key in keys:
                if key is not None:
                    self.dynamodb.delete_item(TableName=self.name, Key=key)
            if ref is not None:
                self.s3.delete_object(Bucket=self.bucket, Key=ref)
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
        ref = None
        data = items.packed(event)
        if len(data) > items.INLINE_MAX:  # the bucket first: no item ever points at nothing
            ref = items.body_ref(event.id)
            with unavailable(f"storing the body of {event.id} in {self._table.bucket}"):
                self._table.s3.put_object(Bucket=self._table.bucket, Key=ref, Body=event.body)
            data = items.packed(event, body=False)
        payload = items.payload_item(event, expires, data, ref)
        first = self._put_payload(event, payload)
        if first is not None:
            if ref is not None:  # our body in the bucket
                self._table.delete_event(event, ref, keyed_payload=False)
            return self._duplicate(first)
        try:
            with unavailable(f"storing {event.id} in {self._table.name}"):
                self._table.dynamodb.put_item(
                    TableName=self._table.name, Item=items.state_item(payload)
                )
            self._ingest.send(ingest_message(event.id))
        except errors.StoreUnavailable:
            if event.idempotency_key is None:
                self._table.delete_event(event, ref)  # no key: a retry is a new event
            raise  # keyed: the retry finds the payload and finishes the hand-off
        return models.Stored(event.id, duplicate=False)

    def _put_payload(self, event: models.Event, payload: items.Item) -> items.Item | None:
        """Store the payload; for a keyed event, only if the key is free (a key past its
        expiry, which TTL has not deleted yet, is taken over): else the first event's payload."""
        try:
            self._table.dynamodb.put_item(
                TableName=self._table.name,
                Item=payload,
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues={":now": items.n(event.received_ms // 1000)},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except clients.FAILURES as exc:
            if not condition_failed(exc):
                raise errors.StoreUnavailable(
                    f"storing {event.id} in {self._table.name}: {clients.describe(exc)}"
                ) from None
            old = exc.response.get("Item")  # type: ignore[attr-defined]
            if old is None:  # not returned: read it (the key is there, the condition said so)
                old = self._table.get({"pk": payload["pk"], "sk": payload["sk"]}, consistent=True)
            if old is None:  # expired and deleted since: try once more
                return self._put_payload(event, payload)
            return dict(old)
        return None

    def _duplicate(self, first: items.Item) -> models.Stored:
        """A duplicate of `first`'s event: answered once that event is handed off. Its state
        item is missing only if its request stopped after the payload: finish it here."""
        first_id = items.required_text(first, "id")
        state = self._table.state(first_id)
        if state is None:
            try:
                self._table.dynamodb.put_item(
                    TableName=self._table.name,
                    Item=items.state_item(first),
                    ConditionExpression="attribute_not_exists(pk)",  # a racing request's
                )
            except clients.FAILURES as exc:
                if not condition_failed(exc):
                    raise errors.StoreUnavailable(
                        f"storing {first_id} in {self._table.name}: {clients.describe(exc)}"
                    ) from None
            state = self._table.state(first_id)
        if state is None or items.text(state, "status") == "pending":
            self._ingest.send(ingest_message(first_id))  # maybe never queued: queue it now
        return models.Stored(first_id, duplicate=True)


def chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
