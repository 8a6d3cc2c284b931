"""Sends deliveries over HTTP with one pooled httpx client shared by every destination.

Redirects are not followed (a 3xx is a failed attempt, as Standard Webhooks recommends), the
environment is not consulted (no proxy variables, no ~/.netrc credentials sent to receivers),
and `timeout` bounds the whole attempt, connect to last byte read. Network problems never raise:
they become a failed `delivery.Result` whose error says what happened.
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
        max_connections: int = 1000,
        max_keepalive_connections: int = 200,
        proxy: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_keepalive_connections,
                keepalive_expiry=30.0,
            ),
            headers={"user-agent": USER_AGENT},
            proxy=proxy,
            transport=transport,
            trust_env=False,
        )

    async def send(
        self, outgoing: delivery.Outgoing, timeout: float, now: Callable[[], float]
    ) -> delivery.Result:
        """POST `outgoing`; `now` (Unix seconds) dates a Retry-After given as an HTTP date."""
        status: int | None = None
        headers: httpx.Headers = httpx.Headers()
        body: bytes | None = None
        error: str | None = None
        started = time.perf_counter()
        try:
            async with (
                asyncio.timeout(timeout),
                self._client.stream(
                    "POST",
                    outgoing.url,
                    headers=outgoing.headers,
                    content=outgoing.body,
                    timeout=timeout,
                ) as response,
            ):
                status, headers = response.status_code, response.headers
                body = await _read_start(response)
        except (TimeoutError, httpx.TimeoutException):
            error = f"timeout after {float(timeout)} s"
        except httpx.HTTPError as exc:
            error = describe(exc)
        except httpx.InvalidURL as exc:  # not an HTTPError; config only checks the scheme
            error = f"invalid URL: {exc}"
        duration_ms = round((time.perf_counter() - started) * 1000)
        return delivery.classify(status, headers, body, error, duration_ms, now())

    async def aclose(self) -> None:
        await self._client.aclose()


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
