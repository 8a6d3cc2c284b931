"""Ingest: from a received request to a durably stored event, in docs/architecture.md's check order.

    unknown source 404 -> size 413 (the entrypoint, while streaming) -> signature 401
    -> rate limit 429 (verified requests only) -> parse 400/415 -> schema 422 -> dedupe -> store

Everything a source needs per request is prepared once in `SourceRuntime` by the composition root.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from webhook_processor import errors, fields, models, payload, ports, ratelimit, verify

SchemaCheck = Callable[[Any], None]
UNKNOWN_TYPE = "unknown"
UNKNOWN_SOURCE_LABEL = "(unknown)"


@dataclass(frozen=True, slots=True)
class SourceRuntime:
    name: str
    verify: verify.Verify
    max_body_bytes: int
    type_specs: tuple[fields.FieldSpec, ...]
    key_specs: tuple[fields.FieldSpec, ...]
    strip_headers: frozenset[str]
    public_url: str | None = None
    signs_url: bool = False
    bucket: ratelimit.TokenBucket | None = None
    schema: SchemaCheck | None = None
    handshake: Callable[[Any], str | None] | None = None  # the challenge of a URL handshake

    def url(self, received_url: str, query: str) -> str:
        """The URL the provider signed: `public_url` plus the request's query string."""
        if self.public_url is None:
            return received_url + (f"?{query}" if query else "")
        if not query:
            return self.public_url
        return self.public_url + ("&" if "?" in self.public_url else "?") + query


class Ingest:
    def __init__(
        self,
        sources: Mapping[str, SourceRuntime],
        store: ports.EventStore,
        metrics: ports.Metrics,
        clock: Callable[[], float],
        on_stored: Callable[[], None] = lambda: None,
    ) -> None:
        self._sources = dict(sources)
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self._on_stored = on_stored  # wakes the worker: new events to route

    def swap(
        self, sources: Mapping[str, SourceRuntime], on_stored: Callable[[], None] | None = None
    ) -> None:
        """Receive with these sources from now on: a reload of the config, on the event loop. One
        reference is replaced, so a request under way ends with the source it began with, and
        the hot path pays nothing for reloads."""
        self._sources = dict(sources)
        if on_stored is not None:
            self._on_stored = on_stored

    def source(self, name: str) -> SourceRuntime:
        try:
            return self._sources[name]
        except KeyError:
            # One label for every unknown name: URLs are unauthenticated, label values are not free.
            self._metrics.rejected(UNKNOWN_SOURCE_LABEL, errors.UnknownSource.code)
            raise errors.UnknownSource(
                f"no source named {errors.shown(name)} is configured"
            ) from None

    def reject(self, source: SourceRuntime | None, error: errors.Rejected) -> errors.Rejected:
        """Count a rejection decided outside `receive`: the entrypoint's size limit, or the HTTP
        server's own refusals (source None: the request never got as far as naming one)."""
        self._metrics.rejected(UNKNOWN_SOURCE_LABEL if source is None else source.name, error.code)
        return error

    def answered(self, source: str, seconds: float) -> None:
        """A webhook answered `seconds` after its request arrived (the entrypoint times it, the
        reading of the body and the writing of the answer included). `source`: a configured
        source's name, or UNKNOWN_SOURCE_LABEL."""
        self._metrics.answered(source, seconds)

    async def receive(
        self, source: SourceRuntime, body: bytes, headers: Mapping[str, str], url: str = ""
    ) -> models.Stored:
        try:
            event, challenge = self._accept(source, body, headers, url)
        except errors.Rejected as exc:
            self._metrics.rejected(source.name, exc.code)
            raise
        try:
            stored = await self._store.add(event)
        except errors.StoreUnavailable as exc:
            self._metrics.rejected(source.name, exc.code)
            raise
        self._metrics.accepted(source.name, stored.duplicate)
        if not stored.duplicate:
            self._on_stored()
        return stored if challenge is None else stored._replace(challenge=challenge)

    def _accept(
        self, source: SourceRuntime, body: bytes, headers: Mapping[str, str], url: str
    ) -> tuple[models.Event, str | None]:
        now = self._clock()
        source.verify(verify.Request(body, headers, url), now)
        if source.bucket is not None:
            wait = source.bucket.take(now)
            if wait:
                raise errors.RateLimited(
                    f"source {source.name!r} is over its rate limit",
                    retry_after=max(1, math.ceil(wait)),
                )
        content_type = headers.get("content-type")
        detail = payload.parse(body, content_type, headers.get("content-encoding"))
        # A handshake is the provider's, not an event its schema describes: stored, not checked.
        challenge = source.handshake(detail) if source.handshake is not None else None
        if source.schema is not None and challenge is None:
            source.schema(detail)
        event = models.Event(
            id=models.new_event_id(now),
            source=source.name,
            event_type=fields.extract(source.type_specs, headers, detail, body) or UNKNOWN_TYPE,
            idempotency_key=fields.extract(source.key_specs, headers, detail, body),
            received_ms=int(now * 1000),
            content_type=content_type,
            headers=_without(headers, source.strip_headers),
            body=body,
        )
        return event, challenge


def _without(headers: Mapping[str, str], names: frozenset[str]) -> dict[str, str]:
    """A copy of `headers` without `names` (which requests rarely carry: copy, then remove)."""
    kept = dict(headers)
    if not names.isdisjoint(kept):
        for name in names:
            kept.pop(name, None)
    return kept


# -- the answer to a sender, on either runtime -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    """What the sender of a webhook gets back: status, JSON body and extra headers. The ASGI app
    of `whp serve` and the API Gateway handler both answer with it, so the contract is one."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


def answer(stored: models.Stored) -> Answer:
    """202 for a new event, 200 for a duplicate (with the first event's id), 200 with the
    challenge for a provider's URL handshake (stored like any event)."""
    if stored.challenge is not None:
        return Answer(200, orjson.dumps({"challenge": stored.challenge}))
    if stored.duplicate:
        return Answer(200, b'{"id":"%s","duplicate":true}' % stored.id.encode())
    return Answer(202, b'{"id":"%s","duplicate":false}' % stored.id.encode())


def refusal(error: errors.WhpError) -> Answer:
    """The error shape (docs/architecture.md), `{"error": code, "detail": text}`, with
    Retry-After when rate limited."""
    headers: tuple[tuple[str, str], ...] = ()
    if isinstance(error, errors.RateLimited):
        headers = (("retry-after", str(error.retry_after)),)
    return Answer(error.status, error_body(error.code, error.detail), headers)


def error_body(code: str, detail: str) -> bytes:
    return orjson.dumps({"error": code, "detail": detail})


async def handle(
    ingest: Ingest,
    name: str,
    body: bytes,
    headers: Mapping[str, str],
    url: Callable[[SourceRuntime], str] = lambda source: "",
) -> Answer:
    """A whole webhook, body in hand (API Gateway gives it so): the checks in order,
    `url` giving the URL a source signs (for schemes that sign it), and the answer. `headers`
    are lower-case."""
    try:
        source = ingest.source(name)
        if len(body) > source.max_body_bytes:
            raise ingest.reject(
                source,
                errors.PayloadTooLarge(
                    f"body of {len(body)} bytes is over this source's limit of "
                    f"{source.max_body_bytes}"
                ),
            )
        stored = await ingest.receive(
            source, body, headers, url(source) if source.signs_url else ""
        )
    except errors.WhpError as exc:
        return refusal(exc)
    return answer(stored)
