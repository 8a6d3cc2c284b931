"""httpx's transport interface over asyncio's connections and httptools' HTTP/1.1 parser.

Deliveries are httpx Requests and Responses (`outbound.py`); this transport carries them
with what uvicorn serves them with: asyncio (uvloop) protocols, and httptools, the C parser
(llhttp, Node.js's) that uvicorn parses requests with, here parsing responses. A delivery's
request through `HttpSender` costs about 47 us of CPU on it, against 130-150 us over aiohttp's
client and 400-700 us over httpx's own transport (httpcore, h11 and anyio, in pure Python); on a
small machine that CPU is the delivery rate (docs/performance-notes.md, "The delivery
transport").

What it does, and only that, because `HttpSender` needs only that: HTTP/1.1 requests with the
body in memory, sent in one write with their header bytes as they are (nothing added: `HttpSender`
sets Host and Content-Length); responses streamed to the caller; connections kept alive per
(scheme, host, port) and reused newest first, closed after `keepalive_expiry` idle seconds or when
the receiver closes them; a request sent once more on a new connection when a reused one is
closed or reset before any answer (the receiver was closing it while idle); TLS with the given
context (its CA and client certificate included). Not: redirects (never followed), cookies,
proxies (`HttpSender` sends a destination with a proxy through httpx's own transport) and other
settings from the environment, decompression (httpx's Response decodes), HTTP/2, and timeouts
(the sender bounds each attempt as a whole, and a connection whose attempt was cut short is
closed, never reused).

The first response (after any 1xx) answers the request, as in h11 and httpcore. Whatever comes
after it - a second response, stray bytes, anything on an idle connection - changes nothing of
that answer and ends the connection: it is out of step with its requests, so its next answer
could be anyone's. So does an answer that comes before the whole request was written (the rest is
not sent). A connection is reused only when none of that happened, and its socket holds nothing
unread when it is taken from the pool (httpcore checks the same: `is_readable` in
`HTTP11Connection.has_expired`).

What goes wrong becomes httpx's exceptions, each with the cause as its `__cause__` where there is
one:

    refused, DNS, unreachable, TLS handshake  -> httpx.ConnectError
    closed or answered with something not HTTP before a response  -> httpx.RemoteProtocolError
    closed or reset in the middle of the response body  -> httpx.ReadError
    reset before the response  -> httpx.NetworkError
    a scheme other than http or https  -> httpx.UnsupportedProtocol
    a header with a line break or NUL  -> httpx.LocalProtocolError (nothing sent)
"""

from __future__ import annotations

import asyncio
import collections
import re
import select
import ssl
import time
from collections.abc import AsyncIterator
from typing import cast

import httptools
import httpx

CLOSE_SECONDS = 2.0  # for the idle connections to close at `aclose`
MAX_HEAD_BYTES = 64 * 1024  # a response's status line and headers; more is a protocol error
_BUFFERED_BYTES = 64 * 1024  # of a response body not read yet, before reading pauses
_FORBIDDEN = re.compile(rb"[\x00\r\n]")  # in a header: would end it early or forge another
_Key = tuple[bytes, str, int]


class Http1Transport(httpx.AsyncBaseTransport):
    def __init__(
        self, *, tls: ssl.SSLContext, max_idle_connections: int, keepalive_expiry: float
    ) -> None:
        """`max_idle_connections` kept for reuse across all hosts (more are closed after use);
        the connections in use are bounded by the callers (each destination's concurrency)."""
        self._tls = tls
        self._max_idle = max_idle_connections
        self._expiry = keepalive_expiry
        self._idle: dict[_Key, list[_Connection]] = {}  # newest last, and taken first
        self._idle_count = 0
        self._sweeping: asyncio.TimerHandle | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.raw_scheme
        if scheme not in (b"http", b"https"):
            raise httpx.UnsupportedProtocol(
                f"unsupported URL scheme {url.scheme!r}: http or https", request=request
            )
        fields = request.headers.raw
        parts = [request.method.encode(), b" ", url.raw_path, b" HTTP/1.1\r\n"]
        for name, value in fields:
            parts += (name, b": ", value, b"\r\n")
        parts.append(b"\r\n")
        head = b"".join(parts)
        # One line per header, the request line and the blank line: no line break, nor NUL,
        # inside a name or value (counted in C; the header is found only when one is there).
        lines = len(fields) + 2
        if head.count(b"\n") != lines or head.count(b"\r") != lines or b"\0" in head:
            raise _forbidden(request)
        key = (
            scheme,
            url.raw_host.decode("ascii"),
            url.port or (443 if scheme == b"https" else 80),
        )
        stream = request.stream  # in memory (httpx.ByteStream) for every delivery
        data = head + (
            b"".join(stream) if isinstance(stream, httpx.ByteStream) else await request.aread()
        )
        connection = self._take(key)
        if connection is not None:
            try:
                await self._exchange(connection, data, request)
            except httpx.TransportError:
                if connection.answered:
                    raise
                # Closed or reset by the receiver before a byte of an answer, on a connection
                # that had been idle: it was closing it as the request went out (receivers close
                # idle connections after a few seconds). Once more, on a new connection. Had the
                # receiver taken the request all the same, it gets it twice with one webhook-id,
                # as with any retry.
                connection = None
        if connection is None:
            connection = await self._connect(key, request)
            await self._exchange(connection, data, request)
        return httpx.Response(
            connection.status,
            headers=connection.headers,
            stream=_Body(self, key, connection),
            request=request,
        )

    @staticmethod
    async def _exchange(connection: _Connection, data: bytes, request: httpx.Request) -> None:
        try:
            await connection.send(data, request)
        except BaseException:
            connection.close()
            raise

    def _take(self, key: _Key) -> _Connection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        fresh_since = time.monotonic() - self._expiry
        while idle:
            connection = idle.pop()
            self._idle_count -= 1
            if (
                connection.reusable()
                and connection.idle_since > fresh_since
                and not connection.readable()
            ):
                return connection
            connection.close()
        return None

    def _give_back(self, key: _Key, connection: _Connection) -> None:
        if not connection.reusable() or self._idle_count >= self._max_idle:
            connection.close()
            return
        connection.resume()
        connection.idle_since = time.monotonic()
        self._idle.setdefault(key, []).append(connection)
        self._idle_count += 1
        if self._sweeping is None:
            self._sweeping = asyncio.get_running_loop().call_later(self._expiry, self._sweep)

    def _sweep(self) -> None:
        """Close the connections idle for `keepalive_expiry` (those of a host no delivery goes
        to any more included), every `keepalive_expiry` seconds while some are idle."""
        self._sweeping = None
        fresh_since = time.monotonic() - self._expiry
        for key, idle in list(self._idle.items()):
            keep = []
            for connection in idle:
                if connection.reusable() and connection.idle_since > fresh_since:
                    keep.append(connection)
                else:
                    connection.close()
            self._idle_count -= len(idle) - len(keep)
            if keep:
                self._idle[key] = keep
            else:
                del self._idle[key]
        if self._idle_count:
            self._sweeping = asyncio.get_running_loop().call_later(self._expiry, self._sweep)

    async def _connect(self, key: _Key, request: httpx.Request) -> _Connection:
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        connection = _Connection(loop)
        try:
            await loop.create_connection(
                lambda: connection, host, port, ssl=self._tls if scheme == b"https" else None
            )
        except OSError as exc:  # ssl.SSLError and socket.gaierror included
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        return connection

    async def aclose(self) -> None:
        """Close the idle connections, and wait for them to close (a TLS connection says so to
        its peer first), up to `CLOSE_SECONDS`; the rest are cut."""
        connections = [connection for idle in self._idle.values() for connection in idle]
        self._idle.clear()
        self._idle_count = 0
        if self._sweeping is not None:
            self._sweeping.cancel()
            self._sweeping = None
        for connection in connections:
            connection.close()
        if connections:
            await asyncio.wait(
                [connection.lost for connection in connections], timeout=CLOSE_SECONDS
            )
        for connection in connections:
            connection.abort()


def _forbidden(request: httpx.Request) -> httpx.LocalProtocolError:
    for name, value in request.headers.raw:
        if _FORBIDDEN.search(name) or _FORBIDDEN.search(value):
            return httpx.LocalProtocolError(
                f"header {name.decode('latin-1')!r} holds a line break or NUL", request=request
            )
    return httpx.LocalProtocolError("the request line holds a line break or NUL", request=request)


class _Unsolicited(Exception):
    """A message begins after the response: httptools stops parsing there (and raises
    HttpParserCallbackError), before it could overwrite the response's status and headers."""


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection, one request at a time. httptools calls the `on_*` methods from
    `feed_data` as it parses the response."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._request: httpx.Request | None = None  # the last one sent
        self._head: asyncio.Future[None] | None = None  # done when the response head is read
        self._head_bytes = 0
        self._waiter: asyncio.Future[None] | None = None  # the body's reader, waiting for more
        self._paused = False
        self._until_close = False  # the body ends when the connection does (no length given)
        self._poll = select.poll()  # of the socket, to see bytes arrived while idle
        self.lost: asyncio.Future[None] = loop.create_future()  # done once closed
        self.idle_since = 0.0
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.keep_alive = False
        self.answered = False  # a byte of the response came
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.complete = False
        self.error: httpx.TransportError | None = None

    def reusable(self) -> bool:
        """At rest after a whole response, and open (the receiver may have closed it since)."""
        return (
            self.keep_alive
            and self.error is None
            and self._transport is not None
            and not self._transport.is_closing()
        )

    def readable(self) -> bool:
        """The socket holds bytes (or an end) not read yet: at rest, nothing should come."""
        return bool(self._poll.poll(0))

    def resume(self) -> None:
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()

    def close(self) -> None:
        """Closed, and cut when some of a request is still unsent: the receiver answered before
        reading it, or stopped reading; a close would first send it all."""
        transport = self._transport
        if transport is not None and not transport.is_closing():
            if transport.get_write_buffer_size():
                transport.abort()
            else:
                transport.close()

    def abort(self) -> None:
        if self._transport is not None and not self.lost.done():
            self._transport.abort()

    async def send(self, data: bytes, request: httpx.Request) -> None:
        """Write the request; return when the response's status and headers are read."""
        if self._transport is None or self._transport.is_closing():
            raise httpx.RemoteProtocolError("connection closed before sending", request=request)
        self._request = request
        self._head = self._loop.create_future()
        self.answered = False
        self._head_bytes = 0
        self.status = 0
        self.headers = []
        self.keep_alive = False
        self.chunks.clear()
        self.buffered = 0
        self.complete = False
        self._transport.write(data)
        await self._head

    async def more(self) -> None:
        """Wait for more of the body (or its end, or an error)."""
        self.resume()
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def take(self) -> bytes:
        chunk = self.chunks.popleft()
        self.buffered -= len(chunk)
        return chunk

    # asyncio's protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._poll.register(transport.get_extra_info("socket").fileno(), select.POLLIN)

    def data_received(self, data: bytes) -> None:
        if self._request is None or self.complete:  # idle: nothing was asked
            self.close()
            return
        if self.error is not None:
            return
        self.answered = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError, "the receiver switched protocols")
            return
        except httptools.HttpParserError as exc:
            if self.complete:  # bytes after the whole response: it stands, the connection ends
                self.keep_alive = False
                self.close()
            else:
                self._fail(httpx.RemoteProtocolError, f"invalid response: {exc}")
            return
        if self._head is not None and not self._head.done():
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._fail(httpx.RemoteProtocolError, f"response head over {MAX_HEAD_BYTES} bytes")

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set_result(None)
        if self._request is None or self.complete or self.error is not None:
            return
        if self._head is not None and not self._head.done():
            if exc is None:
                self._fail(
                    httpx.RemoteProtocolError, "Server disconnected without sending a response"
                )
            else:
                self._fail(httpx.NetworkError, str(exc) or type(exc).__name__, exc)
        elif self._until_close and exc is None:
            self.complete = True
            self._wake()
        else:
            reason = f": {exc}" if exc else ""
            self._fail(httpx.ReadError, f"connection closed in the response body{reason}", exc)

    # httptools' callbacks

    def on_message_begin(self) -> None:
        if self.complete:
            raise _Unsolicited
        self.headers = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:  # informational (100 Continue, 103 Early Hints): the answer follows
            return
        self.status = status
        self.keep_alive = self._parser.should_keep_alive()
        self._until_close = not any(
            name.lower() in (b"content-length", b"transfer-encoding") for name, _ in self.headers
        )
        if self._head is not None and not self._head.done():
            self._head.set_result(None)

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > _BUFFERED_BYTES and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.status:  # not the end of an informational response
            self.complete = True
            if self._transport is not None and self._transport.get_write_buffer_size():
                self.keep_alive = False  # answered before the whole request was written
            self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(
        self,
        kind: type[httpx.TransportError],
        message: str,
        cause: BaseException | None = None,
    ) -> None:
        error = kind(message, request=self._request)
        error.__cause__ = cause
        self.error = error
        if self._head is not None and not self._head.done():
            self._head.set_exception(error)
        self._wake()
        self.close()


class _Body(httpx.AsyncByteStream):
    def __init__(self, pool: Http1Transport, key: _Key, connection: _Connection) -> None:
        self._pool = pool
        self._key = key
        self._connection = connection

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        while True:
            if connection.chunks:
                yield connection.take()
            elif connection.error is not None:
                raise connection.error
            elif connection.complete:
                return
            else:
                await connection.more()

    async def aclose(self) -> None:
        """Back to the pool when the body was read to its end; closed otherwise."""
        connection = self._connection
        if connection.complete and not connection.chunks:
            self._pool._give_back(self._key, connection)
        else:
            connection.close()
