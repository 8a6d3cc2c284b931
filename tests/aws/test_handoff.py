"""The hand-off from the DynamoDB record to the ingest queue loses no event (docs/aws.md "The
hand-off"): faults injected into the store's own SQS and DynamoDB clients, then the provider's
retry (same delivery id, so the same idempotency key) comes in."""

from __future__ import annotations

import json
import random
import time
from typing import Any

import botocore.exceptions
import pytest

from tests.aws import faults, layout
from webhook_processor import errors
from webhook_processor.adapters.aws import items


def test_sqs_failing_at_the_send_answers_503_and_the_retry_queues_the_first_event(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    st = layout.stack(aws, deployed)
    first = layout.event(key="d-1")
    fault = faults.fail(st.sqs_client, "SendMessage")
    with pytest.raises(errors.StoreUnavailable, match="SQS did not take"):
        st.store.add_now(first)
    assert fault.hits == 1
    assert layout.messages(st.sqs_client, deployed.ingest_queue_url) == []
    # The provider saw a 503 and sends the webhook again: the key is taken, by an event that
    # is not routed yet, so this answer queues it before saying "duplicate".
    assert st.store.add_now(layout.event(key="d-1")) == (first.id, True, None)
    (message,) = layout.raw_messages(st.sqs_client, deployed.ingest_queue_url)
    # The router routes it; a further retry then sends nothing again.
    loaded = st.records.start(message)
    assert loaded is not None
    st.records.route(loaded, [], now_ms=1_000)
    assert st.store.add_now(layout.event(key="d-1")) == (first.id, True, None)
    assert layout.messages(st.sqs_client, deployed.ingest_queue_url) == []


def test_a_crash_between_the_put_and_the_send_is_repaired_by_the_retry(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    st = layout.stack(aws, deployed)
    first = layout.event(key="d-1")
    faults.fail(st.sqs_client, "SendMessage", error=faults.Crash())
    with pytest.raises(faults.Crash):
        st.store.add_now(first)  # the Lambda died: API Gateway answered the provider 502
    stored = st.operations.event(first.id)
    assert stored is not None
    assert stored.status == "pending"
    # A new container takes the retry.
    st2 = layout.stack(aws, deployed)
    assert st2.store.add_now(layout.event(key="d-1")) == (first.id, True, None)
    assert layout.messages(st2.sqs_client, deployed.ingest_queue_url) == [{"event_id": first.id}]


def test_a_crash_between_the_two_items_is_finished_by_the_retry(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    """The payload is the dedupe, the state the listing: a crash between the two leaves a key
    whose event is nowhere listed; the retry puts the state from the payload, then queues it."""
    st = layout.stack(aws, deployed)
    first = layout.event(key="d-1")

    def states(params: dict[str, Any], **_: Any) -> None:
        if params.get("Item", {}).get("kind") == {"S": "state"}:
            raise faults.Crash

    hook = "before-parameter-build.dynamodb.PutItem"
    st.dynamodb_client.meta.events.register(hook, states)
    with pytest.raises(faults.Crash):
        st.store.add_now(first)
    st.dynamodb_client.meta.events.unregister(hook, states)
    assert st.operations.event(first.id) is None  # not listed, never acknowledged
    assert st.operations.events(layout.ports_filter(), 10).items == []
    st2 = layout.stack(aws, deployed)
    assert st2.store.add_now(layout.event(key="d-1")) == (first.id, True, None)
    stored = st2.operations.event(first.id)
    assert stored is not None
    assert (stored.status, stored.body, stored.received_ms) == (
        "pending",
        first.body,
        first.received_ms,
    )
    assert [e.id for e in st2.operations.events(layout.ports_filter(), 10).items] == [first.id]
    assert layout.messages(st2.sqs_client, deployed.ingest_queue_url) == [{"event_id": first.id}]


def test_a_lost_sqs_answer_makes_the_event_queued_twice_never_lost(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    """SQS took the message but its answer was lost: 503, and the retry sends it again. The
    router is idempotent on the event id, so it routes the event once."""
    st = layout.stack(aws, deployed)
    first = layout.event(key="d-1")
    faults.fail(st.sqs_client, "SendMessage", after=True)
    with pytest.raises(errors.StoreUnavailable):
        st.store.add_now(first)
    assert st.store.add_now(layout.event(key="d-1")) == (first.id, True, None)
    assert layout.messages(st.sqs_client, deployed.ingest_queue_url) == [
        {"event_id": first.id},
        {"event_id": first.id},
    ]


def test_a_duplicate_of_an_event_waiting_in_the_queue_queues_it_again(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    """The price of writing no "queued" mark: a duplicate that comes before the router has
    routed its first event sends that event once more; the router routes it once."""
    st = layout.stack(aws, deployed)
    first = layout.event(key="d-1")
    assert st.store.add_now(first) == (first.id, False, None)
    assert st.store.add_now(layout.event(key="d-1")) == (first.id, True, None)
    messages = layout.raw_messages(st.sqs_client, deployed.ingest_queue_url)
    assert [json.loads(m) for m in messages] == [{"event_id": first.id}] * 2
    routed = []
    for message in messages:
        loaded = st.records.start(message)
        assert loaded is not None
        routed.append(
            not loaded.routed and st.records.route(loaded, [("everything", "audit")], 1_000)
        )
    assert routed == [True, False]
    assert len(st.operations.deliveries(first.id)) == 1


def test_a_key_past_its_expiry_no_longer_dedupes(aws: layout.Aws, deployed: layout.Layout) -> None:
    """DynamoDB's TTL deletes within days, moto's never: an expired key item is taken over."""
    st = layout.stack(aws, deployed, retention_days=1)
    old = layout.event(key="d-1", received_ms=int(time.time() * 1000) - 2 * 86_400_000)
    st.store.add_now(old)
    new = layout.event(key="d-1")
    assert st.store.add_now(new) == (new.id, False, None)
    assert st.store.add_now(layout.event(key="d-1")) == (new.id, True, None)


def test_a_duplicate_whose_resend_fails_is_answered_503_and_tried_again(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    st = layout.stack(aws, deployed)
    first = layout.event(key="d-1")
    faults.fail(st.sqs_client, "SendMessage", times=2)
    with pytest.raises(errors.StoreUnavailable):
        st.store.add_now(first)
    with pytest.raises(errors.StoreUnavailable):  # never "duplicate" for an unqueued event
        st.store.add_now(layout.event(key="d-1"))
    assert st.store.add_now(layout.event(key="d-1")) == (first.id, True, None)
    assert layout.messages(st.sqs_client, deployed.ingest_queue_url) == [{"event_id": first.id}]


def test_without_a_key_a_failed_send_deletes_the_event_before_the_503(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    """No key: a retry cannot find the record, so the record is removed and the retry is a new
    event (no key means no dedupe, locally too)."""
    st = layout.stack(aws, deployed)
    big = layout.event(body=random.Random(1).randbytes(items.INLINE_MAX + 10))  # to the bucket
    faults.fail(st.sqs_client, "SendMessage")
    with pytest.raises(errors.StoreUnavailable):
        st.store.add_now(big)
    assert st.table.state(big.id) is None
    assert st.table.get(items.payload_key(big.id, big.source, None)) is None
    assert aws.s3().list_objects_v2(Bucket=deployed.bucket).get("Contents", []) == []
    retry = layout.event(body=big.body)
    assert st.store.add_now(retry) == (retry.id, False, None)
    assert layout.messages(st.sqs_client, deployed.ingest_queue_url) == [{"event_id": retry.id}]


def test_without_a_key_a_crash_leaves_an_unacknowledged_pending_event(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    """The documented leftover: never acknowledged (the provider retries it as a new event), it
    stays `pending` until it expires; `whp replay` would route it."""
    st = layout.stack(aws, deployed)
    lost = layout.event()
    faults.fail(st.sqs_client, "SendMessage", error=faults.Crash())
    with pytest.raises(faults.Crash):
        st.store.add_now(lost)
    page = st.operations.events(layout.ports_filter(status="pending"), 10)
    assert [e.id for e in page.items] == [lost.id]
    assert layout.messages(st.sqs_client, deployed.ingest_queue_url) == []


def test_dynamodb_failing_answers_503_and_queues_nothing(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    st = layout.stack(aws, deployed)
    outage = botocore.exceptions.EndpointConnectionError(endpoint_url=aws.endpoint)
    faults.fail(st.dynamodb_client, "PutItem", error=outage)
    with pytest.raises(errors.StoreUnavailable, match="Could not connect"):
        st.store.add_now(layout.event(key="d-1"))
    assert layout.messages(st.sqs_client, deployed.ingest_queue_url) == []
    assert st.table.get(items.dedupe_key("github", "d-1")) is None
