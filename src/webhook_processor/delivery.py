"""Deliveries as pure functions: the request to send for an attempt, and what its answer means.

A delivery POSTs the event's original body and content type with Standard Webhooks headers:
`webhook-id` (the event id, the same on every attempt, so receivers can dedupe),
`webhook-timestamp` (this attempt's, so each attempt is signed afresh) and `webhook-signature`
(`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed by the destination's
`whsec_<base64>` signing secret), plus `whp-source`, `whp-event-type` and `whp-attempt`.
2xx is success; anything else (a redirect too: it is not followed), a timeout or a connection
error is a failed attempt.

https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from webhook_processor import config, models, retry

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of a secret, not one
EXCERPT_BYTES = 512
# Control characters, which HTTP forbids in a header value (a line break would end the header),
# become "?" there. Only an event type can hold them: one taken from a JSON body is any text.
_CONTROLS = dict.fromkeys([*range(0x09), *range(0x0A, 0x20), 0x7F], "?")


@dataclass(frozen=True, slots=True)
class Outgoing:
    url: str
    headers: dict[str, str]
    body: bytes
    destination: str = ""  # its name: the sender takes the destination's way out (egress.py)


@dataclass(frozen=True, slots=True)
class Result:
    """One attempt's outcome. `error` says why it failed (None exactly when `ok`); `excerpt` is
    the start of the response body; `retry_after` the wait a 429/503 asked for, in seconds."""

    ok: bool
    status: int | None
    duration_ms: int
    error: str | None
    excerpt: str | None
    retry_after: float | None


def signing_key(secret: str) -> bytes:
    """The HMAC key in a `whsec_<base64>` secret. The error never repeats the secret."""
    key = b""
    if secret.startswith(SECRET_PREFIX):
        text = secret.removeprefix(SECRET_PREFIX)
        try:
            key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except binascii.Error:
            key = b""
    if not key:
        raise ValueError("signing_secret must have the form whsec_<base64 of the key bytes>")
    return key


def sign(key: bytes, webhook_id: str, timestamp: str, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def build(
    event: models.Event,
    destination: config.Destination,
    signing_key: bytes | None,
    webhook_id: str,
    attempt: int,
    now: float,
    forward_headers: Sequence[str] = (),
    destination_name: str = "",
) -> Outgoing:
    """The request for attempt number `attempt` (1 for the first) of `event` to `destination`.

    `webhook_id` is the event id, unless a replay asked for a fresh one. Headers listed in
    `forward_headers` are copied from the event when it has them, never over the ones set here."""
    headers: dict[str, str] = {}
    for name in forward_headers:
        value = event.headers.get(name.lower())
        if value is not None and not config.reserved_header(name):
            headers[name.lower()] = value
    if event.content_type is not None:
        headers["content-type"] = event.content_type
    timestamp = str(int(now))
    headers["webhook-id"] = webhook_id
    headers["webhook-timestamp"] = timestamp
    if signing_key is not None:
        headers["webhook-signature"] = sign(signing_key, webhook_id, timestamp, event.body)
    headers["whp-source"] = event.source
    headers["whp-event-type"] = event.event_type.translate(_CONTROLS)
    headers["whp-attempt"] = str(attempt)
    return Outgoing(destination.url, headers, event.body, destination_name)


def classify(
    status: int | None,
    headers: Mapping[str, str],
    body: bytes | None,
    error: str | None,
    duration_ms: int,
    now: float,
) -> Result:
    """What an attempt's answer means. `error` is a transport failure (timeout, refused, ...):
    with one, the attempt failed whatever status came before it, since a retry is always safe
    (receivers dedupe on webhook-id) and a lost delivery is not."""
    excerpt = body[:EXCERPT_BYTES].decode("utf-8", errors="replace") if body else None
    retry_after = None
    if status in (429, 503):
        retry_after = retry.parse_retry_after(_header(headers, "retry-after"), now)
    if error is None:
        error = _failure(status, headers)
    return Result(error is None, status, duration_ms, error, excerpt, retry_after)


def _failure(status: int | None, headers: Mapping[str, str]) -> str | None:
    if status is None:
        return "no response"
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        location = _header(headers, "location") or "nowhere (no Location header)"
        return f"HTTP {status}: redirect to {location} not followed; update the destination URL"
    return f"HTTP {status}"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)
