"""What the end-to-end tests share: real `whp` processes, independent signers, the store on disk.

Nothing here imports webhook_processor: the tests talk to the product only as a user would, through
its command line, its HTTP port and the SQLite file it writes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

READY_TIMEOUT = 20.0  # seconds: generous, for a slow 2-core machine
CLI_TIMEOUT = 60.0
WHP = [sys.executable, "-m", "webhook_processor"]


def free_port() -> int:
    """A port nothing listens on right now (bound to 127.0.0.1:0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


# --- signing, written from the providers' docs rather than taken from the product -----------------


def hmac_hex(secret: str, content: bytes) -> str:
    return hmac.new(secret.encode(), content, hashlib.sha256).hexdigest()


def github_signature(secret: str, body: bytes) -> str:
    """X-Hub-Signature-256: "sha256=" + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac_hex(secret, body)


def github_headers(
    secret: str,
    body: bytes,
    *,
    event: str = "push",
    delivery: str | None = None,
    content_type: str = "application/json",
) -> dict[str, str]:
    return {
        "Content-Type": content_type,
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": github_signature(secret, body),
    }


def stripe_signature(secret: str, body: bytes, timestamp: int) -> str:
    """Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">."""
    return f"t={timestamp},v1={hmac_hex(secret, str(timestamp).encode() + b'.' + body)}"


def json_body(**fields: Any) -> bytes:
    return json.dumps(fields, separators=(",", ":")).encode()


# --- the store -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredEvent:
    id: str
    source: str
    event_type: str
    idempotency_key: str | None
    received_ms: int
    content_type: str | None
    headers: dict[str, str]
    body: bytes
    status: str


_COLUMNS = (
    "id, source, event_type, idempotency_key, received_ms, content_type, headers, body, status"
)


def read_events(db: Path, where: str = "", params: Sequence[object] = ()) -> list[StoredEvent]:
    """Events in the store file, opened read-only, in insertion order; `where` is a SQL filter."""
    sql = f"SELECT {_COLUMNS} FROM events"
    if where:
        sql += f" WHERE {where}"
    sql += " ORDER BY rowid"
    with closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=10)) as conn:
        rows = conn.execute(sql, tuple(params)).fetchall()
    return [
        StoredEvent(
            id=row[0],
            source=row[1],
            event_type=row[2],
            idempotency_key=row[3],
            received_ms=row[4],
            content_type=row[5],
            headers=json.loads(row[6]),
            body=bytes(row[7]),
            status=row[8],
        )
        for row in rows
    ]


def events_with_key(db: Path, source: str, key: str) -> list[StoredEvent]:
    return read_events(db, "source = ? AND idempotency_key = ?", (source, key))


def event_by_id(db: Path, event_id: str) -> StoredEvent | None:
    found = read_events(db, "id = ?", (event_id,))
    return found[0] if found else None


def count_events(db: Path, source: str | None = None) -> int:
    return len(read_events(db, "source = ?", (source,))) if source else len(read_events(db))


def stored_ids(db: Path) -> set[str]:
    with closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=10)) as conn:
        return {str(row[0]) for row in conn.execute("SELECT id FROM events")}


# --- metrics ---------------------------------------------------------------------------------


def metric_total(metrics: str, name: str, **labels: str) -> float | None:
    """The sum of the Prometheus samples `name{...}` that carry `labels` (among others, in any
    order), or None when there is none."""
    values = []
    for line in metrics.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if match is None or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            values.append(float(match.group(3)))
    return sum(values) if values else None


# --- processes -------------------------------------------------------------------------------


@dataclass
class Server:
    """A running `whp serve` process."""

    port: int
    config: Path
    db: Path
    process: subprocess.Popen[bytes]
    stderr_path: Path
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def webhook(self, source: str) -> str:
        return f"{self.url}/webhooks/{source}"

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit within 15 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)

    def kill(self) -> None:
        """SIGKILL: no shutdown work at all, as in a crash."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=15)


def launch(
    args: Sequence[str],
    *,
    port: int,
    config: Path,
    db: Path,
    env: Mapping[str, str],
    cwd: Path | None = None,
    stderr_path: Path | None = None,
) -> Server:
    """Start `whp <args>` (a serve command listening on `port`) and wait until /readyz is 200."""
    stderr_path = stderr_path or config.parent / f"server-{port}.stderr.log"
    full_env = child_env(env)
    with stderr_path.open("wb") as err:
        process = subprocess.Popen(
            [*WHP, *args],
            cwd=cwd or config.parent,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    server = Server(port, config, db, process, stderr_path, dict(env))
    try:
        wait_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


def start_server(
    config: Path,
    env: Mapping[str, str],
    *,
    db: Path | None = None,
    extra_args: Sequence[str] = (),
) -> Server:
    """`whp serve --config CONFIG --port <free port> [extra_args]`; the store is whp.db next to it
    unless `db` says otherwise."""
    port = free_port()
    return launch(
        ["serve", "--config", str(config), "--port", str(port), *extra_args],
        port=port,
        config=config,
        db=db or config.parent / "whp.db",
        env=env,
    )


def wait_ready(server: Server, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            code = server.process.poll()
            if code is not None:
                raise AssertionError(
                    f"whp serve exited with status {code} before it was ready; "
                    f"stderr:\n{server.stderr()}"
                )
            try:
                response = client.get(f"{server.url}/readyz")
            except httpx.HTTPError as exc:
                last = repr(exc)
            else:
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text}"
            time.sleep(0.05)
    raise AssertionError(
        f"whp serve was not ready within {timeout}s (last: {last}); stderr:\n{server.stderr()}"
    )


def run_whp(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = CLI_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run one `whp` command to completion; text output."""
    return subprocess.run(
        [*WHP, *args],
        cwd=cwd,
        env=child_env(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def describe(result: subprocess.CompletedProcess[str]) -> str:
    return (
        f"`whp {' '.join(result.args[3:])}` exited {result.returncode}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )


# --- raw HTTP, for what a well-behaved client library cannot do ------------------------------


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    interim: tuple[int, ...] = ()  # 1xx statuses received before the response

    def json(self) -> Any:
        return json.loads(self.body)


def read_response(sock: socket.socket, timeout: float = 15.0) -> RawResponse:
    """Read one HTTP/1.1 response (with Content-Length) from `sock`, skipping 1xx responses."""
    sock.settimeout(timeout)
    buffer = b""
    interim: list[int] = []
    while True:
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError(f"connection closed before a response; got {buffer!r}")
            buffer += chunk
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if 100 <= status < 200:
            interim.append(status)
            continue
        length = int(headers.get("content-length", "0"))
        while len(buffer) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buffer += chunk
        return RawResponse(status, headers, buffer[:length], tuple(interim))


# -- load for the crash tests ---------------------------------------------------------------


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    acked: set[str] = field(default_factory=set)
    other_status: dict[int, int] = field(default_factory=dict)
    errors: int = 0

    def add(self, response: httpx.Response | None) -> None:
        with self.lock:
            if response is None:
                self.errors += 1
            elif response.status_code in (200, 202):
                self.acked.add(response.json()["id"])
            else:
                code = response.status_code
                self.other_status[code] = self.other_status.get(code, 0) + 1


def hammer(url: str, secret: str, stop: threading.Event, tally: Tally) -> None:
    """Send signed webhooks with unique deliveries until `stop`; never raises."""
    try:
        with httpx.Client(timeout=10.0) as client:
            while not stop.is_set():
                body = json_body(load=uuid.uuid4().hex)
                headers = github_headers(secret, body)
                try:
                    response = client.post(url, content=body, headers=headers)
                except httpx.HTTPError:
                    tally.add(None)
                    time.sleep(0.01)  # the server is gone: do not spin
                    continue
                tally.add(response)
    except Exception:
        tally.add(None)


def load_through_kill(
    server: Server, secret: str, threads: int, before: float, after: float
) -> Tally:
    """`threads` senders of signed GitHub webhooks; SIGKILL of the server `before` seconds in,
    load going on `after` seconds more (against a dead server); what was acknowledged."""
    tally = Tally()
    stop = threading.Event()
    with ThreadPoolExecutor(threads, thread_name_prefix="e2e-load") as pool:
        futures = [
            pool.submit(hammer, server.webhook("github"), secret, stop, tally)
            for _ in range(threads)
        ]
        time.sleep(before)
        server.kill()
        time.sleep(after)
        stop.set()
        for future in futures:
            future.result(timeout=60)
    return tally
