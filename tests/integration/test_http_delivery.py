"""HttpSender against a real receiver on 127.0.0.1 that checks every delivery with the official
Standard Webhooks library, as a user's receiver would; then the failures a network can produce."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime
import gzip
import ipaddress
import itertools
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from webhook_processor import delivery, models
from webhook_processor.adapters.http import outbound

from .threaded import uvicorn_on_a_thread

SECRET = "whsec_" + base64.b64encode(b"integration-test-key-0123456789").decode()
SLOW_SECONDS = 1.0


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    user_agents: list[str]  # every User-Agent line: exactly one is expected
    client: tuple[str, int] | None  # the connection it came on


class Receiver:
    """A webhook consumer: /hooks verifies and accepts; the other paths misbehave on purpose."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.app = Starlette(
            routes=[
                Route("/hooks", self.hooks, methods=["POST"]),
                Route("/moved", self.moved, methods=["POST"]),
                Route("/busy", self.busy, methods=["POST"]),
                Route("/slow", self.slow, methods=["POST"]),
                Route("/gzipped", self.gzipped, methods=["POST"]),
                Route("/closing", self.closing, methods=["POST"]),
                Route("/verbose", self.verbose, methods=["POST"]),
            ]
        )

    async def record(self, request: Request) -> bool:
        body = await request.body()
        headers = dict(request.headers)
        try:
            Webhook(SECRET).verify(body, headers, json_parse=False)
        except WebhookVerificationError:
            verified = False
        else:
            verified = True
        agents = request.headers.getlist("user-agent")
        client = (request.client.host, request.client.port) if request.client else None
        self.received.append(Received(request.url.path, headers, body, verified, agents, client))
        return verified

    async def hooks(self, request: Request) -> Response:
        return Response(status_code=204 if await self.record(request) else 401)

    async def moved(self, request: Request) -> Response:
        await self.record(request)
        return Response(status_code=302, headers={"location": "/hooks"})

    async def busy(self, request: Request) -> Response:
        await self.record(request)
        return Response("rate limited", status_code=429, headers={"retry-after": "7"})

    async def gzipped(self, request: Request) -> Response:
        """An error page compressed although the delivery asked for no encoding."""
        await self.record(request)
        page = gzip.compress(b"upstream unavailable")
        return Response(page, status_code=502, headers={"content-encoding": "gzip"})

    async def closing(self, request: Request) -> Response:
        await self.record(request)
        return Response(status_code=204, headers={"connection": "close"})

    async def verbose(self, request: Request) -> Response:
        """An error page of 1 MiB."""
        await self.record(request)
        return Response(b"x" * 1024 * 1024, status_code=500)

    async def slow(self, request: Request) -> Response:
        await self.record(request)
        await asyncio.sleep(SLOW_SECONDS)
        return Response(status_code=200)


@contextlib.contextmanager
def serving(
    app: Receiver, tls: tuple[Path, Path] | None = None, keep_alive: int = 5
) -> Iterator[str]:
    """`app` on uvicorn on 127.0.0.1 (over TLS with `tls`: certificate and key files), closing
    connections idle for `keep_alive` seconds; its URL."""
    certfile, keyfile = tls if tls else (None, None)
    config = uvicorn.Config(
        app.app,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=2,
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
        timeout_keep_alive=keep_alive,
    )
    with uvicorn_on_a_thread(config) as port:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"


@pytest.fixture(autouse=True, params=["asyncio", "uvloop"])
def event_loop_kind(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test on both loops: `whp serve` and `whp worker` deliver on uvloop, whose
    transports differ from asyncio's own."""
    policy = asyncio.get_event_loop_policy()
    if request.param == "uvloop":
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        yield
    finally:
        asyncio.set_event_loop_policy(policy)


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    app = Receiver()
    with serving(app) as url:
        yield app, url


def event(body: bytes = b'{"type":"order.paid","total":"9.99 \xe2\x82\xac"}') -> models.Event:
    return models.Event(
        id=models.new_event_id(time.time()),
        source="shop",
        event_type="order.paid",
        idempotency_key=None,
        received_ms=int(time.time() * 1000),
        content_type="application/json",
        headers={"x-shop-domain": "example.myshop.test"},
        body=body,
    )


def outgoing(url: str, evt: models.Event, attempt: int = 1) -> delivery.Outgoing:
    destination = delivery.Destination(
        "shop", url, signing_key=delivery.signing_key(SECRET), forward_headers=("x-shop-domain",)
    )
    return delivery.build(evt, destination, evt.id, attempt, time.time())


def send(
    *requests: delivery.Outgoing, timeout: float = 5.0, **kwargs: object
) -> list[delivery.Result]:
    """Send in order through one sender (one connection pool), closed afterwards."""

    async def run() -> list[delivery.Result]:
        sender = outbound.HttpSender(**kwargs)  # type: ignore[arg-type]
        try:
            return [await sender.send(r, timeout, time.time) for r in requests]
        finally:
            await sender.aclose()

    return asyncio.run(run())


def test_delivered_and_verified_by_the_official_library(receiver: tuple[Receiver, str]) -> None:
    app, base = receiver
    evt = event()
    first, retried = send(outgoing(base + "/hooks", evt), outgoing(base + "/hooks", evt, 2))
    assert (first.ok, first.status, first.error) == (True, 204, None)
    assert (retried.ok, retried.status) == (True, 204)
    got = [r for r in app.received if r.headers.get("webhook-id") == evt.id]
    assert [r.verified for r in got] == [True, True]
    assert [r.headers["whp-attempt"] for r in got] == ["1", "2"]
    assert got[0].body == evt.body
    assert got[0].headers["content-type"] == "application/json"
    assert got[0].headers["whp-source"] == "shop"
    assert got[0].headers["whp-event-type"] == "order.paid"
    assert got[0].headers["x-shop-domain"] == "example.myshop.test"
    assert got[0].headers["user-agent"].startswith("webhook-processor/")
    assert set(got[0].headers) == {
        "host",
        "content-length",
        "content-type",
        "user-agent",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "whp-source",
        "whp-event-type",
        "whp-attempt",
        "x-shop-domain",
    }, "a delivery carries no headers of the HTTP client's own (Accept, Accept-Encoding...)"


def test_header_text_beyond_ascii_reaches_the_receiver_as_utf_8(
    receiver: tuple[Receiver, str],
) -> None:
    """Ingest keeps a header's bytes (decoded as latin-1): a forwarded header goes out with the
    bytes it came in with, UTF-8 or latin-1. An event type from a JSON body, any text, goes out
    as UTF-8, and one holding a line break cannot end its header early."""
    app, base = receiver
    utf8, latin1 = "café.example".encode(), "café.example".encode("latin-1")
    evts = [
        dataclasses.replace(event(), headers={"x-shop-domain": utf8.decode("latin-1")}),
        dataclasses.replace(event(), headers={"x-shop-domain": latin1.decode("latin-1")}),
        dataclasses.replace(event(), event_type="注文.支払い"),
        dataclasses.replace(event(), event_type="order.paid\r\nx-injected: 1"),
    ]
    results = send(*(outgoing(base + "/hooks", e) for e in evts))
    assert [(r.ok, r.error) for r in results] == [(True, None)] * 4
    got = {r.headers["webhook-id"]: r for r in app.received}
    sent_utf8, sent_latin1, unicode, broken = (got[e.id].headers for e in evts)
    # the receiver (Starlette) decodes header bytes as latin-1: encoding back gives the bytes
    assert sent_utf8["x-shop-domain"].encode("latin-1") == utf8
    assert sent_latin1["x-shop-domain"].encode("latin-1") == latin1
    assert unicode["whp-event-type"].encode("latin-1") == "注文.支払い".encode()
    assert broken["whp-event-type"] == "order.paid??x-injected: 1"
    assert "x-injected" not in broken
    assert all(got[e.id].verified for e in evts)


def test_connections_are_kept_alive(receiver: tuple[Receiver, str]) -> None:
    app, base = receiver
    events = [event() for _ in range(3)]
    send(*(outgoing(base + "/hooks", e) for e in events))
    clients = {
        r.client for r in app.received if r.headers.get("webhook-id") in {e.id for e in events}
    }
    assert len(clients) == 1, f"three deliveries in a row used {len(clients)} connections"


@pytest.mark.parametrize(
    ("path", "timeout"),
    [("/closing", 5.0), ("/slow", SLOW_SECONDS / 4), ("/verbose", 5.0)],
    ids=["receiver-says-close", "timed-out", "body-not-read-to-its-end"],
)
def test_a_connection_not_at_rest_is_not_reused(
    receiver: tuple[Receiver, str], path: str, timeout: float
) -> None:
    """A connection is reused only after a whole response on it, and when the receiver keeps
    it open: else the next delivery takes a new one, and gets through."""
    app, base = receiver
    first, second = event(), event()

    async def run() -> list[delivery.Result]:
        sender = outbound.HttpSender()
        try:
            return [
                await sender.send(outgoing(base + path, first), timeout, time.time),
                await sender.send(outgoing(base + "/hooks", second), 5.0, time.time),
            ]
        finally:
            await sender.aclose()

    results = asyncio.run(run())
    assert results[1].status == 204
    if path == "/verbose":
        assert (results[0].status, results[0].excerpt) == (500, "x" * 512)
    clients = {r.headers["webhook-id"]: r.client for r in app.received}
    assert clients[first.id] != clients[second.id]


@pytest.mark.parametrize("value", ["a\r\nx-admin: 1", "a\nx-admin: 1", "a\rb", "a\x00b"])
def test_a_header_that_would_forge_another_is_not_sent(
    receiver: tuple[Receiver, str], value: str
) -> None:
    app, base = receiver
    evt = event()
    request = outgoing(base + "/hooks", evt)
    forged = delivery.Outgoing(request.url, request.headers | {"x-note": value}, b"{}")
    (result,) = send(forged)
    assert (result.ok, result.status) == (False, None)
    assert result.error == "request failed: header 'x-note' holds a line break or NUL"
    assert evt.id not in {r.headers.get("webhook-id") for r in app.received}


def test_a_forwarded_user_agent_replaces_ours(receiver: tuple[Receiver, str]) -> None:
    app, base = receiver
    evt = event()
    mine = outgoing(base + "/hooks", evt)
    forwarded = delivery.Outgoing(mine.url, mine.headers | {"User-Agent": "Shopify/1.0"}, mine.body)
    (result,) = send(forwarded)
    assert result.ok
    [got] = [r for r in app.received if r.headers.get("webhook-id") == evt.id]
    assert got.user_agents == ["Shopify/1.0"]


def test_concurrent_deliveries_share_the_pool(receiver: tuple[Receiver, str]) -> None:
    app, base = receiver
    events = [event() for _ in range(40)]

    async def run() -> list[delivery.Result]:
        sender = outbound.HttpSender(max_idle_connections=8)
        try:
            return await asyncio.gather(
                *(sender.send(outgoing(base + "/hooks", e), 5.0, time.time) for e in events)
            )
        finally:
            await sender.aclose()

    assert [r.status for r in asyncio.run(run())] == [204] * 40
    ids = {r.headers.get("webhook-id") for r in app.received}
    assert {e.id for e in events} <= ids


def test_redirect_is_not_followed(receiver: tuple[Receiver, str]) -> None:
    app, base = receiver
    evt = event()
    (result,) = send(outgoing(base + "/moved", evt))
    assert not result.ok
    assert result.status == 302
    assert result.error == ("HTTP 302: redirect to /hooks not followed; update the destination URL")
    assert [r.path for r in app.received if r.headers.get("webhook-id") == evt.id] == ["/moved"]


def test_429_carries_retry_after(receiver: tuple[Receiver, str]) -> None:
    _, base = receiver
    (result,) = send(outgoing(base + "/busy", event()))
    assert (result.ok, result.status, result.retry_after) == (False, 429, 7.0)
    assert result.excerpt == "rate limited"


def test_a_compressed_answer_is_decoded_for_its_excerpt(receiver: tuple[Receiver, str]) -> None:
    _, base = receiver
    (result,) = send(outgoing(base + "/gzipped", event()))
    assert (result.ok, result.status, result.excerpt) == (False, 502, "upstream unavailable")


def test_slow_receiver_times_out(receiver: tuple[Receiver, str]) -> None:
    _, base = receiver
    started = time.monotonic()
    (result,) = send(outgoing(base + "/slow", event()), timeout=0.2)
    assert (result.ok, result.status, result.error) == (False, None, "timeout after 0.2 s")
    assert 150 <= result.duration_ms < 1000
    assert time.monotonic() - started < SLOW_SECONDS


def test_closed_port_is_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (result,) = send(outgoing(f"http://127.0.0.1:{port}/hooks", event()))
    assert (result.ok, result.status, result.error) == (False, None, "connection refused")


def test_a_connection_the_receiver_closed_is_not_reused() -> None:
    """Receivers close idle connections (uvicorn after 5 s, Node.js after 5 s...): the next
    delivery must not fail on the closed one."""
    app = Receiver()
    with serving(app, keep_alive=1) as base:

        async def run() -> list[delivery.Result]:
            sender = outbound.HttpSender()
            try:
                first = await sender.send(outgoing(base + "/hooks", event()), 5.0, time.time)
                await asyncio.sleep(1.5)  # the receiver closes the connection meanwhile
                second = await sender.send(outgoing(base + "/hooks", event()), 5.0, time.time)
                return [first, second]
            finally:
                await sender.aclose()

        results = asyncio.run(run())
    assert [(r.ok, r.status, r.error) for r in results] == [(True, 204, None)] * 2
    assert len({r.client for r in app.received}) == 2, "the second went on a new connection"


def read_head(conn: socket.socket) -> bool:
    """Read up to the end of a request's head; False if the client closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        data += chunk
    return True


class ClosingOnReuse:
    """A receiver that answers the first request of each connection and keeps it open, then
    closes it on the next request without a word: as a receiver does when it closes an idle
    connection at the moment a request goes out on it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.connections = 0
        self.answered = 0
        threading.Thread(target=self.serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/hooks"

    def serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                self.connections += 1
                threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn: socket.socket) -> None:
        with conn:
            for request in itertools.count():
                if not read_head(conn):
                    return
                if request > 0:
                    return  # closed, nothing answered
                self.answered += 1
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")


def test_a_request_on_a_connection_closed_as_it_went_out_goes_again_on_a_new_one() -> None:
    server = ClosingOnReuse()
    try:
        results = send(*(outgoing(server.url, event()) for _ in range(3)))
    finally:
        server.sock.close()
    assert [(r.ok, r.status, r.error) for r in results] == [(True, 200, None)] * 3
    assert (server.connections, server.answered) == (3, 3)


def test_idle_connections_are_closed_after_the_keepalive_expiry() -> None:
    """Also those of a receiver no delivery goes to any more: nothing else would close them
    while the receiver keeps them open."""
    with RawServer(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK", wait_for_close=True
    ) as server:

        async def run() -> tuple[bool, bool]:
            sender = outbound.HttpSender(keepalive_expiry=0.2)
            try:
                result = await sender.send(outgoing(server.url, event()), 5.0, time.time)
                assert result.ok
                open_after_use = not server.closed.wait(0.05)
                await asyncio.sleep(0.6)
                return open_after_use, server.closed.is_set()
            finally:
                await sender.aclose()

        assert asyncio.run(run()) == (True, True)


def certificate_authority(directory: Path) -> tuple[Path, Path, Path]:
    """A private CA and a certificate it signed for 127.0.0.1: (CA file, cert file, key file)."""
    now = datetime.datetime.now(datetime.UTC)

    def issue(
        subject: str,
        key: ec.EllipticCurvePrivateKey,
        issuer: x509.Certificate | None,
        ca_key: ec.EllipticCurvePrivateKey,
    ) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer.subject if issuer else name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        if issuer is None:
            builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                False,
            )
        return builder.sign(ca_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = issue("whp test CA", ca_key, None, ca_key)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = issue("127.0.0.1", key, ca, ca_key)
    files = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    files[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


def test_delivery_over_tls(tmp_path: Path) -> None:
    ca_file, cert_file, key_file = certificate_authority(tmp_path)
    app = Receiver()
    with serving(app, tls=(cert_file, key_file)) as base:
        evt, again = event(), event()
        trusting = ssl.create_default_context(cafile=str(ca_file))
        trusted, reused = send(
            outgoing(base + "/hooks", evt), outgoing(base + "/hooks", again), tls=trusting
        )
        (untrusted,) = send(outgoing(base + "/hooks", event()))  # certifi's CAs: not ours
    assert (trusted.ok, trusted.status, trusted.error) == (True, 204, None)
    assert (reused.ok, reused.status) == (True, 204)
    assert [r.verified for r in app.received] == [True, True], "only the trusted ones got through"
    assert [r.headers["webhook-id"] for r in app.received] == [evt.id, again.id]
    assert app.received[0].client == app.received[1].client, "the TLS connection was kept alive"
    assert (untrusted.ok, untrusted.status) == (False, None)
    assert untrusted.error is not None
    assert untrusted.error.startswith("connection failed: "), untrusted.error
    assert "certificate verify failed" in untrusted.error


class RawServer:
    """A TCP server on 127.0.0.1 that reads one request and then does `reply` with the socket."""

    def __init__(self, reply: bytes | None, wait_for_close: bool = False) -> None:
        self.reply = reply
        self.wait_for_close = wait_for_close
        self.closed = threading.Event()  # with `wait_for_close`: the client closed its end
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/hooks"

    def serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            if not read_head(conn):  # the client gave up first
                return
            if self.reply is not None:
                conn.sendall(self.reply)
            if self.wait_for_close:
                conn.settimeout(5)
                while conn.recv(65536):
                    pass
                self.closed.set()

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (None, "protocol error: Server disconnected"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK", None),
        (b"hello, this is not HTTP\r\n\r\n", "protocol error: invalid response: Expected HTTP/"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\ncut short", "connection error: "),
        (b"HTTP/1.1 200 OK\r\nX-Filler: " + b"x" * 70_000, "protocol error: response head over"),
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", "protocol error: "),
    ],
    ids=[
        "closes-without-answer",
        "control-ok",
        "not-http",
        "body-cut-short",
        "endless-head",
        "switches-protocols",
    ],
)
def test_a_misbehaving_server_is_a_failed_attempt_saying_why(
    reply: bytes | None, error: str | None
) -> None:
    with RawServer(reply) as server:
        (result,) = send(outgoing(server.url, event()))
    if error is None:
        assert (result.ok, result.status, result.error) == (True, 200, None)
    else:
        assert not result.ok
        assert result.error is not None
        assert result.error.startswith(error), result.error


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 11\r\n\r\nbusy, sorry",
        b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4\r\nbusy\r\n7\r\n, sorry\r\n0\r\n\r\n",
        b"HTTP/1.0 503 Service Unavailable\r\n\r\nbusy, sorry",  # until the connection closes
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n"
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 11\r\n\r\nbusy, sorry",
    ],
    ids=["content-length", "chunked", "until-close", "after-informational"],
)
def test_every_response_framing_is_read(reply: bytes) -> None:
    with RawServer(reply) as server:
        (result,) = send(outgoing(server.url, event()))
    assert (result.ok, result.status, result.excerpt) == (False, 503, "busy, sorry")


# Failures a real server rarely produces on demand, through httpx's MockTransport.


def test_protocol_error_becomes_a_failed_result() -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    (result,) = send(
        outgoing("http://receiver.test/hooks", event()), transport=httpx.MockTransport(broken)
    )
    assert (result.ok, result.status) == (False, None)
    assert result.error == "protocol error: Server disconnected without sending a response."


class Endless(httpx.AsyncByteStream):
    """A response body that never ends, counting what was read of it."""

    def __init__(self) -> None:
        self.served = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            self.served += 4096
            yield b"x" * 4096


def test_reads_at_most_64_kib_of_the_response() -> None:
    stream = Endless()
    transport = httpx.MockTransport(lambda request: httpx.Response(500, stream=stream))
    (result,) = send(outgoing("http://receiver.test/hooks", event()), transport=transport)
    assert (result.ok, result.status, result.excerpt) == (False, 500, "x" * 512)
    assert stream.served == 64 * 1024


@pytest.mark.parametrize("url", ["http://", "http://[::1/hooks"])
def test_unusable_url_becomes_a_failed_result(url: str) -> None:
    """Config rejects these URLs (tests/unit/test_config.py); the sender never raises on one."""
    (result,) = send(delivery.Outgoing(url, {"content-type": "application/json"}, b"{}"))
    assert (result.ok, result.status) == (False, None)
    assert result.error is not None
    assert result.error.startswith("invalid URL: ")
