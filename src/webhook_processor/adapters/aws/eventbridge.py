"""Publishing routed events to the custom bus: PutEvents in batches, failed entries retried.

An entry is the envelope (docs/architecture.md) as PutEvents takes it: Source = the source's
name, DetailType = the event type, Detail = the payload object's JSON, Resources =
["whp:event:<id>"] (EventBridge sets the envelope's `id` itself), Time = when whp received it.

PutEvents answers per entry: `FailedEntryCount` says how many failed and each failed entry has an
ErrorCode. Only those are sent again (the others are on the bus: sending them again would
deliver them twice), and only for the codes that say "try again"; after ATTEMPTS the entry is
reported failed. An entry EventBridge would refuse for what it is is not sent at all and is
reported at once: over 1 MB (the entry limit since January 2026, counted as EventBridge counts
it, see `Entry.size`), a detail-type over 128 characters, or a source starting with "aws."
(reserved for AWS; whp's source names are `[A-Za-z0-9_-]`, so only other callers could).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from webhook_processor import models
from webhook_processor.adapters.aws import clients

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

MAX_ENTRIES = 10  # per PutEvents call
# Entry and request size limit: 1 MB since 2026-01-29 (AWS Compute Blog, "More room to build:
# serverless services now support payloads up to 1 MB"; 256 KB before).
MAX_BYTES = 1024 * 1024
MAX_DETAIL_TYPE = 128  # characters (PutEventsRequestEntry.DetailType)
ATTEMPTS = 4
RETRYABLE = frozenset({"InternalFailure", "InternalException", "ThrottlingException"})


@dataclass(frozen=True, slots=True)
class Entry:
    event_id: str
    source: str
    detail_type: str
    detail: str  # JSON text of an object
    time_ms: int

    @property
    def resources(self) -> list[str]:
        return [f"whp:event:{self.event_id}"]

    def size(self) -> int:
        """The size EventBridge counts against its limit ("Calculating PutEvents event entry
        size"): 14 bytes for Time, then the UTF-8 bytes of Source, DetailType, Detail and each
        of Resources."""
        fields = (self.source, self.detail_type, self.detail, *self.resources)
        return 14 + sum(len(f.encode()) for f in fields)

    def problem(self) -> str | None:
        """Why EventBridge would refuse this entry whatever the retries, or None."""
        if self.source.startswith("aws."):
            return (
                f"NotAuthorizedForSourceException: event {self.event_id}'s source "
                f"{self.source!r} is reserved for AWS services"
            )
        if len(self.detail_type) > MAX_DETAIL_TYPE:
            return (
                f"EntryTooLarge: event {self.event_id}'s type is {len(self.detail_type)} "
                f"characters; EventBridge takes at most {MAX_DETAIL_TYPE}"
            )
        size = self.size()
        if size > MAX_BYTES:
            return (
                f"EntryTooLarge: event {self.event_id} makes a {size}-byte entry; "
                f"EventBridge takes at most {MAX_BYTES} bytes"
            )
        return None

    def request(self, bus: str) -> PutEventsRequestEntryTypeDef:
        return {
            "Source": self.source,
            "DetailType": self.detail_type,
            "Detail": self.detail,
            "Resources": self.resources,
            "Time": datetime.fromtimestamp(self.time_ms / 1000, UTC),
            "EventBusName": bus,
        }


def entry(event: models.Event, detail: Mapping[str, Any]) -> Entry:
    """The entry of `event`, with `detail` (the parsed payload, an object) as its Detail."""
    text = orjson.dumps(detail, default=str).decode()
    return Entry(event.id, event.source, event.event_type, text, event.received_ms)


class Publisher:
    def __init__(
        self,
        bus: str,
        client: EventBridgeClient | None = None,
        attempts: int = ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
        uniform: Callable[[], float] = random.random,
    ) -> None:
        self.bus = bus
        self._client = client if client is not None else clients.events()
        self._attempts = attempts
        self._sleep = sleep
        self._uniform = uniform

    def publish(self, entries: Sequence[Entry]) -> list[str | None]:
        """Put every entry on the bus. One answer per entry, in order: None when it is on the
        bus, else why not (after the retries, or at once when it can never be sent)."""
        outcome: list[str | None] = [e.problem() for e in entries]
        pending = [i for i, problem in enumerate(outcome) if problem is None]
        for attempt in range(self._attempts):
            if not pending:
                break
            if attempt:  # full jitter: 0..0.1, 0..0.2, 0..0.4 s
                self._sleep(self._uniform() * min(2.0, 0.1 * 2 ** (attempt - 1)))
            again: list[int] = []
            for batch in _batches(pending, entries):
                again += self._put(batch, entries, outcome)
            pending = again
        return outcome

    def _put(
        self, batch: list[int], entries: Sequence[Entry], outcome: list[str | None]
    ) -> list[int]:
        """One PutEvents call; the indexes to send again (their outcome says why, meanwhile)."""
        try:
            answer = self._client.put_events(Entries=[entries[i].request(self.bus) for i in batch])
        except clients.FAILURES as exc:  # botocore retried the call already
            cause = f"PutEvents failed: {clients.describe(exc)}"
            for i in batch:
                outcome[i] = cause
            return batch
        again = []
        results = answer.get("Entries", [])
        for position, i in enumerate(batch):
            result: Mapping[str, Any] = results[position] if position < len(results) else {}
            if result.get("EventId"):
                outcome[i] = None
                continue
            code = str(result.get("ErrorCode", "Unknown"))
            outcome[i] = f"{code}: {result.get('ErrorMessage', 'no answer for this entry')}"
            if code in RETRYABLE or not result:
                again.append(i)
        return again


def _batches(indexes: Sequence[int], entries: Sequence[Entry]) -> list[list[int]]:
    """At most MAX_ENTRIES entries and MAX_BYTES (the request's limit too) per call."""
    out: list[list[int]] = []
    size = 0
    for i in indexes:
        length = entries[i].size()
        if not out or len(out[-1]) == MAX_ENTRIES or size + length > MAX_BYTES:
            out.append([])
            size = 0
        out[-1].append(i)
        size += length
    return out
