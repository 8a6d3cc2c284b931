"""The composition root: reads the config once, resolves secrets, and builds what the services
take; bootstrap/local.py and bootstrap/aws.py wire each runtime's adapters into them.

Nothing else reads the environment; entrypoints call these functions and get ready-made objects.
`load` runs every check `whp serve` runs before it opens the store or binds its port, so that
`whp check` refuses what `whp serve` would, and both say every problem of the file at once.

What only reading and checking a whp.yaml needs (config.py's pydantic models, yaml, the wording
of problems) and jsonschema (for `schema:` files) are imported where used: the AWS runtime builds
from a config validated at build time (bootstrap/aws.py) and pays for none of them at its cold
start.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webhook_processor import (
    delivery,
    errors,
    presets,
    ratelimit,
    routing,
    secrets,
    services,
    verify,
    wiring,
)

if TYPE_CHECKING:
    from webhook_processor import config, egress
    from webhook_processor.adapters.http.outbound import HttpSender

Clock = Callable[[], float]
# Every value a secret reference may hold now: one for `env:` and `file:`; on AWS, AWSCURRENT then
# AWSPREVIOUS (bootstrap/aws.py), so that verification accepts both during a rotation.
Resolve = Callable[[str], Sequence[str]]


def load(file: str, env: Mapping[str, str]) -> config.Config:
    """The config at `file`, checked as `whp serve` checks it before it opens anything: the file,
    then the secrets, schema files and signing keys of every part that validated (a typo in one
    source does not hide an unset secret of another). Every problem in one ConfigError."""
    from webhook_processor import config  # noqa: PLC0415 - see the module docstring
    from webhook_processor import problems as wording  # noqa: PLC0415

    loaded = config.read(file)
    problems = [*loaded.problems, *startup_problems(loaded.valid, env)]
    problems = [wording.bounded(line, wording.PROBLEM_CHARS) for line in problems]
    if loaded.config is None or problems:
        raise errors.ConfigError(loaded.file, problems)
    return loaded.config


def startup_problems(cfg: config.Config, env: Mapping[str, str]) -> list[str]:
    """What `whp serve` would refuse in `cfg` beyond its schema, as `key path: problem` lines."""
    problems: list[str] = []
    _source_runtimes(cfg, env, time.time, problems)
    signing_keys(cfg, env, problems)
    alert_keys(cfg, env, problems)
    if cfg.admin.token is not None:
        try:
            secrets.resolve(cfg.admin.token, env)
        except errors.SecretError as exc:
            problems.append(f"admin.token: {exc.detail}")
    return problems


def source_runtimes(
    cfg: config.Config,
    file: str,
    env: Mapping[str, str],
    clock: Clock = time.time,
    resolve: Resolve | None = None,
) -> dict[str, services.ingest.SourceRuntime]:
    """Everything ingest needs per source, each secret reference giving every value `resolve`
    finds for it (default: the one of `env:` or `file:`). Collects every problem into one
    ConfigError."""
    problems: list[str] = []
    out = _source_runtimes(cfg, env, clock, problems, resolve)
    if problems:
        raise errors.ConfigError(file, problems)
    return out


def _source_runtimes(
    cfg: config.Config,
    env: Mapping[str, str],
    clock: Clock,
    problems: list[str],
    resolve: Resolve | None = None,
) -> dict[str, services.ingest.SourceRuntime]:
    out = {}
    for name, src in cfg.sources.items():
        where = f"sources.{name}"
        values = _source_secrets(src, where, resolve or _resolver(env), problems)
        spec = wiring.source_spec(src)
        try:
            check = verify.verifier(spec, values)
        except ValueError as exc:
            problems.append(f"{where}.{'secrets' if src.secrets else 'secret'}: {exc}")
            continue
        schema = None
        if src.schema_ is not None:
            try:
                schema = schema_check(src.schema_)
            except ValueError as exc:
                problems.append(f"{where}.schema: {exc}")
        type_specs, key_specs = presets.specs(spec)
        out[name] = services.ingest.SourceRuntime(
            name=name,
            verify=check,
            max_body_bytes=src.max_body_bytes,
            type_specs=type_specs,
            key_specs=key_specs,
            strip_headers=verify.credential_headers(spec),
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
    return out


def _source_secrets(
    src: config.Source, where: str, resolve: Resolve, problems: list[str]
) -> list[str]:
    values: list[str] = []
    for i, ref in enumerate(src.secret_refs):
        key = f"secrets[{i}]" if src.secrets is not None else "secret"
        try:
            values += resolve(ref)
        except errors.SecretError as exc:
            problems.append(f"{where}.{key}: {exc.detail}")
    return values


def _resolver(env: Mapping[str, str]) -> Resolve:
    def resolve(ref: str) -> Sequence[str]:
        return (secrets.resolve(ref, env),)

    return resolve


def schema_check(path: str) -> services.ingest.SchemaCheck:
    """Load and compile a JSON Schema file (JSON or YAML); ValueError naming what is wrong."""
    import jsonschema  # noqa: PLC0415 - see the module docstring
    import yaml  # noqa: PLC0415
    from jsonschema import exceptions as jsonschema_errors  # noqa: PLC0415

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


def signing_keys(
    cfg: config.Config, env: Mapping[str, str], problems: list[str], resolve: Resolve | None = None
) -> dict[str, bytes | None]:
    """Each destination's signing key (None: deliveries go unsigned), from the first value
    `resolve` gives (AWSCURRENT on AWS); `problems` gets the rest."""
    resolve = resolve or _resolver(env)
    return {
        name: _signing_key(
            dest.signing_secret, f"destinations.{name}.signing_secret", resolve, problems
        )
        for name, dest in cfg.destinations.items()
    }


def _signing_key(
    ref: str | None, where: str, resolve: Resolve, problems: list[str]
) -> bytes | None:
    """The `whsec_` key a reference names (None when there is none); `problems` gets why not."""
    if ref is None:
        return None
    try:
        return delivery.signing_key(resolve(ref)[0])
    except (errors.SecretError, ValueError) as exc:
        problems.append(f"{where}: {exc}")
        return None


def destination_configs(cfg: config.Config) -> dict[str, services.operations.DestinationConfig]:
    """What operators see of each destination's config (the Operator's view, both runtimes)."""
    return {
        name: services.operations.DestinationConfig(dest.url, dest.paused)
        for name, dest in cfg.destinations.items()
    }


def admin_token(cfg: config.Config, file: str, env: Mapping[str, str]) -> str | None:
    """The admin API's bearer token (None: no `admin.token`, so no admin API)."""
    if cfg.admin.token is None:
        return None
    return resolve_secret(cfg.admin.token, "admin.token", file, env)


def alert_keys(
    cfg: config.Config, env: Mapping[str, str], problems: list[str]
) -> list[bytes | None]:
    """Each `alerts.notify` receiver's signing key (None: unsigned); `problems` gets the rest."""
    resolve = _resolver(env)
    return [
        _signing_key(r.signing_secret, f"alerts.notify[{i}].signing_secret", resolve, problems)
        for i, r in enumerate(cfg.alerts.notify)
    ]


def http_sender(cfg: config.Config, file: str, env: Mapping[str, str]) -> HttpSender:
    """The sender of deliveries, each destination on its way out (egress.py). `proxy: env` reads
    `env` here, once; a proxy from there may carry credentials (never repeated in an error)."""
    problems: list[str] = []
    routes = {
        name: egress_route(cfg.egress_of(name), dest.url, f"destinations.{name}", env, problems)
        for name, dest in cfg.destinations.items()
    }
    return sender_for(routes, file, problems)


def egress_route(
    chosen: config.Egress, url: str, where: str, env: Mapping[str, str], problems: list[str]
) -> egress.Route:
    from webhook_processor import egress  # noqa: PLC0415 - cryptography's x509: deliveries only

    proxy = chosen.proxy
    if proxy == egress.PROXY_FROM_ENV:
        found = egress.proxy_from_environment(url, env)
        proxy = found[1] if found else None
        if found:
            try:
                egress.check_proxy(found[1], credentials=True)
            except ValueError as exc:
                problems.append(f"{where}.proxy: env: {found[0]}: {exc}")
    elif proxy == egress.NO_PROXY:
        proxy = None
    return egress.Route(proxy, chosen.ca_file, chosen.client_cert, chosen.client_key)


def sender_for(routes: dict[str, egress.Route], file: str, problems: list[str]) -> HttpSender:
    # Imported here, not with this module: httpx imports its own CLI (rich, pygments) wherever
    # click is installed, which every `whp` command, `whp --help` included, would pay for.
    from webhook_processor.adapters.http import outbound  # noqa: PLC0415

    if problems:
        raise errors.ConfigError(file, problems)
    try:
        return outbound.HttpSender(routes=routes)
    except (OSError, ValueError) as exc:  # the files changed since the config was checked
        raise errors.ConfigError(file, [f"delivery: cannot load a certificate: {exc}"]) from None


# -- reloading the config (SIGHUP) ---------------------------------------------------------------

# What a running process takes on from a reload; any other change waits for a restart.
_LIVE_SECTIONS = frozenset({"sources", "destinations", "routes"})
_SERVE_ONLY = frozenset({"sources", "server", "admin", "alerts"})  # `whp worker` uses none


def destination_runtimes(
    cfg: config.Config, file: str, env: Mapping[str, str], resolve: Resolve | None = None
) -> dict[str, delivery.Destination]:
    """The destinations with their signing keys resolved; one ConfigError for every problem."""
    problems: list[str] = []
    keys = signing_keys(cfg, env, problems, resolve)
    if problems:
        raise errors.ConfigError(file, problems)
    return {
        name: wiring.destination(name, dest, keys[name]) for name, dest in cfg.destinations.items()
    }


@dataclass(frozen=True)
class Reload:
    """The config file read again, checked and built, ready to be swapped in (`apply`)."""

    config: config.Config
    sources: dict[str, services.ingest.SourceRuntime] | None  # None for `whp worker`: it takes none
    routes: list[routing.Route]
    destinations: dict[str, delivery.Destination]
    needs_restart: list[str]  # the keys that changed but cannot be applied live


def reload(
    started: config.Config,
    file: str,
    env: Mapping[str, str],
    *,
    serving: bool,
    clock: Clock = time.time,
) -> Reload:
    """Read `file` again and build what a running process can take on from it: sources (when
    `serving`), destinations and routes, their secrets resolved again (a rotated `file:` secret
    is picked up). A config that does not validate is a ConfigError with every problem, and the
    running config stays. `started` is the config the process started with: storage, server,
    logging and admin changes are listed in `needs_restart`, not applied."""
    from webhook_processor import config  # noqa: PLC0415 - see the module docstring

    cfg = load(file, env) if serving else config.load(file)  # every problem at once
    problems: list[str] = []
    sources = None
    if serving:
        try:
            sources = source_runtimes(cfg, file, env, clock)
        except errors.ConfigError as exc:
            problems += exc.problems
    try:
        destinations = destination_runtimes(cfg, file, env)
    except errors.ConfigError as exc:
        problems += exc.problems
    if problems:
        raise errors.ConfigError(file, problems)
    return Reload(
        cfg,
        sources,
        wiring.routes(cfg),
        destinations,
        _needs_restart(started, cfg, serving),
    )


def apply(
    new: Reload,
    worker: services.worker.Worker,
    ingest: services.ingest.Ingest | None = None,
    current: config.Config | None = None,
) -> None:
    """Swap a reload into the running worker (and ingest): on the event loop. A source whose
    `rate_limit` did not change keeps its token bucket (`current`: the config running now), so
    that a reload lets no burst through."""
    paused_in_config = {name for name, dest in new.config.destinations.items() if dest.paused}
    queue = worker.queue

    def paused() -> set[str]:
        return paused_in_config | queue.paused_destinations()

    worker.swap(new.routes, new.destinations, paused)
    if ingest is None or new.sources is None:
        return
    sources = dict(new.sources)
    for name, runtime in sources.items():
        before = current.sources.get(name) if current is not None else None
        if before is not None and before.rate_limit == new.config.sources[name].rate_limit:
            sources[name] = dataclasses.replace(runtime, bucket=ingest.source(name).bucket)
    ingest.swap(sources, on_stored=worker.wake if new.config.routes else _nothing)


def _nothing() -> None:
    pass


def _needs_restart(started: config.Config, new: config.Config, serving: bool) -> list[str]:
    """The key paths, outside sources, destinations and routes, whose value changed."""
    import pydantic  # noqa: PLC0415 - see the module docstring

    from webhook_processor import config  # noqa: PLC0415

    changed = []
    for name, field in config.Config.model_fields.items():
        if name in _LIVE_SECTIONS or (not serving and name in _SERVE_ONLY):
            continue
        before, after = getattr(started, name), getattr(new, name)
        if before == after:
            continue
        key = field.alias or name
        if isinstance(before, pydantic.BaseModel) and type(before) is type(after):
            changed += [
                f"{key}.{sub.alias or attr}"
                for attr, sub in type(before).model_fields.items()
                if getattr(before, attr) != getattr(after, attr)
            ]
        else:
            changed.append(key)
    return changed
