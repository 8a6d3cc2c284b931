"""The first response answers a delivery, end to end: a receiver that writes a 500 and, in the
same write, a 200 nobody asked for, gets a failed attempt from a real `whp serve`, retried and
then dead, never delivered."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from .test_delivery import FAST_RETRY, Whp, destination, route, send

pytestmark = pytest.mark.e2e

BOOM_THEN_OK = (
    b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\nboom!"
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"
)


class RawReceiver:
    """A TCP server on 127.0.0.1 that answers every request (head and Content-Length body) with
    `reply`, in one write, and counts requests and connections."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.requests = 0
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
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
        with conn, contextlib.suppress(OSError):
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                while len(buffer) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                buffer = buffer[length:]
                self.requests += 1
                conn.sendall(self.reply)


@pytest.fixture
def receiver() -> Iterator[RawReceiver]:
    running = RawReceiver(BOOM_THEN_OK)
    yield running
    running.sock.close()


def test_a_500_followed_by_an_unsolicited_200_is_a_failed_attempt(
    receiver: RawReceiver, tmp_path: Path
) -> None:
    retry = FAST_RETRY | {"max_attempts": 3}
    config = tmp_path / "whp.yaml"
    document = {
        "storage": {"path": "whp.db"},
        "sources": {"github": {"verify": "github", "secret": "env:DLV_GH_SECRET"}},
        "destinations": {"raw": destination(receiver.url, retry=retry)},
        "routes": [route("all", "raw")],
    }
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    whp = Whp(config)
    whp.start()
    try:
        event_id = send(whp.server)
        (shown,) = whp.wait_settled(event_id)
    finally:
        whp.stop()
    assert shown["status"] == "dead", shown
    assert [a["status_code"] for a in shown["attempts"]] == [500] * 3, shown
    assert [a["excerpt"] for a in shown["attempts"]] == ["boom!"] * 3, shown
    assert receiver.requests == 3
    assert receiver.connections == 3, "a connection that carried an unsolicited answer was reused"
