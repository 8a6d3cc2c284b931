"""The records the system keeps: events (one per accepted webhook) and their statuses."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, NamedTuple

_random = random.Random()  # noqa: S311 - ids identify, they do not authorise; seeded from os.urandom

EventStatus = Literal["pending", "routed", "unrouted"]
DeliveryStatus = Literal["pending", "delivered", "dead"]
Outcome = Literal["delivered", "retry", "dead"]  # of one attempt
# What an operator filters events by: an event status, or `dead` (an event with a dead delivery).
EventQueryStatus = Literal["pending", "routed", "unrouted", "dead"]


def new_event_id(now: float) -> str:
    """`evt_` + 12 hex digits of Unix milliseconds + 20 random hex digits: unique, sortable by time.

    Ids identify, they do not authorise (the admin API needs its token), so a fast PRNG seeded from
    the OS suffices; os.urandom is a system call per id, which costs a lot on the ingest path."""
    return f"evt_{int(now * 1000):012x}{_random.getrandbits(80):020x}"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def rfc3339(epoch_ms: int) -> str:
    """`2026-11-30T10:00:00.123Z`: exact (no float on the way), so times.parse_time reads it
    back to the same millisecond."""
    moment = _EPOCH + timedelta(milliseconds=epoch_ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class Event:
    """An accepted webhook. `headers` excludes credentials; `body` is the raw bytes as received."""

    id: str
    source: str
    event_type: str
    idempotency_key: str | None
    received_ms: int
    content_type: str | None
    headers: dict[str, str]
    body: bytes
    status: EventStatus = "pending"

    @property
    def received(self) -> str:
        return rfc3339(self.received_ms)


class Stored(NamedTuple):
    """The store's answer to an add: the id to report, and whether the key was seen before (a
    tuple: one is made per request). `challenge`: what a provider's URL handshake expects back
    (Slack's url_verification), for ingest to answer with."""

    id: str
    duplicate: bool
    challenge: str | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of a delivery, as kept for operators. `attempt` is 1 for the first."""

    attempt: int
    started_ms: int
    duration_ms: int
    status_code: int | None
    error: str | None
    excerpt: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One (event, route) delivery. `id` is the store's own, opaque: an integer's text on SQLite,
    a composite key on DynamoDB. `attempts` counts the tries of the current round (a redrive
    starts them again at 1); `history` is every attempt kept, oldest first, when asked for."""

    id: str
    event_id: str
    route: str
    destination: str
    webhook_id: str
    status: DeliveryStatus
    attempts: int
    next_attempt_ms: int | None
    created_ms: int
    updated_ms: int
    history: tuple[Attempt, ...] = ()


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A dead delivery in the dead-letter queue, with its last attempt's outcome."""

    delivery_id: str
    event_id: str
    route: str
    destination: str
    webhook_id: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    dead_ms: int


@dataclass(frozen=True, slots=True)
class DestinationState:
    """What the store knows of one destination right now (the config adds url and its pause)."""

    name: str
    paused: bool  # paused at runtime (`whp destinations pause`), not by the config
    pending: int
    dead: int
    in_flight: int
    oldest_pending_ms: int | None  # when the oldest pending delivery became due


@dataclass(frozen=True, slots=True)
class Claim:
    """A delivery to attempt: POST `event` to `destination` as attempt number `attempt` (1 for
    the first). Locally the worker leased it until `lease_until_ms`, and a destination's rate
    limit may have booked its start (`not_before_ms`); on AWS it is a queue's message."""

    delivery_id: str
    route: str
    destination: str
    webhook_id: str
    attempt: int
    event: Event
    lease_until_ms: int | None = None
    not_before_ms: float | None = None


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """What one delivery attempt did, to be recorded. `next_attempt_ms` is set for a retry."""

    delivery_id: str
    attempt: int
    started_ms: int
    duration_ms: int
    status_code: int | None
    error: str | None
    excerpt: str | None
    outcome: Outcome
    next_attempt_ms: int | None = None

    def __post_init__(self) -> None:
        if self.outcome == "retry" and self.next_attempt_ms is None:
            raise ValueError("a retry needs next_attempt_ms")
