"""A large store for bench.dashboard, written straight into the SQLite file (no HTTP): the events
with the store's own insert (sql/queries.sql), then routed, attempted, delivered or dead through
the delivery queue's adapter (DeliveryQueue.route_many, record_many), as the worker does it, in
batches of a few thousand. 100,000 events take a few seconds here.

What it holds (seeded, so two runs hold the same): events over the last `days` days from three
sources (github 50 %, stripe 30 %, shopify 20 %), each with a provider delivery id and a small
JSON body; 3 % match no route (unrouted); the others have one delivery, github pushes a second
one (fan-out to `crm`); of the deliveries 1 % are still pending (their destination is paused in
the config, so the benchmark's server leaves them), 1.5 % dead after 3 failed attempts, and the
rest delivered, 10 % of them on a second attempt after a 503.
"""

from __future__ import annotations

import dataclasses
import json
import random
import sqlite3
import uuid
from collections.abc import Sequence
from pathlib import Path

from webhook_processor import models
from webhook_processor.adapters.sqlite import db as sqlite_db
from webhook_processor.adapters.sqlite import queue as sqlite_queue

BATCH = 5000
TYPES = {
    "github": ["push", "pull_request", "issues", "workflow_run", "release"],
    "stripe": ["payment_intent.succeeded", "charge.refunded", "invoice.paid", "customer.created"],
    "shopify": ["orders/create", "orders/paid", "products/update"],
}
WEIGHTS = {"github": 5, "stripe": 3, "shopify": 2}
# (route, destination, source): one route per source; github pushes also go to crm.
ROUTES = {
    "github": ("pushes", "orders"),
    "stripe": ("payments", "billing"),
    "shopify": ("shop", "warehouse"),
}
FAN_OUT = ("all-pushes", "crm")
DESTINATIONS = ("orders", "billing", "warehouse", "crm")


@dataclasses.dataclass(frozen=True)
class Seeded:
    events: int
    deliveries: int
    dead: int
    pending: int
    a_key: tuple[str, str]  # (source, delivery id) of an event in the middle of the store
    a_dead_event: str  # an event with a dead delivery (its page has the longest timeline)


def seed(path: Path, events: int, now_ms: int, days: float = 7.0, seed: int = 15) -> Seeded:
    rng = random.Random(seed)
    conn = sqlite_db.connect(str(path), 30.0)  # migrated: the schema `whp serve` opens
    conn.execute("PRAGMA synchronous = OFF")  # a benchmark's store, made once: no fsync needed
    queue = sqlite_queue.DeliveryQueue(conn)
    span_ms = int(days * 86_400_000)
    key: tuple[str, str] = ("", "")
    dead_event = ""
    deliveries = dead = pending = 0
    for start in range(0, events, BATCH):
        batch = [
            _event(rng, now_ms - span_ms + i * span_ms // events)
            for i in range(start, min(events, start + BATCH))
        ]
        with _transaction(conn):
            conn.executemany(sqlite_db.QUERIES["insert_event"], [e.row for e in batch])
        routed = [(e.id, _routes(e, rng)) for e in batch]
        batch_ms = batch[-1].received_ms + 200  # routed just after the last of them arrived
        queue.route_many(routed, batch_ms)
        created = _delivery_ids(conn, [e.id for e in batch])
        records: list[models.AttemptRecord] = []
        for delivery_id, event_id in created:
            fate = rng.random()
            if fate < 0.01:
                pending += 1
                continue
            if fate < 0.025:
                dead += 1
                dead_event = dead_event or event_id
                records += _failures(delivery_id, batch_ms, 3, last="dead")
            elif fate < 0.1:
                records += _failures(delivery_id, batch_ms, 1, last="retry")
                records.append(_delivered(delivery_id, 2, batch_ms + 2_000))
            else:
                records.append(_delivered(delivery_id, 1, batch_ms))
        deliveries += len(created)
        queue.record_many(records, batch_ms + 10_000)
        if start <= events // 2 < start + BATCH:
            middle = batch[events // 2 - start]
            key = (middle.source, middle.key)
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return Seeded(events, deliveries, dead, pending, key, dead_event)


@dataclasses.dataclass(frozen=True)
class _Event:
    id: str
    source: str
    event_type: str
    key: str
    received_ms: int
    row: tuple[object, ...]


def _event(rng: random.Random, received_ms: int) -> _Event:
    source = rng.choices(list(WEIGHTS), list(WEIGHTS.values()))[0]
    event_type = rng.choice(TYPES[source])
    key = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    event_id = f"evt_{received_ms:012x}{rng.getrandbits(80):020x}"
    body = json.dumps(
        {
            "id": key,
            "type": event_type,
            "created": received_ms // 1000,
            "data": {"object": {"amount": rng.randrange(100, 50_000), "currency": "eur"}},
            "repository": {"full_name": f"acme/repo-{rng.randrange(40)}", "private": False},
            "sender": {"login": f"user{rng.randrange(500)}", "type": "User"},
        },
        separators=(",", ":"),
    ).encode()
    headers = json.dumps(
        {
            "content-type": "application/json",
            "user-agent": f"{source}-hookshot/1.0",
            "x-delivery": key,
        }
    ).encode()
    row = (event_id, source, event_type, key, received_ms, "application/json", headers, body)
    return _Event(event_id, source, event_type, key, received_ms, row)


def _routes(event: _Event, rng: random.Random) -> list[tuple[str, str]]:
    if rng.random() < 0.03:
        return []  # unrouted
    routes = [ROUTES[event.source]]
    if event.event_type == "push":
        routes.append(FAN_OUT)
    return routes


def _delivery_ids(conn: sqlite3.Connection, event_ids: Sequence[str]) -> list[tuple[str, str]]:
    rows = conn.execute(
        "SELECT id, event_id FROM deliveries WHERE event_id IN (SELECT value FROM json_each(?))"
        " ORDER BY id",
        (json.dumps(list(event_ids)),),
    ).fetchall()
    return [(str(d), e) for d, e in rows]


def _failures(
    delivery_id: str, at_ms: int, count: int, last: models.Outcome
) -> list[models.AttemptRecord]:
    tries = []
    for n in range(1, count + 1):
        outcome: models.Outcome = last if n == count else "retry"
        refused = n % 2 == 0
        tries.append(
            models.AttemptRecord(
                delivery_id,
                n,
                at_ms + (n - 1) * 1_000,
                3 if refused else 41,
                None if refused else 503 if last == "retry" else 500,
                "no response" if refused else f"HTTP {503 if last == 'retry' else 500}",
                None if refused else '{"error":"upstream unavailable"}',
                outcome,
                at_ms + n * 1_000 if outcome == "retry" else None,
            )
        )
    return tries


def _delivered(delivery_id: str, attempt: int, at_ms: int) -> models.AttemptRecord:
    return models.AttemptRecord(delivery_id, attempt, at_ms, 35, 200, None, "ok", "delivered")


class _transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, *exc: object) -> None:
        self._conn.execute("COMMIT" if exc[0] is None else "ROLLBACK")


def config(db_path: Path) -> str:
    """whp.yaml for the benchmark's server: the sources and routes of the store, every
    destination paused in the config (so nothing changes while pages are timed)."""
    lines = [
        f"storage: {{path: {json.dumps(str(db_path))}}}",
        "admin: {token: 'env:BENCH_ADMIN_TOKEN'}",
        "logging: {level: warning}",
        "sources:",
        *(f"  {s}: {{verify: none}}" for s in TYPES),
        "destinations:",
        *(f"  {d}: {{url: 'http://127.0.0.1:9/{d}', paused: true}}" for d in DESTINATIONS),
        "routes:",
    ]
    for source, (route, destination) in ROUTES.items():
        lines.append(
            f"  - {{name: {route}, destination: {destination}, pattern: {{source: [{source}]}}}}"
        )
    lines.append(
        f"  - {{name: {FAN_OUT[0]}, destination: {FAN_OUT[1]}, pattern: {{detail-type: [push]}}}}"
    )
    return "\n".join(lines) + "\n"
