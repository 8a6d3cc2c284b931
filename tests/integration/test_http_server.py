"""The HTTP protocol of `whp serve` (web.HttpProtocol) on a real uvicorn server on 127.0.0.1,
with its request time limit shortened: what a sender that is slow, or silent, gets."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from webhook_processor import services, testing
from webhook_processor.entrypoints import web

from .threaded import uvicorn_on_a_thread

TIMEOUT = 0.5  # seconds; the product's is web.REQUEST_TIMEOUT_SECONDS
REQUEST = b"POST /webhooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}"


METRICS = testing.MemoryMetrics()


class QuickProtocol(web.HttpProtocol):
    request_timeout = TIMEOUT
    ingest = services.ingest.Ingest({}, testing.MemoryStore(), METRICS, time.time)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the body, answers 200: the protocol is under test, not the app."""
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    config = uvicorn.Config(
        app, http=QuickProtocol, loop="uvloop", lifespan="off", log_level="warning"
    )
    with uvicorn_on_a_thread(config) as port:
        yield port


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def read_all(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes; and how long that took."""
    started = time.monotonic()
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received, time.monotonic() - started


def json_error(answer: bytes) -> tuple[int, dict[str, str]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert "connection: close" in (line.lower() for line in lines), head
    assert "content-type: application/json" in (line.lower() for line in lines), head
    detail: dict[str, str] = json.loads(body)
    return int(lines[0].split()[1]), detail


def test_a_request_head_that_stops_coming_is_408_then_closed(port: int) -> None:
    counted = METRICS.rejected_by[("(unknown)", "request_timeout")]
    with connect(port) as sock:
        sock.sendall(REQUEST[:30])
        answer, waited = read_all(sock)
    status, error = json_error(answer)
    assert (status, error["error"]) == (408, "request_timeout")
    assert error["detail"] == "the request did not arrive in full within 0.5 s"
    assert TIMEOUT * 0.8 < waited < TIMEOUT + 2
    assert METRICS.rejected_by[("(unknown)", "request_timeout")] == counted + 1


def test_a_body_that_stops_coming_is_408_then_closed(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(REQUEST[:-1])  # the head, and one byte of two
        answer, _ = read_all(sock)
    status, error = json_error(answer)
    assert (status, error["error"]) == (408, "request_timeout")


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(port: int) -> None:
    with connect(port) as sock:
        answer, waited = read_all(sock)
    assert answer == b""
    assert TIMEOUT * 0.8 < waited < TIMEOUT + 2


def test_the_limit_is_per_request_not_per_connection(port: int) -> None:
    """A request sent in pieces within the limit is answered; a kept-alive connection serves
    requests for longer than the limit in all."""
    with connect(port) as sock:
        for _ in range(3):
            sock.sendall(REQUEST[:30])
            time.sleep(TIMEOUT / 2)
            sock.sendall(REQUEST[30:])
            answer = sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 "), answer
            time.sleep(TIMEOUT / 2)
