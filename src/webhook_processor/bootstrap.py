"""The composition root: reads the config once, resolves secrets, and wires adapters into services.

Nothing else reads the environment; entrypoints call these functions and get ready-made objects.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema import exceptions as jsonschema_errors
from prometheus_client import CollectorRegistry

from webhook_processor import (
    config,
    delivery,
    errors,
    ports,
    presets,
    processing,
    ratelimit,
    routing,
    secrets,
    services,
    verify,
)
from webhook_processor.adapters import http, prometheus
from webhook_processor.adapters.sqlite import db as sqlite_db
from webhook_processor.adapters.sqlite import events as sqlite_events
from webhook_processor.adapters.sqlite import queue as sqlite_queue

Clock = Callable[[], float]


def source_runtimes(
    cfg: config.Config, file: str, env: Mapping[str, str], clock: Clock = time.time
) -> dict[str, services.SourceRuntime]:
    """Everything ingest needs per source. Collects every problem into one ConfigError."""
    problems: list[str] = []
    out = {}
    for name, src in cfg.sources.items():
        where = f"sources.{name}"
        values = _source_secrets(src, where, env, problems)
        try:
            check = verify.verifier(src, values)
        except ValueError as exc:
            problems.append(f"{where}.{'secrets' if src.secrets else 'secret'}: {exc}")
            continue
        schema = None
        if src.schema_ is not None:
            try:
                schema = schema_check(src.schema_)
            except ValueError as exc:
                problems.append(f"{where}.schema: {exc}")
        type_specs, key_specs = presets.specs(src)
        out[name] = services.SourceRuntime(
            name=name,
            verify=check,
            max_body_bytes=src.max_body_bytes,
            type_specs=type_specs,
            key_specs=key_specs,
            strip_headers=verify.credential_headers(src),
            public_url=src.public_url,
            signs_url=src.verify in ("twilio", "square"),
            bucket=(
                ratelimit.TokenBucket(src.rate_limit.per_second, src.rate_limit.capacity, clock())
                if src.rate_limit
                else None
            ),
            schema=schema,
            handshake=verify.slack.challenge if src.verify == "slack" else None,
        )
    if problems:
        raise errors.ConfigError(file, problems)
    return out


def _source_secrets(
    src: config.Source, where: str, env: Mapping[str, str], problems: list[str]
) -> list[str]:
    values = []
    for i, ref in enumerate(src.secret_refs):
        key = f"secrets[{i}]" if src.secrets is not None else "secret"
        try:
            values.append(secrets.resolve(ref, env))
        except errors.SecretError as exc:
            problems.append(f"{where}.{key}: {exc.detail}")
    return values


def schema_check(path: str) -> services.SchemaCheck:
    """Load and compile a JSON Schema file (JSON or YAML); ValueError naming what is wrong."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    try:
        document: Any = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ValueError(f"{path} is not valid JSON/YAML: {exc}") from None
    cls = jsonschema.validators.validator_for(document)
    try:
        cls.check_schema(document)
    except jsonschema_errors.SchemaError as exc:
        raise ValueError(f"{path} is not a valid JSON Schema: {exc.message}") from None
    validator = cls(document, format_checker=cls.FORMAT_CHECKER)

    def check(detail: Any) -> None:
        try:
            error = jsonschema_errors.best_match(validator.iter_errors(detail))
        except RecursionError:  # jsonschema recurses along the payload, and into its repr
            raise errors.SchemaViolation(
                "payload nests too deeply to be checked against the source's schema"
            ) from None
        if error is not None:
            # The message quotes the payload's value, which may be as long as the body allows.
            raise errors.SchemaViolation(
                f"payload does not match the source's schema: {errors.cut(error.message, 300)}"
                f" at {errors.cut(error.json_path, 200)}"
            )

    return check


def resolve_secret(ref: str, where: str, file: str, env: Mapping[str, str]) -> str:
    try:
        return secrets.resolve(ref, env)
    except errors.SecretError as exc:
        raise errors.ConfigError(file, [f"{where}: {exc.detail}"]) from None


@dataclass(frozen=True)
class Ingestion:
    """What `whp serve` runs: the ingest service, the services to start and stop with the server
    (the store writer, then the worker), and the metrics."""

    ingest: services.Ingest
    store: sqlite_events.GroupCommitStore
    services: list[ports.Service]
    registry: CollectorRegistry


def ingestion(
    cfg: config.Config, file: str, env: Mapping[str, str], clock: Clock = time.time
) -> Ingestion:
    sources = source_runtimes(cfg, file, env, clock)
    store = sqlite_events.GroupCommitStore(cfg.storage.path, cfg.storage.busy_timeout_seconds)
    worker = processor(cfg, file, env, clock, writer=store.writer)
    registry = CollectorRegistry()
    # Without routes, new events are not worth waking the worker for: its next poll marks all
    # of them unrouted at once.
    ingest = services.Ingest(
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
) -> processing.Processor:
    """The worker, with its destinations' signing keys resolved (every problem reported). Its
    writes run on `writer` (in `whp serve`, the store's writer thread), or on threads of its own."""
    problems: list[str] = []
    destinations = {}
    for name, dest in cfg.destinations.items():
        key = None
        if dest.signing_secret is not None:
            try:
                key = delivery.signing_key(secrets.resolve(dest.signing_secret, env))
            except (errors.SecretError, ValueError) as exc:
                problems.append(f"destinations.{name}.signing_secret: {exc}")
        destinations[name] = processing.DestinationRuntime(name, dest, key)
    if problems:
        raise errors.ConfigError(file, problems)
    queue = delivery_queue(cfg, checkpoints=writer is None)  # in serve, the store checkpoints
    # The worker's own writes (routing, attempts) need no fsync of their own: a crash can only
    # lose the latest of them, and the events, fsynced at ingest, are then routed or attempted
    # again - at-least-once, as designed. The next ingest commit's fsync persists them anyway.
    # An fsync under SQLite's one write lock would stall the ingest writer behind it.
    queue.relax_durability()
    paused_in_config = {name for name, dest in cfg.destinations.items() if dest.paused}

    def paused() -> set[str]:
        return paused_in_config | queue.paused_destinations()

    return processing.Processor(
        routing.compile_routes(cfg.routes),
        destinations,
        queue,
        http.HttpSender(),
        paused,
        clock,
        processing.Settings(retention_days=cfg.storage.retention_days),
        writer=writer,
    )


def event_reader(cfg: config.Config) -> ports.EventReader:
    return sqlite_events.Reader(
        sqlite_db.connect(cfg.storage.path, cfg.storage.busy_timeout_seconds, readonly=True)
    )


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
