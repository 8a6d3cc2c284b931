"""The delivery queue on SQLite: routing, leases, attempts, the dead-letter queue, replay, purge.

A delivery's life, every step its own short BEGIN IMMEDIATE transaction:

    event pending --route--> delivery pending (due now) --claim--> leased until now + lease_ms
        leased --record delivered--> delivered
               --record retry-----> pending, due at next_attempt_ms, lease cleared
               --record dead------> dead (the DLQ) --redrive--> pending, attempts 0, due now
               --worker crashes---> claimable again once the lease expires (same attempt number)

At-least-once: an event stays `pending` until the transaction that creates its deliveries commits,
and a delivery stays `pending` until an outcome is recorded, so a crash at any point means the work
is done again, never skipped. Receivers dedupe on the webhook id, which redelivery keeps.

Recording: the attempt row is always kept (it happened). The delivery follows the outcome only if
it is still `pending` and the attempt is its current one (attempts == attempt - 1), or the outcome
is `delivered`. So a worker whose lease expired while another one took the delivery over cannot
send it back to `pending` after it was delivered or move it away from the newer attempt's outcome.

Replays: the webhook id a new routing gives its deliveries is `events.replay_webhook_id` when set
(a `--new-id` replay: `msg_` + a fresh id), else the event id, so plain replays and redrives keep
the id receivers dedupe on.

Paused destinations: `destination_state` (set_paused) holds the runtime pauses of operators; the
worker adds the config's `paused: true` ones and passes both to claim(), so their deliveries wait.

Rate limits: `destination_state.rate_tat_ms` is where a rate-limited destination's next send is
due (ratelimit.schedule); claim() books the starts of what it takes and moves it on, in its
transaction, so every worker process on the store keeps one rate.

One connection per DeliveryQueue; its methods take a lock, so threads may share the object.
SQLite errors that mean "cannot work now" (locked past the busy timeout, I/O) are StoreUnavailable.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import sqlite3
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, NamedTuple

from webhook_processor import errors, models, ports, ratelimit
from webhook_processor.adapters.sqlite import db, events

Q = db.named_queries("queue.sql")
PurgePosition = tuple[int, int]  # (received_ms, seq) of the last event a purge looked at
START: PurgePosition = (-1, -1)


class Purged(NamedTuple):
    """One purge call: events deleted, events looked at (the rest still have work pending), and
    where the next call goes on from (None: no older event is left to look at)."""

    deleted: int
    looked_at: int
    after: PurgePosition | None


DeliveryStatus = Literal["pending", "delivered", "dead"]


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    event_id: str
    route: str
    destination: str
    webhook_id: str
    status: DeliveryStatus
    attempts: int
    next_attempt_ms: int
    lease_until_ms: int | None
    created_ms: int
    updated_ms: int


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int
    started_ms: int
    duration_ms: int
    status_code: int | None
    error: str | None
    response_excerpt: str | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A dead delivery with a summary of its event and of its last attempt."""

    id: int
    event_id: str
    route: str
    destination: str
    webhook_id: str
    attempts: int
    died_ms: int
    source: str
    event_type: str
    received_ms: int
    last_status_code: int | None
    last_error: str | None


class DeliveryQueue:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    # -- routing ----------------------------------------------------------------------------

    def relax_durability(self) -> None:
        """Commit without waiting for the disk (synchronous=NORMAL): for the worker only, whose
        writes can be redone (see bootstrap.processor); operators' commands stay FULL."""
        with self._lock:
            self._conn.execute("PRAGMA synchronous = NORMAL")

    def pending_events(self, limit: int, payload: bool = True) -> list[models.Event]:
        """Events not routed yet, oldest first; without `payload`, their body and headers are
        left empty (routing on metadata only)."""
        rows = self._read(Q["pending_events"], {"limit": limit, "payload": payload})
        return [events.event_from_row(row) for row in rows]

    def route(self, event_id: str, deliveries: Sequence[tuple[str, str]], now_ms: int) -> int:
        """Create one delivery, due now, per (route, destination) and mark the event `routed`
        (`unrouted` when there are none), atomically. Does nothing unless the event is still
        `pending`, so routing it again after a crash or a race cannot double its deliveries.
        Returns how many deliveries were created."""
        return self.route_many([(event_id, deliveries)], now_ms)

    def route_many(
        self, routed: Sequence[tuple[str, Sequence[tuple[str, str]]]], now_ms: int
    ) -> int:
        """`route` for many events in one transaction: the worker's batch, one commit."""
        with self._write() as conn:
            return _route_batch(conn, routed, now_ms)

    def route_none(self) -> int:
        """With no routes: every pending event is unrouted (replays included), without reading
        them; the cursor moves to the newest event. Returns how many events that settled."""
        with self._write() as conn:
            cursor: int = conn.execute(Q["cursor"]).fetchone()[0]
            replays = conn.execute(Q["replays_unrouted"]).rowcount
            newest: int = conn.execute(Q["cursor_to_newest"]).fetchone()[0]
        return replays + newest - cursor

    # -- delivering -------------------------------------------------------------------------

    def claim(
        self,
        now_ms: int,
        lease_ms: int,
        limit: int,
        paused: Collection[str] = (),
        per_destination_limit: Mapping[str, int] | None = None,
        rate_limits: Mapping[str, ports.RateLimit] | None = None,
    ) -> list[models.Claim]:
        """Lease up to `limit` due deliveries (earliest due first) until now + lease_ms.

        Deliveries of `paused` destinations are skipped. `per_destination_limit` caps how many
        deliveries of a destination are leased at once (in flight), those leased earlier included.
        A destination with a rate limit (per second, burst) gets as many as may start within
        ratelimit.BOOK_AHEAD_MS, each with its `not_before_ms`; the rate is kept in the store,
        so worker processes claiming side by side keep it together.
        An expired lease (its worker crashed or stalled) makes the delivery claimable again."""
        rates = rate_limits or {}
        with self._write() as conn:
            room = dict(per_destination_limit or {})  # how many more each capped one may take
            if room:
                for destination, n in conn.execute(Q["in_flight"], (now_ms,)):
                    if destination in room:
                        room[destination] -= n
            tats: dict[str, float] = dict(conn.execute(Q["rate_tats"]).fetchall()) if rates else {}
            ratelimit.cap_room(room, tats, now_ms, rates, limit)
            ids = _lease_due(conn, now_ms, now_ms + lease_ms, limit, skip=paused, room=room)
            rows = conn.execute(Q["claimed"], (json.dumps(ids),)).fetchall()
            not_before, tats_after = ratelimit.book(
                tats, now_ms, rates, ((row[0], row[2]) for row in rows)
            )
            for destination, tat in tats_after.items():
                conn.execute(Q["set_rate_tat"], (destination, now_ms, tat))
        return [
            models.Claim(
                delivery_id=str(delivery_id),
                route=route,
                destination=destination,
                webhook_id=webhook_id,
                attempt=attempt,
                event=events.event_from_row(ev),
                lease_until_ms=lease,
                not_before_ms=not_before.get(delivery_id),
            )
            for delivery_id, route, destination, webhook_id, attempt, lease, *ev in rows
        ]

    def record(self, record: models.AttemptRecord, now_ms: int) -> bool:
        """Keep the attempt and move the delivery to its outcome, releasing its lease.

        Returns False when the delivery no longer follows this attempt (see the module
        docstring) or no longer exists (purged); the attempt row is kept in the first case."""
        return self.record_many([record], now_ms) == 1

    def record_many(self, records: Sequence[models.AttemptRecord], now_ms: int) -> int:
        """`record` for many attempts in one transaction, in order: the worker's outcomes of a
        step. Returns how many deliveries followed their attempt."""
        attempts = [
            (
                int(r.delivery_id),
                r.attempt,
                r.started_ms,
                r.duration_ms,
                r.status_code,
                r.error,
                r.excerpt,
            )
            for r in records
        ]
        settles = [
            (
                "pending" if r.outcome == "retry" else r.outcome,
                r.outcome,
                r.attempt,
                r.next_attempt_ms,
                now_ms,
                int(r.delivery_id),
            )
            for r in records
        ]
        with self._write() as conn:
            conn.executemany(Q["insert_attempt"], attempts)
            return conn.executemany(Q["settle"], settles).rowcount

    # -- operators --------------------------------------------------------------------------

    def dead(
        self, destination: str | None = None, limit: int = 50, before_id: int | None = None
    ) -> list[DeadLetter]:
        """The dead-letter queue, newest first; `before_id` is the last id of the previous page."""
        params = {"destination": destination, "before": before_id, "limit": limit}
        return [DeadLetter(*row) for row in self._read(Q["dead"], params)]

    def redrive(
        self,
        ids: Sequence[int] | None = None,
        destination: str | None = None,
        all: bool = False,
        *,
        now_ms: int,
        batch: int = 500,
    ) -> int:
        """Send dead deliveries (these ids, and/or of this destination, or `all`) back to the
        queue, due now, with attempts starting again at 1. Returns how many were redriven."""
        if ids is None and destination is None and not all:
            raise ValueError("redrive needs ids, a destination or all=True")
        chunks = [None] if ids is None else [ids[i : i + batch] for i in range(0, len(ids), batch)]
        total = 0
        for chunk in chunks:
            params = {
                "now": now_ms,
                "destination": destination,
                "ids": None if chunk is None else json.dumps(list(chunk)),
                "batch": batch,
            }
            while True:  # one short transaction per batch, so ingest never waits long
                with self._write() as conn:
                    changed = conn.execute(Q["redrive"], params).rowcount
                total += changed
                if changed < batch:
                    break
        return total

    def replay(
        self, event_ids: Sequence[str], now_ms: int, new_id: bool = False, batch: int = 500
    ) -> int:
        """Route these events again with today's routes. Their new deliveries keep the event id
        as webhook id, or get a fresh `msg_` one with `new_id`. Returns how many were found."""
        total = 0
        for start in range(0, len(event_ids), batch):
            chunk = event_ids[start : start + batch]
            params = [(_fresh_webhook_id(now_ms) if new_id else None, eid) for eid in chunk]
            with self._write() as conn:
                before = conn.total_changes
                conn.executemany(Q["replay"], params)
                total += conn.total_changes - before
        return total

    def replay_filter(self, where: ports.EventFilter, limit: int | None = None) -> list[str]:
        """Ids of the events matching `where`, oldest first: a bulk replay (len() for a dry run)."""
        params = asdict(where) | {"limit": -1 if limit is None else limit}
        return [row[0] for row in self._read(Q["match_events"], params)]

    def deliveries_of(self, event_id: str) -> list[Delivery]:
        return [Delivery(*row) for row in self._read(Q["deliveries_of"], (event_id,))]

    def attempts_of(self, delivery_id: int) -> list[Attempt]:
        return [Attempt(*row) for row in self._read(Q["attempts_of"], (delivery_id,))]

    def purge(self, older_than_ms: int, after: PurgePosition = START, batch: int = 500) -> Purged:
        """ports.DeliveryQueue.purge: each call reads at most `batch` rows, so an old backlog
        that must stay (a destination paused for weeks) is stepped over once per purge, not
        read again by every call."""
        with self._write() as conn:
            scanned = conn.execute(Q["purge_scan"], (*after, older_than_ms, batch)).fetchall()
            if not scanned:
                return Purged(0, 0, None)
            seqs = json.dumps([seq for _, seq in scanned])
            deleted: int = conn.execute(Q["purge_done"], (seqs,)).rowcount
        last_ms, last_seq = scanned[-1]
        go_on = (last_ms, last_seq) if len(scanned) == batch else None
        return Purged(deleted, len(scanned), go_on)

    def counts(self) -> dict[str, dict[str, int]]:
        """Events and deliveries by status, every status present (0 when none), one snapshot."""
        with self._lock, _unavailable():
            self._conn.execute("BEGIN")
            try:
                by_event = dict(self._conn.execute(Q["count_events"]).fetchall())
                by_delivery = dict(self._conn.execute(Q["count_deliveries"]).fetchall())
            finally:
                self._conn.execute("COMMIT")
        return {
            "events": {s: by_event.get(s, 0) for s in ("pending", "routed", "unrouted")},
            "deliveries": {s: by_delivery.get(s, 0) for s in ("pending", "delivered", "dead")},
        }

    def destination_counts(self) -> dict[str, dict[str, int]]:
        """Pending and dead deliveries per destination (destinations with neither are absent)."""
        out: dict[str, dict[str, int]] = {}
        for destination, status, n in self._read(Q["destination_counts"], ()):
            out.setdefault(destination, {"pending": 0, "dead": 0})[status] = n
        return out

    # -- destination state ------------------------------------------------------------------

    def set_paused(self, name: str, paused: bool, now_ms: int) -> None:
        """Pause or resume a destination at runtime (`whp destinations pause|resume`). The worker
        holds the deliveries of a destination paused here or in the config, queued, until both
        let go; claim() takes them as `paused`."""
        with self._write() as conn:
            conn.execute(Q["set_paused"], (name, int(paused), now_ms))

    def paused_destinations(self) -> set[str]:
        """Destinations paused at runtime (the config's `paused: true` is not stored here)."""
        return {row[0] for row in self._read(Q["paused_destinations"], ())}

    # -- plumbing ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: the write lock is taken up front (waiting up to the busy
        timeout), so it never fails half-way on a lock held by the ingest writer or the CLI."""
        with self._lock, _unavailable():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def _read(self, sql: str, params: Sequence[Any] | Mapping[str, Any]) -> list[Any]:
        with self._lock, _unavailable():
            return self._conn.execute(sql, params).fetchall()


def _route_batch(
    conn: sqlite3.Connection, routed: Sequence[tuple[str, Sequence[tuple[str, str]]]], now_ms: int
) -> int:
    """Route a batch with a few statements, not a few per event: the deliveries, the replays'
    status, and the cursor moved once past the new events - when they are the next ones after
    it, as pending_events gives them. Otherwise (routed out of order) the cursor cannot pass an
    earlier event still pending, and the new events get their status in their own rows."""
    ids = list(dict.fromkeys(event_id for event_id, _ in routed))
    states = {row[0]: row[1:] for row in conn.execute(Q["routing_states"], (json.dumps(ids),))}
    cursor = conn.execute(Q["cursor"]).fetchone()[0]
    new = [seq for status, _, seq in states.values() if status == "pending" and seq > cursor]
    in_order = not new or (
        conn.execute(Q["pending_upto"], (cursor, max(new))).fetchone()[0] == len(new)
    )
    rows: list[tuple[object, ...]] = []
    replayed: list[tuple[str, str]] = []
    marked: list[tuple[str, str]] = []
    for event_id, deliveries in routed:
        state = states.pop(event_id, None)  # popped: an id given twice is routed once
        if state is None:
            continue
        status, replay_webhook_id, seq = state
        decided = "routed" if deliveries else "unrouted"
        if status == "replay":
            replayed.append((decided, event_id))
        elif status != "pending" or seq <= cursor:
            continue
        elif not in_order:
            marked.append((decided, event_id))
        wid = replay_webhook_id or event_id
        rows += [(event_id, r, d, wid, now_ms, now_ms, now_ms) for r, d in deliveries]
    conn.executemany(Q["replayed"], replayed)
    conn.executemany(Q["set_event_status"], marked)
    conn.executemany(Q["insert_delivery"], rows)
    if new and in_order:
        conn.execute(Q["advance_cursor"], (max(new),))
    return len(rows)


def _lease_due(
    conn: sqlite3.Connection,
    now_ms: int,
    until_ms: int,
    limit: int,
    *,
    skip: Collection[str],
    room: Mapping[str, int],
) -> list[int]:
    """Lease up to `limit` due deliveries, earliest first, of destinations not in `skip` and with
    `room` left; the ids. Each destination's due range is read on its own, at most as many rows
    as it may take: the cost follows what is claimed, not the backlog of the others."""
    due: list[tuple[int, int]] = []
    for (destination,) in conn.execute(Q["pending_destinations"]).fetchall():
        take = min(limit, room.get(destination, limit))
        if take > 0 and destination not in skip:
            params = {"destination": destination, "now": now_ms, "limit": take}
            due += conn.execute(Q["due"], params).fetchall()
    chosen = [delivery_id for _, delivery_id in heapq.nsmallest(limit, due)]
    conn.execute(Q["lease"], (until_ms, json.dumps(chosen)))
    return chosen


@contextlib.contextmanager
def _unavailable() -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as exc:
        raise errors.StoreUnavailable(f"the store is unavailable: {exc}") from None


def _fresh_webhook_id(now_ms: int) -> str:
    return "msg_" + models.new_event_id(now_ms / 1000).removeprefix("evt_")
