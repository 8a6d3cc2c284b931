"""The ingest function: API Gateway's `POST /webhooks/{source}` -> services.ingest.handle, the
contract of docs/architecture.md (the same statuses and error bodies as `whp serve`).

Both front doors are read: the REST API's proxy event (payload 1.0: `multiValueHeaders`,
`isBase64Encoded`, the query in `multiValueQueryStringParameters`) and the HTTP API's payload 2.0
(the lean profile: headers joined by commas, `cookies` apart, `rawQueryString`). The body is
verified over its exact bytes: the module sets binary media types `*/*`, so API Gateway passes it
base64 and never re-encodes it. Header names are case-insensitive: lower-cased here, as the core
takes them. A scheme that signs the URL (twilio, square) gets `public_url` plus the query string,
else the URL the provider called, from the event's host, path and query.
"""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from webhook_processor.entrypoints.lambdas import common

JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    source: str
    body: bytes
    headers: dict[str, str]  # lower-case names
    url: str  # as the provider called it, without the query
    query: str  # the raw query string ("" when none)


def request(event: Mapping[str, Any]) -> Request:
    """The webhook in an API Gateway event (REST proxy or HTTP API 2.0)."""
    v2 = event.get("version") == "2.0"
    headers: dict[str, str] = {}
    multi = event.get("multiValueHeaders") if not v2 else None
    if multi:  # every value of a repeated header; `headers` keeps only the last
        for name, values in multi.items():
            _add(headers, name, ", ".join(str(v) for v in values or ()))
    else:
        for name, value in (event.get("headers") or {}).items():
            _add(headers, name, str(value))
    if v2 and event.get("cookies"):
        _add(headers, "cookie", "; ".join(event["cookies"]))
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            body = raw.encode("utf-8")  # not ours to guess: verification refuses it
    else:
        body = raw.encode("utf-8")
    context = event.get("requestContext") or {}
    if v2:
        method = str((context.get("http") or {}).get("method") or "POST")
        path = str(event.get("rawPath") or (context.get("http") or {}).get("path") or "/")
        query = str(event.get("rawQueryString") or "")
    else:
        method = str(event.get("httpMethod") or context.get("httpMethod") or "POST")
        path = str(context.get("path") or event.get("path") or "/")  # with the stage
        query = _query(event)
    host = headers.get("host") or str(context.get("domainName") or "")
    scheme = headers.get("x-forwarded-proto", "https").split(",")[0].strip() or "https"
    return Request(
        method.upper(), _source(event, path), body, headers, f"{scheme}://{host}{path}", query
    )


def _add(headers: dict[str, str], name: str, value: str) -> None:
    key = name.lower()
    headers[key] = f"{headers[key]}, {value}" if key in headers else value


def _source(event: Mapping[str, Any], path: str) -> str:
    found = (event.get("pathParameters") or {}).get("source")
    if found:
        return str(found)
    parts = [p for p in path.split("/") if p]
    return urllib.parse.unquote(parts[-1]) if parts else ""


def _query(event: Mapping[str, Any]) -> str:
    """The REST event's query, encoded again: API Gateway passes it decoded, not as sent."""
    multi = event.get("multiValueQueryStringParameters") or {}
    single = event.get("queryStringParameters") or {}
    pairs = (
        [(k, v) for k, values in multi.items() for v in values or ()]
        if multi
        else [*single.items()]
    )
    return urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)


def response(status: int, body: bytes, headers: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": JSON, **dict(headers)},
        "body": body.decode("utf-8"),
        "isBase64Encoded": False,
    }


def _build() -> common.Handler:
    from webhook_processor.bootstrap import aws  # noqa: PLC0415 - the first invocation's setup
    from webhook_processor.services import ingest  # noqa: PLC0415

    container = aws.container()
    service = container.ingest()

    def answer(event: common.Event, context: Any) -> dict[str, Any]:
        got = request(event)
        if got.method != "POST":
            known = got.source in container.config.sources  # else a name from the URL: one label
            label = got.source if known else ingest.UNKNOWN_SOURCE_LABEL
            container.metrics.rejected(label, "method_not_allowed")
            error = ingest.error_body("method_not_allowed", "webhooks are received with POST")
            return response(405, error, (("allow", "POST"),))
        done = service.answer(
            got.source, got.body, got.headers, lambda source: source.url(got.url, got.query)
        )
        return response(done.status, done.body, done.headers)

    return answer


def _not_set_up(exc: Exception) -> dict[str, Any]:
    """503 (the provider retries later), the cause in the function's log, not in the answer."""
    detail = b'"the receiver is not set up: its function cannot start (see its log)"'
    return response(503, b'{"error":"store_unavailable","detail":' + detail + b"}")


_function = common.Function(
    _build, correlation_id_path="requestContext.requestId", on_setup_error=_not_set_up
)


def handler(event: common.Event, context: Any) -> dict[str, Any]:
    """API Gateway's proxy event in, its proxy response out."""
    answered: dict[str, Any] = _function(event, context)
    return answered
