"""The items of the events table (docs/aws.md "Items"): their keys, index attributes and codecs.

Pure (no boto3): the adapters build and read items with these functions, so an item's shape is
written down in one place. Items are DynamoDB JSON (`{"S": ...}`, `{"N": ...}`, `{"B": ...}`).

One event is one item collection, `pk = ev#<event id>`:

    sk event                                    metadata: in the indexes; small
    sk event#body                               headers and body (or the S3 pointer): no index
    sk route#<round>                            the routing of one round (first, then replays)
    sk delivery#<round>#<route>                 one delivery per matching route
    sk delivery#<round>#<route>#attempt#<t>#<g>#<n>   every attempt of it, by start time

plus `pk = key#<source>#<idempotency key>` (dedupe) and `pk = destinations`
(one item per destination: its runtime pause).

The indexes project every attribute, so the body lives apart from the event's metadata: only the
few hundred bytes of metadata are copied to the indexes, not up to 400 KB per index.

Time-ordered index partitions are split by UTC day and by SHARDS shards (a hash of the event id):
a partition key takes about 1,000 writes a second, and a time-ordered sort key always writes at
its end, so DynamoDB cannot split a busy partition for us. Listings merge the shards of a day,
newest first, day after day. Sort keys are `<13-digit Unix ms>#<id>`: unique and time-ordered.
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

SHARDS = 4  # part of the item shapes: changing it needs the indexes rewritten
DAY_MS = 86_400_000
INLINE_MAX = 380 * 1024  # body + headers kept in the body item; more goes to S3 (items: 400 KB)
KEY_MAX = 1024  # bytes of an idempotency key used as it is in a key; longer ones are hashed
BODY_PREFIX = "bodies/"
ROUND_DIGITS = 6

# The indexes of docs/aws.md: name -> (partition attribute, sort attribute)
INDEXES: dict[str, tuple[str, str]] = {
    "by_source": ("gsi1pk", "gsi1sk"),
    "by_status": ("gsi2pk", "gsi2sk"),
    "by_key": ("gsi3pk", "gsi3sk"),
    "by_time": ("gsi4pk", "gsi4sk"),
    "by_dead": ("gsi5pk", "gsi5sk"),
}
EVENT_SK = "event"
BODY_SK = "event#body"
KEY_SK = "key"
DESTINATIONS_PK = "destinations"


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


def event_pk(event_id: str) -> str:
    return f"ev#{event_id}"


def event_key(event_id: str) -> Item:
    """The key of an event's metadata item."""
    return {"pk": s(event_pk(event_id)), "sk": s(EVENT_SK)}


def key_text(key: str) -> str:
    if len(key.encode()) <= KEY_MAX:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def key_pk(source: str, key: str) -> str:
    return f"key#{source}#{key_text(key)}"


def dedupe_key(source: str, key: str) -> Item:
    """The key of the item that holds (source, idempotency key)."""
    return {"pk": s(key_pk(source, key)), "sk": s(KEY_SK)}


def routing_sk(round_: int) -> str:
    return f"route#{round_:0{ROUND_DIGITS}d}"


def delivery_sk(round_: int, route: str) -> str:
    return f"delivery#{round_:0{ROUND_DIGITS}d}#{route}"


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
    def key(self) -> Item:
        return {"pk": s(event_pk(self.event_id)), "sk": s(delivery_sk(self.round, self.route))}


_DELIVERY_ID = re.compile(r"^([^:]+):(\d{1,6}):([A-Za-z0-9][A-Za-z0-9_-]{0,63})$")


def parse_delivery_id(value: str) -> DeliveryKey:
    match = _DELIVERY_ID.match(value)
    if match is None:
        raise errors.UsageError(
            f"{value!r} is not a delivery id of the AWS store (<event id>:<round>:<route>)"
        )
    return DeliveryKey(match[1], int(match[2]), match[3])


# -- partitions of the indexes -------------------------------------------------------------------


def source_partition(source: str, day_: str, shard_: int) -> str:
    return f"{source}#{day_}#{shard_}"


def event_status_partition(status: str, day_: str, shard_: int) -> str:
    return f"event#{status}#{day_}#{shard_}"


def delivery_status_partition(status: str, day_: str, shard_: int) -> str:
    return f"delivery#{status}#{day_}#{shard_}"


def event_time_partition(day_: str, shard_: int) -> str:
    return f"event#{day_}#{shard_}"


def attempt_time_partition(day_: str, shard_: int) -> str:
    return f"attempt#{day_}#{shard_}"


def dead_event_partition(day_: str) -> str:
    return f"event#{day_}"


def dead_delivery_partition(destination: str) -> str:
    return f"delivery#{destination}"


# -- events --------------------------------------------------------------------------------------


def expires_at(received_ms: int, retention_days: int) -> int:
    return received_ms // 1000 + retention_days * 86_400


def event_item(event: models.Event, expires: int) -> Item:
    """The metadata item of a new event (status pending, round 0)."""
    o = order(event.received_ms, event.id)
    d, sh = day(event.received_ms), shard(event.id)
    item: Item = {
        "pk": s(event_pk(event.id)),
        "sk": s(EVENT_SK),
        "kind": s("event"),
        "id": s(event.id),
        "source": s(event.source),
        "event_type": s(event.event_type),
        "received_ms": n(event.received_ms),
        "status": s(event.status),
        "round": n(0),
        "dead": n(0),
        "expires_at": n(expires),
        "gsi1pk": s(source_partition(event.source, d, sh)),
        "gsi1sk": s(o),
        "gsi2pk": s(event_status_partition(event.status, d, sh)),
        "gsi2sk": s(o),
        "gsi4pk": s(event_time_partition(d, sh)),
        "gsi4sk": s(o),
    }
    if event.idempotency_key is not None:
        item["idempotency_key"] = s(event.idempotency_key)
        item["gsi3pk"] = s(key_text(event.idempotency_key))
        item["gsi3sk"] = s(o)
    if event.content_type is not None:
        item["content_type"] = s(event.content_type)
    return item


def body_item(event: models.Event, expires: int, ref: str | None) -> Item:
    """Headers and body; `ref` is the S3 key when the body went to the bucket."""
    item: Item = {
        "pk": s(event_pk(event.id)),
        "sk": s(BODY_SK),
        "kind": s("body"),
        "headers": s(json.dumps(event.headers, separators=(",", ":"))),
        "body_bytes": n(len(event.body)),
        "expires_at": n(expires),
    }
    if ref is None:
        item["body"] = {"B": event.body}
    else:
        item["body_ref"] = s(ref)
    return item


def inline(event: models.Event) -> bool:
    """Whether the body fits in its item beside the headers."""
    headers = sum(len(k) + len(v) for k, v in event.headers.items()) * 2  # JSON, escapes
    return len(event.body) + headers <= INLINE_MAX


def body_ref(event_id: str) -> str:
    return BODY_PREFIX + event_id


def event_from_item(item: Mapping[str, Any], body: Mapping[str, Any] | None = None) -> models.Event:
    headers: dict[str, str] = {}
    raw = b""
    if body is not None:
        headers = json.loads(required_text(body, "headers"))
        if "body" in body:
            raw = bytes(body["body"]["B"])
    return models.Event(
        id=required_text(item, "id"),
        source=required_text(item, "source"),
        event_type=required_text(item, "event_type"),
        idempotency_key=text(item, "idempotency_key"),
        received_ms=required_number(item, "received_ms"),
        content_type=text(item, "content_type"),
        headers=headers,
        body=raw,
        status=required_text(item, "status"),  # type: ignore[arg-type]
    )


def key_item(event: models.Event, key: str, expires: int) -> Item:
    """Dedupe: the first event of (source, key)."""
    return {
        "pk": s(key_pk(event.source, key)),
        "sk": s(KEY_SK),
        "kind": s("key"),
        "event_id": s(event.id),
        "expires_at": n(expires),
    }


# -- deliveries and attempts ---------------------------------------------------------------------


def delivery_item(
    key: DeliveryKey,
    destination: str,
    webhook_id: str,
    received_ms: int,
    now_ms: int,
    expires: int,
) -> Item:
    return {
        **key.key,
        "kind": s("delivery"),
        "id": s(key.id),
        "event_id": s(key.event_id),
        "round": n(key.round),
        "route": s(key.route),
        "destination": s(destination),
        "webhook_id": s(webhook_id),
        "status": s("pending"),
        "attempts": n(0),
        "generation": n(0),
        "received_ms": n(received_ms),
        "next_attempt_ms": n(now_ms),
        "created_ms": n(now_ms),
        "updated_ms": n(now_ms),
        "expires_at": n(expires),
        "gsi2pk": s(delivery_partition("pending", key.event_id, received_ms)),
        "gsi2sk": s(order(now_ms, key.id)),
    }


def delivery_partition(status: str, event_id: str, received_ms: int) -> str:
    return delivery_status_partition(status, day(received_ms), shard(event_id))


def attempt_item(
    key: DeliveryKey, generation: int, attempt: models.Attempt, ok: bool, expires: int
) -> Item:
    """One attempt; its key is unique even where clocks tie: the generation (a redrive starts
    the numbers again) and the number follow the start time."""
    sk = f"{delivery_sk(key.round, key.route)}#attempt#{attempt.started_ms:013d}"
    sk += f"#{generation:04d}#{attempt.attempt:04d}"
    item: Item = {
        "pk": s(event_pk(key.event_id)),
        "sk": s(sk),
        "kind": s("attempt"),
        "delivery_id": s(key.id),
        "attempt": n(attempt.attempt),
        "started_ms": n(attempt.started_ms),
        "duration_ms": n(attempt.duration_ms),
        "ok": {"BOOL": ok},
        "expires_at": n(expires),
        "gsi4pk": s(attempt_time_partition(day(attempt.started_ms), shard(key.event_id))),
        "gsi4sk": s(order(attempt.started_ms, f"{key.id}#{generation}#{attempt.attempt}")),
    }
    if attempt.status_code is not None:
        item["status_code"] = n(attempt.status_code)
    if attempt.error is not None:
        item["error"] = s(attempt.error)
    if attempt.excerpt is not None:
        item["excerpt"] = s(attempt.excerpt)
    return item


def attempt_from_item(item: Mapping[str, Any]) -> models.Attempt:
    return models.Attempt(
        attempt=required_number(item, "attempt"),
        started_ms=required_number(item, "started_ms"),
        duration_ms=required_number(item, "duration_ms"),
        status_code=number(item, "status_code"),
        error=text(item, "error"),
        excerpt=text(item, "excerpt"),
    )


def delivery_from_item(
    item: Mapping[str, Any], history: tuple[models.Attempt, ...] = ()
) -> models.Delivery:
    status = required_text(item, "status")
    return models.Delivery(
        id=required_text(item, "id"),
        event_id=required_text(item, "event_id"),
        route=required_text(item, "route"),
        destination=required_text(item, "destination"),
        webhook_id=required_text(item, "webhook_id"),
        status=status,  # type: ignore[arg-type]
        attempts=required_number(item, "attempts"),
        next_attempt_ms=number(item, "next_attempt_ms") if status == "pending" else None,
        created_ms=required_number(item, "created_ms"),
        updated_ms=required_number(item, "updated_ms"),
        history=history,
    )


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


def encode_cursor(index: str, last: Mapping[str, Any]) -> str:
    """An opaque cursor: the index and the LastEvaluatedKey of the page's last item (its table
    and index keys), as urlsafe base64 of JSON."""
    pk, sk = INDEXES[index]
    key = {name: text(last, name) for name in ("pk", "sk", pk, sk)}
    raw = json.dumps({"i": index, "k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_ORDER = re.compile(r"^\d{13}#")


def decode_cursor(cursor: str, index: str) -> str:
    """The sort key the next page starts below (excluded); UsageError for a cursor that this
    listing did not make."""
    bad = errors.UsageError(f"cursor {cursor[:40]!r} was not made by this listing")
    try:
        doc = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise bad from None
    if not isinstance(doc, dict) or doc.get("i") != index or not isinstance(doc.get("k"), dict):
        raise bad
    bound = doc["k"].get(INDEXES[index][1])
    if not isinstance(bound, str) or not _ORDER.match(bound):
        raise bad
    return bound
