"""The OpenAPI document served at /openapi.json: the ingest contract (docs/architecture.md), the
open operational endpoints, and the admin API (entrypoints/openapi_admin.py)."""

from __future__ import annotations

from typing import Any

from webhook_processor.entrypoints import openapi_admin

_ERROR = {"$ref": "#/components/schemas/Error"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "webhook-processor", "version": "1"},
    "paths": {
        "/webhooks/{source}": {
            "post": {
                "summary": "Receive a webhook from a configured source",
                "security": [],  # the source's own verification
                "parameters": [
                    {"name": "source", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "requestBody": {"required": True, "content": {"*/*": {"schema": {}}}},
                "responses": {
                    "202": {
                        "description": "Verified and durably stored",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Accepted"}
                            }
                        },
                    },
                    "200": {
                        "description": (
                            "Duplicate idempotency key: the first event's id. Or, for a slack"
                            " source, Slack's url_verification handshake, stored and answered"
                            " with its challenge"
                        ),
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        {"$ref": "#/components/schemas/Accepted"},
                                        {"$ref": "#/components/schemas/Challenge"},
                                    ]
                                }
                            }
                        },
                    },
                    "400": _error(
                        "Malformed body for the source (malformed_payload), or a request the "
                        "server cannot parse as HTTP/1.1 (malformed_request)"
                    ),
                    "401": _error("Missing, malformed or wrong signature, or a stale timestamp"),
                    "404": _error("Unknown source"),
                    "413": _error("Body over the source's max_body_bytes"),
                    "415": _error("Unsupported content encoding or binary body"),
                    "422": _error("Payload violates the source's JSON Schema"),
                    "429": _error("Rate limited; see Retry-After"),
                    "500": _error("A bug in whp; nothing to fix on the sender's side: send again"),
                    "503": _error("The store cannot commit; nothing was stored"),
                },
            }
        },
        "/healthz": {
            "get": {
                "summary": "Liveness",
                "security": [],
                "responses": {"200": {"description": "alive"}},
            }
        },
        "/readyz": {
            "get": {
                "summary": "Readiness",
                "security": [],
                "responses": {
                    "200": {"description": "ready"},
                    "503": {
                        "description": "not ready: the store cannot commit, or a service stopped"
                    },
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "security": [],
                "responses": {"200": {"description": "text format"}},
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1"}},
            }
        },
        **openapi_admin.PATHS,
    },
    "components": {
        "securitySchemes": openapi_admin.SECURITY_SCHEMES,
        "schemas": {
            "Accepted": {
                "type": "object",
                "required": ["id", "duplicate"],
                "properties": {"id": {"type": "string"}, "duplicate": {"type": "boolean"}},
            },
            "Challenge": {
                "type": "object",
                "required": ["challenge"],
                "properties": {"challenge": {"type": "string"}},
            },
            "Error": {
                "type": "object",
                "required": ["error", "detail"],
                "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
            },
            **openapi_admin.SCHEMAS,
        },
    },
}
