"""Routing: an event as EventBridge sees it (the envelope), and which routes it matches."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from webhook_processor import config, errors, models, patterns, payload

REGION = "local"
ACCOUNT = "000000000000"


def envelope(event: models.Event, with_detail: bool = True) -> dict[str, Any]:
    """The routing envelope of DESIGN.md "The event"; without `detail` (the parsed body) when
    no pattern looks at it."""
    doc: dict[str, Any] = {
        "version": "0",
        "id": event.id,
        "source": event.source,
        "detail-type": event.event_type,
        "time": event.received,
        "region": REGION,
        "account": ACCOUNT,
        "resources": [],
    }
    if with_detail:
        try:
            doc["detail"] = payload.parse(event.body, event.content_type)
        except errors.Rejected:  # accepted under another config: route it as opaque text
            doc["detail"] = {"body": event.body.decode("utf-8", errors="replace")}
    return doc


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    destination: str
    pattern: patterns.Pattern
    uses_detail: bool = True


def compile_routes(routes: Sequence[config.Route]) -> list[Route]:
    """Config routes are validated at load, so compiling them here cannot fail."""
    return [
        Route(r.name, r.destination, patterns.compile(r.pattern), _uses_detail(r.pattern))
        for r in routes
    ]


def _uses_detail(pattern: Mapping[str, Any]) -> bool:
    return any(
        key == "detail" or (key == "$or" and any(_uses_detail(branch) for branch in value))
        for key, value in pattern.items()
    )


def uses_detail(routes: Sequence[Route]) -> bool:
    """Whether any of `routes` looks at `detail`: else events route on metadata, body unread."""
    return any(r.uses_detail for r in routes)


def matches(
    routes: Sequence[Route], event: models.Event, with_detail: bool | None = None
) -> list[tuple[str, str]]:
    """(route, destination) for every route the event matches: one delivery each.
    `with_detail`: `uses_detail(routes)`, worked out once by a caller matching many events."""
    if not routes:
        return []
    if with_detail is None:
        with_detail = uses_detail(routes)
    doc = envelope(event, with_detail)
    return [(r.name, r.destination) for r in routes if r.pattern.matches(doc)]
