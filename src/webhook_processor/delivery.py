"""Deliveries: the request to send for an attempt, what its answer means, and the attempt itself.

A delivery POSTs the event's original body and content type with Standard Webhooks headers:
`webhook-id` (the event id, the same on every attempt, so receivers can dedupe),
`webhook-timestamp` (this attempt's, so each attempt is signed afresh) and `webhook-signature`
(signing.v1, keyed by the destination's `whsec_` signing secret), plus `whp-source`,
`whp-event-type` and `whp-attempt`. 2xx is success; anything else (a redirect too: it is not
followed), a timeout or a connection error is a failed attempt.

`attempt` is one attempt on either runtime: the local worker calls it for a delivery it leased,
the delivery Lambda for a message of a destination's queue (its attempt number the receive
count). It builds, signs, sends, and decides: delivered, retry at T, or dead.

https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from webhook_processor import models, retry, signing

log = logging.getLogger("whp.delivery")
EXCERPT_BYTES = 512
# Control characters, which HTTP forbids in a header value (a line break would end the header),
# become "?" there. Only an event type can hold them: one taken from a JSON body is any text.
_CONTROLS = dict.fromkeys([*range(0x09), *range(0x0A, 0x20), 0x7F], "?")
_TRANSPORT_HEADERS = frozenset(
    {"content-type", "content-length", "host", "transfer-encoding", "connection"}
)
Clock = Callable[[], float]
# One line per delivered webhook is too costly at INFO (as one per stored webhook is); failures
# are what an operator needs to see.
_LOG_LEVELS: dict[models.Outcome, int] = {
    "delivered": logging.DEBUG,
    "retry": logging.INFO,
    "dead": logging.WARNING,
}


def reserved_header(name: str) -> bool:
    """Headers a delivery sets itself (or its transport does): never forwarded from the event,
    since a copy would forge or break them."""
    low = name.lower()
    return low in _TRANSPORT_HEADERS or low.startswith(("webhook-", "whp-"))


@dataclass(frozen=True, slots=True)
class Destination:
    """Where deliveries of a destination go and how: whp.yaml's `destinations.<name>`, with its
    signing key resolved (None: deliveries go unsigned)."""

    name: str
    url: str
    signing_key: bytes | None = None
    timeout_seconds: float = 15.0
    retry: retry.Policy = dataclasses.field(default_factory=retry.Policy)
    forward_headers: tuple[str, ...] = ()  # lower-case
    max_concurrency: int = 10
    rate_limit: tuple[float, int] | None = None  # per second, burst
    paused: bool = False  # by the config


@dataclass(frozen=True, slots=True)
class Outgoing:
    url: str
    headers: dict[str, str]
    body: bytes
    destination: str = ""  # its name: the sender takes the destination's way out (egress)


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


class Sender(Protocol):
    """Sends one delivery attempt; never raises for network problems (they are a failed Result).
    (ports.Sender; here so that `attempt` needs nothing but the domain.)"""

    async def send(self, outgoing: Outgoing, timeout: float, now: Clock) -> Result: ...


def signing_key(secret: str) -> bytes:
    """The HMAC key in a `whsec_<base64>` signing secret. The error never repeats the secret."""
    key = signing.b64decode(secret.removeprefix(signing.SECRET_PREFIX))
    if not secret.startswith(signing.SECRET_PREFIX) or not key:
        raise ValueError("signing_secret must have the form whsec_<base64 of the key bytes>")
    return key


def build(
    event: models.Event,
    destination: Destination,
    webhook_id: str,
    attempt: int,
    now: float,
) -> Outgoing:
    """The request for attempt number `attempt` (1 for the first) of `event` to `destination`.

    `webhook_id` is the event id, unless a replay asked for a fresh one. The destination's
    `forward_headers` are copied from the event when it has them, never over the ones set here."""
    headers: dict[str, str] = {}
    for name in destination.forward_headers:
        value = event.headers.get(name.lower())
        if value is not None and not reserved_header(name):
            headers[name.lower()] = value
    if event.content_type is not None:
        headers["content-type"] = event.content_type
    timestamp = str(int(now))
    headers["webhook-id"] = webhook_id
    headers["webhook-timestamp"] = timestamp
    if destination.signing_key is not None:
        headers["webhook-signature"] = signing.v1(
            destination.signing_key, webhook_id, timestamp, event.body
        )
    headers["whp-source"] = event.source
    headers["whp-event-type"] = event.event_type.translate(_CONTROLS)
    headers["whp-attempt"] = str(attempt)
    return Outgoing(destination.url, headers, event.body, destination.name)


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


# -- one attempt ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attempted:
    """What one attempt did: its result, the outcome, and when the next attempt is due (Unix
    ms, for a retry). `started` is the attempt's start (Unix seconds)."""

    result: Result
    outcome: models.Outcome
    started: float
    retry_at_ms: int | None = None


async def attempt(
    event: models.Event,
    destination: Destination | None,
    webhook_id: str,
    number: int,
    sender: Sender,
    clock: Clock,
    uniform: Callable[[], float] = random.random,
    destination_name: str = "",
) -> Attempted:
    """Attempt number `number` (1 for the first) of delivering `event` to `destination`: build
    and sign the request, send it, and decide with the destination's retry policy.

    A destination no longer configured (None) makes the delivery dead at once. An exception out
    of building or sending (the sender answers failed deliveries with a result) is a bug: logged
    with its traceback and counted as a failed attempt, so that a delivery that always crashes
    ends in the dead-letter queue, to be redriven once fixed, instead of crashing again forever."""
    started = clock()
    if destination is None:
        error = f"destination {destination_name!r} is no longer configured"
        return Attempted(Result(False, None, 0, error, None, None), "dead", started)
    try:
        outgoing = build(event, destination, webhook_id, number, started)
        result = await sender.send(outgoing, destination.timeout_seconds, clock)
    except Exception as exc:
        log.error(
            "delivery attempt crashed",
            exc_info=exc,
            extra={"event_id": event.id, "destination": destination.name},
        )
        error = f"internal error: {type(exc).__name__}: {exc}"[:300]
        result = Result(False, None, round((clock() - started) * 1000), error, None, None)
    if result.ok:
        return Attempted(result, "delivered", started)
    decision = retry.after_failure(destination.retry, number, result.retry_after, uniform)
    if decision.dead:
        return Attempted(result, "dead", started)
    return Attempted(result, "retry", started, int((clock() + decision.delay) * 1000))


def record(claim: models.Claim, done: Attempted) -> models.AttemptRecord:
    """The attempt's record, to be kept (and the outcome logged, at the level it deserves)."""
    level = _LOG_LEVELS[done.outcome]
    if log.isEnabledFor(level):
        log.log(
            level,
            "delivery %s",
            done.outcome,
            extra={
                "event_id": claim.event.id,
                "webhook_id": claim.webhook_id,
                "route": claim.route,
                "destination": claim.destination,
                "attempt": claim.attempt,
                "status": done.result.status,
                "error": done.result.error,
            },
        )
    return models.AttemptRecord(
        claim.delivery_id,
        claim.attempt,
        started_ms=int(done.started * 1000),
        duration_ms=done.result.duration_ms,
        status_code=done.result.status,
        error=done.result.error,
        excerpt=done.result.excerpt,
        outcome=done.outcome,
        next_attempt_ms=done.retry_at_ms,
    )


def forwardable(names: Sequence[str]) -> tuple[str, ...]:
    """`forward_headers` as the destination keeps them (lower-case); ValueError for one whp
    sets itself."""
    for name in names:
        if reserved_header(name):
            raise ValueError(f"header {name!r} is set by whp itself and cannot be forwarded")
    return tuple(name.lower() for name in names)
