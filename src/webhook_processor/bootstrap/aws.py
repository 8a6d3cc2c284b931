"""The composition root of the AWS runtime: the Lambda functions (`container()`) and the operator's
commands with `--backend aws` (`operator()`). Never imports bootstrap/local.py.

A function's container is set up once, at its first invocation: the environment of docs/aws.md
(a missing variable is a ConfigError naming it), the config embedded in the package
(`$WHP_CONFIG`, else `$LAMBDA_TASK_ROOT/whp.yaml`), its secrets from Secrets Manager, then the
clients each function needs, made when first used. Nothing runs at import, so tools and tests
import the handlers without AWS.

Secrets: verification takes every value of a reference, AWSCURRENT then AWSPREVIOUS, so that a
rotation never rejects a webhook signed with the previous secret; deliveries sign with
AWSCURRENT. The values are read again every secrets.TTL_SECONDS (cached meanwhile), and the
sources or destinations are rebuilt when one changed, so a rotation reaches a warm container.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from webhook_processor import bootstrap, config_snapshot, errors, services, wiring
from webhook_processor.adapters.aws import (
    clients,
    deliverer,
    dynamodb,
    eventbridge,
    leases,
    mappings,
    metrics,
    names,
    operations,
    records,
    rotation,
    router,
    sqs,
)
from webhook_processor.adapters.aws import secrets as secrets_adapter
from webhook_processor.bootstrap import aws_secrets

if TYPE_CHECKING:
    from webhook_processor import config

log = logging.getLogger(__name__)

Clock = Callable[[], float]
T = TypeVar("T")
ENVIRONMENT = "the function's environment"  # where a ConfigError of a variable points
# docs/aws.md, "Environment of the functions": what cannot be derived from the prefix.
VARIABLES = {
    "WHP_PREFIX": "the resource prefix, wh-<environment_suffix>",
    "WHP_TABLE": "the DynamoDB table's name",
    "WHP_BUS": "the event bus's name",
    "WHP_INGEST_QUEUE_URL": "the ingest queue's URL",
    "WHP_BODIES_BUCKET": "the bucket of large bodies",
}


@dataclass(frozen=True, slots=True)
class Deployment:
    """The resources a function uses, from its environment."""

    prefix: str
    table: str
    bus: str
    ingest_queue_url: str
    bodies_bucket: str
    config_file: str


def deployment(env: Mapping[str, str]) -> Deployment:
    """The environment of docs/aws.md; one ConfigError naming every missing variable."""
    problems = [
        f"{name} is not set ({what}; docs/aws.md, 'Environment of the functions')"
        for name, what in VARIABLES.items()
        if not env.get(name, "").strip()
    ]
    prefix = env.get("WHP_PREFIX", "").strip()
    if prefix:
        try:
            names.check_prefix(prefix)
        except ValueError as exc:
            problems.append(f"WHP_PREFIX: {exc}")
    file = env.get("WHP_CONFIG", "").strip()
    if not file:
        root = env.get("LAMBDA_TASK_ROOT", "").strip()
        if root:
            file = str(Path(root) / "whp.yaml")
        else:
            problems.append("neither WHP_CONFIG nor LAMBDA_TASK_ROOT is set: where is whp.yaml?")
    if problems:
        raise errors.ConfigError(ENVIRONMENT, problems)
    return Deployment(
        prefix,
        env["WHP_TABLE"].strip(),
        env["WHP_BUS"].strip(),
        env["WHP_INGEST_QUEUE_URL"].strip(),
        env["WHP_BODIES_BUCKET"].strip(),
        file,
    )


def load_config(file: str) -> config.Config:
    """The deployed whp.yaml: as `whp aws build` validated it (whp-config.json beside it, made
    from these very bytes: config_snapshot.py), else validated now (pydantic: slower)."""
    path = Path(file)
    try:
        raw = path.read_bytes()
        snapshot = (path.parent / config_snapshot.FILE).read_bytes()
    except OSError:
        pass  # config.load names what is missing
    else:
        found = config_snapshot.load(snapshot, raw, path.parent)
        if found is not None:
            return found
        log.warning("%s was not made from this whp.yaml: validating it", config_snapshot.FILE)
    try:
        from webhook_processor import config  # noqa: PLC0415 - pydantic: only without a snapshot
    except ImportError:  # the Lambda package has no pydantic: its whp.yaml was changed
        raise errors.ConfigError(
            file,
            [
                f"not the whp.yaml {config_snapshot.FILE} was made from (edited after "
                "`whp aws build`?): build the package again"
            ],
        ) from None
    return config.load(path)


class Container:
    """What one Lambda container holds, made at its first invocation (`container()`)."""

    def __init__(self, env: Mapping[str, str], clock: Clock = time.time) -> None:
        self.deployment = deployment(env)
        self.file = self.deployment.config_file
        self.config = load_config(self.file)
        self.env = env
        self.clock = clock
        self.secrets = aws_secrets.Secrets(secrets_adapter.Resolver(self.deployment.prefix), env)
        self.metrics = metrics.Metrics()
        # One loop for the container's life: the delivery transport's pooled connections
        # belong to it, and are reused by the next invocation.
        self.loop = asyncio.new_event_loop()
        self._senders: list[Any] = []

    def close(self) -> None:
        """Close the delivery transport's connections, then the loop (tests; Lambda just ends
        the container)."""
        for sender in self._senders:
            self.run(sender.aclose())
        self.loop.close()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(work)

    @functools.cached_property
    def table(self) -> dynamodb.Table:
        return dynamodb.Table(self.deployment.table, self.deployment.bodies_bucket)

    @functools.cached_property
    def sqs_client(self) -> Any:
        return clients.sqs()

    @functools.cache  # noqa: B019 - one container, for its life
    def destination_queue(self, destination: str) -> sqs.Queue:
        """A destination's queue, by name (GetQueueUrl once per container)."""
        queue_name = names.destination_queue(self.deployment.prefix, destination)
        with dynamodb.unavailable(f"finding the queue {queue_name}"):
            url = self.sqs_client.get_queue_url(QueueName=queue_name)["QueueUrl"]
        return sqs.Queue(str(url), self.sqs_client)

    # -- the functions -------------------------------------------------------------------------

    def ingest(self) -> Ingestion:
        return Ingestion(self)

    def router(self) -> router.Router:
        return router.Router(
            records.Records(self.table),
            eventbridge.Publisher(self.deployment.bus),
            wiring.routes(self.config),
            self.destination_queue,
            self.clock,
        )

    def deliverer(self) -> deliverer.Deliverer:
        cfg = self.config
        refs = [d.signing_secret for d in cfg.destinations.values() if d.signing_secret]
        self.secrets.prefetch(refs, previous=False)
        destinations = aws_secrets.Refreshed(
            refs,
            self.secrets.current,
            lambda: bootstrap.destination_runtimes(cfg, self.file, self.env, self.secrets.current),
        )
        queues = {names.destination_queue(self.deployment.prefix, n): n for n in cfg.destinations}
        sender = bootstrap.http_sender(cfg, self.file, self.env)
        self._senders.append(sender)
        return deliverer.Deliverer(
            records.Records(self.table),
            destinations,
            sender,
            queues,
            self.destination_queue,
            self.clock,
            leases_=leases.Leases(self.table, self.clock),
        )


class Ingestion:
    """The ingest function's service: services.ingest over the DynamoDB store and the hand-off
    to the ingest queue, its sources rebuilt when a secret rotates (rate limits kept)."""

    def __init__(self, container: Container) -> None:
        self._container = container
        cfg = container.config
        store = dynamodb.EventStore(
            container.table,
            sqs.Queue(container.deployment.ingest_queue_url, container.sqs_client),
            cfg.storage.retention_days,
        )
        refs = [ref for src in cfg.sources.values() for ref in src.secret_refs]
        container.secrets.prefetch(refs)
        self._sources = aws_secrets.Refreshed(refs, container.secrets.values, self._build)
        self.service = services.ingest.Ingest(
            self._sources(), store, container.metrics, container.clock
        )
        self._current = self._sources()

    def _build(self) -> dict[str, services.ingest.SourceRuntime]:
        c = self._container
        return bootstrap.source_runtimes(c.config, c.file, c.env, c.clock, c.secrets.values)

    def answer(
        self,
        name: str,
        body: bytes,
        headers: Mapping[str, str],
        url: Callable[[services.ingest.SourceRuntime], str],
    ) -> services.ingest.Answer:
        """docs/architecture.md's ingest contract for one request (`headers` lower-case)."""
        sources = self._sources()
        if sources is not self._current:  # a secret rotated: swap, keeping the token buckets
            kept = {
                name: dataclasses.replace(runtime, bucket=self._current[name].bucket)
                if name in self._current
                else runtime
                for name, runtime in sources.items()
            }
            self.service.swap(kept)
            self._current = sources
        return self._container.run(services.ingest.handle(self.service, name, body, headers, url))


_lock = threading.Lock()
_container: Container | None = None


def container(env: Mapping[str, str] | None = None, clock: Clock | None = None) -> Container:
    """This process's container, made at the first call (the first invocation); a failure is
    raised and tried again at the next invocation (a secret put meanwhile is then found)."""
    global _container  # noqa: PLW0603 - one per Lambda container, by design
    with _lock:
        if _container is None:
            _container = Container(os.environ if env is None else env, clock or time.time)
        return _container


def rotator() -> tuple[rotation.Rotation, metrics.Metrics]:
    """The rotation function's: it needs no config, only Secrets Manager."""
    return rotation.Rotation(), metrics.Metrics()


def reset() -> None:
    """Forget the container (tests: a new environment, a new deployment)."""
    global _container  # noqa: PLW0603
    with _lock:
        if _container is not None:
            _container.close()
        _container = None


# -- the operator's commands (`whp ... --backend aws --outputs FILE`) -------------------------

OUTPUTS = ("table_name", "ingest_queue_url", "destination_queue_urls", "function_names")


def outputs(file: str) -> dict[str, Any]:
    """`terraform output -json` (each output `{"value": ...}`), or plain values by name."""
    try:
        doc = json.loads(Path(file).read_text(encoding="utf-8"))
    except OSError as exc:
        raise errors.UsageError(f"--outputs {file}: cannot read: {exc.strerror}") from None
    except ValueError as exc:
        raise errors.UsageError(f"--outputs {file}: not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise errors.UsageError(f"--outputs {file}: want the object of `terraform output -json`")
    found = {k: v["value"] if isinstance(v, dict) and "value" in v else v for k, v in doc.items()}
    missing = [name for name in OUTPUTS if name not in found]
    if missing:
        raise errors.UsageError(
            f"--outputs {file}: no {', '.join(missing)} (want `terraform output -json` of the "
            "whp module's deployment)"
        )
    return found


def operator(cfg: config.Config, outputs_file: str) -> services.operations.Operator:
    """services.operations.Operator over the deployment the outputs describe."""
    out = outputs(outputs_file)
    table = dynamodb.Table(str(out["table_name"]), str(out.get("bodies_bucket_name") or ""))
    sqs_client = clients.sqs()
    queue_urls: dict[str, str] = {str(k): str(v) for k, v in out["destination_queue_urls"].items()}

    def queue_for(destination: str) -> sqs.Queue:
        url = queue_urls.get(destination)
        if url is None:
            raise errors.NotFound(f"no queue of destination {destination!r} in {outputs_file}")
        return sqs.Queue(url, sqs_client)

    ops = operations.Operations(
        table,
        cfg.storage.retention_days,
        destinations=sorted(cfg.destinations),
        ingest=sqs.Queue(str(out["ingest_queue_url"]), sqs_client),
        queue_for=queue_for,
        event_sources=mappings.Mappings(
            str(out["function_names"]["delivery"]), queue_urls, sqs_client=sqs_client
        ),
    )
    return services.operations.Operator(ops, bootstrap.destination_configs(cfg))


def redrive_queues(
    cfg: config.Config, outputs_file: str, destination: str | None
) -> dict[str, sqs.Redriven]:
    """Every message of each destination's DLQ (or of `destination`'s) back to its queue: an SQS
    message move task where the endpoint has them, else a bounded receive/send/delete loop
    (adapters/aws/sqs.py). The delivery function revives each dead delivery as its message
    comes (attempts from 1) and drops the stale ones, so the DLQ ends empty."""
    out = outputs(outputs_file)
    queues: dict[str, str] = {str(k): str(v) for k, v in out["destination_queue_urls"].items()}
    dlqs: dict[str, str] = {
        str(k): str(v) for k, v in (out.get("destination_dlq_urls") or {}).items()
    }
    chosen = sorted(cfg.destinations) if destination is None else [destination]
    missing = [d for d in chosen if d not in queues or d not in dlqs]
    if missing:
        raise errors.UsageError(
            f"--outputs {outputs_file}: no destination_queue_urls / destination_dlq_urls for "
            f"{', '.join(missing)}"
        )
    client = clients.sqs()
    return {d: sqs.redrive(client, dlqs[d], queues[d]) for d in chosen}
