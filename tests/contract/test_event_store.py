"""The EventStore port's contract, run against every implementation: the in-memory fake
(testing.MemoryStore), the SQLite ingest writer on a real file, and the DynamoDB store on moto.

What a sender relies on: a 2xx means stored, a retry with the same idempotency key is answered
with the first event's id and stored no second time, and a store that cannot commit answers
StoreUnavailable (503) with nothing stored, so the provider's retry is a new webhook."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from webhook_processor import errors, models
from webhook_processor.adapters.aws import items

from . import aws, stores
from .harness import event
from .stores import StoreHarness


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
def h(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreHarness]:
    made: StoreHarness
    if request.param == "memory":
        made = stores.MemoryHarness()
    elif request.param == "sqlite":
        made = stores.SqliteHarness(tmp_path / "whp.db")
    else:
        made = aws.DynamoStore(request.getfixturevalue("resources"))
    yield made
    made.close()


def test_an_added_event_is_answered_with_its_id_and_read_back_whole(h: StoreHarness) -> None:
    e = event(key="d-1")
    assert h.add(e) == [models.Stored(e.id, duplicate=False)]
    assert h.read(e.id) == e  # every field, status pending: not routed yet
    assert h.read("evt_00000000000000000000000000000000") is None


def test_a_repeated_key_is_a_duplicate_of_the_first_event_and_stores_nothing(
    h: StoreHarness,
) -> None:
    first = event(key="d-1")
    retry = dataclasses.replace(event(key="d-1"), body=b'{"retried": true}')
    h.add(first)
    assert h.add(retry) == [models.Stored(first.id, duplicate=True)]
    assert h.read(retry.id) is None
    kept = h.read(first.id)
    assert kept is not None
    assert kept.body == first.body


def test_duplicates_are_found_within_one_commit_and_across_commits(h: StoreHarness) -> None:
    first, same_batch = event(key="k"), event(key="k")
    other_source, unkeyed = event(key="k", source="github"), event()
    together = h.add(first, same_batch, other_source, unkeyed)  # concurrent requests
    assert together == [
        models.Stored(first.id, False),
        models.Stored(first.id, True),
        models.Stored(other_source.id, False),
        models.Stored(unkeyed.id, False),
    ]
    assert h.add(event(key="k")) == [models.Stored(first.id, True)]
    assert [h.read(e.id) is not None for e in (first, same_batch, other_source, unkeyed)] == [
        True,
        False,
        True,
        True,
    ]


def test_events_without_a_key_never_dedupe(h: StoreHarness) -> None:
    a = event()
    b = dataclasses.replace(event(), body=a.body, received_ms=a.received_ms)  # a twin
    assert h.add(a) == [models.Stored(a.id, False)]
    assert h.add(b) == [models.Stored(b.id, False)]
    assert h.read(a.id) == a
    assert h.read(b.id) == b


def test_the_same_key_from_another_source_is_another_webhook(h: StoreHarness) -> None:
    stripe, github = event(source="stripe", key="1"), event(source="github", key="1")
    assert h.add(stripe) + h.add(github) == [
        models.Stored(stripe.id, False),
        models.Stored(github.id, False),
    ]
    assert h.read(github.id) == github


def test_a_store_that_cannot_commit_refuses_and_stores_nothing(h: StoreHarness) -> None:
    keyed, unkeyed = event(key="d-1"), event()
    with h.broken():
        for e in (keyed, unkeyed):
            with pytest.raises(errors.StoreUnavailable):
                h.add(e)
    assert h.read(keyed.id) is None
    assert h.read(unkeyed.id) is None
    # The provider retries once the store is back: a new webhook, not a duplicate of nothing.
    retry = event(key="d-1")
    assert h.add(retry) == [models.Stored(retry.id, False)]
    assert h.read(retry.id) == retry


HEADERS = {"x-note": 'caf\u00e9 "quoted" \\ back', "user-agent": "GitHub-Hookshot/1"}


@pytest.mark.parametrize(
    "size",
    [
        0,  # a ping with no body
        1000,
        items.INLINE_MAX + 1,  # DynamoDB: over what an item keeps, the body goes to S3
        1024 * 1024,  # max_body_bytes' default
    ],
)
def test_a_body_of_up_to_1_mib_comes_back_byte_for_byte(h: StoreHarness, size: int) -> None:
    body = (bytes(range(256)) * (size // 256 + 1))[:size]
    e = dataclasses.replace(event(), body=body, headers=HEADERS, content_type=None)
    h.add(e)
    assert h.read(e.id) == e


def test_a_body_at_the_limit_kept_inline_beside_headers_of_accented_text(h: StoreHarness) -> None:
    """5,000 accented characters of header (10 KB in UTF-8: API Gateway's limit for a request's
    headers), which JSON escapes to six bytes each, beside the largest body that DynamoDB's store
    keeps in the item: the item must still fit (400 KB), or every retry of the webhook is a 503."""
    headers = {"x-note": "\u00e9" * 5_000}
    body = b"x" * (items.INLINE_MAX - 2 * (len("x-note") + 5_000))
    e = dataclasses.replace(event(), body=body, headers=headers)
    assert h.add(e) == [models.Stored(e.id, False)]
    assert h.read(e.id) == e
