"""Reloading the config (SIGHUP): the worker's swap of routes and destinations, and the
composition root's reload (what a re-read whp.yaml builds, what needs a restart) and apply."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from pathlib import Path

import pytest

from webhook_processor import bootstrap, config, delivery, errors, services, testing, wiring

from .test_processing import GITHUB_TO_A, GITHUB_TO_B, POLICY, A, B, World, dest, drain, run

# -- Worker.swap --------------------------------------------------------------------------


def runtimes(**destinations: config.Destination) -> dict[str, delivery.Destination]:
    return {name: wiring.destination(name, d, None) for name, d in destinations.items()}


def test_after_a_swap_new_events_go_where_the_new_routes_say() -> None:
    world = World({"a": dest(A)}, [GITHUB_TO_A])

    async def scenario() -> None:
        world.receive()
        await world.step()
        world.processor.swap(
            wiring.compile_routes([GITHUB_TO_B]), runtimes(a=dest(A), b=dest(B)), set
        )
        world.receive()
        await world.step()
        assert [o.url for o in world.sender.sent] == [A, B]
        assert world.outcomes() == ["delivered", "delivered"]

    run(scenario)


def test_an_attempt_under_way_finishes_with_the_settings_it_started_with() -> None:
    world = World({"a": dest(A)}, [GITHUB_TO_A], script={A: [500]})
    moved = "https://a.example/moved"

    async def scenario() -> None:
        world.sender.gate = asyncio.Event()  # the attempt stays in flight until set
        world.receive()
        await world.processor.step()
        await asyncio.sleep(0)
        assert [o.url for o in world.sender.sent] == [A]
        once = config.Retry(max_attempts=1)
        world.processor.swap(
            wiring.compile_routes([GITHUB_TO_A]),
            runtimes(a=config.Destination(url=moved, retry=once)),
            set,
        )
        world.sender.gate.set()
        await drain()
        await world.processor.flush()
        # The old policy (3 attempts) decided: retried, not dead after the new single attempt.
        assert world.outcomes() == ["retry"]
        world.clock.now += POLICY.max_interval_seconds
        await world.step()
        assert [o.url for o in world.sender.sent] == [A, moved]  # the retry: the new URL
        assert world.outcomes() == ["retry", "delivered"]

    run(scenario)


def test_a_swap_replaces_which_destinations_are_paused() -> None:
    world = World({"a": dest(A)}, [GITHUB_TO_A])
    routes, destinations = wiring.compile_routes([GITHUB_TO_A]), runtimes(a=dest(A))

    async def scenario() -> None:
        world.processor.swap(routes, destinations, lambda: {"a"})
        world.receive()
        await world.step()
        assert world.sender.sent == []
        world.processor.swap(routes, destinations, set)
        await world.step()
        assert [o.url for o in world.sender.sent] == [A]

    run(scenario)


# -- bootstrap.reload and bootstrap.apply ----------------------------------------------------

SECRET = "gh-secret"
ENV = {"GH": SECRET}
SOURCES = "sources:\n  github: {verify: github, secret: env:GH, rate_limit: {per_second: 1}}\n"
DELIVERING = (
    SOURCES + "destinations:\n  a: {url: 'https://a.example/hook'}\n"
    "routes:\n  - {name: to-a, destination: a, pattern: {source: [github]}}\n"
)


def write(tmp_path: Path, text: str) -> str:
    file = tmp_path / "whp.yaml"
    file.write_text(text)
    return str(file)


def test_reload_names_what_needs_a_restart(tmp_path: Path) -> None:
    started = config.load(write(tmp_path, SOURCES))
    file = write(
        tmp_path,
        "storage: {path: other.db}\nserver: {port: 9999}\nlogging: {level: debug}\n" + DELIVERING,
    )
    serving = bootstrap.reload(started, file, ENV, serving=True)
    assert serving.needs_restart == ["storage.path", "server.port", "logging.level"]
    assert sorted(serving.destinations) == ["a"]
    assert [route.name for route in serving.routes] == ["to-a"]
    assert serving.sources is not None
    assert sorted(serving.sources) == ["github"]
    worker = bootstrap.reload(started, file, {}, serving=False)  # no source secrets needed
    assert worker.needs_restart == ["storage.path", "logging.level"]  # it listens on nothing
    assert worker.sources is None


def test_reload_of_a_config_with_problems_reports_every_one(tmp_path: Path) -> None:
    started = config.load(write(tmp_path, SOURCES))
    file = write(
        tmp_path,
        "sources:\n  github: {verify: github, secret: env:NOPE}\n"
        "destinations:\n  a: {url: 'https://a.example/', signing_secret: env:NOPE_TOO}\n",
    )
    with pytest.raises(errors.ConfigError) as caught:
        bootstrap.reload(started, file, ENV, serving=True)
    assert caught.value.problems == [
        "sources.github.secret: environment variable NOPE is not set",
        "destinations.a.signing_secret: environment variable NOPE_TOO is not set",
    ]


class Running:
    """The services of a `whp serve` over in-memory fakes, on the config in `file`."""

    def __init__(self, file: str) -> None:
        self.config = config.load(file)
        self.clock = testing.FakeClock()
        self.queue = testing.MemoryQueue()
        self.sender = testing.FakeSender()
        self.worker = services.worker.Worker(
            wiring.compile_routes(self.config.routes),
            bootstrap.destination_runtimes(self.config, file, ENV),
            self.queue,
            self.sender,
            set,
            self.clock,
        )
        self.ingest = services.ingest.Ingest(
            bootstrap.source_runtimes(self.config, file, ENV, self.clock),
            self.queue.store,
            testing.MemoryMetrics(),
            self.clock,
        )

    def reload(self, file: str) -> None:
        new = bootstrap.reload(self.config, file, ENV, serving=True, clock=self.clock)
        bootstrap.apply(new, self.worker, self.ingest, self.config)
        self.config = new.config

    async def receive(self) -> str:
        body = b"{}"
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        try:
            await self.ingest.receive(
                self.ingest.source("github"), body, {"x-hub-signature-256": signature}
            )
        except errors.RateLimited:
            return "429"
        return "202"


def test_a_reload_keeps_the_token_bucket_of_an_unchanged_rate_limit(tmp_path: Path) -> None:
    running = Running(write(tmp_path, SOURCES))

    async def scenario() -> None:
        assert await running.receive() == "202"  # the one token of the bucket
        running.reload(write(tmp_path, DELIVERING))  # a new route; the same rate limit
        assert await running.receive() == "429"  # no fresh bucket: no burst let through
        running.reload(write(tmp_path, DELIVERING.replace("per_second: 1", "per_second: 2")))
        assert await running.receive() == "202"  # a new limit starts with a full bucket

    asyncio.run(scenario())


def test_a_reload_holds_destinations_paused_in_the_new_config_or_at_runtime(
    tmp_path: Path,
) -> None:
    running = Running(write(tmp_path, DELIVERING))
    paused = DELIVERING.replace("/hook'}", "/hook', paused: true}")

    async def scenario() -> None:
        running.reload(write(tmp_path, paused))
        assert await running.receive() == "202"
        await running.worker.step()
        assert running.sender.sent == []  # paused in the config
        running.queue.paused.add("a")  # `whp destinations pause a`
        running.reload(write(tmp_path, DELIVERING))
        await running.worker.step()
        assert running.sender.sent == []  # still paused at runtime
        running.queue.paused.clear()
        await running.worker.step()
        await drain()
        assert [o.url for o in running.sender.sent] == [A]

    asyncio.run(scenario())
