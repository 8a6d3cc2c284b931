"""The ports: what the services need from the outside world, as Protocols.

Adapters (adapters/sqlite, adapters/aws) implement them; testing.py has in-memory fakes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Protocol

from webhook_processor import models


class EventStore(Protocol):
    """Durable event storage. `add` returns only after the event is committed (or was there)."""

    def add(self, event: models.Event) -> Awaitable[models.Stored]:
        """Store `event`, or report the first event with the same (source, idempotency key).

        The awaitable raises errors.StoreUnavailable when the store cannot commit."""
        ...


@dataclass(frozen=True, slots=True)
class EventFilter:
    source: str | None = None
    event_type: str | None = None
    status: str | None = None
    idempotency_key: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None


class EventReader(Protocol):
    def get(self, event_id: str) -> models.Event | None: ...

    def list(
        self, where: EventFilter, limit: int, before: str | None = None
    ) -> Sequence[models.Event]:
        """Newest first; `before` is the id of the last event of the previous page."""
        ...


class Service(Protocol):
    """Something `whp serve` starts with the server and stops after it (store writer, worker)."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...

    def ready(self) -> bool: ...


class Metrics(Protocol):
    def accepted(self, source: str, duplicate: bool) -> None: ...

    def rejected(self, source: str, reason: str) -> None: ...
