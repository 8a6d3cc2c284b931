"""The EventReader port's paging, held alike by the SQLite reader and testing.MemoryStore."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from webhook_processor import errors, models, ports, testing
from webhook_processor.adapters.sqlite import db, events

Make = Callable[[Sequence[models.Event]], ports.EventReader]


def event(n: int, source: str) -> models.Event:
    return models.Event(
        id=models.new_event_id(1_700_000_000 + n),
        source=source,
        event_type="push",
        idempotency_key=None,
        received_ms=1_700_000_000_000 + n,
        content_type="application/json",
        headers={},
        body=b"{}",
    )


@pytest.fixture(params=["sqlite", "memory"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Make:
    def sqlite(made: Sequence[models.Event]) -> ports.EventReader:
        async def write() -> None:
            store = events.GroupCommitStore(str(tmp_path / "whp.db"), 5)
            store.start()
            for e in made:
                await store.add(e)
            await store.stop()

        asyncio.run(write())
        return events.Reader(db.connect(str(tmp_path / "whp.db"), 1, readonly=True))

    def memory(made: Sequence[models.Event]) -> ports.EventReader:
        store = testing.MemoryStore()

        async def write() -> None:
            for e in made:
                await store.add(e)

        asyncio.run(write())
        return store

    return sqlite if request.param == "sqlite" else memory


def test_pages_follow_one_another_newest_first_to_a_last_page_without_next(make: Make) -> None:
    made = [event(n, "github" if n % 3 else "stripe") for n in range(10)]
    reader = make(made)
    github = ports.EventFilter(source="github")
    wanted = [e.id for e in reversed(made) if e.source == "github"]  # 6 of them
    pages, cursor = [], None
    for _ in range(5):
        page = reader.list(github, 2, cursor)
        pages.append([e.id for e in page.items])
        if page.next is None:
            break
        cursor = page.next
    assert pages == [wanted[0:2], wanted[2:4], wanted[4:6]]


def test_a_page_holding_all_that_is_left_has_no_next(make: Make) -> None:
    reader = make([event(n, "github") for n in range(3)])
    assert reader.list(ports.EventFilter(), 3).next is None
    assert reader.list(ports.EventFilter(), 2).next is not None


def test_a_cursor_the_reader_did_not_give_is_a_usage_error(make: Make) -> None:
    reader = make([event(1, "github")])
    with pytest.raises(errors.UsageError, match="invalid cursor"):
        reader.list(ports.EventFilter(), 10, "bm9wZQ")
