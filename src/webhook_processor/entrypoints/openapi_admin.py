"""The admin API's part of /openapi.json: its paths, parameters and schemas (entrypoints/admin.py
serves them). Schemas say exactly what the API takes, so that a client generated from them sends
nothing it refuses: unknown keys, wrong types and out-of-range values are all a 400.
"""

from __future__ import annotations

from typing import Any

from webhook_processor import times
from webhook_processor.entrypoints import admin_input

JSON = dict[str, Any]
SECURITY: list[JSON] = [{"adminToken": []}]


def _ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def _content(schema: JSON) -> JSON:
    return {"application/json": {"schema": schema}}


def _error(description: str) -> JSON:
    return {"description": description, "content": _content(_ref("Error"))}


_TEXT = {"type": "string", "minLength": 1, "maxLength": admin_input.MAX_TEXT}
_NULLABLE_TEXT = {"type": ["string", "null"]}
_TIME = {
    "type": "string",
    "pattern": f"^(?:{times.RFC3339}|{times.DURATION})$",
    "description": "An RFC 3339 time with its offset, or a duration ago: 90s, 30m, 2h, 7d",
}
_STATUS = {
    "type": "string",
    "enum": list(admin_input.STATUSES),
    "description": "An event status, or `dead`: events with a dead delivery",
}
_FILTERS: dict[str, tuple[JSON, str]] = {
    "source": (_TEXT, "The source's name"),
    "type": (_TEXT, "The event type"),
    "status": (_STATUS, "An event status, or `dead`: events with a dead delivery"),
    "key": (_TEXT, "The idempotency key: the provider's delivery id"),
    "since": (_TIME, "Received at or after this"),
    "until": (_TIME, "Received before this"),
}


def _query(name: str, schema: JSON, description: str) -> JSON:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _path(name: str, description: str) -> JSON:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": _TEXT,
        "description": description,
    }


_LIMIT = _query(
    "limit",
    {"type": "integer", "minimum": 1, "maximum": admin_input.MAX_LIMIT, "default": 50},
    "Items per page",
)
_CURSOR = _query(
    "cursor",
    {"type": "string", "minLength": 1, "maxLength": 2048},
    "The `next` of the previous page",
)
_BAD = _error("Bad input: an unknown or repeated parameter or key, a wrong value or type")
_UNAUTHORIZED = {
    "description": "No admin token, or a wrong one",
    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
    "content": _content(_ref("Error")),
}
_COMMON = {
    "400": _BAD,
    "401": _UNAUTHORIZED,
    "500": _error("A bug in whp"),
    "503": _error("The store is unavailable"),
}
_TOO_LARGE = {"413": _error("The body is over 1 MiB")}


def _operation(summary: str, ok: str, schema: str, *, status: str = "200", **extra: Any) -> JSON:
    responses = {status: {"description": ok, "content": _content(_ref(schema))}} | _COMMON
    responses |= extra.pop("responses", {})
    return {"summary": summary, "security": SECURITY, "responses": responses} | extra


def _body(schema: str, required: bool = True) -> JSON:
    return {"required": required, "content": _content(_ref(schema))}


_EVENT_ID = _path("id", "The event id")
_NOT_FOUND = {"404": _error("No such event")}
_NO_DESTINATION = {"404": _error("No destination of that name in the config")}

PATHS: JSON = {
    "/api/events": {
        "get": _operation(
            "Search events, newest first",
            "A page of events",
            "EventPage",
            parameters=[*(_query(n, s, d) for n, (s, d) in _FILTERS.items()), _LIMIT, _CURSOR],
        )
    },
    "/api/events/{id}": {
        "get": _operation(
            "One event with its headers, body, deliveries and their attempts",
            "The event",
            "EventDetail",
            parameters=[_EVENT_ID],
            responses=_NOT_FOUND,
        )
    },
    "/api/events/{id}/replay": {
        "post": _operation(
            "Route the event again with today's routes (same webhook-id unless new_id)",
            "Replayed",
            "Replayed",
            status="202",
            parameters=[_EVENT_ID],
            requestBody=_body("ReplayOne", required=False),
            responses=_NOT_FOUND | _TOO_LARGE,
        )
    },
    "/api/replay": {
        "post": _operation(
            "Replay every event the filters select (an empty filter needs all: true)",
            "Dry run: how many events the filters select",
            "Matched",
            requestBody=_body("ReplayRequest"),
            responses={"202": {"description": "Replayed", "content": _content(_ref("Replayed"))}}
            | _TOO_LARGE,
        )
    },
    "/api/dlq": {
        "get": _operation(
            "The dead-letter queue, newest first",
            "A page of dead deliveries",
            "DeadLetterPage",
            parameters=[_query("destination", _TEXT, "Only this destination's"), _LIMIT, _CURSOR],
        )
    },
    "/api/dlq/redrive": {
        "post": _operation(
            "Send dead deliveries back to their queues, attempts again from 1",
            "How many were dead, and so redriven",
            "Redriven",
            requestBody=_body("RedriveRequest"),
            responses=_TOO_LARGE,
        )
    },
    "/api/destinations": {
        "get": _operation("Destinations with their health", "Every destination", "DestinationList")
    },
    "/api/destinations/{name}/pause": {
        "post": _operation(
            "Hold the destination's deliveries, queued",
            "The destination, paused",
            "Destination",
            parameters=[_path("name", "The destination's name")],
            responses=_NO_DESTINATION,
        )
    },
    "/api/destinations/{name}/resume": {
        "post": _operation(
            "Deliver again after a pause (a pause in the config stays: see paused_by)",
            "The destination",
            "Destination",
            parameters=[_path("name", "The destination's name")],
            responses=_NO_DESTINATION,
        )
    },
    "/api/stats": {"get": _operation("Counts, rates and alert states", "The figures", "Stats")},
}


def _object(properties: JSON, required: list[str] | None = None, **extra: Any) -> JSON:
    found: JSON = {"type": "object", "additionalProperties": False, "properties": properties}
    if required is not None:
        found["required"] = required
    return found | extra


def _page(item: str) -> JSON:
    return _object(
        {"data": {"type": "array", "items": _ref(item)}, "next": _NULLABLE_TEXT},
        ["data", "next"],
    )


_COUNT = {"type": "integer", "minimum": 0}
_AT = {"type": "string", "description": "RFC 3339, UTC"}
_EVENT_FIELDS: JSON = {
    "id": {"type": "string"},
    "source": {"type": "string"},
    "event_type": {"type": "string"},
    "idempotency_key": _NULLABLE_TEXT,
    "status": {"type": "string", "enum": ["pending", "routed", "unrouted"]},
    "received_at": _AT,
}
_FILTER_KEYS = {name: schema for name, (schema, _) in _FILTERS.items()}

SCHEMAS: JSON = {
    "EventItem": _object(_EVENT_FIELDS, list(_EVENT_FIELDS)),
    "EventPage": _page("EventItem"),
    "EventDetail": _object(
        _EVENT_FIELDS
        | {
            "content_type": _NULLABLE_TEXT,
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "body": {"type": "string", "description": "The body as text, when it is UTF-8"},
            "body_base64": {"type": "string", "description": "The body, when it is not UTF-8"},
            "deliveries": {"type": "array", "items": _ref("Delivery")},
        },
        [*_EVENT_FIELDS, "content_type", "headers", "deliveries"],
        oneOf=[{"required": ["body"]}, {"required": ["body_base64"]}],
    ),
    "Delivery": _object(
        {
            "id": {"type": "string"},
            "route": {"type": "string"},
            "destination": {"type": "string"},
            "webhook_id": {"type": "string"},
            "status": {"type": "string", "enum": ["pending", "delivered", "dead"]},
            "next_attempt_at": {"type": ["string", "null"], "description": "While pending"},
            "attempts": {"type": "array", "items": _ref("Attempt")},
        },
        ["id", "route", "destination", "webhook_id", "status", "next_attempt_at", "attempts"],
    ),
    "Attempt": _object(
        {
            "attempt": {"type": "integer", "minimum": 1},
            "started_at": _AT,
            "duration_ms": _COUNT,
            "status_code": {"type": ["integer", "null"]},
            "error": _NULLABLE_TEXT,
            "excerpt": {"type": ["string", "null"], "description": "The response's beginning"},
        },
        ["attempt", "started_at", "duration_ms", "status_code", "error", "excerpt"],
    ),
    "ReplayOne": _object({"new_id": {"type": "boolean"}}),
    "ReplayRequest": _object(
        _FILTER_KEYS
        | {
            "dry_run": {"type": "boolean", "description": "Only count the events"},
            "new_id": {"type": "boolean", "description": "Fresh webhook-ids"},
            "all": {"type": "boolean", "description": "true: an empty filter replays them all"},
        },
        anyOf=[
            *({"required": [name]} for name in _FILTER_KEYS),
            {"required": ["all"], "properties": {"all": {"const": True}}},
        ],
    ),
    "Replayed": _object({"replayed": _COUNT}, ["replayed"]),
    "Matched": _object({"matched": _COUNT}, ["matched"]),
    "DeadLetter": _object(
        {
            "delivery_id": {"type": "string"},
            "event_id": {"type": "string"},
            "route": {"type": "string"},
            "destination": {"type": "string"},
            "attempts": _COUNT,
            "last_status_code": {"type": ["integer", "null"]},
            "last_error": _NULLABLE_TEXT,
            "dead_at": _AT,
        },
        [
            "delivery_id",
            "event_id",
            "route",
            "destination",
            "attempts",
            "last_status_code",
            "last_error",
            "dead_at",
        ],
    ),
    "DeadLetterPage": _page("DeadLetter"),
    "RedriveRequest": _object(
        {
            "ids": {
                "type": "array",
                "items": _TEXT,
                "minItems": 1,
                "maxItems": admin_input.MAX_IDS,
            },
            "destination": _TEXT,
            "all": {"const": True},
        },
        minProperties=1,
        maxProperties=1,
    ),
    "Redriven": _object({"redriven": _COUNT}, ["redriven"]),
    "Destination": _object(
        {
            "name": {"type": "string"},
            "url": {"type": "string"},
            "paused": {"type": "boolean"},
            "paused_by": {
                "type": "array",
                "items": {"type": "string", "enum": ["config", "runtime"]},
                "description": "config: `paused: true` in whp.yaml (no resume lifts it)",
            },
            "pending": _COUNT,
            "dead": _COUNT,
            "in_flight": _COUNT,
            "oldest_pending_seconds": {"type": ["number", "null"], "minimum": 0},
        },
        [
            "name",
            "url",
            "paused",
            "paused_by",
            "pending",
            "dead",
            "in_flight",
            "oldest_pending_seconds",
        ],
    ),
    "DestinationList": _page("Destination"),
    "Stats": _object(
        {
            "events": {"type": "object", "additionalProperties": _COUNT},
            "deliveries": {"type": "object", "additionalProperties": _COUNT},
            "rates": _object(
                {
                    "received": {"type": "number", "minimum": 0},
                    "delivered": {"type": "number", "minimum": 0},
                    "failed": {"type": "number", "minimum": 0},
                },
                ["received", "delivered", "failed"],
                description="Per second over the last minute",
            ),
            "alerts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "state"],
                    "properties": {"name": {"type": "string"}, "state": {"type": "string"}},
                },
            },
        },
        ["events", "deliveries", "rates", "alerts"],
    ),
}

SECURITY_SCHEMES: JSON = {
    "adminToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "admin.token of whp.yaml",
    }
}
