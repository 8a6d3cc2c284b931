"""A webhook receiver for the delivery tests: a real HTTP server on 127.0.0.1, as a user runs one.

A small ASGI app on uvicorn, in a background thread, on a free port. Every request is checked with
the official Standard Webhooks library (`standardwebhooks`), as a user's consumer would check it,
and recorded (path, headers, body, arrival time, verdict). What it answers is scripted per path:

    receiver.script("/flaky", Reply(500), Reply(500), Reply(200))   # then 200 for ever (the last)
    receiver.script("/busy", Reply(429, retry_after="1"), Reply(200))
    receiver.script("/slow", Reply(200, sleep=1.0))
    receiver.script("/batch", Reply(200, together=5))   # answers once 5 are in flight at once
    receiver.script_id(event_id, Reply(500))            # this webhook-id's, before its path's

`most_in_flight(path)` is the most requests to a path it held at once (read, not yet answered).
Paths without a script answer 200. Like the rest of the e2e suite, nothing here imports
webhook_processor.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import uvicorn
from standardwebhooks.webhooks import Webhook

Scope = dict[str, Any]
Message = dict[str, Any]
ASGIReceive = Callable[[], Any]
ASGISend = Callable[[Message], Any]

START_TIMEOUT = 10.0


def new_signing_secret() -> str:
    """A destination signing secret as Standard Webhooks defines it: whsec_ + base64 of the key."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class Reply:
    """One scripted answer: `status`, after sleeping `sleep` seconds; `retry_after` becomes a
    Retry-After header. With `together`, the answer waits (at most `within` seconds) until that
    many requests to its path are in flight: a sender that sends them one after the other gets
    each answer `within` seconds late, and `most_in_flight` says 1."""

    status: int = 200
    retry_after: str | None = None
    sleep: float = 0.0
    together: int = 0
    within: float = 10.0


@dataclass(frozen=True)
class Arrival:
    """One request as the receiver saw it. `time` is time.monotonic() when its body was read;
    `error` is why standardwebhooks rejected it (None when it verified)."""

    path: str
    headers: dict[str, str]
    body: bytes
    time: float
    error: str | None
    answered: int

    @property
    def verified(self) -> bool:
        return self.error is None

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    @property
    def attempt(self) -> int:
        return int(self.headers.get("whp-attempt", "0"))


def wait_for(
    predicate: Callable[[], bool], timeout: float, *, interval: float = 0.02, what: str = ""
) -> None:
    """Poll `predicate` until it is true; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout} s: {what or predicate!r}")
        time.sleep(interval)


class Receiver:
    """The receiver. `secret` verifies every path, unless `secrets` names another one for it."""

    def __init__(self, secret: str, secrets: dict[str, str] | None = None) -> None:
        self._default_secret = secret
        self._secrets = dict(secrets or {})
        self._lock = threading.Lock()
        self._arrivals: list[Arrival] = []
        self._scripts: dict[str, list[Reply]] = {}
        self._id_scripts: dict[str, list[Reply]] = {}
        self._in_flight: dict[str, int] = {}
        self._most_in_flight: dict[str, int] = {}
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._server = uvicorn.Server(
            uvicorn.Config(
                self._app,
                interface="asgi3",
                proxy_headers=False,
                log_level="warning",
                lifespan="off",
                ws="none",
                http="h11",
                loop="asyncio",
                timeout_graceful_shutdown=2,
                access_log=False,
            )
        )
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name=f"e2e-receiver-{self.port}",
            daemon=True,
        )

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Receiver:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.close()
                raise AssertionError("the e2e receiver did not start")
            time.sleep(0.01)
        return self

    def close(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- scripting and reading ----------------------------------------------------------------

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *replies: Reply) -> None:
        """Answer requests to `path` with `replies` in order; the last one repeats."""
        if not replies:
            raise ValueError("script needs at least one reply")
        with self._lock:
            self._scripts[path] = list(replies)

    def script_id(self, webhook_id: str, *replies: Reply) -> None:
        """Answer requests of `webhook_id` (whatever their path) with `replies`, as `script`."""
        if not replies:
            raise ValueError("script_id needs at least one reply")
        with self._lock:
            self._id_scripts[webhook_id] = list(replies)

    def most_in_flight(self, path: str) -> int:
        """The most requests to `path` that were in flight at once: read, not yet answered."""
        with self._lock:
            return self._most_in_flight.get(path, 0)

    def arrivals(self, path: str | None = None, webhook_id: str | None = None) -> list[Arrival]:
        """What arrived (at `path`, with `webhook_id`), in arrival order."""
        with self._lock:
            found = list(self._arrivals)
        return [
            a
            for a in found
            if (path is None or a.path == path)
            and (webhook_id is None or a.webhook_id == webhook_id)
        ]

    def seen_ids(self, path: str | None = None) -> set[str]:
        """The webhook-ids that arrived: what a receiver deduplicating on webhook-id processes."""
        return {a.webhook_id for a in self.arrivals(path)}

    def unverified(self) -> list[Arrival]:
        return [a for a in self.arrivals() if not a.verified]

    def wait_for_arrivals(
        self,
        count: int,
        timeout: float,
        *,
        path: str | None = None,
        webhook_id: str | None = None,
    ) -> list[Arrival]:
        """Wait until at least `count` requests arrived (at `path`, with `webhook_id`)."""

        def enough() -> bool:
            return len(self.arrivals(path, webhook_id)) >= count

        try:
            wait_for(enough, timeout, what=f"{count} arrivals at {path} (id {webhook_id})")
        except AssertionError:
            got = self.describe(path)
            raise AssertionError(
                f"{count} arrivals at {path} (id {webhook_id}) expected within {timeout} s; "
                f"got:\n{got}"
            ) from None
        return self.arrivals(path, webhook_id)

    def describe(self, path: str | None = None) -> str:
        lines = [
            f"  {a.path} id={a.webhook_id} attempt={a.headers.get('whp-attempt')} "
            f"answered={a.answered} verified={a.verified} error={a.error}"
            for a in self.arrivals(path)
        ]
        return "\n".join(lines) or "  (nothing)"

    # -- the ASGI app -------------------------------------------------------------------------

    def _next_reply(self, path: str, webhook_id: str) -> Reply:
        with self._lock:
            replies = self._id_scripts.get(webhook_id) or self._scripts.get(path)
            if not replies:
                return Reply()
            return replies.pop(0) if len(replies) > 1 else replies[0]

    async def _hold(self, path: str, reply: Reply) -> None:
        """Until `reply.together` requests to `path` are in flight, or `reply.within` passed."""
        deadline = time.monotonic() + reply.within
        while time.monotonic() < deadline:
            with self._lock:
                if self._in_flight[path] >= reply.together:
                    return
            await asyncio.sleep(0.01)

    def _verify(self, path: str, headers: dict[str, str], body: bytes) -> str | None:
        try:
            Webhook(self._secrets.get(path, self._default_secret)).verify(
                body, headers, json_parse=False
            )
        except Exception as exc:  # WebhookVerificationError, or headers it cannot parse
            return f"{type(exc).__name__}: {exc}"
        return None

    async def _app(self, scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] != "http":
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        arrived = time.monotonic()
        headers = _headers(scope["headers"])
        path: str = scope["path"]
        error = self._verify(path, headers, body)
        webhook_id = headers.get("webhook-id", "")
        reply = self._next_reply(path, webhook_id) if error is None else Reply(400)
        with self._lock:
            self._arrivals.append(Arrival(path, headers, body, arrived, error, reply.status))
            held = self._in_flight[path] = self._in_flight.get(path, 0) + 1
            self._most_in_flight[path] = max(held, self._most_in_flight.get(path, 0))
        try:
            if reply.together:
                await self._hold(path, reply)
            if reply.sleep:
                await asyncio.sleep(reply.sleep)
            out = [(b"content-type", b"text/plain"), (b"content-length", b"2")]
            if reply.retry_after is not None:
                out.append((b"retry-after", reply.retry_after.encode()))
            await send({"type": "http.response.start", "status": reply.status, "headers": out})
            await send({"type": "http.response.body", "body": b"ok"})
        finally:
            with self._lock:
                self._in_flight[path] -= 1


def _headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in raw:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers
