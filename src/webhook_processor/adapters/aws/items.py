"""The items of the events table (docs/aws.md "Items"): their keys and codecs.

Pure (no boto3): the adapters build and read items with these functions, so an item's shape is
written down in one place. Items are DynamoDB JSON (`{"S": ...}`, `{"N": ...}`, `{"B": ...}`).

The table has no index: every write of a webhook is one item write of about a kilobyte, which is
what a webhook costs (docs/aws.md, "What a webhook costs"). An event is two items:

    state    pk <day>#<shard>, sk <13-digit received ms>#<event id>
             what an operator lists, newest first, and everything that changes: the status, the
             routing round and its targets, and every delivery of the event (a map, so the
             router's record and each delivery's are one write each)
    payload  the headers and body, compressed, written once at ingest: for an event with an
             idempotency key pk key#<source>#<key>, sk key (its conditional write is the dedupe);
             for one without, pk ev#<event id>, sk body

An event id (`evt_` + 12 hex digits of Unix ms + 20 random ones) gives its state item's key, and
the state item its payload's. Attempts after a delivery's first are items of their own (pk
ev#<event id>, sk attempt#...): a retry writes one more item, a first attempt none. A dead
delivery is also an item under dead#<destination> (the dead-letter listing). Days are UTC dates;
the shard is crc32(event id) % SHARDS: a partition takes about 1,000 writes a second and a
time-ordered sort key writes at its end, so each day is SHARDS partitions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from webhook_processor import errors, models

Item = dict[str, Any]  # one item in DynamoDB JSON

SHARDS = 4  # part of the item shapes: changing it needs the items rewritten
DAY_MS = 86_400_000
INLINE_MAX = 380 * 1024  # compressed headers + body kept in the payload item; more goes to S3
KEY_MAX = 1024  # bytes of an idempotency key used as it is in a key; longer ones are hashed
BODY_PREFIX = "bodies/"
ROUND_DIGITS = 6
PAYLOAD_SK = "key"  # of a keyed event's payload item (its pk is the key)
BODY_SK = "body"  # of an unkeyed event's payload item
DESTINATIONS_PK = "destinations"
_ID = re.compile(r"^evt_([0-9a-f]{12})[0-9a-f]{20}$")


def s(value: str) -> dict[str, str]:
    return {"S": value}


def n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def text(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return None if value is None else str(value["S"])


def number(item: Mapping[str, Any], name: str) -> int | None:
    value = item.get(name)
    return None if value is None else int(value["N"])


def required_text(item: Mapping[str, Any], name: str) -> str:
    value = text(item, name)
    if value is None:
        raise errors.StoreUnavailable(f"a stored item lacks '{name}': {item.get('pk')}")
    return value


def required_number(item: Mapping[str, Any], name: str) -> int:
    value = number(item, name)
    if value is None:
        raise errors.StoreUnavailable(f"a stored item lacks '{name}': {item.get('pk')}")
    return value


# -- keys ----------------------------------------------------------------------------------------


def day(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms // 1000))


def shard(event_id: str) -> int:
    return zlib.crc32(event_id.encode()) % SHARDS


def order(ms: int, ident: str) -> str:
    """A sort key: time first, then an id that makes it unique."""
    return f"{ms:013d}#{ident}"


def order_bound(ms: int) -> str:
    """Sorts before every `order(ms, ...)` and after every `order(ms - 1, ...)`."""
    return f"{ms:013d}#"


def received_ms_of(event_id: str) -> int | None:
    """The receipt time an event id carries (models.new_event_id); None for an id whp did not
    make, which names no event."""
    match = _ID.match(event_id)
    return None if match is None else int(match[1], 16)


def partition(day_: str, shard_: int) -> str:
    """A state partition: the events of one UTC day and shard."""
    return f"{day_}#{shard_}"


def state_key(event_id: str) -> Item | None:
    """The key of an event's state item; None for an id whp did not make."""
    ms = received_ms_of(event_id)
    if ms is None:
        return None
    return {"pk": s(partition(day(ms), shard(event_id))), "sk": s(order(ms, event_id))}


def key_text(key: str) -> str:
    if len(key.encode()) <= KEY_MAX:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def dedupe_key(source: str, key: str) -> Item:
    """The key of a keyed event's payload item: (source, idempotency key)."""
    return {"pk": s(f"key#{source}#{key_text(key)}"), "sk": s(PAYLOAD_SK)}


def payload_key(event_id: str, source: str, key: str | None) -> Item:
    if key is not None:
        return dedupe_key(source, key)
    return {"pk": s(event_pk(event_id)), "sk": s(BODY_SK)}


def event_pk(event_id: str) -> str:
    """The partition of an event's own items other than its state: an unkeyed event's payload,
    the attempts after each delivery's first."""
    return f"ev#{event_id}"


def entry_name(round_: int, route: str) -> str:
    """A delivery's key in its event's `deliveries` map."""
    return f"{round_:0{ROUND_DIGITS}d}#{route}"


def delivery_id(event_id: str, round_: int, route: str) -> str:
    """The id operators see: the event, the routing round, the route."""
    return f"{event_id}:{round_}:{route}"


@dataclass(frozen=True, slots=True)
class DeliveryKey:
    event_id: str
    round: int
    route: str

    @property
    def id(self) -> str:
        return delivery_id(self.event_id, self.round, self.route)

    @property
    def entry(self) -> str:
        return entry_name(self.round, self.route)


_DELIVERY_ID = re.compile(r"^([^:]+):(\d{1,6}):([A-Za-z0-9][A-Za-z0-9_-]{0,63})$")


def parse_delivery_id(value: str) -> DeliveryKey:
    match = _DELIVERY_ID.match(value)
    if match is None or received_ms_of(match[1]) is None:
        raise errors.UsageError(
            f"{value!r} is not a delivery id of the AWS store (<event id>:<round>:<route>)"
        )
    return DeliveryKey(match[1], int(match[2]), match[3])


def dead_pk(destination: str) -> str:
    return f"dead#{destination}"


# -- events --------------------------------------------------------------------------------------


def expires_at(received_ms: int, retention_days: int) -> int:
    return received_ms // 1000 + retention_days * 86_400


def meta(event: models.Event, expires: int) -> Item:
    """What both items of an event say of it (the payload's copy rebuilds a lost state item)."""
    item: Item = {
        "id": s(event.id),
        "source": s(event.source),
        "event_type": s(event.event_type),
        "received_ms": n(event.received_ms),
        "expires_at": n(expires),
    }
    if event.idempotency_key is not None:
        item["idempotency_key"] = s(event.idempotency_key)
    if event.content_type is not None:
        item["content_type"] = s(event.content_type)
    return item


def state_item(fields: Mapping[str, Any]) -> Item:
    """The state of a new event (pending, round 0, no delivery) from its `meta`."""
    event_id = required_text(fields, "id")
    key = state_key(event_id)
    if key is None:
        raise errors.StoreUnavailable(f"{event_id!r} is not an event id of whp")
    copied = ("id", "source", "event_type", "received_ms", "expires_at")
    item: Item = {
        name: fields[name]
        for name in (*copied, "idempotency_key", "content_type")
        if name in fields
    }
    item.update(key)
    item.update(
        {
            "kind": s("state"),
            "status": s("pending"),
            "round": n(0),
            "dead": n(0),
            "deliveries": {"M": {}},
        }
    )
    return item


def payload_item(event: models.Event, expires: int, data: bytes, ref: str | None) -> Item:
    """Headers and body, compressed (`data`: `packed`); `ref` is the S3 key when the body went
    to the bucket (then `data` holds the headers only)."""
    item: Item = {
        **payload_key(event.id, event.source, event.idempotency_key),
        "kind": s("payload"),
        **meta(event, expires),
        "data": {"B": data},
        "body_bytes": n(len(event.body)),
    }
    if ref is not None:
        item["body_ref"] = s(ref)
    return item


def packed(event: models.Event, body: bool = True) -> bytes:
    """zlib of the headers' JSON, a newline and (unless not `body`) the body. JSON escapes
    every control character, so the headers' text has no newline of its own. More than
    INLINE_MAX of it does not fit in the payload item: the body goes to the bucket."""
    raw = json.dumps(event.headers, separators=(",", ":")).encode() + b"\n"
    return zlib.compress(raw + event.body if body else raw)


def body_ref(event_id: str) -> str:
    return BODY_PREFIX + event_id


def unpacked(payload: Mapping[str, Any]) -> tuple[dict[str, str], bytes]:
    raw = zlib.decompress(bytes(payload["data"]["B"]))
    headers, _, body = raw.partition(b"\n")
    return json.loads(headers), body


def event_from_item(
    item: Mapping[str, Any], payload: Mapping[str, Any] | None = None
) -> models.Event:
    """An event from its state item (or its payload item alone: status pending), with the
    headers and body of `payload` when given (a body in the bucket is read by the caller)."""
    headers: dict[str, str] = {}
    raw = b""
    if payload is not None:
        headers, raw = unpacked(payload)
    return models.Event(
        id=required_text(item, "id"),
        source=required_text(item, "source"),
        event_type=required_text(item, "event_type"),
        idempotency_key=text(item, "idempotency_key"),
        received_ms=required_number(item, "received_ms"),
        content_type=text(item, "content_type"),
        headers=headers,
        body=raw,
        status=(text(item, "status") or "pending"),  # type: ignore[arg-type]
    )


def targets_of(item: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The current round's (route, destination) pairs, once the router has recorded them."""
    found = text(item, "targets")
    return () if found is None else tuple((str(r), str(d)) for r, d in json.loads(found))


# -- deliveries and attempts ---------------------------------------------------------------------


def entries(item: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The deliveries map of a state item: entry name -> the delivery's attributes."""
    return dict(item.get("deliveries", {}).get("M", {}))


def attempt_value(attempt: models.Attempt, ok: bool, generation: int) -> Item:
    """An attempt as a map (inline in its delivery's entry) or an item's attributes."""
    value: Item = {
        "attempt": n(attempt.attempt),
        "started_ms": n(attempt.started_ms),
        "duration_ms": n(attempt.duration_ms),
        "ok": {"BOOL": ok},
        "generation": n(generation),
    }
    if attempt.status_code is not None:
        value["status_code"] = n(attempt.status_code)
    if attempt.error is not None:
        value["error"] = s(attempt.error)
    if attempt.excerpt is not None:
        value["excerpt"] = s(attempt.excerpt)
    return value


def attempt_item(
    key: DeliveryKey, generation: int, attempt: models.Attempt, ok: bool, expires: int
) -> Item:
    """An attempt after a delivery's first; its key is unique even where clocks tie: the
    generation (a redrive starts the numbers again) and the number follow the start time."""
    sk = f"attempt#{key.entry}#{attempt.started_ms:013d}#{generation:04d}#{attempt.attempt:04d}"
    return {
        "pk": s(event_pk(key.event_id)),
        "sk": s(sk),
        "kind": s("attempt"),
        "delivery_id": s(key.id),
        "expires_at": n(expires),
        **attempt_value(attempt, ok, generation),
    }


def attempt_from_item(item: Mapping[str, Any]) -> models.Attempt:
    return models.Attempt(
        attempt=required_number(item, "attempt"),
        started_ms=required_number(item, "started_ms"),
        duration_ms=required_number(item, "duration_ms"),
        status_code=number(item, "status_code"),
        error=text(item, "error"),
        excerpt=text(item, "excerpt"),
    )


def delivery_from_entry(
    key: DeliveryKey, entry: Mapping[str, Any], history: tuple[models.Attempt, ...] = ()
) -> models.Delivery:
    status = required_text(entry, "status")
    return models.Delivery(
        id=key.id,
        event_id=key.event_id,
        route=key.route,
        destination=required_text(entry, "destination"),
        webhook_id=required_text(entry, "webhook_id"),
        status=status,  # type: ignore[arg-type]
        attempts=required_number(entry, "attempts"),
        next_attempt_ms=number(entry, "next_attempt_ms") if status == "pending" else None,
        created_ms=required_number(entry, "created_ms"),
        updated_ms=required_number(entry, "updated_ms"),
        history=history,
    )


def dead_letter_item(
    key: DeliveryKey, entry: Mapping[str, Any], dead_ms: int, expires: int
) -> Item:
    """A dead delivery under its destination, newest first (the dead-letter listing)."""
    item: Item = {
        "pk": s(dead_pk(required_text(entry, "destination"))),
        "sk": s(order(dead_ms, key.id)),
        "kind": s("dead"),
        "id": s(key.id),
        "event_id": s(key.event_id),
        "route": s(key.route),
        "dead_ms": n(dead_ms),
        "expires_at": n(expires),
    }
    for name in ("destination", "webhook_id", "attempts", "last_status_code", "last_error"):
        if name in entry:
            item[name] = entry[name]
    return item


def dead_letter_from_item(item: Mapping[str, Any]) -> models.DeadLetter:
    return models.DeadLetter(
        delivery_id=required_text(item, "id"),
        event_id=required_text(item, "event_id"),
        route=required_text(item, "route"),
        destination=required_text(item, "destination"),
        webhook_id=required_text(item, "webhook_id"),
        attempts=required_number(item, "attempts"),
        last_status_code=number(item, "last_status_code"),
        last_error=text(item, "last_error"),
        dead_ms=required_number(item, "dead_ms"),
    )


# -- cursors -------------------------------------------------------------------------------------


def encode_cursor(listing: str, last: Mapping[str, Any]) -> str:
    """An opaque cursor: the listing and the sort key of the page's last item (urlsafe base64
    of JSON): every partition of a listing is read below it."""
    raw = json.dumps({"i": listing, "k": text(last, "sk")}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_ORDER = re.compile(r"^\d{13}#")


def decode_cursor(cursor: str, listing: str) -> str:
    """The sort key the next page starts below (excluded); UsageError for a cursor that this
    listing did not make."""
    bad = errors.UsageError(f"cursor {cursor[:40]!r} was not made by this listing")
    try:
        doc = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise bad from None
    if not isinstance(doc, dict) or doc.get("i") != listing:
        raise bad
    bound = doc.get("k")
    if not isinstance(bound, str) or not _ORDER.match(bound):
        raise bad
    return bound
