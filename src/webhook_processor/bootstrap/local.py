"""The composition root of the local runtime: SQLite, Prometheus and HTTP adapters wired into the
services of `whp serve`, `whp worker` and the CLI. (The AWS runtime's is bootstrap/aws.py; what
both share, from config and secrets to the domain's types, is bootstrap/__init__.py.)

Each function takes the adapters it may be given instead (a test wires its own).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from webhook_processor import bootstrap, config, ports, services, wiring
from webhook_processor.adapters import prometheus
from webhook_processor.adapters.http import outbound
from webhook_processor.adapters.sqlite import db as sqlite_db
from webhook_processor.adapters.sqlite import events as sqlite_events
from webhook_processor.adapters.sqlite import operations as sqlite_operations
from webhook_processor.adapters.sqlite import queue as sqlite_queue

Clock = Callable[[], float]


@dataclass(frozen=True)
class Ingestion:
    """What `whp serve` runs: the ingest service, the services to start and stop with the server
    (the store writer, then the worker), and the metrics."""

    ingest: services.ingest.Ingest
    store: sqlite_events.GroupCommitStore
    services: list[ports.Service]
    registry: CollectorRegistry


def ingestion(
    cfg: config.Config, file: str, env: Mapping[str, str], clock: Clock = time.time
) -> Ingestion:
    sources = bootstrap.source_runtimes(cfg, file, env, clock)
    store = sqlite_events.GroupCommitStore(cfg.storage.path, cfg.storage.busy_timeout_seconds)
    worker = processor(cfg, file, env, clock, writer=store.writer)
    registry = CollectorRegistry()
    # Without routes, new events are not worth waking the worker for: its next poll marks all
    # of them unrouted at once.
    ingest = services.ingest.Ingest(
        sources,
        store,
        prometheus.PrometheusMetrics(registry),
        clock,
        on_stored=worker.wake if cfg.routes else lambda: None,
    )
    return Ingestion(ingest, store, [store, worker], registry)


def processor(
    cfg: config.Config,
    file: str,
    env: Mapping[str, str],
    clock: Clock = time.time,
    writer: Executor | None = None,
) -> services.worker.Worker:
    """The worker, with its destinations' signing keys resolved (every problem reported). Its
    writes run on `writer` (in `whp serve`, the store's writer thread), or on threads of its own."""
    destinations = bootstrap.destination_runtimes(cfg, file, env)
    sender = http_sender(cfg, file, env)
    queue = delivery_queue(cfg, checkpoints=writer is None)  # in serve, the store checkpoints
    # The worker's own writes (routing, attempts) need no fsync of their own: a crash can only
    # lose the latest of them, and the events, fsynced at ingest, are then routed or attempted
    # again - at-least-once, as designed. The next ingest commit's fsync persists them anyway.
    # An fsync under SQLite's one write lock would stall the ingest writer behind it.
    queue.relax_durability()
    paused_in_config = {name for name, dest in cfg.destinations.items() if dest.paused}

    def paused() -> set[str]:
        return paused_in_config | queue.paused_destinations()

    return services.worker.Worker(
        wiring.routes(cfg),
        destinations,
        queue,
        sender,
        paused,
        clock,
        services.worker.Settings(retention_days=cfg.storage.retention_days),
        writer=writer,
    )


def http_sender(cfg: config.Config, file: str, env: Mapping[str, str]) -> outbound.HttpSender:
    return bootstrap.http_sender(cfg, file, env)


def event_reader(cfg: config.Config) -> ports.EventReader:
    return sqlite_events.Reader(
        sqlite_db.connect(cfg.storage.path, cfg.storage.busy_timeout_seconds, readonly=True)
    )


def operations(cfg: config.Config, *, readonly: bool = False) -> sqlite_operations.SqliteOperations:
    """What operators read and change in the store, over its own connection (migrating the store
    unless `readonly`); its `queue` is the delivery queue on the same connection."""
    conn = sqlite_db.connect(cfg.storage.path, cfg.storage.busy_timeout_seconds, readonly=readonly)
    return sqlite_operations.SqliteOperations(conn)


def delivery_queue(
    cfg: config.Config, *, readonly: bool = False, checkpoints: bool = True
) -> sqlite_queue.DeliveryQueue:
    """The delivery queue over its own connection (migrating the store unless `readonly`)."""
    conn = sqlite_db.connect(
        cfg.storage.path,
        cfg.storage.busy_timeout_seconds,
        readonly=readonly,
        checkpoints=checkpoints,
    )
    return sqlite_queue.DeliveryQueue(conn)
