"""The HTTP server of `whp serve` as clients that are not webhook libraries meet it: upgrade
offers (curl --http2, Java and Ktor clients, websocket clients), paths and methods it does not
serve, and the readiness it reports while its store cannot commit."""

from __future__ import annotations

import json
import resource
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from .helpers import (
    RawResponse,
    Server,
    event_by_id,
    github_headers,
    json_body,
    read_response,
    start_server,
)

pytestmark = pytest.mark.e2e

SECRET = "gh-server-e2e-" + uuid.uuid4().hex
ENV = {"GH_SECRET": SECRET}
CONFIG = """\
storage: {path: whp.db, busy_timeout_seconds: 0.3}
sources:
  open: {verify: none}
  github: {verify: github, secret: env:GH_SECRET}
"""
# What curl --http2 adds to a request over http:// (and Java's HttpClient, Ktor, Spring's
# RestClient): an offer to switch to HTTP/2, which the server may decline (RFC 9110 7.8).
H2C = {
    "Upgrade": "h2c",
    "Connection": "Upgrade, HTTP2-Settings",
    "HTTP2-Settings": "AAMAAABkAAQCAAAAAAIAAAAA",
}
WEBSOCKET = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
}
PROMPTLY = 5.0  # seconds; the server's own request time limit is 60 s


def write_config(folder: Path) -> Path:
    config = folder / "whp.yaml"
    config.write_text(CONFIG)
    return config


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(write_config(tmp_path_factory.mktemp("server")), ENV)
    yield running
    running.stop()


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunked(body: bytes) -> bytes:
    half = len(body) // 2
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:half], body[half:]))


def exchange(server: Server, *pieces: bytes) -> tuple[RawResponse, float]:
    """Send `pieces` on one connection (a pause between them, so that they arrive as separate
    reads), then read one response; the response and how long it took after the last piece."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i, piece in enumerate(pieces):
            if i:
                time.sleep(0.05)
            sock.sendall(piece)
        started = time.monotonic()
        return read_response(sock, timeout=65), time.monotonic() - started


def json_error(raw: RawResponse, status: int, code: str) -> str:
    assert raw.status == status, raw
    assert raw.headers["content-type"] == "application/json", raw
    answer = raw.json()
    assert set(answer) == {"error", "detail"}, answer
    assert answer["error"] == code, answer
    assert answer["detail"], answer
    detail: str = answer["detail"]
    return detail


# --- an upgrade offer is declined: the request is served as HTTP/1.1, body intact ---------------


def signed(source: str, body: bytes) -> dict[str, str]:
    if source == "github":
        return github_headers(SECRET, body)
    return {"Content-Type": "application/json"}


@pytest.mark.parametrize("source", ["open", "github"])
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_webhook_offering_h2c_is_stored_with_its_body(
    server: Server, source: str, framing: str
) -> None:
    """uvicorn's httptools protocol took the offer for a protocol switch and dropped the body: a
    source whose check does not cover the body stored an empty one (202), a body-signed one
    answered 401 to every retry. Sent as curl does (in one write, with Content-Length) and as
    Java's clients do (chunked, the body in writes of its own)."""
    body = json_body(action="h2c", framing=framing, pad="x" * 3000)
    headers = {**signed(source, body), **H2C}
    if framing == "content-length":
        pieces = [
            head("POST", f"/webhooks/{source}", {**headers, "Content-Length": str(len(body))})
            + body
        ]
    else:
        framed = chunked(body)
        start = head("POST", f"/webhooks/{source}", {**headers, "Transfer-Encoding": "chunked"})
        pieces = [start, framed[:100], framed[100:] + b"0\r\n\r\n"]
    raw, _ = exchange(server, *pieces)
    assert raw.status == 202, raw
    stored = event_by_id(server.db, raw.json()["id"])
    assert stored is not None
    assert stored.body == body
    assert stored.source == source
    assert stored.headers["upgrade"] == "h2c"  # stored as sent


def test_the_connection_serves_requests_after_a_declined_offer(server: Server) -> None:
    """The parser is not left switched: the next request on the connection is answered too."""
    first, second = json_body(n=1), json_body(n=2)
    offer = head("POST", "/webhooks/open", {**H2C, "Content-Length": str(len(first))}) + first
    plain = head("POST", "/webhooks/open", {"Content-Length": str(len(second))}) + second
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        sock.sendall(offer)
        answers = [read_response(sock)]
        sock.sendall(plain)
        answers.append(read_response(sock))
    assert [a.status for a in answers] == [202, 202], answers
    stored = [event_by_id(server.db, a.json()["id"]) for a in answers]
    assert [e.body if e else None for e in stored] == [first, second]


# --- every answer is the API's JSON error: websockets, unknown paths, wrong methods -------------


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/webhooks/open", 405, "method_not_allowed"),
        ("POST", "/webhooks/github", 401, "invalid_signature"),
        ("GET", "/socket", 404, "not_found"),
    ],
)
def test_a_websocket_handshake_gets_a_json_error_at_once(
    server: Server, method: str, path: str, status: int, code: str
) -> None:
    """whp serves no websocket: the handshake is answered as the plain HTTP/1.1 request it also
    is. A POST was handed to uvicorn's websocket protocol and hung for 60 s; a GET got a bare
    403."""
    extra = {"Content-Length": "2"} if method == "POST" else {}
    raw, waited = exchange(
        server, head(method, path, {**WEBSOCKET, **extra}) + (b"{}" if extra else b"")
    )
    json_error(raw, status, code)
    assert waited < PROMPTLY


def test_an_unknown_path_is_a_json_404(server: Server) -> None:
    raw, _ = exchange(server, head("GET", "/nowhere", {}))
    detail = json_error(raw, 404, "not_found")
    assert "/nowhere" in detail


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json"])
def test_a_wrong_method_on_an_endpoint_is_a_json_405(server: Server, path: str) -> None:
    raw, _ = exchange(server, head("POST", path, {"Content-Length": "0"}))
    detail = json_error(raw, 405, "method_not_allowed")
    assert "GET" in detail
    assert set(raw.headers["allow"].split(", ")) == {"GET", "HEAD"}


def test_a_connect_request_is_a_json_405(server: Server) -> None:
    raw, _ = exchange(server, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
    json_error(raw, 405, "method_not_allowed")
    assert raw.headers["connection"] == "close"


def test_a_long_source_name_is_not_echoed_whole(server: Server) -> None:
    name = "n" * 60_000
    raw, _ = exchange(server, head("POST", f"/webhooks/{name}", {"Content-Length": "2"}) + b"{}")
    detail = json_error(raw, 404, "unknown_source")
    assert len(detail) < 300, detail
    assert "nnnnnnnn" in detail
    assert "60000 characters" in detail
    assert len(server.stderr()) < 20_000


# --- readiness while the store cannot commit ------------------------------------------------------


def ready(client: httpx.Client, server: Server) -> httpx.Response:
    return client.get(f"{server.url}/readyz")


def wait_for(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_readyz_is_503_while_the_disk_is_full_and_200_once_it_commits_again(
    tmp_path: Path,
) -> None:
    """The process may write no file beyond its first byte (RLIMIT_FSIZE, as a full disk does to
    SQLite: 'database or disk is full'): webhooks get 503, and so does /readyz, until the store
    commits again, which it finds out by itself, with no webhook to try it."""
    server = start_server(write_config(tmp_path), ENV)
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    try:
        with httpx.Client(timeout=30.0) as client:
            assert client.post(server.webhook("open"), content=b"{}").status_code == 202
            resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE, (1, hard))
            try:
                refused = client.post(server.webhook("open"), content=b'{"n": 1}')
                assert refused.status_code == 503, refused.text
                answer = ready(client, server)
                assert answer.status_code == 503, answer.text
                assert answer.json()["status"] == "not ready"
                assert "store" in answer.json()["detail"]
                time.sleep(2)  # probes fail meanwhile: still not ready
                assert ready(client, server).status_code == 503
            finally:
                resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE, (hard, hard))
            assert wait_for(lambda: ready(client, server).status_code == 200, 15), (
                f"not ready again after the disk had room; stderr:\n{server.stderr()}"
            )
            accepted = client.post(server.webhook("open"), content=b'{"n": 2}')
            assert accepted.status_code == 202, accepted.text
    finally:
        server.stop()


def test_store_errors_are_logged_at_a_bounded_rate_with_counts(tmp_path: Path) -> None:
    """Hundreds of webhooks refused while another process holds the store's write lock make a few
    log lines, each saying how many were refused since the one before (it was one line per
    request: 42,000 lines in 15 s under load)."""
    server = start_server(write_config(tmp_path), ENV, extra_args=["--log-format", "json"])
    statuses: list[int] = []
    try:
        with closing(sqlite3.connect(server.db, isolation_level=None, timeout=10)) as lock:
            lock.execute("BEGIN IMMEDIATE")
            try:

                def send(_: int) -> int:
                    with httpx.Client(timeout=30.0) as client:
                        return client.post(server.webhook("open"), content=b"{}").status_code

                with ThreadPoolExecutor(16) as pool:
                    statuses = list(pool.map(send, range(240)))
            finally:
                lock.execute("ROLLBACK")
        with httpx.Client(timeout=30.0) as client:
            assert wait_for(lambda: ready(client, server).status_code == 200, 15)
    finally:
        server.stop()
    assert set(statuses) == {503}, statuses
    entries = [json.loads(line) for line in server.stderr().splitlines() if line.strip()]
    reports = [e for e in entries if "refused" in e]
    assert 2 <= len(reports) <= 5, "\n".join(map(str, reports))
    assert all(e["logger"] == "whp.store" for e in reports), reports
    assert sum(e["refused"] for e in reports) == len(statuses), reports
    assert "database is locked" in reports[0]["message"]
    assert reports[-1]["message"].startswith("store commits again"), reports[-1]
    assert not [e for e in entries if e["logger"] == "whp.ingest"], entries  # none per request
