"""The HTTP server of `whp serve`.

`POST /webhooks/{source}` is served by a raw ASGI handler: it is the hot path, and every
microsecond of framework work there is a request per second lost. Everything else (health,
metrics, OpenAPI) is a small Starlette app behind it. `HttpProtocol` is uvicorn's HTTP/1.1
protocol, with limits on a request's head and on the time it takes to arrive, and the API's
error shape for requests that never reach the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from webhook_processor import errors, ports, services
from webhook_processor.entrypoints import dashboard, openapi

log = logging.getLogger("whp.ingest")
PREFIX = "/webhooks/"
_JSON = (b"content-type", b"application/json")
MAX_HEAD_BYTES = 64 * 1024  # a request's line and headers; providers send a few KB
REQUEST_TIMEOUT_SECONDS = 60.0  # to receive a request in full (nginx's and Node.js's default)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with three answers of its own, all in the API's error shape:

    * a request it cannot parse: 400, naming what is wrong (uvicorn answers a plain-text
      "Invalid HTTP request received." for every case);
    * a request line and headers over MAX_HEAD_BYTES: 431. uvicorn's httptools protocol has no
      such limit (its h11 one has), so one connection sending headers without end grew the
      process's memory without bound;
    * a request not received in full within `request_timeout` seconds of its first byte (of the
      connection, for its first request): 408. uvicorn waits without limit for a request that
      has begun, and for a new connection's first, so a few hundred connections trickling
      bytes (or silent) could take every file descriptor. A connection closed before any byte
      of a request gets no answer.

    Each is counted in `whp_webhooks_rejected_total`, under the source "(unknown)". Requests
    within all three take uvicorn's path unchanged; the one on the hot path (a request that
    arrives in one read) costs a few attribute checks."""

    request_timeout = REQUEST_TIMEOUT_SECONDS
    ingest: services.Ingest | None = None  # where refusals are counted (`counting_into`)
    _head_bytes = 0  # bytes received of a request head not yet complete
    _deadline: asyncio.TimerHandle | None = None  # set while a request is being received

    @classmethod
    def counting_into(cls, ingest: services.Ingest) -> type[HttpProtocol]:
        """This protocol, counting its refusals in `ingest`'s metrics (uvicorn makes one
        protocol per connection from the class it is given)."""
        return type(cls.__name__, (cls,), {"ingest": ingest})

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline = self.loop.call_later(self.request_timeout, self._timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope:  # the head is complete
            self._head_bytes = 0
            if cycle.more_body:
                self._arm()  # the body is still coming
            elif self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            return
        if self.transport.is_closing():  # refused by uvicorn's parser (send_400_response)
            return
        self._arm()
        self._head_bytes += len(data)  # all of it is head: the head is still incomplete
        if self._head_bytes > MAX_HEAD_BYTES:
            self._refuse(
                errors.HeadersTooLarge(
                    f"the request line and headers are over {MAX_HEAD_BYTES} bytes"
                )
            )

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.request_timeout, self._timed_out)

    def _timed_out(self) -> None:
        self._deadline = None
        cycle = self.cycle
        if self.transport.is_closing():
            return
        if self.scope is None or (cycle is not None and cycle.response_started):
            self.transport.close()  # no request began, or it is already being answered
            return
        self._refuse(
            errors.RequestTimeout(
                f"the request did not arrive in full within {self.request_timeout:g} s"
            )
        )

    def send_400_response(self, msg: str) -> None:
        # uvicorn calls this from its handler of the parser's error, which says what is wrong.
        cause = sys.exc_info()[1]
        self._refuse(errors.MalformedRequest(f"malformed HTTP request: {cause or msg}"))

    def _refuse(self, error: errors.Rejected) -> None:
        """Answer `error` and close the connection: the rest of its bytes cannot be read."""
        log.info("request rejected: %s", error.detail, extra={"status": error.status})
        if self.ingest is not None:
            self.ingest.reject(None, error)
        body = _error(error.code, error.detail)
        content = [STATUS_LINE[error.status]]
        for name, value in self.server_state.default_headers:
            content += (name, b": ", value, b"\r\n")
        content += (
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        )
        self.transport.write(b"".join(content))
        self.transport.close()


class ClientGone(Exception):
    """The sender disconnected before its body arrived."""


class App:
    def __init__(
        self,
        ingest: services.Ingest,
        services: Sequence[ports.Service],
        registry: CollectorRegistry,
        admin: ASGIApp | None = None,
    ) -> None:
        """`admin`: the admin API (entrypoints/admin.py), mounted at /api, and the dashboard
        that calls it at /dashboard; without one (no `admin.token` configured), /api/* and
        /dashboard answer 404 like any unknown path."""
        self._ingest = ingest
        self._services = list(services)
        self._registry = registry
        routes: list[BaseRoute] = [
            Route("/healthz", self.healthz),
            Route("/readyz", self.readyz),
            Route("/metrics", self.metrics),
            Route("/openapi.json", self.openapi),
        ]
        if admin is not None:
            routes.append(Mount("/api", app=admin))
            routes += dashboard.routes()
        self._other = Starlette(routes=routes, lifespan=self._lifespan)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            if scope["method"] == "POST":
                await self._receive_webhook(scope, receive, send)
            else:
                await _reply(
                    send,
                    405,
                    _error("method_not_allowed", "webhooks are received with POST"),
                    [(b"allow", b"POST")],
                )
            return
        await self._other(scope, receive, send)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        for service in self._services:  # the store writer first, then the worker
            service.start()
        try:
            yield
        finally:
            for service in reversed(self._services):  # the worker finishes, then the store
                await service.stop()

    async def _receive_webhook(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = scope["path"][len(PREFIX) :]
        headers = _headers(scope["headers"])
        try:
            source = self._ingest.source(name)
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
        except errors.RateLimited as exc:
            await _reply(
                send,
                exc.status,
                _error(exc.code, exc.detail),
                [(b"retry-after", str(exc.retry_after).encode())],
            )
        except errors.WhpError as exc:
            if isinstance(exc, errors.StoreUnavailable):
                log.error(
                    "webhook refused, store unavailable",
                    extra={"source": name, "reason": exc.detail},
                )
            else:
                log.info(
                    "webhook rejected: %s",
                    exc.detail,
                    extra={"source": name[:64], "status": exc.status},
                )
            await _reply(send, exc.status, _error(exc.code, exc.detail))
        except ClientGone:
            return
        except Exception:  # a bug: said as one, and answered in the API's shape, not uvicorn's
            log.exception("webhook failed: internal error", extra={"source": name[:64]})
            await _reply(
                send,
                500,
                _error("internal_error", "the server failed on this webhook; send it again"),
            )
        else:
            if log.isEnabledFor(logging.DEBUG):  # one line per webhook: too costly at INFO
                log.debug(
                    "webhook stored",
                    extra={"event_id": stored.id, "source": name, "duplicate": stored.duplicate},
                )
            if stored.challenge is not None:  # stored, and answered as the handshake asks
                await _reply(send, 200, orjson.dumps({"challenge": stored.challenge}))
            elif stored.duplicate:
                await _reply(send, 200, b'{"id":"%s","duplicate":true}' % stored.id.encode())
            else:
                await _reply(send, 202, b'{"id":"%s","duplicate":false}' % stored.id.encode())

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        if all(service.ready() for service in self._services):
            return JSONResponse({"status": "ready"})
        return JSONResponse(
            {"status": "not ready", "detail": "the store writer or the worker is not running"}, 503
        )

    async def metrics(self, request: Request) -> Response:
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


def _received_url(scope: Scope, headers: dict[str, str]) -> str:
    host = headers.get("host") or "{}:{}".format(*scope["server"])
    return f"{scope['scheme']}://{host}{scope['path']}"


def _error(code: str, detail: str) -> bytes:
    return orjson.dumps({"error": code, "detail": detail})


async def _reply(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers: list[Any] = [_JSON, (b"content-length", str(len(body)).encode())]
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
