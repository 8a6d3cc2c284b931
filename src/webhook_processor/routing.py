"""Routing: an event as EventBridge sees it (the envelope), and which routes it matches.

`targets` is the routing of one event on both runtimes: the local worker records its deliveries,
the AWS router its deliveries and then puts the event on the bus, where one rule per route (the
same pattern) fans it out. EventBridge sets the envelope's `id` itself, so the whp event id
travels in `resources` (`whp:event:<id>`) on both, and a pattern sees the same envelope.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from webhook_processor import errors, models, patterns, payload

log = logging.getLogger("whp.routing")
REGION = "local"
ACCOUNT = "000000000000"
RESOURCE_PREFIX = "whp:event:"
Target = tuple[str, str]  # (route, destination): one delivery


def resource(event_id: str) -> str:
    return RESOURCE_PREFIX + event_id


def event_id_of(envelope: Mapping[str, Any]) -> str | None:
    """The whp event id of a routed envelope (from `resources`), None if it carries none."""
    for item in envelope.get("resources") or ():
        if isinstance(item, str) and item.startswith(RESOURCE_PREFIX):
            return item.removeprefix(RESOURCE_PREFIX)
    return None


def envelope(event: models.Event, with_detail: bool = True) -> dict[str, Any]:
    """The routing envelope (docs/architecture.md); without `detail` (the parsed body) when
    no pattern looks at it."""
    doc: dict[str, Any] = {
        "version": "0",
        "id": event.id,
        "source": event.source,
        "detail-type": event.event_type,
        "time": event.received,
        "region": REGION,
        "account": ACCOUNT,
        "resources": [resource(event.id)],
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


def compile_routes(routes: Iterable[tuple[str, str, Mapping[str, Any]]]) -> list[Route]:
    """(name, destination, pattern) of each route, in order. Patterns are validated with the
    config, so compiling them here does not fail for a loaded config."""
    return [
        Route(name, destination, patterns.compile(dict(pattern)), _uses_detail(pattern))
        for name, destination, pattern in routes
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
) -> list[Target]:
    """(route, destination) for every route the event matches: one delivery each.
    `with_detail`: `uses_detail(routes)`, worked out once by a caller matching many events."""
    if not routes:
        return []
    if with_detail is None:
        with_detail = uses_detail(routes)
    doc = envelope(event, with_detail)
    return [(r.name, r.destination) for r in routes if r.pattern.matches(doc)]


def targets(
    routes: Sequence[Route], event: models.Event, with_detail: bool | None = None
) -> list[Target]:
    """The deliveries one event gets: `matches`, except that a bug in matching does not stop
    the routing of every later event (it would fail on this one again and again): the event is
    recorded unrouted, as visible as any other, and a replay routes it again once fixed."""
    try:
        found = matches(routes, event, with_detail)
    except Exception:
        log.exception(
            "routing the event failed; it is recorded unrouted",
            extra={"event_id": event.id, "source": event.source},
        )
        return []
    if not found:
        log.debug("event unrouted", extra={"event_id": event.id, "source": event.source})
    return found
