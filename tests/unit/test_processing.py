"""The worker (services.worker.Worker) against in-memory fakes: what receivers and operators see.

Each test is one asyncio.run: `step()` routes and starts attempts as tasks, `drain()` waits for
them, and the processor's `flush()` records their outcomes (as its next step would). The clock is
a FakeClock and the retry jitter is pinned to UNIFORM.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

import pytest

from webhook_processor import config, delivery, models, retry, routing, services, signing, wiring
from webhook_processor.testing import FakeClock, FakeSender, MemoryMetrics, MemoryQueue

UNIFORM = 0.5
KEY = b"0123456789abcdef0123456789abcdef"
A = "https://a.example/hook"
B = "https://b.example/hook"
POLICY = config.Retry(
    max_attempts=3, initial_interval_seconds=5, multiplier=2, max_interval_seconds=600
)
GITHUB_TO_A = config.Route(name="to-a", destination="a", pattern={"source": ["github"]})
GITHUB_TO_B = config.Route(name="to-b", destination="b", pattern={"source": ["github"]})


def dest(url: str, **settings: Any) -> config.Destination:
    return config.Destination(url=url, retry=POLICY, **settings)


class World:
    def __init__(
        self,
        destinations: Mapping[str, config.Destination],
        routes: Sequence[config.Route],
        script: Mapping[str, Sequence[delivery.Result | int]] | None = None,
        keys: Mapping[str, bytes] | None = None,
        settings: services.worker.Settings | None = None,
    ) -> None:
        self.settings = settings or services.worker.Settings()
        self.clock = FakeClock()
        self.queue = MemoryQueue()
        self.sender = FakeSender(script)
        self.paused: set[str] = set()
        self.metrics = MemoryMetrics()
        self.runtimes = {
            name: wiring.destination(name, d, (keys or {}).get(name))
            for name, d in destinations.items()
        }
        self.processor = self.restart(routes)

    def restart(self, routes: Sequence[config.Route]) -> services.worker.Worker:
        """A processor with these routes over the same store, receivers and clock."""
        self.processor = services.worker.Worker(
            wiring.compile_routes(routes),
            self.runtimes,
            self.queue,
            self.sender,
            lambda: self.paused,
            self.clock,
            self.settings,
            uniform=lambda: UNIFORM,
            retention=self.queue.purge_batches,
            metrics=self.metrics,
        )
        return self.processor

    def receive(self, source: str = "github", body: bytes = b'{"n": 1}') -> models.Event:
        received_ms = int(self.clock() * 1000)
        event = models.Event(
            models.new_event_id(self.clock()),
            source,
            "push",
            None,
            received_ms,
            "application/json",
            {},
            body,
        )
        self.queue.store.events[event.id] = event
        return event

    async def step(self) -> None:
        """One worker step, its attempts, and the recording of their outcomes."""
        await self.processor.step()
        await drain()
        await self.processor.flush()

    def outcomes(self) -> list[str]:
        return [a.outcome for a in self.queue.attempts]


async def drain() -> None:
    """Wait for every attempt the processor started (they are the loop's other tasks)."""
    await asyncio.gather(*(asyncio.all_tasks() - {asyncio.current_task()}))


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the loop run until `condition` holds, for `timeout` seconds at most."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition never held"
        await asyncio.sleep(0)


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def delay_after(attempt: int, retry_after: float | None = None) -> float:
    policy = wiring.destination("x", dest(A), None).retry
    return retry.after_failure(policy, attempt, retry_after, lambda: UNIFORM).delay


def test_event_fans_out_to_every_matching_route_with_signed_standard_headers() -> None:
    world = World({"a": dest(A), "b": dest(B)}, [GITHUB_TO_A, GITHUB_TO_B], keys={"a": KEY})

    async def scenario() -> None:
        event = world.receive(body=b'{"n": 42}')
        await world.step()
        by_url = {o.url: o for o in world.sender.sent}
        assert sorted(by_url) == [A, B]
        assert len(world.sender.sent) == 2
        for outgoing in by_url.values():
            assert outgoing.headers["webhook-id"] == event.id
            assert outgoing.headers["whp-attempt"] == "1"
            assert outgoing.body == b'{"n": 42}'
        signed = by_url[A].headers
        assert signed["webhook-signature"] == signing.v1(
            KEY, event.id, signed["webhook-timestamp"], b'{"n": 42}'
        )
        assert "webhook-signature" not in by_url[B].headers
        assert world.outcomes() == ["delivered", "delivered"]
        assert world.queue.store.events[event.id].status == "routed"

    run(scenario)


def test_without_routes_events_are_unrouted_and_retries_still_go_out() -> None:
    world = World({"a": dest(A)}, [GITHUB_TO_A], script={A: [500, 200]})

    async def scenario() -> None:
        earlier = world.receive()
        await world.step()  # a delivery from the days the route existed, to be retried
        world.restart(routes=[])
        later = world.receive()
        world.clock.now += delay_after(1)
        await world.step()
        assert world.queue.store.events[later.id].status == "unrouted"
        assert [o.headers["webhook-id"] for o in world.sender.sent] == [earlier.id, earlier.id]
        assert world.outcomes() == ["retry", "delivered"]

    run(scenario)


def test_event_matching_no_route_is_marked_unrouted_and_nothing_is_sent() -> None:
    world = World({"a": dest(A)}, [GITHUB_TO_A])

    async def scenario() -> None:
        event = world.receive(source="stripe")
        await world.step()
        assert world.sender.sent == []
        assert world.queue.deliveries == {}
        assert world.queue.store.events[event.id].status == "unrouted"

    run(scenario)


def test_an_event_whose_routing_fails_is_recorded_unrouted_and_the_next_ones_go_on(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World({"a": dest(A)}, [GITHUB_TO_A])
    bad = world.receive(body=b'{"n": "bad"}')
    good = world.receive()
    matches = routing.matches

    def failing_on_bad(
        routes: Sequence[routing.Route], event: models.Event, with_detail: bool | None = None
    ) -> list[tuple[str, str]]:
        if event.id == bad.id:
            raise RecursionError("maximum recursion depth exceeded")
        return matches(routes, event, with_detail)

    monkeypatch.setattr(routing, "matches", failing_on_bad)

    async def scenario() -> None:
        await world.step()
        await drain()

    run(scenario)
    assert [o.headers["webhook-id"] for o in world.sender.sent] == [good.id]
    assert world.queue.store.events[bad.id].status == "unrouted"
    [record] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert "routing the event failed" in record.getMessage()
    assert record.__dict__["event_id"] == bad.id


def test_failed_attempt_is_retried_after_the_backoff_with_the_same_webhook_id() -> None:
    world = World({"a": dest(A)}, [GITHUB_TO_A], script={A: [500, 200]})

    async def scenario() -> None:
        event = world.receive()
        await world.step()
        first = world.queue.attempts[0]
        assert (first.outcome, first.status_code, first.error) == ("retry", 500, "HTTP 500")
        delay = delay_after(1)
        assert first.next_attempt_ms == int((world.clock() + delay) * 1000)

        world.clock.now += delay - 0.01  # not due yet
        await world.step()
        assert len(world.sender.sent) == 1

        world.clock.now += 0.01
        await world.step()
        second = world.sender.sent[1]
        assert second.headers["webhook-id"] == event.id
        assert second.headers["whp-attempt"] == "2"
        assert world.outcomes() == ["retry", "delivered"]
        (queued,) = world.queue.deliveries.values()
        assert (queued.status, queued.attempts) == ("delivered", 2)

    run(scenario)


def test_each_attempt_is_counted_with_its_outcome_and_a_delivery_with_its_latency() -> None:
    """What /metrics counts: every attempt with its outcome and duration; the time from receipt
    to delivery for the one that delivered, its backoff included."""
    world = World({"a": dest(A)}, [GITHUB_TO_A], script={A: [500, 200]})

    async def scenario() -> None:
        world.receive()
        await world.step()
        world.clock.now += delay_after(1)
        await world.step()
        assert world.metrics.attempts == [
            ("a", "retry", 0.001, None),  # FakeSender's attempts take 1 ms
            ("a", "delivered", 0.001, delay_after(1)),
        ]

    run(scenario)


def test_delivery_failing_its_last_attempt_is_dead_and_never_sent_again() -> None:
    world = World({"a": dest(A)}, [GITHUB_TO_A], script={A: [503]})

    async def scenario() -> None:
        world.receive()
        for attempt in range(1, POLICY.max_attempts + 1):
            await world.step()
            assert len(world.sender.sent) == attempt
            world.clock.now += POLICY.max_interval_seconds
        await world.step()
        assert len(world.sender.sent) == POLICY.max_attempts
        assert world.outcomes() == ["retry", "retry", "dead"]
        (queued,) = world.queue.deliveries.values()
        assert (queued.status, queued.attempts) == ("dead", POLICY.max_attempts)

    run(scenario)


def test_failed_attempts_are_logged_and_successful_ones_only_at_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def logged(world: World, level: int) -> list[tuple[str, str, int]]:
        async def scenario() -> None:
            world.receive()
            for _ in range(POLICY.max_attempts):
                await world.step()
                world.clock.now += POLICY.max_interval_seconds

        caplog.clear()
        caplog.set_level(level, logger="whp.delivery")
        run(scenario)
        return [(r.levelname, r.getMessage(), r.__dict__["attempt"]) for r in caplog.records]

    failing = World({"a": dest(A)}, [GITHUB_TO_A], script={A: [503]})
    assert logged(failing, logging.INFO) == [
        ("INFO", "delivery retry", 1),
        ("INFO", "delivery retry", 2),
        ("WARNING", "delivery dead", 3),
    ]
    assert logged(World({"a": dest(A)}, [GITHUB_TO_A]), logging.INFO) == []
    assert logged(World({"a": dest(A)}, [GITHUB_TO_A]), logging.DEBUG) == [
        ("DEBUG", "delivery delivered", 1)
    ]


def test_retry_after_is_a_floor_for_the_next_attempt() -> None:
    busy = delivery.Result(False, 429, 3, "HTTP 429", None, retry_after=120.0)
    world = World({"a": dest(A)}, [GITHUB_TO_A], script={A: [busy, 200]})

    async def scenario() -> None:
        world.receive()
        await world.step()
        assert delay_after(1) < 120.0  # the jitter alone would retry sooner
        assert world.queue.attempts[0].next_attempt_ms == int((world.clock() + 120.0) * 1000)
        world.clock.now += 119.0
        await world.step()
        assert len(world.sender.sent) == 1
        world.clock.now += 1.0
        await world.step()
        assert world.outcomes() == ["retry", "delivered"]

    run(scenario)


def test_paused_destination_keeps_its_deliveries_queued_until_resumed() -> None:
    world = World({"a": dest(A), "b": dest(B)}, [GITHUB_TO_A, GITHUB_TO_B])

    async def scenario() -> None:
        world.paused.add("a")
        world.receive()
        await world.step()
        assert [o.url for o in world.sender.sent] == [B]
        world.clock.now += 60
        await world.step()
        assert [o.url for o in world.sender.sent] == [B]

        world.paused.clear()
        await world.step()
        assert [o.url for o in world.sender.sent] == [B, A]
        assert world.outcomes() == ["delivered", "delivered"]

    run(scenario)


def test_max_concurrency_caps_attempts_in_flight_per_destination() -> None:
    world = World({"a": dest(A, max_concurrency=1), "b": dest(B)}, [GITHUB_TO_A, GITHUB_TO_B])

    async def scenario() -> None:
        world.sender.gate = asyncio.Event()  # attempts stay in flight until set
        world.receive()
        world.receive()
        await world.processor.step()
        await until(lambda: len(world.sender.sent) == 3)
        await world.processor.step()  # the first attempt to `a` is still under way
        for _ in range(100):
            await asyncio.sleep(0)
        assert sorted(o.url for o in world.sender.sent) == [A, B, B]

        world.sender.gate.set()
        await drain()
        await world.step()
        assert sorted(o.url for o in world.sender.sent) == [A, A, B, B]
        assert world.outcomes().count("delivered") == 4

    run(scenario)


def test_a_destination_at_its_max_concurrency_gets_the_next_delivery_when_one_ends() -> None:
    """A slot is handed on when a step records the attempt that held it. At the cap the worker
    steps as soon as an attempt ends, not after its pause between busy steps (an hour here)."""
    world = World(
        {"a": dest(A, max_concurrency=1)},
        [GITHUB_TO_A],
        settings=services.worker.Settings(min_step_seconds=3600),
    )

    async def scenario() -> None:
        for _ in range(3):
            world.receive()
        world.processor.start()
        try:
            async with asyncio.timeout(10):
                while world.outcomes().count("delivered") < 3:
                    await asyncio.sleep(0.01)
        finally:
            await world.processor.stop()
        assert [o.url for o in world.sender.sent] == [A, A, A]

    run(scenario)


def test_delivery_to_a_destination_no_longer_configured_is_dead_with_the_reason() -> None:
    gone = config.Route(name="old", destination="gone", pattern={"source": ["github"]})
    world = World({"a": dest(A)}, [gone])

    async def scenario() -> None:
        world.receive()
        await world.step()
        assert world.sender.sent == []
        (attempt,) = world.queue.attempts
        assert attempt.outcome == "dead"
        assert attempt.error == "destination 'gone' is no longer configured"

    run(scenario)


def test_rate_limited_destination_spaces_its_deliveries() -> None:
    # A claim books each delivery's start by the destination's rate (2/s: 500 ms apart); the
    # processor sleeps until then by its clock (real time, from the fake clock's reading), so
    # the spacing shows on the fake clock once the test moves it.
    world = World({"a": dest(A, rate_limit=config.RateLimit(per_second=2, burst=1))}, [GITHUB_TO_A])
    start = world.clock.now

    async def scenario() -> None:
        world.receive()
        world.receive()
        await world.processor.step()
        await until(lambda: len(world.sender.sent) == 1)
        await asyncio.sleep(0.05)
        assert len(world.sender.sent) == 1  # the second waits for its booked start

        world.clock.now += 0.5
        await drain()
        await world.processor.flush()
        assert world.sender.sent_at == [start, start + 0.5]
        assert world.outcomes() == ["delivered", "delivered"]

    run(scenario)


def test_delivery_waiting_for_the_rate_limit_past_its_lease_is_not_sent_twice() -> None:
    # The lease covers the send timeout + 10 s, and a booked start is at most
    # ratelimit.BOOK_AHEAD_MS away; but if the clock jumps past the lease while a delivery waits
    # for its start, the next step claims it again: the waiting attempt must then send nothing.
    world = World(
        {"a": dest(A, timeout_seconds=1, rate_limit=config.RateLimit(per_second=20, burst=1))},
        [GITHUB_TO_A],
    )

    async def scenario() -> None:
        world.receive()
        second = world.receive()
        await world.processor.step()
        await until(lambda: len(world.sender.sent) == 1)  # the second waits for its start
        world.clock.now += 12  # past the 11 s lease, still waiting (the wait is real time)
        await world.processor.step()  # claims the second again, and sends it
        await asyncio.sleep(0.1)  # the first attempt at it wakes up, past its lease
        await drain()
        sent_ids = [o.headers["webhook-id"] for o in world.sender.sent]
        assert sent_ids.count(second.id) == 1

    run(scenario)


def test_a_crashing_attempt_is_logged_and_counts_as_a_failed_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An exception out of the sender is a bug: logged with its traceback, recorded as a failed
    attempt, so a delivery that always crashes ends dead instead of crashing forever."""
    world = World({"a": dest(A)}, [GITHUB_TO_A])
    send = world.sender.send
    first = world.receive()
    second = world.receive()
    crashes = 0

    async def crashing(
        outgoing: delivery.Outgoing, timeout: float, now: Callable[[], float]
    ) -> delivery.Result:
        nonlocal crashes
        if outgoing.headers["webhook-id"] == first.id:
            crashes += 1
            raise RuntimeError("a bug in sending")
        return await send(outgoing, timeout, now)

    world.sender.send = crashing  # type: ignore[method-assign]

    async def scenario() -> None:
        for _ in range(POLICY.max_attempts):
            await world.step()
            world.clock.now += POLICY.max_interval_seconds
        await world.step()

    run(scenario)
    assert crashes == POLICY.max_attempts
    assert [o.headers["webhook-id"] for o in world.sender.sent] == [second.id]
    records = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(records) == POLICY.max_attempts
    assert all("crashed" in r.getMessage() for r in records)
    assert all("a bug in sending" in str(r.exc_info[1]) for r in records if r.exc_info)
    crashed = [a for a in world.queue.attempts if a.error and "internal error" in a.error]
    assert [a.outcome for a in crashed] == ["retry", "retry", "dead"]
    assert crashed[0].error == "internal error: RuntimeError: a bug in sending"


def test_the_worker_purges_events_past_the_retention_once_their_work_is_done() -> None:
    world = World(
        {"a": dest(A), "b": dest(B)},
        [GITHUB_TO_A, GITHUB_TO_B],
        settings=services.worker.Settings(purge_every_seconds=0.01),
    )
    world.paused.add("b")
    done = world.receive(source="other")  # matches no route: nothing to do
    waiting = world.receive()  # delivered to a, held for b (paused)

    async def scenario() -> None:
        await world.step()
        world.clock.now += 8 * 86400  # past the 7-day retention
        world.processor.start()  # purges at once, then every purge_every_seconds, beside steps
        await until(lambda: done.id not in world.queue.store.events)
        assert set(world.queue.store.events) == {waiting.id}
        world.paused.clear()
        await until(lambda: not world.queue.store.events)  # once b got its delivery
        await world.processor.stop()

    run(scenario)
    assert sorted(o.url for o in world.sender.sent) == sorted([A, B])
