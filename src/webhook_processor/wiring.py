"""From whp.yaml's validated config to the domain's small frozen types.

The composition roots (bootstrap: `whp serve`, `whp worker`, the CLI; the Lambda handlers) build
what the domain takes from here, so that nothing below them reads the config: the verification
spec of a source, the retry policy, the destinations, the routes.
"""

from __future__ import annotations

from collections.abc import Sequence

from webhook_processor import config, routing, verify


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
