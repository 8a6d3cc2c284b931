"""`whp serve`: the ASGI app on uvicorn (httptools + uvloop), one process."""

from __future__ import annotations

import argparse
import logging
import os
import socket

import uvicorn

from webhook_processor import bootstrap, config, errors, logs, services
from webhook_processor.bootstrap import local
from webhook_processor.entrypoints import admin, protocol, reload, runtime, web

log = logging.getLogger("whp")
BACKLOG = 4096


def run(args: argparse.Namespace) -> int:
    cfg = bootstrap.load(args.config, os.environ)  # every problem of the file at once
    logs.configure(args.log_level or cfg.logging.level, args.log_format or cfg.logging.format)
    parts = local.ingestion(cfg, args.config, os.environ)
    worker = next(s for s in parts.lifecycle if isinstance(s, services.worker.Worker))
    token = bootstrap.admin_token(cfg, args.config, os.environ)
    # The admin API (only with admin.token), over the store on a connection of its own.
    operator = None if token is None else local.operator(cfg, create=True, in_server=True)

    def reloaded(new: config.Config) -> None:
        parts.reconfigure(new)  # the metrics' destinations
        if operator is not None:
            operator.reconfigure(bootstrap.destination_configs(new))

    # SIGHUP reloads sources, destinations and routes (the reloader stops first, on shutdown).
    hangup = reload.Reloader(args.config, os.environ, cfg, worker, parts.ingest, reloaded)
    host = args.host or cfg.server.host
    sock = listen(host, cfg.server.port if args.port is None else args.port)
    port = sock.getsockname()[1]  # the one the system chose, for port 0

    def started() -> None:  # the socket is bound, the store and the worker have started
        log.info(
            "whp serving on http://%s:%d - sources: %s - store: %s",
            f"[{host}]" if ":" in host else host,
            port,
            ", ".join(sorted(cfg.sources)) or "none",
            cfg.storage.path,
        )

    app = web.App(
        parts.ingest,
        [*parts.lifecycle, hangup],
        parts.registry,
        started,
        before_scrape=parts.readings.refresh,
        admin=(
            None
            if operator is None or token is None
            else admin.app(operator, token, alerts=parts.monitor.states)
        ),
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            loop="uvloop",
            http=protocol.HttpProtocol.counting_into(parts.ingest),  # uvicorn's, with limits
            ws="none",  # the protocol declines websocket handshakes itself
            lifespan="on",
            access_log=False,
            log_config=None,
            timeout_graceful_shutdown=10,
            backlog=BACKLOG,
            proxy_headers=False,  # ingest uses no client address; saves work per request
        )
    )
    runtime.prepare()
    server.run(sockets=[sock])
    return 0 if server.started else 1


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on host:port, bound here rather than by uvicorn so that the port is
    known (and taken) before anything starts."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        reason = (exc.strerror or str(exc)).lower()
        raise errors.WhpError(f"cannot listen on {host}:{port}: {reason}") from None
    return sock
