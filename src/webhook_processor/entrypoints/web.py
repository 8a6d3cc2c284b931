"""The ASGI app of `whp serve`.

`POST /webhooks/{source}` is served by a raw ASGI handler: it is the hot path, and every
microsecond of framework work there is a request per second lost. Everything else (health,
metrics, OpenAPI) is a small Starlette app behind it. Every answer is JSON, errors in the API's
shape (`services.ingest.error_body`), those of unknown paths and wrong methods included. The HTTP
protocol under the app, with its own limits and answers, is in protocol.py.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from webhook_processor import errors, ports, services
from webhook_processor.entrypoints import admin as admin_api
from webhook_processor.entrypoints import dashboard, openapi

log = logging.getLogger("whp.ingest")
PREFIX = "/webhooks/"
_JSON = (b"content-type", b"application/json")


class ClientGone(Exception):
    """The sender disconnected before its body arrived."""


class App:
    def __init__(
        self,
        ingest: services.ingest.Ingest,
        services: Sequence[ports.Service],
        registry: CollectorRegistry,
        started: Callable[[], None] = lambda: None,
        before_scrape: Callable[[], Awaitable[object]] | None = None,
        admin: ASGIApp | None = None,
    ) -> None:
        """`before_scrape` refreshes what the registry reads from the store (off the loop).
        `admin`: the admin API (entrypoints/admin.py), mounted at /api, and the dashboard that
        calls it at /dashboard; without one (no `admin.token` configured), /api/* and
        /dashboard answer 404 like any unknown path."""
        self._ingest = ingest
        self._services = list(services)
        self._registry = registry
        self._started = started  # called once every service has started
        self._before_scrape = before_scrape
        routes: list[BaseRoute] = [
            Route("/healthz", self.healthz),
            Route("/readyz", self.readyz),
            Route("/metrics", self.metrics),
            Route("/openapi.json", self.openapi),
        ]
        if admin is not None:
            routes.append(admin_api.mount(admin))
            routes += dashboard.routes()
        self._other = Starlette(
            routes=routes,
            lifespan=self._lifespan,
            exception_handlers={HTTPException: _http_error, Exception: _internal_error},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            if scope["method"] == "POST":
                await self._receive_webhook(scope, receive, send)
            else:
                await _reply(
                    send,
                    405,
                    services.ingest.error_body(
                        errors.MethodNotAllowed.code, "webhooks are received with POST"
                    ),
                    [(b"allow", b"POST")],
                )
            return
        await self._other(scope, receive, send)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        for service in self._services:  # the store writer first, then the worker
            service.start()
        self._started()
        try:
            yield
        finally:
            for service in reversed(self._services):  # the worker finishes, then the store
                await service.stop()

    async def _receive_webhook(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        label = await self._answer_webhook(scope, receive, send)
        if label is not None:
            self._ingest.answered(label, time.perf_counter() - started)

    async def _answer_webhook(self, scope: Scope, receive: Receive, send: Send) -> str | None:
        """Answer one webhook; the source's name it was counted under (None: not answered, the
        sender left)."""
        name = scope["path"][len(PREFIX) :]
        headers = _headers(scope["headers"])
        label = services.ingest.UNKNOWN_SOURCE_LABEL
        try:
            source = self._ingest.source(name)
            label = source.name
            try:
                body = await _read_body(
                    receive, source.max_body_bytes, headers.get("content-length")
                )
            except errors.PayloadTooLarge as exc:
                raise self._ingest.reject(source, exc) from None
            url = (
                source.url(_received_url(scope, headers), scope["query_string"].decode("latin-1"))
                if source.signs_url
                else ""
            )
            stored = await self._ingest.receive(source, body, headers, url)
        except errors.WhpError as exc:
            if not isinstance(exc, errors.StoreUnavailable):  # the store logs those, with counts
                log.info(
                    "webhook rejected: %s",
                    exc.detail,
                    extra={"source": name[:64], "status": exc.status},
                )
            await _answer(send, services.ingest.refusal(exc))
        except ClientGone:
            return None
        except Exception:  # a bug: said as one, and answered in the API's shape, not uvicorn's
            log.exception("webhook failed: internal error", extra={"source": name[:64]})
            await _reply(
                send,
                500,
                services.ingest.error_body(
                    "internal_error", "the server failed on this webhook; send it again"
                ),
            )
        else:
            if log.isEnabledFor(logging.DEBUG):  # one line per webhook: too costly at INFO
                log.debug(
                    "webhook stored",
                    extra={"event_id": stored.id, "source": name, "duplicate": stored.duplicate},
                )
            await _answer(send, services.ingest.answer(stored))
        return label

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        if all(service.ready() for service in self._services):
            return JSONResponse({"status": "ready"})
        return JSONResponse(
            {
                "status": "not ready",
                "detail": "the store cannot commit, or its writer or the worker is not running",
            },
            503,
        )

    async def metrics(self, request: Request) -> Response:
        if self._before_scrape is not None:
            await self._before_scrape()
        return Response(generate_latest(self._registry), media_type=CONTENT_TYPE_LATEST)

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi.DOCUMENT)


def _headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Header names are lower-case in ASGI; a repeated header's values are joined with ", "."""
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in raw}
    if len(headers) < len(raw):
        headers = {}
        for raw_name, raw_value in raw:
            key, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


async def _read_body(receive: Receive, limit: int, content_length: str | None) -> bytes:
    """The body; 413 as soon as it is known to exceed `limit`, not after reading it all."""
    if content_length is not None and content_length.isdigit() and int(content_length) > limit:
        raise errors.PayloadTooLarge(
            f"body of {content_length} bytes is over this source's limit of {limit}"
        )
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise errors.PayloadTooLarge(f"body is over this source's limit of {limit} bytes")
        if not message.get("more_body", False):
            if not chunks:
                return chunk
            chunks.append(chunk)
            return b"".join(chunks)
        chunks.append(chunk)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own answers (an unknown path, a wrong method), in the API's error shape."""
    assert isinstance(exc, HTTPException)
    path = errors.shown(request.url.path)
    if exc.status_code == 405:
        allow = (exc.headers or {}).get("Allow", "")
        code, detail = errors.MethodNotAllowed.code, f"{path} is served with {allow}"
    elif exc.status_code == 404:
        code, detail = errors.NotFound.code, f"nothing is served at {path}"
    else:
        code, detail = "http_error", str(exc.detail)
    return Response(
        services.ingest.error_body(code, detail), exc.status_code, exc.headers, "application/json"
    )


async def _internal_error(request: Request, exc: Exception) -> Response:
    # Starlette raises the exception on after this answer, and uvicorn logs it with its traceback.
    body = services.ingest.error_body(
        "internal_error", "the server failed on this request; send it again"
    )
    return Response(body, 500, media_type="application/json")


def _received_url(scope: Scope, headers: dict[str, str]) -> str:
    host = headers.get("host") or "{}:{}".format(*scope["server"])
    return f"{scope['scheme']}://{host}{scope['path']}"


async def _answer(send: Send, answer: services.ingest.Answer) -> None:
    """What services.ingest says the sender gets (the same on AWS)."""
    extra = [(name.encode(), value.encode()) for name, value in answer.headers]
    await _reply(send, answer.status, answer.body, extra)


async def _reply(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers: list[Any] = [_JSON, (b"content-length", str(len(body)).encode())]
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
