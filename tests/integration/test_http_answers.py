"""The first response answers a delivery: whatever a receiver writes after it (a second response,
stray bytes, data on the idle connection) never changes the outcome, and the connection it came
on is closed, never reused. Against a raw receiver that writes exactly the bytes a test gives.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import pytest
import uvloop

from webhook_processor import delivery
from webhook_processor.adapters.http import outbound

from .test_http_delivery import event, outgoing

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"
BOOM = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\nboom!"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
WAIT_SECONDS = 10.0  # for what the receiver sees: generous, for a loaded machine


@dataclass(frozen=True)
class Answer:
    """What the receiver does with one request: writes `data` in one write, `delay` seconds after
    reading the request (only its head with `early`: its body is then never read); with `later`,
    writes that too, `later_after` seconds after `data`."""

    data: bytes
    delay: float = 0.0
    early: bool = False
    later: bytes = b""
    later_after: float = 0.1


class RawReceiver:
    """An asyncio server on 127.0.0.1, on a thread and an event loop of its own (so that a test
    may block the sender's loop while it writes). Answers requests in order with `answers` (the
    last one repeats) and records which connection each request came on, which connections the
    client closed, and how many body bytes came after an early answer."""

    def __init__(self, *answers: Answer) -> None:
        self._answers = list(answers)
        self._numbers = itertools.count(1)
        self.requests: list[int] = []  # the connection of each request, in order
        self.closed_by_client: set[int] = set()
        self.read_after_early: dict[int, int] = {}  # connection -> body bytes read after answering
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.port = 0
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def __enter__(self) -> RawReceiver:
        self._thread.start()
        assert self._ready.wait(WAIT_SECONDS), "the raw receiver did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=WAIT_SECONDS)

    def wait_closed(self, connection: int) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        while connection not in self.closed_by_client:
            assert time.monotonic() < deadline, f"connection {connection} is still open"
            time.sleep(0.01)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()

    def _next(self) -> Answer:
        with self._lock:
            return self._answers.pop(0) if len(self._answers) > 1 else self._answers[0]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = next(self._numbers)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                answer = self._next()
                with self._lock:
                    self.requests.append(number)
                if not answer.early:
                    await reader.readexactly(length)
                await asyncio.sleep(answer.delay)
                writer.write(answer.data)
                if answer.early:
                    await self._read_rest(number, reader)
                    return
                if answer.later:
                    await asyncio.sleep(answer.later_after)
                    writer.write(answer.later)
        except asyncio.IncompleteReadError:
            self.closed_by_client.add(number)
        except ConnectionError:
            self.closed_by_client.add(number)
        finally:
            writer.close()

    async def _read_rest(self, number: int, reader: asyncio.StreamReader) -> None:
        """After an early answer: wait (not reading), then count what still comes until the end."""
        await asyncio.sleep(1.0)
        read = 0
        try:
            while chunk := await reader.read(1 << 20):
                read += len(chunk)
        except ConnectionError:
            pass
        self.read_after_early[number] = read
        self.closed_by_client.add(number)


@pytest.fixture(autouse=True, params=["asyncio", "uvloop"])
def event_loop_kind(request: pytest.FixtureRequest) -> Iterator[None]:
    policy = asyncio.get_event_loop_policy()
    if request.param == "uvloop":
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        yield
    finally:
        asyncio.set_event_loop_policy(policy)


Step = Callable[[outbound.HttpSender], Awaitable[delivery.Result]]


def deliver(*steps: Step) -> list[delivery.Result]:
    """Run `steps` in order with one sender (one connection pool), closed afterwards."""

    async def run() -> list[delivery.Result]:
        sender = outbound.HttpSender()
        try:
            return [await step(sender) for step in steps]
        finally:
            await sender.aclose()

    return asyncio.run(run())


def post(url: str, *, body: bytes | None = None, timeout: float = 5.0) -> Step:
    request = outgoing(url, event() if body is None else event(body))

    async def step(sender: outbound.HttpSender) -> delivery.Result:
        return await sender.send(request, timeout, time.time)

    return step


def pause(seconds: float, *, blocking: bool = False) -> Step:
    """A pause between deliveries; `blocking` stops the sender's event loop meanwhile, so that
    what the receiver writes waits, unread, in the socket."""

    async def step(sender: outbound.HttpSender) -> delivery.Result:
        if blocking:
            time.sleep(seconds)
        else:
            await asyncio.sleep(seconds)
        return delivery.Result(True, None, 0, None, None, None)

    return step


def summary(result: delivery.Result) -> tuple[bool, int | None, str | None, str | None]:
    return result.ok, result.status, result.error, result.excerpt


@pytest.mark.parametrize(
    "first",
    [BOOM + OK, CONTINUE + BOOM + OK, BOOM + b"HTTP/1.1 204 No Content\r\n\r\n"],
    ids=["500-then-200", "100-then-500-then-200", "500-then-204"],
)
def test_a_second_response_in_the_same_write_does_not_change_the_outcome(first: bytes) -> None:
    with RawReceiver(Answer(first), Answer(OK)) as receiver:
        failed, _, next_one = deliver(post(receiver.url), pause(0.2), post(receiver.url))
        receiver.wait_closed(1)
    assert summary(failed) == (False, 500, "HTTP 500", "boom!")
    assert summary(next_one) == (True, 200, None, "OK")
    assert receiver.requests == [1, 2], "the connection of the unsolicited answer was reused"


@pytest.mark.parametrize(
    ("first", "status"),
    [
        (OK + b"garbage", 200),
        (OK + b"\r\n\r\nHTTP/1.1 500 Internal Server Error\r\n\r\n", 200),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOKgarbage", 200),
        # No body for a 204, whatever Content-Length says: these bytes come after it.
        (b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello", 204),
    ],
    ids=["garbage", "another-response", "after-connection-close", "204-with-a-body"],
)
def test_a_whole_2xx_followed_by_stray_bytes_is_delivered(first: bytes, status: int) -> None:
    """Not a failed attempt, which would send the receiver a duplicate."""
    with RawReceiver(Answer(first), Answer(OK)) as receiver:
        delivered, _, next_one = deliver(post(receiver.url), pause(0.2), post(receiver.url))
        receiver.wait_closed(1)
    assert (delivered.ok, delivered.status, delivered.error) == (True, status, None)
    assert summary(next_one) == (True, 200, None, "OK")
    assert receiver.requests == [1, 2], "the next delivery went on the connection of stray bytes"


def test_an_informational_response_then_the_answer_in_another_write() -> None:
    with RawReceiver(Answer(CONTINUE, later=BOOM), Answer(OK)) as receiver:
        failed, next_one = deliver(post(receiver.url), post(receiver.url))
    assert summary(failed) == (False, 500, "HTTP 500", "boom!")
    assert summary(next_one) == (True, 200, None, "OK")
    assert receiver.requests == [1, 1], "a connection at rest after its answer is reused"


@pytest.mark.parametrize("blocking", [False, True], ids=["sender-idle", "sender-busy"])
def test_bytes_on_an_idle_connection_never_answer_the_next_delivery(blocking: bool) -> None:
    """A receiver writes a stale response on the connection while no request is out on it. The
    next delivery takes a new connection, whether the sender saw those bytes arrive (idle) or
    they wait unread in the socket (its event loop busy meanwhile)."""
    stale = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\nstale"
    with RawReceiver(Answer(OK, later=stale), Answer(OK)) as receiver:
        first, _, second = deliver(
            post(receiver.url), pause(0.5, blocking=blocking), post(receiver.url)
        )
        receiver.wait_closed(1)
    assert summary(first) == (True, 200, None, "OK")
    assert summary(second) == (True, 200, None, "OK")
    assert receiver.requests == [1, 2]


def test_an_answer_before_the_request_was_written_answers_it_and_ends_the_connection() -> None:
    """A receiver may answer (413, 401) before reading the body. That answer is the outcome; the
    connection, still carrying the rest of the body, is not reused, and that rest is not sent."""
    too_large = b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 8\r\n\r\ntoo big!"
    size = 32 * 1024 * 1024  # more than the socket buffers hold
    with RawReceiver(Answer(too_large, early=True), Answer(OK)) as receiver:
        refused, accepted = deliver(
            post(receiver.url, body=b"x" * size, timeout=10.0), post(receiver.url)
        )
        receiver.wait_closed(1)
    assert summary(refused) == (False, 413, "HTTP 413", "too big!")
    assert summary(accepted) == (True, 200, None, "OK")
    assert receiver.requests == [1, 2]
    assert receiver.read_after_early[1] < size // 2, "the rest of the body was still sent"


def test_a_response_read_in_one_large_piece_leaves_its_connection_usable() -> None:
    """A response body over the transport's read-ahead (64 KiB), arriving at once while the
    sender's loop is busy, pauses reading; the connection goes back to the pool reading again,
    and the next delivery on it gets its answer."""
    body = b"x" * (64 * 1024 + 100)
    large = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )

    async def busy_while_it_arrives(sender: outbound.HttpSender) -> delivery.Result:
        async def block() -> None:
            await asyncio.sleep(0.05)  # the request is out
            time.sleep(0.6)  # the whole answer arrives meanwhile

        result, _ = await asyncio.gather(post(receiver.url)(sender), block())
        return result

    with RawReceiver(Answer(large, delay=0.2), Answer(OK)) as receiver:
        first, second = deliver(busy_while_it_arrives, post(receiver.url, timeout=3.0))
    assert (first.ok, first.status) == (False, 500)
    assert summary(second) == (True, 200, None, "OK")
    assert receiver.requests == [1, 1]


def test_a_receiver_that_never_answers_a_reused_connection_still_times_out() -> None:
    """The control of the tests above: a connection at rest is reused, and the receiver's
    silence is a timeout, not an answer from earlier bytes."""
    with RawReceiver(Answer(OK), Answer(b"")) as receiver:
        first, silent = deliver(post(receiver.url), post(receiver.url, timeout=0.3))
    assert summary(first) == (True, 200, None, "OK")
    assert (silent.ok, silent.status, silent.error) == (False, None, "timeout after 0.3 s")
    assert receiver.requests == [1, 1]
