"""From whp.yaml's validated config to the domain's small frozen types.

The composition roots (bootstrap: `whp serve`, `whp worker`, the CLI; the Lambda handlers) build
what the domain takes from here, so that nothing below them reads the config: the verification
spec of a source, the retry policy, the destinations, the routes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from webhook_processor import alerts, delivery, retry, routing, verify

if TYPE_CHECKING:  # config's attributes only: no pydantic for the AWS runtime's cold start
    from webhook_processor import config


def source_spec(src: config.Source) -> verify.Spec:
    return verify.Spec(
        scheme=src.verify,
        tolerance_seconds=src.tolerance_seconds,
        header=src.header,
        algorithm=src.algorithm,
        encoding=src.encoding,
        prefix=src.prefix,
        timestamp_header=src.timestamp_header,
        id_header=src.id_header,
        signed_content=src.signed_content,
        username=src.username,
        public_url=src.public_url,
        event_type=src.event_type,
        idempotency_key=src.idempotency_key,
    )


def routes(cfg: config.Config) -> list[routing.Route]:
    return compile_routes(cfg.routes)


def compile_routes(routes: Sequence[config.Route]) -> list[routing.Route]:
    return routing.compile_routes((r.name, r.destination, r.pattern) for r in routes)


def destination(name: str, dest: config.Destination, key: bytes | None) -> delivery.Destination:
    """A destination as deliveries see it, with its signing key (None: unsigned)."""
    return delivery.Destination(
        name=name,
        url=dest.url,
        signing_key=key,
        timeout_seconds=dest.timeout_seconds,
        retry=retry.Policy(
            max_attempts=dest.retry.max_attempts,
            initial_interval_seconds=dest.retry.initial_interval_seconds,
            multiplier=dest.retry.multiplier,
            max_interval_seconds=dest.retry.max_interval_seconds,
        ),
        forward_headers=tuple(dest.forward_headers),
        max_concurrency=dest.max_concurrency,
        rate_limit=(
            None
            if dest.rate_limit is None
            else (dest.rate_limit.per_second, dest.rate_limit.capacity)
        ),
        paused=dest.paused,
    )


def alert_rules(cfg: config.Config) -> list[alerts.Rule]:
    return [
        alerts.Rule(rule.name, rule.metric, rule.subject, rule.above, rule.window)
        for rule in cfg.alerts.rules
    ]
