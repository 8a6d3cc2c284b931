"""Sends deliveries over HTTP: httpx requests, carried by `adapters/http1.py`.

Redirects are not followed (a 3xx is a failed attempt, as Standard Webhooks recommends), the
environment is not consulted (no proxy variables, no ~/.netrc credentials sent to receivers:
`proxy: env` is resolved by the composition root), and `timeout` bounds the whole attempt,
connect to last byte read. Network problems never raise: they become a failed `delivery.Result`
whose error says what happened.

Requests go straight to a transport, httpx's interface under its client: what `AsyncClient` adds
(redirects, cookies, auth, event hooks, the environment) is what a delivery must not do.

Each destination takes its way out (`egress.Route`). Straight to the receiver, whatever CA it
trusts and whatever client certificate it shows, is the fast transport (the TLS context carries
both); through a proxy, httpx's own `AsyncHTTPTransport`, which speaks to proxies (absolute-form
requests for http://, CONNECT tunnels for https://). One transport per distinct route; the
destinations without settings share the default one, and pay nothing for the others.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import time
from collections.abc import Callable, Mapping

import httpx

import webhook_processor
from webhook_processor import delivery, egress
from webhook_processor.adapters.http import http1

MAX_RESPONSE_BYTES = 64 * 1024  # enough for an error page's excerpt; the rest is not read
USER_AGENT = f"webhook-processor/{webhook_processor.__version__}"


class HttpSender:
    def __init__(
        self,
        *,
        max_idle_connections: int = 1024,
        keepalive_expiry: float = 30.0,
        tls: ssl.SSLContext | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        routes: Mapping[str, egress.Route] | None = None,
    ) -> None:
        """One connection pool for every destination, and one more for each distinct way out
        in `routes` (destination name -> route; the DIRECT ones share the default pool).
        Receivers' certificates are checked against certifi's CA bundle unless `tls` or the
        route says otherwise; `transport` replaces the default pool (tests). Raises OSError or
        ValueError on a route's unusable TLS files."""
        self._transport = transport or http1.Http1Transport(
            tls=tls or httpx.create_ssl_context(trust_env=False),
            max_idle_connections=max_idle_connections,
            keepalive_expiry=keepalive_expiry,
        )
        made: dict[egress.Route, httpx.AsyncBaseTransport] = {}
        self._routes: dict[str, httpx.AsyncBaseTransport] = {}
        self._proxies: dict[str, str] = {}  # destination -> its proxy, for error messages
        for name, route in (routes or {}).items():
            if route == egress.DIRECT:
                continue
            if route not in made:
                made[route] = route_transport(route, max_idle_connections, keepalive_expiry)
            self._routes[name] = made[route]
            if route.proxy is not None:
                self._proxies[name] = egress.proxy_label(route.proxy)
        self._others = list(made.values())

    def transport_for(self, destination: str) -> httpx.AsyncBaseTransport:
        return self._routes.get(destination, self._transport)

    async def send(
        self, outgoing: delivery.Outgoing, timeout: float, now: Callable[[], float]
    ) -> delivery.Result:
        """POST `outgoing`; `now` (Unix seconds) dates a Retry-After given as an HTTP date."""
        status: int | None = None
        headers: Mapping[str, str] = {}
        body: bytes | None = None
        error: str | None = None
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                request = _request(outgoing)
                if not request.url.host:
                    raise httpx.InvalidURL(f"no host in {outgoing.url!r}")
                # Only when some destination has a route of its own: the default path stays
                # as it was, straight to the fast transport.
                transport = (
                    self._routes.get(outgoing.destination, self._transport)
                    if self._routes
                    else self._transport
                )
                response = await transport.handle_async_request(request)
                try:
                    status, headers = response.status_code, response.headers
                    body = await _read_start(response)
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            error = f"timeout after {float(timeout)} s"
        except httpx.HTTPError as exc:
            error = describe(exc)
            proxy = self._proxies.get(outgoing.destination)
            if proxy is not None:
                error += f" (through the proxy {proxy})"
        except httpx.InvalidURL as exc:  # not an HTTPError; config only checks the scheme
            error = f"invalid URL: {exc}"
        duration_ms = round((time.perf_counter() - started) * 1000)
        return delivery.classify(status, headers, body, error, duration_ms, now())

    async def aclose(self) -> None:
        for transport in [self._transport, *self._others]:
            await transport.aclose()


def tls_context(route: egress.Route, *, client_cert: bool = True) -> ssl.SSLContext:
    """The TLS settings of `route`: certifi's CA bundle (as httpx, never the environment's)
    unless `ca_file`, and its client certificate unless `client_cert` is False."""
    if route.ca_file is None:
        context = httpx.create_ssl_context(trust_env=False)
    else:
        context = ssl.create_default_context(cafile=route.ca_file)
    if client_cert and route.client_cert is not None:
        context.load_cert_chain(route.client_cert, route.client_key, password=egress.no_passphrase)
    return context


def route_transport(
    route: egress.Route, max_idle_connections: int, keepalive_expiry: float
) -> httpx.AsyncBaseTransport:
    tls = tls_context(route)
    if route.proxy is None:
        return http1.Http1Transport(
            tls=tls, max_idle_connections=max_idle_connections, keepalive_expiry=keepalive_expiry
        )
    # An https:// proxy is checked against the destination's CAs (its client certificate is
    # for the receiver alone); certifi's without ca_file, as httpcore does.
    https_proxy = route.proxy.startswith("https:")
    proxy_tls = tls_context(route, client_cert=False) if https_proxy and route.ca_file else None
    return httpx.AsyncHTTPTransport(
        verify=tls,
        trust_env=False,
        proxy=httpx.Proxy(route.proxy, ssl_context=proxy_tls),
        # Each destination bounds its own concurrency; the pool only keeps connections alive.
        limits=httpx.Limits(
            max_connections=None,
            max_keepalive_connections=max_idle_connections,
            keepalive_expiry=keepalive_expiry,
        ),
    )


@functools.lru_cache(maxsize=1024)
def _url(text: str) -> httpx.URL:
    """Parsed once per destination URL (httpx's URL is immutable): parsing it is a good part of
    the CPU of a request."""
    return httpx.URL(text)


def _request(outgoing: delivery.Outgoing) -> httpx.Request:
    """The POST for `outgoing`, with our User-Agent unless it forwards the sender's own.

    Header text becomes bytes here: as latin-1 where it can, which gives a forwarded header or
    content type back the bytes it came in with (ingest decodes them as latin-1), else as UTF-8
    (text only our own headers can hold, such as an event type taken from a JSON body). httpx
    would encode it as ASCII and raise on anything else. The transport writes these bytes as
    they are.

    Host and Content-Length are set as httpx sets them; given with the body as a stream, they
    spare httpx's slower path (about 10 us of the 15 a Request took)."""
    url = _url(outgoing.url)
    headers = [(b"host", url.netloc), (b"content-length", b"%d" % len(outgoing.body))]
    if not any(name.lower() == "user-agent" for name in outgoing.headers):
        headers.append((b"user-agent", USER_AGENT.encode()))
    headers += [(_bytes(name), _bytes(value)) for name, value in outgoing.headers.items()]
    return httpx.Request("POST", url, headers=headers, stream=httpx.ByteStream(outgoing.body))


def _bytes(text: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode()


async def _read_start(response: httpx.Response) -> bytes:
    # Decoded only if encoded (no Accept-Encoding is sent, so rarely). Else read straight from
    # the transport's stream: httpx's layers over it (decoders, chunker, request context) cost
    # about 5 us a response even when there is nothing to decode.
    encoded = "content-encoding" in response.headers
    assert isinstance(response.stream, httpx.AsyncByteStream)
    body = bytearray()
    async for chunk in response.aiter_bytes() if encoded else response.stream:
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
    if isinstance(exc, httpx.ProxyError):  # the proxy refused the tunnel (CONNECT)
        return f"proxy error: {_text(exc)}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"protocol error: {_text(exc)}"
    if isinstance(exc, httpx.NetworkError):
        return f"connection error: {_text(exc)}"
    return f"request failed: {_text(exc)}"


def _text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
