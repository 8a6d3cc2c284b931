"""The records the system keeps: events (one per accepted webhook) and their statuses."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

EventStatus = Literal["pending", "routed", "unrouted"]


def new_event_id(now: float) -> str:
    """`evt_` + 12 hex digits of Unix milliseconds + 20 random hex digits: unique, sortable by time."""
    return f"evt_{int(now * 1000):012x}{os.urandom(10).hex()}"


def rfc3339(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


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


@dataclass(frozen=True, slots=True)
class Stored:
    """The store's answer to an add: the id to report, and whether the key was seen before."""

    id: str
    duplicate: bool

