"""Sends deliveries over HTTP with pooled httpx transports shared by every destination.

Redirects are not followed (a 3xx is a failed attempt, as Standard Webhooks recommends), the
environment is not consulted (no proxy variables, no ~/.netrc credentials sent to receivers),
and `timeout` bounds the whole attempt, connect to last byte read. Network problems never raise:
they become a failed `delivery.Result` whose error says what happened.

Requests go straight to httpx's transport layer (`AsyncHTTPTransport`, its public API under the
client): what `AsyncClient` adds - redirects, cookies, auth, event hooks, the environment - is
what a delivery must not do, and skipping it saves about a quarter of the CPU of a request.

Several small pools instead of one large one: before each request, httpcore's pool checks every
idle connection it holds with a poll() system call (has the server closed it?), so a request
costs O(connections in its pool). Each request goes to the pool with the fewest under way.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

import httpx

import webhook_processor
from webhook_processor import delivery

MAX_RESPONSE_BYTES = 64 * 1024  # enough for an error page's excerpt; the rest is not read
USER_AGENT = f"webhook-processor/{webhook_processor.__version__}"


class HttpSender:
    def __init__(
        self,
        *,
        pools: int = 16,
        max_connections: int = 1024,
        max_keepalive_connections: int = 256,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`max_connections` and `max_keepalive_connections` are shared out among `pools`;
        `transport` replaces them all (tests)."""
        limits = httpx.Limits(
            max_connections=max(1, max_connections // pools),
            max_keepalive_connections=max(1, max_keepalive_connections // pools),
            keepalive_expiry=30.0,
        )
        tls = httpx.create_ssl_context(trust_env=False)  # one for all: each loads the CA bundle
        self._pools: list[httpx.AsyncBaseTransport] = (
            [transport]
            if transport is not None
            else [
                httpx.AsyncHTTPTransport(verify=tls, limits=limits, trust_env=False)
                for _ in range(pools)
            ]
        )
        self._under_way = [0] * len(self._pools)

    async def send(
        self, outgoing: delivery.Outgoing, timeout: float, now: Callable[[], float]
    ) -> delivery.Result:
        """POST `outgoing`; `now` (Unix seconds) dates a Retry-After given as an HTTP date."""
        status: int | None = None
        headers: httpx.Headers = httpx.Headers()
        body: bytes | None = None
        error: str | None = None
        started = time.perf_counter()
        pool = self._under_way.index(min(self._under_way))
        self._under_way[pool] += 1
        try:
            async with asyncio.timeout(timeout):
                request = httpx.Request(
                    "POST",
                    outgoing.url,
                    headers=_with_user_agent(outgoing.headers),
                    content=outgoing.body,
                    extensions={"timeout": httpx.Timeout(timeout).as_dict()},
                )
                if not request.url.host:
                    raise httpx.InvalidURL(f"no host in {outgoing.url!r}")
                response = await self._pools[pool].handle_async_request(request)
                try:
                    status, headers = response.status_code, response.headers
                    body = await _read_start(response)
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            error = f"timeout after {float(timeout)} s"
        except httpx.HTTPError as exc:
            error = describe(exc)
        except httpx.InvalidURL as exc:  # not an HTTPError; config only checks the scheme
            error = f"invalid URL: {exc}"
        finally:
            self._under_way[pool] -= 1
        duration_ms = round((time.perf_counter() - started) * 1000)
        return delivery.classify(status, headers, body, error, duration_ms, now())

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


def _with_user_agent(headers: dict[str, str]) -> httpx.Headers:
    """Ours unless the delivery forwards the sender's own."""
    out = httpx.Headers({"user-agent": USER_AGENT})
    out.update(headers)
    return out


async def _read_start(response: httpx.Response) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= MAX_RESPONSE_BYTES:
            break
    return bytes(body[:MAX_RESPONSE_BYTES])


def describe(exc: httpx.HTTPError) -> str:
    """A short, operator-readable reason for a failed request."""
    if isinstance(exc, httpx.ConnectError):
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, ConnectionRefusedError):
                return "connection refused"
            if isinstance(cause, socket.gaierror):
                return f"cannot resolve host: {cause.strerror or cause}"
            cause = cause.__cause__ or cause.__context__
        return f"connection failed: {_text(exc)}"
    if isinstance(exc, httpx.UnsupportedProtocol):
        return f"invalid URL: {_text(exc)}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"protocol error: {_text(exc)}"
    if isinstance(exc, httpx.NetworkError):
        return f"connection error: {_text(exc)}"
    return f"request failed: {_text(exc)}"


def _text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
