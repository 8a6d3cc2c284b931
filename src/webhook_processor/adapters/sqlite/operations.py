"""The Operations port on SQLite: what operators read and change in a local store.

It shares the delivery queue's connection and rules (adapters/sqlite/queue.py: replay, redrive,
pauses, purge) and adds the listings: events newest first by `seq` (the store's insertion order),
dead letters newest first by delivery id. Cursors are those positions, made opaque (`cursors`).
"""

from __future__ import annotations

import sqlite3
import typing
from collections.abc import Mapping, Sequence

from webhook_processor import cursors, errors, models, ports
from webhook_processor.adapters.sqlite import db, events, queue

Q = db.named_queries("operations.sql")
_STATUSES = (*typing.get_args(models.EventStatus), "dead")  # dead: with a dead delivery
_EQUALS = (
    ("source", "source"),
    ("event_type", "event_type"),
    ("idempotency_key", "idempotency_key"),
)


class SqliteOperations:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._queue = queue.DeliveryQueue(conn)
        self._reader = events.Reader(conn)

    @property
    def queue(self) -> queue.DeliveryQueue:
        return self._queue

    # -- events -----------------------------------------------------------------------------

    def events(
        self, where: ports.EventFilter, limit: int, cursor: str | None = None
    ) -> ports.Page[models.Event]:
        if where.status is not None and where.status not in _STATUSES:
            raise errors.UsageError(
                f"status {where.status[:100]!r} is not one of {', '.join(_STATUSES)}"
            )
        clauses: list[str] = []
        args: list[object] = []
        for field, column in _EQUALS:
            value = getattr(where, field)
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if where.idempotency_key is not None and where.source is None:
            clauses.append("source IN (" + Q["key_sources"] + ")")  # to read the dedupe index
        if where.status == "dead":
            clauses.append(
                "EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status = 'dead')"
            )
        elif where.status == "pending":
            clauses.append(Q["pending_filter"])
        elif where.status is not None:
            clauses.append("status = ?")
            args.append(where.status)
        if where.since_ms is not None:
            clauses.append("received_ms >= ?")
            args.append(where.since_ms)
        if where.until_ms is not None:
            clauses.append("received_ms < ?")
            args.append(where.until_ms)
        if cursor is not None:
            clauses.append("seq < ?")
            args.append(cursors.integers(cursor, "seq")["seq"])
        sql = Q["list_events"]
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY seq DESC LIMIT ?"
        rows = self._queue._read(sql, (*args, limit + 1))
        page = [events.event_from_row((*row[1:7], b"{}", b"", row[7])) for row in rows[:limit]]
        more = len(rows) > limit
        return ports.Page(page, cursors.encode({"seq": rows[limit - 1][0]}) if more else None)

    def event(self, event_id: str) -> models.Event | None:
        with self._queue._lock:
            return self._reader.get(event_id)

    def deliveries(self, event_id: str) -> Sequence[models.Delivery]:
        return [
            models.Delivery(
                id=str(d.id),
                event_id=d.event_id,
                route=d.route,
                destination=d.destination,
                webhook_id=d.webhook_id,
                status=d.status,
                attempts=d.attempts,
                next_attempt_ms=d.next_attempt_ms if d.status == "pending" else None,
                created_ms=d.created_ms,
                updated_ms=d.updated_ms,
                history=tuple(
                    models.Attempt(
                        a.number,
                        a.started_ms,
                        a.duration_ms,
                        a.status_code,
                        a.error,
                        a.response_excerpt,
                    )
                    for a in self._queue.attempts_of(d.id)
                ),
            )
            for d in self._queue.deliveries_of(event_id)
        ]

    def replay(self, event_ids: Sequence[str], now_ms: int, new_id: bool = False) -> int:
        return self._queue.replay(event_ids, now_ms, new_id=new_id)

    # -- the dead-letter queue --------------------------------------------------------------

    def dead_letters(
        self, destination: str | None, limit: int, cursor: str | None = None
    ) -> ports.Page[models.DeadLetter]:
        before = None if cursor is None else cursors.integers(cursor, "id")["id"]
        found = self._queue.dead(destination, limit + 1, before)
        page = [
            models.DeadLetter(
                delivery_id=str(d.id),
                event_id=d.event_id,
                route=d.route,
                destination=d.destination,
                webhook_id=d.webhook_id,
                attempts=d.attempts,
                last_status_code=d.last_status_code,
                last_error=d.last_error,
                dead_ms=d.died_ms,
            )
            for d in found[:limit]
        ]
        more = len(found) > limit
        return ports.Page(page, cursors.encode({"id": found[limit - 1].id}) if more else None)

    def redrive(self, delivery_ids: Sequence[str], now_ms: int) -> int:
        ids = [_delivery_id(i) for i in delivery_ids]  # every one checked before any is redriven
        return self._queue.redrive(ids, now_ms=now_ms) if ids else 0

    # -- destinations and counts ------------------------------------------------------------

    def set_paused(self, destination: str, paused: bool, now_ms: int) -> None:
        self._queue.set_paused(destination, paused, now_ms)

    def paused(self) -> set[str]:
        return self._queue.paused_destinations()

    def destinations(self, now_ms: int) -> Mapping[str, models.DestinationState]:
        paused = self.paused()
        found = {
            name: models.DestinationState(
                name, name in paused, pending, dead, in_flight, waiting_since
            )
            for name, pending, dead, in_flight, waiting_since in self._queue._read(
                Q["destination_health"], {"now": now_ms}
            )
        }
        for name in paused - found.keys():
            found[name] = models.DestinationState(name, True, 0, 0, 0, None)
        return found

    def counts(self) -> tuple[Mapping[str, int], Mapping[str, int]]:
        """Events and deliveries by status, from one snapshot, through the indexes (the stats
        are polled by every open dashboard: operations.sql says how)."""
        with self._queue._lock, queue._unavailable():
            self._conn.execute("BEGIN")
            try:
                by_event = self._conn.execute(Q["event_counts"]).fetchone()
                by_delivery = self._conn.execute(Q["delivery_counts"]).fetchone()
            finally:
                self._conn.execute("COMMIT")
        return (
            dict(zip(("pending", "routed", "unrouted"), by_event, strict=True)),
            dict(zip(("pending", "delivered", "dead"), by_delivery, strict=True)),
        )

    def activity(self, since_ms: int) -> ports.Activity:
        ((received,),) = self._queue._read(Q["received_since"], (since_ms,))
        ((delivered, failed),) = self._queue._read(Q["attempts_since"], (since_ms,))
        return ports.Activity(received, delivered, failed)

    # -- retention --------------------------------------------------------------------------

    def purge(self, older_than_ms: int, cursor: str | None = None) -> ports.PurgeBatch:
        after = queue.START
        if cursor is not None:
            position = cursors.integers(cursor, "ms", "seq")
            after = (position["ms"], position["seq"])
        done = self._queue.purge(older_than_ms, after)
        go_on = (
            None
            if done.after is None
            else cursors.encode({"ms": done.after[0], "seq": done.after[1]})
        )
        return ports.PurgeBatch(done.deleted, done.looked_at, go_on)


def _delivery_id(value: str) -> int:
    if not (value.isascii() and value.isdigit()):
        raise errors.UsageError(
            f"{value[:100]!r} is not a delivery id of the SQLite store (a whole number)"
        )
    return int(value)
