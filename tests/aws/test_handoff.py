"""The hand-off from the DynamoDB record to the ingest queue loses no event (docs/aws.md "The
hand-off"): faults injected into the store's own SQS and DynamoDB clients, then the provider's
retry (same delivery id, so the same idempotency key) comes in."""

from __future__ import annotations

import json
import time

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
    routings = []
    for message in messages:
        loaded = st.records.start(message)
        assert loaded is not None
        routings.append(st.records.route(loaded, [("everything", "audit")], now_ms=1_000))
    assert [r.created for r in routings if r is not None] == [True, False]
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
    big = layout.event(body=b"x" * (items.INLINE_MAX + 10))
    faults.fail(st.sqs_client, "SendMessage")
    with pytest.raises(errors.StoreUnavailable):
        st.store.add_now(big)
    assert st.table.event_items(big.id) == (None, None)
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
    faults.fail(st.dynamodb_client, "TransactWriteItems", error=outage)
    with pytest.raises(errors.StoreUnavailable, match="Could not connect"):
        st.store.add_now(layout.event(key="d-1"))
    assert layout.messages(st.sqs_client, deployed.ingest_queue_url) == []
    assert st.table.get(items.dedupe_key("github", "d-1")) is None
