"""httpx's transport interface over aiohttp's HTTP client.

Deliveries are httpx Requests and Responses (`adapters/http.py`); this transport carries them
with aiohttp, whose C HTTP parser and connection pool cost about a quarter of the CPU per request
of httpx's own transport (httpcore, h11 and anyio, in pure Python). On a small machine that CPU
is the delivery rate: see bench/README.md, "What changed: aiohttp under httpx".

aiohttp writes header text in UTF-8, so a header value goes out with its bytes unchanged when
they are UTF-8 (ASCII included), and as the same text in UTF-8 when they are latin-1.

What it does not do, because `HttpSender` does not need it: redirects (never followed), cookies,
proxies and other settings from the environment, decompression (httpx's Response decodes), and
timeouts (the sender bounds each attempt as a whole). There is one connection pool for every
destination; aiohttp checks only the connection it hands out, so a large pool costs nothing per
request.

aiohttp's exceptions become httpx's by what happened, each with aiohttp's as its `__cause__`:

    ClientConnectorError (refused, DNS, TLS, unreachable)  -> httpx.ConnectError
    ServerDisconnectedError, ClientResponseError (bad response)  -> httpx.RemoteProtocolError
    ClientPayloadError (the body broke off)  -> httpx.ReadError
    ClientOSError (reset, broken pipe)  -> httpx.NetworkError
    InvalidURL, NonHttpUrlClientError  -> httpx.UnsupportedProtocol
    any other ClientError  -> httpx.TransportError
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import aiohttp
import httpx

# Headers aiohttp would add on its own: a delivery carries only what `HttpSender` sets (and
# Host and Content-Length), as it did over httpx's own transport.
_NOT_AUTOMATIC = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")


class AiohttpTransport(httpx.AsyncBaseTransport):
    def __init__(
        self, *, tls: ssl.SSLContext, max_connections: int, keepalive_expiry: float
    ) -> None:
        self._tls = tls
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        """On first use: a session belongs to the running event loop."""
        connector = aiohttp.TCPConnector(
            ssl=self._tls,
            limit=self._max_connections,
            limit_per_host=0,
            keepalive_timeout=self._keepalive_expiry,
        )
        return aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None),
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=_NOT_AUTOMATIC,
            auto_decompress=False,
            trust_env=False,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session
        if session is None:
            session = self._session = self._open()
        try:
            response = await session.request(
                request.method,
                str(request.url),
                headers=[
                    (name.decode("latin-1"), _text(value)) for name, value in request.headers.raw
                ],
                data=request.content,
                allow_redirects=False,
            )
        except aiohttp.ClientError as exc:
            raise _as_httpx(exc, request) from exc
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_Body(response, request),
            request=request,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except aiohttp.ClientError as exc:
            raise _as_httpx(exc, self._request) from exc

    async def aclose(self) -> None:
        # Back to the pool when the body was read to its end; closed otherwise.
        self._response.release()


def _as_httpx(exc: aiohttp.ClientError, request: httpx.Request) -> httpx.TransportError:
    kind: type[httpx.TransportError]
    if isinstance(exc, aiohttp.ClientConnectorError):
        kind = httpx.ConnectError
    elif isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientResponseError):
        kind = httpx.RemoteProtocolError
    elif isinstance(exc, aiohttp.ClientPayloadError):
        kind = httpx.ReadError
    elif isinstance(exc, aiohttp.ClientOSError):
        kind = httpx.NetworkError
    elif isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        kind = httpx.UnsupportedProtocol
    else:
        kind = httpx.TransportError
    return kind(_one_line(exc), request=request)


def _one_line(exc: aiohttp.ClientError) -> str:
    """aiohttp's message on one line, without the URL (the attempt is recorded with it) or the
    caret drawn under a parse error."""
    text = exc.message if isinstance(exc, aiohttp.ClientResponseError) else str(exc)
    words = [word for word in text.split() if word != "^"]
    return " ".join(words) or type(exc).__name__


def _text(value: bytes) -> str:
    """A header value as the text aiohttp writes, always in UTF-8: its bytes as they are when they
    are UTF-8 already, else (latin-1, the other encoding HTTP headers have used) the same text."""
    try:
        return value.decode()
    except UnicodeDecodeError:
        return value.decode("latin-1")
