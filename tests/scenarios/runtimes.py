"""The two runtimes a scenario runs on, behind one protocol.

    LocalRuntime (local.py)  a real `whp serve` on 127.0.0.1 over a SQLite file; its worker
                             delivers to the loopback receiver (tests/e2e/receiver.py)
    AwsRuntime (aws.py)      moto in server mode with docs/aws.md's layout; the Lambda handlers
                             run in-process, pumped by tests/aws/runtime.py's driver

A scenario sends webhooks as a provider would, lets the runtime settle, and looks at what a user
sees: the answers, what the receiver got, and what an operator reads and does through
services.operations.Operator over the runtime's Operations adapter, built by its composition root
as the CLI builds it. The operations are the same code on both runtimes (Operated, below).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import pytest

from tests.e2e import receiver as receiving
from tests.scenarios import whp_config
from webhook_processor import config, models, ports, services

RUNTIMES = ("local", "aws")
SETTLE_TIMEOUT = 30.0  # seconds: generous, for a loaded 2-core machine
PAGE = 100


class Runtime(Protocol):
    name: whp_config.Kind
    secrets: whp_config.Secrets

    def send(self, source: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, Any]:
        """POST /webhooks/{source}, as the provider sends it: the status and the JSON answer."""
        ...

    def settle(self) -> None:
        """Route and deliver until nothing is left to do (no pending event or delivery: each
        delivered or dead), or fail saying what is left."""
        ...

    def deliveries_received(self, receiver: str) -> list[receiving.Arrival]:
        """What the destination `receiver` (orders, audit, flaky) got, in arrival order."""
        ...

    def events(self, source: str | None = None) -> list[models.Event]: ...

    def event(self, event_id: str) -> services.operations.EventDetail: ...

    def replay(self, event_id: str, new_id: bool = False) -> int: ...

    def dlq(self, destination: str | None = None) -> list[models.DeadLetter]: ...

    def redrive(self, delivery_ids: Sequence[str]) -> int: ...

    def redrive_destination(self, destination: str) -> int:
        """`whp dlq redrive --destination NAME`: its whole dead-letter queue back; how many."""
        ...

    def rotate_secret(self, name: str, new_value: str) -> None:
        """Make `new_value` the current value of secret `name`, its current one the previous."""
        ...

    def body_location(self, event_id: str) -> str:
        """Where the runtime keeps the event's body: "sqlite", "dynamodb" or "s3"."""
        ...

    def close(self) -> None: ...


def destination_configs(cfg: config.Config) -> dict[str, services.operations.DestinationConfig]:
    """The config's destinations as the Operator takes them (as the CLI makes them)."""
    return {
        name: services.operations.DestinationConfig(dest.url, dest.paused)
        for name, dest in cfg.destinations.items()
    }


class Operated:
    """What both runtimes do the same way: the operator's use cases over the runtime's
    Operations adapter, and the receiver's view. Subclasses set `operator` and `receiver`."""

    operator: services.operations.Operator
    receiver: receiving.Receiver

    def deliveries_received(self, receiver: str) -> list[receiving.Arrival]:
        return self.receiver.arrivals(f"/{receiver}")

    def events(self, source: str | None = None) -> list[models.Event]:
        return list(self.operator.events(ports.EventFilter(source=source), PAGE).items)

    def event(self, event_id: str) -> services.operations.EventDetail:
        return self.operator.event(event_id)

    def replay(self, event_id: str, new_id: bool = False) -> int:
        return self.operator.replay([event_id], new_id)

    def dlq(self, destination: str | None = None) -> list[models.DeadLetter]:
        return list(self.operator.dead_letters(destination, PAGE).items)

    def redrive(self, delivery_ids: Sequence[str]) -> int:
        return self.operator.redrive(delivery_ids)

    def pending(self) -> tuple[int, int]:
        """(pending events, pending deliveries), as `whp` stats count them."""
        stats = self.operator.stats()
        return stats.events["pending"], stats.deliveries["pending"]


def wait_until(done: Callable[[], bool], what: Callable[[], str], step: Callable[[], None]) -> None:
    """Run `step` until `done`, for at most SETTLE_TIMEOUT; then fail, saying `what` is left."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"not settled within {SETTLE_TIMEOUT} s: {what()}")
        step()


def started(request: pytest.FixtureRequest) -> Iterator[Runtime]:
    """The runtime `request.param` names (RUNTIMES, or "aws-http": AWS behind the HTTP API),
    for one test. (Imported here: each runtime's module imports this one.)"""
    receiver = request.getfixturevalue("receiver")
    held = request.getfixturevalue("held")
    folder = request.getfixturevalue("tmp_path")
    made: Runtime
    if request.param == "local":
        from tests.scenarios import local  # noqa: PLC0415

        made = local.LocalRuntime(folder, receiver, held)
    else:
        from tests.scenarios import aws as aws_runtime  # noqa: PLC0415

        made = aws_runtime.AwsRuntime(
            folder,
            receiver,
            held,
            request.getfixturevalue("aws"),
            request.getfixturevalue("monkeypatch"),
            api="http" if request.param == "aws-http" else "rest",
        )
    try:
        yield made
    finally:
        made.close()
