"""The EventBridge publisher: the envelope on the bus, batches, failed entries retried."""

from __future__ import annotations

import json

from tests.aws import faults, layout
from webhook_processor import models
from webhook_processor.adapters.aws import eventbridge


def _entries(n: int, detail: dict[str, object] | None = None) -> list[eventbridge.Entry]:
    out = []
    for i in range(n):
        event = layout.event(event_type=f"type.{i}")
        out.append(eventbridge.entry(event, detail if detail is not None else {"n": i}))
    return out


def _on_the_bus(aws: layout.Aws, deployed: layout.Layout) -> list[dict[str, object]]:
    """What the `everything` route's rule delivered to its queue (every event matches it)."""
    return layout.messages(aws.sqs(), deployed.destination_queue_urls["audit"])


def test_an_event_goes_on_the_bus_in_designs_envelope(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    client = aws.events()
    publisher = eventbridge.Publisher(deployed.bus, client)
    event = layout.event(event_type="push", received_ms=1_796_040_000_123)
    detail = {"ref": "refs/heads/main", "commits": [{"id": "59b2"}]}
    assert publisher.publish([eventbridge.entry(event, detail)]) == [None]
    (message,) = _on_the_bus(aws, deployed)
    assert message["route"] == "everything"
    got = message["event"]
    assert isinstance(got, dict)
    assert (got["source"], got["detail-type"], got["detail"]) == ("github", "push", detail)
    assert got["resources"] == [f"whp:event:{event.id}"]
    assert got["id"] != event.id  # EventBridge's own id: whp's travels in resources
    # EventBridge writes `time` as RFC 3339 to the second; moto keeps the epoch number it got
    assert got["time"] == 1_796_040_000.123


def test_entries_go_ten_a_call_and_only_failed_ones_again(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    client = aws.events()
    calls = faults.count(client, "PutEvents")
    faults.drop_entries(client, "PutEvents", count=4)  # of the first call: ThrottlingException
    publisher = eventbridge.Publisher(deployed.bus, client, sleep=lambda _: None)
    entries = _entries(23)
    assert publisher.publish(entries) == [None] * 23
    assert calls.hits == 4  # 10 + 10 + 3, then the 4 throttled entries
    got = [m["event"]["resources"][0] for m in _on_the_bus(aws, deployed)]  # type: ignore[index]
    assert sorted(got) == sorted(e.resources[0] for e in entries)  # each exactly once


def test_a_failure_that_retrying_cannot_fix_is_reported_at_once(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    client = aws.events()
    calls = faults.count(client, "PutEvents")
    faults.drop_entries(client, "PutEvents", count=1, code="MalformedDetail")
    publisher = eventbridge.Publisher(deployed.bus, client, sleep=lambda _: None)
    outcome = publisher.publish(_entries(3))
    assert outcome[:2] == [None, None]
    assert outcome[2] is not None
    assert outcome[2].startswith("MalformedDetail")
    assert calls.hits == 1


def test_retries_are_bounded(aws: layout.Aws, deployed: layout.Layout) -> None:
    client = aws.events()
    calls = faults.count(client, "PutEvents")
    faults.drop_entries(client, "PutEvents", count=1, times=100)
    waits: list[float] = []
    publisher = eventbridge.Publisher(deployed.bus, client, sleep=waits.append, uniform=lambda: 1.0)
    outcome = publisher.publish(_entries(2))
    assert outcome[0] is None
    assert outcome[1] is not None
    assert outcome[1].startswith("ThrottlingException")
    assert calls.hits == eventbridge.ATTEMPTS
    assert waits == [0.1, 0.2, 0.4]  # full jitter's caps (uniform pinned at its top)


def test_a_call_that_fails_whole_is_made_again(aws: layout.Aws, deployed: layout.Layout) -> None:
    client = aws.events()
    faults.fail(client, "PutEvents")
    publisher = eventbridge.Publisher(deployed.bus, client, sleep=lambda _: None)
    assert publisher.publish(_entries(2)) == [None, None]
    assert len(_on_the_bus(aws, deployed)) == 2


def test_entries_eventbridge_would_refuse_are_reported_and_not_sent(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    client = aws.events()
    calls = faults.count(client, "PutEvents")
    publisher = eventbridge.Publisher(deployed.bus, client)
    big = eventbridge.entry(layout.event(), {"blob": "x" * eventbridge.MAX_BYTES})
    long_type = eventbridge.entry(layout.event(event_type="t" * 129), {})
    fine = eventbridge.entry(layout.event(), {})
    outcome = publisher.publish([big, long_type, fine])
    assert outcome[0] is not None
    assert outcome[0].startswith(f"EntryTooLarge: event {big.event_id} makes a ")
    assert outcome[1] is not None
    assert "type is 129 characters; EventBridge takes at most 128" in outcome[1]
    assert outcome[2] is None
    assert calls.hits == 1
    assert len(_on_the_bus(aws, deployed)) == 1


def test_entry_size_is_counted_as_eventbridge_counts_it() -> None:
    event = models.Event("evt_1", "github", "pushé", None, 0, None, {}, b"")
    entry = eventbridge.entry(event, {"a": "é"})
    # Time 14 + "github" 6 + "pushé" 6 + '{"a":"é"}' 10 + "whp:event:evt_1" 15
    assert entry.size() == 14 + 6 + 6 + 10 + 15
    assert json.loads(entry.detail) == {"a": "é"}


def test_a_batch_never_exceeds_the_request_size(aws: layout.Aws, deployed: layout.Layout) -> None:
    client = aws.events()
    calls = faults.count(client, "PutEvents")
    publisher = eventbridge.Publisher(deployed.bus, client)
    entries = _entries(3, {"blob": "x" * 400_000})  # two fit in 1 MiB, the third does not
    assert publisher.publish(entries) == [None] * 3
    assert calls.hits == 2


def test_a_source_in_awss_namespace_is_refused_before_sending() -> None:
    """EventBridge reserves `aws.` sources (NotAuthorizedForSourceException); whp's config names
    cannot contain dots, so this only guards the adapter's other callers."""
    entry = eventbridge.entry(layout.event(source="aws.s3"), {})
    assert entry.problem() == (
        f"NotAuthorizedForSourceException: event {entry.event_id}'s source 'aws.s3' is "
        "reserved for AWS services"
    )
