"""Harnesses that put a store in a known state through each implementation's own write paths
(ingest, routing, attempts): the Operations contract and the services' tests share them. This
one is SQLite's; the DynamoDB one is in aws.py."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import orjson

from webhook_processor import models, ports
from webhook_processor.adapters.sqlite import db, operations

NOW = 1_700_000_000_000
_serial = itertools.count(1)


class Harness(Protocol):
    ops: ports.Operations
    runtime: str  # "local" or "aws": where the implementations differ by design, tests say so

    def add(self, event: models.Event) -> None: ...

    def catch_up(self) -> None:
        """What the runtime does after an operator's call, in the background: on AWS the router
        takes the ingest queue's messages (a replay's round begins); SQLite did it in the call."""
        ...

    def route(self, event_id: str, targets: Sequence[tuple[str, str]], at: int = NOW) -> None:
        """Route the event as the router would at `at`: one delivery per target, due then."""
        ...

    def start_attempt(self, event_id: str, route: str, at: int) -> object:
        """Take the event's delivery of `route` for an attempt that is still under way."""
        ...

    def attempt(
        self, event_id: str, route: str, status: int | None, error: str | None, dead: bool, at: int
    ) -> None:
        """Claim the event's delivery of `route` and record one attempt: delivered when
        `error` is None, else failed (retried, or dead with `dead`)."""
        ...

    def close(self) -> None: ...


class SqliteHarness:
    runtime = "local"
    LEASE_MS = 30_000

    def __init__(self, path: Path) -> None:
        self._conn = db.connect(str(path), 5)
        self.sqlite = operations.SqliteOperations(self._conn)
        self.ops: ports.Operations = self.sqlite  # and so it implements the port

    def close(self) -> None:
        self._conn.close()

    def add(self, event: models.Event) -> None:
        insert_event(self._conn, event)

    def catch_up(self) -> None:
        pass

    def route(self, event_id: str, targets: Sequence[tuple[str, str]], at: int = NOW) -> None:
        self.sqlite.queue.route(event_id, targets, at)

    def start_attempt(self, event_id: str, route: str, at: int) -> models.Claim:
        """Claimed by a worker, leased for LEASE_MS (with every other delivery due at `at`:
        call it when this one is the only one)."""
        queue = self.sqlite.queue
        mine = next(d for d in queue.deliveries_of(event_id) if d.route == route)
        claimed = [c for c in queue.claim(at, self.LEASE_MS, 500) if c.delivery_id == str(mine.id)]
        assert claimed, "the delivery is not due"
        return claimed[0]

    def attempt(
        self, event_id: str, route: str, status: int | None, error: str | None, dead: bool, at: int
    ) -> None:
        queue = self.sqlite.queue
        mine = next(d for d in queue.deliveries_of(event_id) if d.route == route)
        # A lease that ends at once: the other deliveries this claims stay claimable.
        claimed = [c for c in queue.claim(at, 0, 500) if c.delivery_id == str(mine.id)]
        assert claimed, "the delivery is not due"
        outcome: models.Outcome = "delivered" if error is None else "dead" if dead else "retry"
        queue.record(
            models.AttemptRecord(
                str(mine.id),
                claimed[0].attempt,
                started_ms=at,
                duration_ms=12,
                status_code=status,
                error=error,
                excerpt="nope" if error else None,
                outcome=outcome,
                next_attempt_ms=at if outcome == "retry" else None,
            ),
            at,
        )


def insert_event(conn: sqlite3.Connection, event: models.Event) -> None:
    """An event as the ingest writer stores it (the same INSERT, one row)."""
    conn.execute(
        db.QUERIES["insert_event"],
        (
            event.id,
            event.source,
            event.event_type,
            event.idempotency_key,
            event.received_ms,
            event.content_type,
            orjson.dumps(event.headers),
            event.body,
        ),
    )


def event(
    source: str = "stripe",
    event_type: str = "charge.succeeded",
    key: str | None = None,
    received_ms: int | None = None,
) -> models.Event:
    n = next(_serial)
    received = NOW - 100_000 + n if received_ms is None else received_ms
    return models.Event(
        id=f"evt_{received:012x}{n:020x}",  # as models.new_event_id makes them: time, then more
        source=source,
        event_type=event_type,
        idempotency_key=key,
        received_ms=received,
        content_type="application/json",
        headers={"stripe-signature": "t=1,v1=x"},
        body=b'{"n": %d}' % n,
    )


def stored(h: Harness, *made: models.Event) -> list[models.Event]:
    for e in made:
        h.add(e)
    return list(made)
