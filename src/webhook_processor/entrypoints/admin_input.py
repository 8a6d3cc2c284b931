"""What the admin API reads from a request: query parameters, filters, limits, JSON bodies. Each
problem is an errors.UsageError (400 invalid_request) that names the parameter or key and says
what it takes; nothing unknown is ignored, so a typo never widens what a request selects (a
`sorce=github` replaying every event, say).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request

from webhook_processor import errors, ports, times

FILTERS = ("source", "type", "status", "key", "since", "until")
STATUSES = ("pending", "routed", "unrouted", "dead")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_TEXT = 1024  # a filter value: names are at most 64, idempotency keys a few hundred
MAX_BODY_BYTES = 1024 * 1024
MAX_IDS = 10_000  # delivery ids in one redrive; more with `destination` or `all`


def query(request: Request, allowed: set[str]) -> dict[str, str]:
    """The query parameters, each at most once, every one of them among `allowed`."""
    found: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise errors.UsageError(
                f"unknown query parameter {errors.shown(name)} (this takes: {known})"
            )
        if name in found:
            raise errors.UsageError(f"query parameter {errors.shown(name)} is given more than once")
        found[name] = value
    return found


def text(values: Mapping[str, Any], name: str) -> str | None:
    value = values.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise errors.UsageError(f"{name} must be a string")
    if not value:
        raise errors.UsageError(f"{name} is empty: give a value, or leave {name} out")
    if len(value) > MAX_TEXT:
        raise errors.UsageError(f"{name} is over {MAX_TEXT} characters")
    return value


def event_filter(values: Mapping[str, Any], now: float) -> ports.EventFilter:
    """The filters of GET /api/events (query) and POST /api/replay (body), by their API names."""
    status = text(values, "status")
    if status is not None and status not in STATUSES:
        raise errors.UsageError(
            f"status {errors.shown(status)}: expected one of {', '.join(STATUSES)}"
        )
    return ports.EventFilter(
        source=text(values, "source"),
        event_type=text(values, "type"),
        status=status,
        idempotency_key=text(values, "key"),
        since_ms=times.parse_time(text(values, "since"), now, "since"),
        until_ms=times.parse_time(text(values, "until"), now, "until"),
    )


def limit(values: Mapping[str, str]) -> int:
    raw = values.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6) or not (1 <= int(raw) <= MAX_LIMIT):
        raise errors.UsageError(
            f"limit {errors.shown(raw)}: give a whole number from 1 to {MAX_LIMIT}"
        )
    return int(raw)


async def body(request: Request, fields: Mapping[str, type], required: bool) -> dict[str, Any]:
    """The JSON object of the request's body, with only `fields`, each of its type (null is
    no value of any: leave the key out instead). An empty body is `{}` unless `required`."""
    raw = b""
    try:
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_BODY_BYTES:
                raise errors.PayloadTooLarge(f"the request body is over {MAX_BODY_BYTES} bytes")
    except ClientDisconnect:
        raise errors.UsageError("the request body did not arrive in full") from None
    known = ", ".join(fields)
    if not raw.strip():
        if required:
            raise errors.UsageError(f"give a JSON object body (keys: {known})")
        return {}
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise errors.UsageError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise errors.UsageError(f"the body must be a JSON object (keys: {known})")
    for key, value in document.items():
        wanted = fields.get(key)
        if wanted is None:
            raise errors.UsageError(f"unknown key {errors.shown(key)} in the body (keys: {known})")
        if not isinstance(value, wanted):
            raise errors.UsageError(f"{key} must be {_NAMES[wanted]}")
    return document


_NAMES = {bool: "true or false", str: "a string", list: "a list"}


def redrive_target(document: Mapping[str, Any]) -> tuple[list[str] | None, str | None]:
    """POST /api/dlq/redrive: (delivery ids, None), or (None, a destination or None for all)."""
    given = [key for key in ("ids", "destination", "all") if key in document]
    if len(given) != 1 or document.get("all") is False:
        raise errors.UsageError(
            'give one of {"ids": [delivery ids]}, {"destination": name} or {"all": true}'
        )
    if "ids" in document:
        ids = document["ids"]
        if not ids or len(ids) > MAX_IDS:
            raise errors.UsageError(f"ids: give 1 to {MAX_IDS} delivery ids")
        if not all(isinstance(i, str) and i and len(i) <= MAX_TEXT for i in ids):
            raise errors.UsageError("ids must be delivery ids as strings, as GET /api/dlq gives")
        return ids, None
    return None, text(document, "destination")


@contextlib.contextmanager
def named_in_request() -> Iterator[None]:
    """A destination named in a query or a body that the config has not is bad input (400);
    one in the path is a resource that is not there (404)."""
    try:
        yield
    except errors.NotFound as exc:
        raise errors.UsageError(exc.detail) from None
