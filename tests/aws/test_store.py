"""The DynamoDB event store: what is stored, dedupe, TTL, large bodies (against moto)."""

from __future__ import annotations

import asyncio
import random

import pytest

from tests.aws import layout
from webhook_processor import errors
from webhook_processor.adapters.aws import dynamodb, items, sqs


def test_an_event_is_stored_with_its_headers_and_body_and_queued(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    st = layout.stack(aws, deployed)
    event = layout.event(key="d-1", headers={"x-github-delivery": "d-1", "x-github-event": "push"})
    stored = asyncio.run(st.store.add(event))
    assert stored.id == event.id
    assert not stored.duplicate
    again = st.operations.event(event.id)
    assert again is not None
    assert (again.body, again.headers, again.status) == (event.body, event.headers, "pending")
    assert (again.source, again.event_type, again.idempotency_key) == ("github", "push", "d-1")
    assert layout.messages(st.sqs_client, deployed.ingest_queue_url) == [{"event_id": event.id}]


def test_the_items_expire_after_the_retention(aws: layout.Aws, deployed: layout.Layout) -> None:
    st = layout.stack(aws, deployed, retention_days=3)
    event = layout.event(key="d-1")
    st.store.add_now(event)
    state = st.table.state(event.id)
    payload = st.table.get(items.dedupe_key("github", "d-1"))
    assert state is not None
    assert payload is not None
    expected = event.received_ms // 1000 + 3 * 86_400
    assert {int(item["expires_at"]["N"]) for item in [state, payload]} == {expected}


def test_a_duplicate_answers_with_the_first_id_and_stores_nothing(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    st = layout.stack(aws, deployed)
    first = layout.event(key="d-1")
    retry = layout.event(key="d-1", body=b'{"action": "opened", "retry": true}')
    assert st.store.add_now(first) == (first.id, False, None)
    assert st.store.add_now(retry) == (first.id, True, None)
    assert st.operations.event(retry.id) is None  # nothing of it was stored
    assert st.table.state(retry.id) is None
    # the same key from another source is another webhook
    other = layout.event(source="acme", key="d-1")
    assert st.store.add_now(other) == (other.id, False, None)
    assert layout.messages(st.sqs_client, deployed.ingest_queue_url) == [
        {"event_id": first.id},
        {"event_id": first.id},  # the duplicate came before routing: queued again (hand-off)
        {"event_id": other.id},
    ]


def test_a_long_idempotency_key_is_hashed_in_the_keys_and_still_dedupes(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    st = layout.stack(aws, deployed)
    key = "k" * 3000  # DynamoDB keys are at most 2048 bytes
    first, retry = layout.event(key=key), layout.event(key=key)
    assert st.store.add_now(first).duplicate is False
    assert st.store.add_now(retry) == (first.id, True, None)
    found = st.operations.events(layout.ports_filter(idempotency_key=key), 10)
    assert [e.id for e in found.items] == [first.id]


@pytest.mark.parametrize(
    "size",
    [
        items.INLINE_MAX - 200,  # just fits in the item beside the headers, compressed
        items.INLINE_MAX + 1,  # over: the bucket
        1024 * 1024,  # max_body_bytes' default
    ],
)
def test_a_body_up_to_max_body_bytes_is_kept_byte_for_byte(
    aws: layout.Aws, deployed: layout.Layout, size: int
) -> None:
    st = layout.stack(aws, deployed)
    body = random.Random(size).randbytes(size)  # compresses to a little more than its size
    event = layout.event(body=body, headers={"x-github-event": "push"})
    st.store.add_now(event)
    again = st.operations.event(event.id)
    assert again is not None
    assert again.body == body
    objects = aws.s3().list_objects_v2(Bucket=deployed.bucket).get("Contents", [])
    in_bucket = [o["Key"] for o in objects]
    assert in_bucket == ([] if size <= items.INLINE_MAX - 200 else [f"bodies/{event.id}"])


def test_moto_refuses_an_item_over_400_kb_as_dynamodb_does(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    """Why large bodies go to S3: the limit is real in moto too."""
    client = aws.dynamodb()
    with pytest.raises(client.exceptions.ClientError, match="Item size"):
        client.put_item(
            TableName=deployed.table,
            Item={"pk": items.s("x"), "sk": items.s("y"), "body": {"B": b"x" * 410_000}},
        )


def test_a_store_that_cannot_write_answers_store_unavailable(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    table = dynamodb.Table("wh-test-missing", deployed.bucket, aws.dynamodb(), aws.s3())
    store = dynamodb.EventStore(table, sqs.Queue(deployed.ingest_queue_url, aws.sqs()), 7)
    with pytest.raises(errors.StoreUnavailable, match="wh-test-missing"):
        store.add_now(layout.event(key="d-1"))
    with pytest.raises(errors.StoreUnavailable, match="wh-test-missing"):
        store.add_now(layout.event())
    assert layout.messages(aws.sqs(), deployed.ingest_queue_url) == []
