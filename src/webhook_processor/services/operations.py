"""The operator's use cases over the Operations port, the same for the CLI, the admin API and the
AWS backend: search and show events, replay, the dead-letter queue and its redrive, pausing
destinations, retention, and the figures behind the stats.

Bulk work goes in batches, each one call of the port (on SQLite, its own short write transaction),
with a pause as long as the batch took between them (at most MAX_PAUSE), so that ingest always
gets the store in time. `progress` callbacks are told how many items each batch did.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from webhook_processor import errors, models, ports

BATCH = 500
MAX_PAUSE = 0.1  # seconds between two batches, at most
RATE_WINDOW_MS = 60_000  # the stats' rates are per second over the last minute
Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class DestinationConfig:
    """What the config says of a destination that an operator sees."""

    url: str
    paused: bool  # `paused: true` in the config


@dataclass(frozen=True, slots=True)
class DestinationView:
    """A destination as operators see it: config and store state together."""

    name: str
    url: str
    paused_by: tuple[str, ...]  # "config", "runtime" (`whp destinations pause`), both, or none
    pending: int
    dead: int
    in_flight: int
    oldest_pending_seconds: float | None

    @property
    def paused(self) -> bool:
        return bool(self.paused_by)


@dataclass(frozen=True, slots=True)
class EventDetail:
    event: models.Event
    deliveries: Sequence[models.Delivery]


@dataclass(frozen=True, slots=True)
class Stats:
    events: Mapping[str, int]
    deliveries: Mapping[str, int]
    rates: Mapping[str, float]  # received, delivered, failed: per second over the last minute


def nothing(done: int) -> None:
    """A Progress that shows nothing."""


def unknown_events(ids: Sequence[str]) -> str:
    noun = "id" if len(ids) == 1 else "ids"
    return f"unknown event {noun} {', '.join(errors.cut(i, 100) for i in ids)}; nothing replayed"


def unknown_destination(name: str, known: Iterable[str]) -> str:
    names = ", ".join(sorted(known)) or "none"
    return f"no destination named {errors.shown(name)} (destinations: {names})"


class Operator:
    def __init__(
        self,
        ops: ports.Operations,
        destinations: Mapping[str, DestinationConfig],
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._ops = ops
        self._destinations = dict(destinations)
        self._clock = clock
        self._sleep = sleep

    def reconfigure(self, destinations: Mapping[str, DestinationConfig]) -> None:
        """The destinations of a config reloaded by the running server (SIGHUP)."""
        self._destinations = dict(destinations)

    # -- events -----------------------------------------------------------------------------

    def events(
        self, where: ports.EventFilter, limit: int, cursor: str | None = None
    ) -> ports.Page[models.Event]:
        return self._ops.events(where, limit, cursor)

    def event(self, event_id: str) -> EventDetail:
        found = self._ops.event(event_id)
        if found is None:
            raise errors.NotFound(f"no event {errors.shown(event_id)}")
        return EventDetail(found, self._ops.deliveries(event_id))

    def missing(self, event_ids: Sequence[str]) -> list[str]:
        """Those of `event_ids` that are not stored, each once."""
        return [i for i in dict.fromkeys(event_ids) if self._ops.event(i) is None]

    def replay(self, event_ids: Sequence[str], new_id: bool, progress: Progress = nothing) -> int:
        """Replay these events (every id must exist: else nothing is replayed)."""
        ids = list(dict.fromkeys(event_ids))
        unknown = self.missing(ids)
        if unknown:
            raise errors.NotFound(unknown_events(unknown))
        return self._replay_all(ids, new_id, progress)

    def matching(self, where: ports.EventFilter) -> list[str]:
        """Ids of every event `where` selects, newest first (what a bulk replay replays)."""
        found: list[str] = []
        cursor = None
        while True:
            page = self._ops.events(where, BATCH, cursor)
            found += (e.id for e in page.items)
            if page.next is None:
                return found
            cursor = page.next

    def replay_matching(
        self,
        where: ports.EventFilter,
        new_id: bool,
        *,
        everything: bool = False,
        dry_run: bool = False,
        progress: Progress = nothing,
    ) -> int:
        """Replay the events `where` selects (an empty filter needs `everything`); with
        `dry_run`, only count them."""
        if where == ports.EventFilter() and not everything:
            raise errors.UsageError(
                "an empty filter replays every stored event: give a filter, or all=true"
            )
        ids = self.matching(where)
        if dry_run:
            return len(ids)
        ids.reverse()  # oldest first: routed again in the order they came
        return self._replay_all(ids, new_id, progress)

    def _replay_all(self, ids: Sequence[str], new_id: bool, progress: Progress) -> int:
        replayed = 0
        for chunk in self._paced(ids):
            replayed += self._ops.replay(chunk, self._now_ms(), new_id=new_id)
            progress(len(chunk))
        return replayed

    # -- the dead-letter queue --------------------------------------------------------------

    def dead_letters(
        self, destination: str | None, limit: int, cursor: str | None = None
    ) -> ports.Page[models.DeadLetter]:
        if destination is not None:
            self.destination(destination)
        return self._ops.dead_letters(destination, limit, cursor)

    def redrive(self, delivery_ids: Sequence[str], progress: Progress = nothing) -> int:
        """Redrive these dead deliveries; those that are not dead are left (the count says)."""
        ids = list(dict.fromkeys(delivery_ids))
        redriven = 0
        for chunk in self._paced(ids):
            redriven += self._ops.redrive(chunk, self._now_ms())
            progress(len(chunk))
        return redriven

    def redrive_all(self, destination: str | None, progress: Progress = nothing) -> int:
        """Redrive every dead delivery (of `destination`), page by page down the queue: it ends
        even when deliveries die again meanwhile (they come back above the pages still to do)."""
        if destination is not None:
            self.destination(destination)
        redriven = 0
        cursor = None
        while True:
            started = time.monotonic()
            page = self._ops.dead_letters(destination, BATCH, cursor)
            if page.items:
                redriven += self._ops.redrive([d.delivery_id for d in page.items], self._now_ms())
                progress(len(page.items))
            if page.next is None:
                return redriven
            cursor = page.next
            self._pause(time.monotonic() - started)

    def dead_count(self, destination: str | None) -> int:
        states = self._ops.destinations(self._now_ms())
        if destination is not None:
            state = states.get(destination)
            return 0 if state is None else state.dead
        return sum(s.dead for s in states.values())

    # -- destinations -----------------------------------------------------------------------

    def destinations(self) -> list[DestinationView]:
        states = self._ops.destinations(self._now_ms())
        return [self._view(name, states.get(name)) for name in self._destinations]

    def destination(self, name: str) -> DestinationView:
        if name not in self._destinations:
            raise errors.NotFound(unknown_destination(name, self._destinations))
        return self._view(name, self._ops.destinations(self._now_ms()).get(name))

    def pause(self, name: str) -> DestinationView:
        self.destination(name)
        self._ops.set_paused(name, True, self._now_ms())
        return self.destination(name)

    def resume(self, name: str) -> DestinationView:
        """Resume a destination paused at runtime; one its config pauses stays paused."""
        self.destination(name)
        self._ops.set_paused(name, False, self._now_ms())
        return self.destination(name)

    def _view(self, name: str, state: models.DestinationState | None) -> DestinationView:
        config = self._destinations[name]
        runtime = state is not None and state.paused
        by = tuple(w for w, on in (("config", config.paused), ("runtime", runtime)) if on)
        oldest = None if state is None else state.oldest_pending_ms
        return DestinationView(
            name=name,
            url=config.url,
            paused_by=by,
            pending=0 if state is None else state.pending,
            dead=0 if state is None else state.dead,
            in_flight=0 if state is None else state.in_flight,
            oldest_pending_seconds=(
                None if oldest is None else max(0.0, (self._now_ms() - oldest) / 1000)
            ),
        )

    # -- retention and figures --------------------------------------------------------------

    def purge_batches(self, older_than_ms: int) -> Iterator[ports.PurgeBatch]:
        """Retention, batch by batch (the caller paces them, and may stop between two)."""
        cursor = None
        while True:
            batch = self._ops.purge(older_than_ms, cursor)
            yield batch
            if batch.next is None:
                return
            cursor = batch.next

    def purge(self, older_than_ms: int, progress: Progress = nothing) -> tuple[int, int]:
        """Purge, paced: (events deleted, older events kept because their work is not done)."""
        deleted = kept = 0
        started = time.monotonic()
        for batch in self.purge_batches(older_than_ms):
            deleted += batch.deleted
            kept += batch.looked_at - batch.deleted
            progress(batch.deleted)
            if batch.next is not None:
                self._pause(time.monotonic() - started)
                started = time.monotonic()
        return deleted, kept

    def stats(self) -> Stats:
        events, deliveries = self._ops.counts()
        now_ms = self._now_ms()
        recent = self._ops.activity(now_ms - RATE_WINDOW_MS)
        seconds = RATE_WINDOW_MS / 1000
        rates = {
            "received": recent.received / seconds,
            "delivered": recent.delivered / seconds,
            "failed": recent.failed / seconds,
        }
        return Stats(events, deliveries, rates)

    # -- plumbing ---------------------------------------------------------------------------

    def _paced(self, items: Sequence[str]) -> Iterator[Sequence[str]]:
        for start in range(0, len(items), BATCH):
            began = time.monotonic()
            yield items[start : start + BATCH]
            if start + BATCH < len(items):
                self._pause(time.monotonic() - began)

    def _pause(self, batch_seconds: float) -> None:
        self._sleep(min(batch_seconds, MAX_PAUSE))

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)
