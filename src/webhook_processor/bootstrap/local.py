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
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from webhook_processor import (
    bootstrap,
    config,
    errors,
    ports,
    services,
    wiring,
)
from webhook_processor.adapters import prometheus
from webhook_processor.adapters.sqlite import db as sqlite_db
from webhook_processor.adapters.sqlite import events as sqlite_events
from webhook_processor.adapters.sqlite import operations as sqlite_operations

if TYPE_CHECKING:  # imported where it is used: see _sender
    from webhook_processor.adapters.http import outbound

Clock = Callable[[], float]


@dataclass(frozen=True)
class Ingestion:
    """What `whp serve` runs: the ingest service, the services to start and stop with the server
    (the store writer, the worker, the alerts' notifier and monitor), and the metrics, whose
    gauges of the store `readings` refreshes."""

    ingest: services.ingest.Ingest
    store: sqlite_events.GroupCommitStore
    lifecycle: list[ports.Service]  # started in this order, stopped in the reverse
    registry: CollectorRegistry
    readings: services.monitoring.Readings
    monitor: services.monitoring.Monitor
    metrics: prometheus.PrometheusMetrics
    store_ops: ports.Operations  # the readings', on a read-only connection of their own

    def reconfigure(self, cfg: config.Config) -> None:
        """Count and read the destinations of a reloaded config (on the event loop)."""
        self.metrics.configure(cfg.destinations)
        self.readings.read = destination_views(cfg, self.store_ops)


def ingestion(
    cfg: config.Config, file: str, env: Mapping[str, str], clock: Clock = time.time
) -> Ingestion:
    sources = bootstrap.source_runtimes(cfg, file, env, clock)
    store = sqlite_events.GroupCommitStore(cfg.storage.path, cfg.storage.busy_timeout_seconds)
    store_ops = operations(cfg, readonly=True)  # the store exists: its writer made it
    readings = services.monitoring.Readings(destination_views(cfg, store_ops))
    registry = CollectorRegistry()
    metrics = prometheus.PrometheusMetrics(registry, cfg.destinations, lambda: readings.latest)
    worker = processor(cfg, file, env, clock, writer=store.writer, metrics=metrics)
    # Without routes, new events are not worth waking the worker for: its next poll marks all
    # of them unrouted at once.
    ingest = services.ingest.Ingest(
        sources, store, metrics, clock, on_stored=worker.wake if cfg.routes else lambda: None
    )
    notifier = services.notifying.Notifier(
        alert_receivers(cfg, file, env), alert_sender(cfg, file, env)
    )
    monitor = services.monitoring.Monitor(
        wiring.alert_rules(cfg), cfg.alerts.interval_seconds, readings, metrics, notifier, clock
    )
    return Ingestion(
        ingest,
        store,
        [store, worker, notifier, monitor],
        registry,
        readings,
        monitor,
        metrics,
        store_ops,
    )


def destination_views(
    cfg: config.Config, ops: ports.Operations
) -> Callable[[], list[services.operations.DestinationView]]:
    """The destinations of `cfg` as the store has them."""
    configs = {
        name: services.operations.DestinationConfig(dest.url, dest.paused)
        for name, dest in cfg.destinations.items()
    }
    return services.operations.Operator(ops, configs).destinations


def alert_receivers(
    cfg: config.Config, file: str, env: Mapping[str, str]
) -> list[services.notifying.Receiver]:
    """`alerts.notify`, with the signing keys resolved; one ConfigError for every problem."""
    problems: list[str] = []
    keys = bootstrap.alert_keys(cfg, env, problems)
    if problems:
        raise errors.ConfigError(file, problems)
    return [
        services.notifying.Receiver(f"alerts.notify[{i}]", receiver.url, key)
        for i, (receiver, key) in enumerate(zip(cfg.alerts.notify, keys, strict=True))
    ]


def alert_sender(cfg: config.Config, file: str, env: Mapping[str, str]) -> outbound.HttpSender:
    """The sender of alert notifications, apart from the deliveries' (connections of its own):
    each receiver goes out the way `delivery:` says for every destination."""
    problems: list[str] = []
    routes = {}
    for i, receiver in enumerate(cfg.alerts.notify):
        where = f"alerts.notify[{i}]"
        routes[where] = bootstrap.egress_route(cfg.delivery, receiver.url, where, env, problems)
    return bootstrap.sender_for(routes, file, problems)


def processor(
    cfg: config.Config,
    file: str,
    env: Mapping[str, str],
    clock: Clock = time.time,
    writer: Executor | None = None,
    metrics: ports.Metrics | None = None,
) -> services.worker.Worker:
    """The worker, with its destinations' signing keys resolved (every problem reported). Its
    writes run on `writer` (in `whp serve`, the store's writer thread), or on threads of its own."""
    destinations = bootstrap.destination_runtimes(cfg, file, env)
    sender = bootstrap.http_sender(cfg, file, env)
    conn = sqlite_db.connect(  # in serve, the store's checkpointer checkpoints
        cfg.storage.path, cfg.storage.busy_timeout_seconds, checkpoints=writer is None
    )
    ops = sqlite_operations.SqliteOperations(conn)  # retention, on the worker's connection
    queue = ops.queue
    retention = services.operations.Operator(ops, bootstrap.destination_configs(cfg), clock)
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
        retention=retention.purge_batches,
        metrics=metrics,
    )


def operations(cfg: config.Config, *, readonly: bool = False) -> sqlite_operations.SqliteOperations:
    """What operators read and change in the store, over its own connection (migrating the store
    unless `readonly`); its `queue` is the delivery queue on the same connection."""
    conn = sqlite_db.connect(cfg.storage.path, cfg.storage.busy_timeout_seconds, readonly=readonly)
    return sqlite_operations.SqliteOperations(conn)


def operator(
    cfg: config.Config, *, readonly: bool = False, create: bool = False, in_server: bool = False
) -> services.operations.Operator:
    """The operator's use cases over the store, on a connection of their own: for the CLI (the
    store must exist unless `create`; `readonly` for what only reads), or for the admin API of
    `whp serve` (`in_server`: the store's checkpointer checkpoints, as for the worker)."""
    if not create and not Path(cfg.storage.path).exists():
        raise errors.StoreUnavailable(f"no store at {cfg.storage.path} (has `whp serve` run yet?)")
    conn = sqlite_db.connect(
        cfg.storage.path,
        cfg.storage.busy_timeout_seconds,
        readonly=readonly,
        checkpoints=not in_server,
    )
    return services.operations.Operator(
        sqlite_operations.SqliteOperations(conn), bootstrap.destination_configs(cfg)
    )
