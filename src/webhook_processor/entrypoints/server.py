"""`whp serve`: the ASGI app on uvicorn (httptools + uvloop), one process."""

from __future__ import annotations

import argparse
import logging
import os

import uvicorn
from starlette.types import ASGIApp

from webhook_processor import bootstrap, config, logs, processing
from webhook_processor.entrypoints import admin, reload, runtime, web

log = logging.getLogger("whp")


def run(args: argparse.Namespace) -> int:
    cfg = bootstrap.load(args.config, os.environ)  # every problem of the file at once
    logs.configure(args.log_level or cfg.logging.level, args.log_format or cfg.logging.format)
    parts = bootstrap.ingestion(cfg, args.config, os.environ)
    worker = next(s for s in parts.services if isinstance(s, processing.Processor))
    # SIGHUP reloads sources, destinations and routes (the reloader stops first, on shutdown).
    hangup = reload.Reloader(args.config, os.environ, cfg, worker, parts.ingest)
    app = web.App(
        parts.ingest,
        [*parts.services, hangup],
        parts.registry,
        admin=admin_api(cfg, args.config),
    )
    host = args.host or cfg.server.host
    port = cfg.server.port if args.port is None else args.port
    log.info(
        "whp serving on http://%s:%d - sources: %s - store: %s",
        host,
        port,
        ", ".join(sorted(cfg.sources)) or "none",
        cfg.storage.path,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            loop="uvloop",
            http=web.HttpProtocol.counting_into(parts.ingest),  # uvicorn's, with limits
            lifespan="on",
            access_log=False,
            log_config=None,
            timeout_graceful_shutdown=10,
            backlog=4096,
            proxy_headers=False,  # ingest uses no client address; saves work per request
        )
    )
    runtime.prepare()
    server.run()
    return 0 if server.started else 1


def admin_api(cfg: config.Config, file: str) -> ASGIApp | None:
    """The admin API over the store, on a connection of its own; None without `admin.token`."""
    token = bootstrap.admin_token(cfg, file, os.environ)
    if token is None:
        return None
    return admin.app(bootstrap.operator(cfg, create=True, in_server=True), token)
