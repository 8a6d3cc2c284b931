"""The admin API's JSON views of the operator's records (the README's admin API). The CLI prints the
same views, whether it reads the local store or a server's API (`--url`), so both say the same.

Times are RFC 3339 UTC strings with milliseconds; ids are strings.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from webhook_processor import models, services

JSON = dict[str, Any]


def page(items: Sequence[JSON], next_cursor: str | None) -> JSON:
    return {"data": list(items), "next": next_cursor}


def event_item(event: models.Event) -> JSON:
    return {
        "id": event.id,
        "source": event.source,
        "event_type": event.event_type,
        "idempotency_key": event.idempotency_key,
        "status": event.status,
        "received_at": event.received,
    }


def event_detail(found: services.operations.EventDetail) -> JSON:
    """The item, with headers as stored (credentials removed at ingest), the body as text (or
    `body_base64` when it is not UTF-8), and every delivery with every attempt."""
    event = found.event
    shown = event_item(event) | {"content_type": event.content_type, "headers": event.headers}
    try:
        shown["body"] = event.body.decode("utf-8")
    except UnicodeDecodeError:
        shown["body_base64"] = base64.b64encode(event.body).decode()
    shown["deliveries"] = [delivery(d) for d in found.deliveries]
    return shown


def delivery(d: models.Delivery) -> JSON:
    return {
        "id": d.id,
        "route": d.route,
        "destination": d.destination,
        "webhook_id": d.webhook_id,
        "status": d.status,
        "next_attempt_at": None if d.next_attempt_ms is None else models.rfc3339(d.next_attempt_ms),
        "attempts": [attempt(a) for a in d.history],
    }


def attempt(a: models.Attempt) -> JSON:
    return {
        "attempt": a.attempt,
        "started_at": models.rfc3339(a.started_ms),
        "duration_ms": a.duration_ms,
        "status_code": a.status_code,
        "error": a.error,
        "excerpt": a.excerpt,
    }


def dead_letter(d: models.DeadLetter) -> JSON:
    return {
        "delivery_id": d.delivery_id,
        "event_id": d.event_id,
        "route": d.route,
        "destination": d.destination,
        "attempts": d.attempts,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "dead_at": models.rfc3339(d.dead_ms),
    }


def destination(view: services.operations.DestinationView) -> JSON:
    """`paused_by` says who holds a paused destination: "config" (`paused: true` in whp.yaml,
    which no resume lifts), "runtime" (a pause through the API or the CLI), or both."""
    return {
        "name": view.name,
        "url": view.url,
        "paused": view.paused,
        "paused_by": list(view.paused_by),
        "pending": view.pending,
        "dead": view.dead,
        "in_flight": view.in_flight,
        "oldest_pending_seconds": view.oldest_pending_seconds,
    }


def stats(figures: services.operations.Stats, alerts: Sequence[Mapping[str, Any]]) -> JSON:
    return {
        "events": dict(figures.events),
        "deliveries": dict(figures.deliveries),
        "rates": dict(figures.rates),
        "alerts": [dict(a) for a in alerts],
    }
