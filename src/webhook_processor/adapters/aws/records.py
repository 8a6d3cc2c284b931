"""What the router and delivery functions record in the table, each step idempotent, because SQS
delivers every message at least once.

Routing, per event and round (0 first, one more per replay):

    load(event) -> match the routes -> route(): one transaction [event pending -> routed or
    unrouted | routing record | one delivery per route] -> PutEvents -> published()

A redelivered message finds the routing record and returns it: no delivery is created twice,
and the router publishes it again only if it was not marked `published` (an EventBridge failure
between the two; a delivery published twice is attempted once more at worst, see below).

Delivery, per message of a destination queue:

    delivery() -> skip when delivered, or when the message is older than a redrive of it
    (its `generation` is lower) -> revive() when the message is newer or the delivery is
    dead (a redriven message) -> attempt -> record(): the attempt, and the delivery follows it

A delivery follows an attempt only while pending, and only to a higher attempt number unless the
attempt delivered it: a late outcome cannot move it back from `delivered` or from a newer
attempt. The attempt is kept whatever happens (it happened). On AWS the attempt number is the
SQS receive count, so a crashed invocation leaves a gap in the numbers, not a stuck delivery.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from webhook_processor import errors, models
from webhook_processor.adapters.aws import clients, items
from webhook_processor.adapters.aws.dynamodb import Table, cancellation_codes, unavailable

MAX_ROUTES = 98  # deliveries per event: one transaction holds 100 items, 2 are the event's


@dataclass(frozen=True, slots=True)
class Loaded:
    """An event as the router and delivery functions need it."""

    event: models.Event
    round: int
    webhook_id: str  # of its deliveries: the event id, or a replay's fresh one
    expires_at: int


@dataclass(frozen=True, slots=True)
class Routing:
    """One round's routing: (route, destination) per delivery."""

    event_id: str
    round: int
    targets: tuple[tuple[str, str], ...]
    published: bool
    created: bool  # recorded by this call (False: by an earlier delivery of the message)


@dataclass(frozen=True, slots=True)
class Tracked:
    """A delivery with what its function needs beyond models.Delivery."""

    delivery: models.Delivery
    key: items.DeliveryKey
    generation: int
    received_ms: int
    expires_at: int


class Records:
    def __init__(self, table: Table) -> None:
        self._table = table

    # -- routing -------------------------------------------------------------------------------

    def load(self, event_id: str, body: bool = True) -> Loaded | None:
        """None when the event does not exist: one never acknowledged (deleted after a failed
        hand-off) or expired; its message has nothing to do."""
        found = self._table.load_event(event_id, body)
        if found is None:
            return None
        meta, event = found
        webhook_id = items.text(meta, "webhook_id") or event.id
        return Loaded(
            event,
            items.required_number(meta, "round"),
            webhook_id,
            items.required_number(meta, "expires_at"),
        )

    def start(self, message: str, body: bool = True) -> Loaded | None:
        """The event a message of the ingest queue is for, at the round the message asks for
        (a replay's message first advances it); None when there is nothing to route: the event
        is gone (see `load`)."""
        try:
            doc = json.loads(message)
            event_id = doc["event_id"]
            round_ = doc.get("round")
            webhook_id = doc.get("webhook_id")
            if not isinstance(event_id, str) or not (round_ is None or isinstance(round_, int)):
                raise TypeError
        except (ValueError, TypeError, KeyError, AttributeError):
            raise errors.WhpError(
                f'not a message of the ingest queue (want {{"event_id": ...}}): {message[:200]!r}'
            ) from None
        loaded = self.load(event_id, body)
        if loaded is not None and round_ is not None and round_ > loaded.round:
            self.advance(event_id, round_, webhook_id)
            loaded = self.load(event_id, body)
        return loaded

    def advance(self, event_id: str, round_: int, webhook_id: str | None) -> bool:
        """A replay's message: start routing round `round_` (the event pending again, its new
        deliveries with `webhook_id` or the event id). False if the event is at that round or
        past it already, or does not exist."""
        names = {"#status": "status", "#round": "round"}
        values: items.Item = {":pending": items.s("pending"), ":r": items.n(round_)}
        update = "SET #status = :pending, #round = :r, gsi2pk = :p"
        if webhook_id is not None:
            update += ", webhook_id = :w"
            values[":w"] = items.s(webhook_id)
        else:
            update += " REMOVE webhook_id"
        loaded = self._table.get(items.event_key(event_id))
        if loaded is None:
            return False
        received = items.required_number(loaded, "received_ms")
        values[":p"] = items.s(
            items.event_status_partition("pending", items.day(received), items.shard(event_id))
        )
        try:
            self._table.dynamodb.update_item(
                TableName=self._table.name,
                Key=items.event_key(event_id),
                UpdateExpression=update,
                ConditionExpression="attribute_exists(pk) AND #round < :r",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except clients.FAILURES as exc:
            if clients.error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise errors.StoreUnavailable(
                f"replaying {event_id}: {clients.describe(exc)}"
            ) from None
        return True

    def route(
        self, loaded: Loaded, targets: Sequence[tuple[str, str]], now_ms: int
    ) -> Routing | None:
        """Record the routing of `loaded`'s round, or return the one recorded before. None
        when the event has moved to a later round meanwhile (its own message routes it)."""
        if len(targets) > MAX_ROUTES:
            raise errors.WhpError(
                f"event {loaded.event.id} matches {len(targets)} routes; the AWS runtime "
                f"delivers one event to at most {MAX_ROUTES} routes (a DynamoDB transaction)"
            )
        event = loaded.event
        expires = loaded.expires_at
        status = "routed" if targets else "unrouted"
        partition = items.event_status_partition(
            status, items.day(event.received_ms), items.shard(event.id)
        )
        record: items.Item = {
            "pk": items.s(items.event_pk(event.id)),
            "sk": items.s(items.routing_sk(loaded.round)),
            "kind": items.s("routing"),
            "targets": items.s(json.dumps([list(t) for t in targets])),
            "published": {"BOOL": False},
            "created_ms": items.n(now_ms),
            "expires_at": items.n(expires),
        }
        writes: list[Any] = [
            {
                "Update": {
                    "TableName": self._table.name,
                    "Key": items.event_key(event.id),
                    "UpdateExpression": "SET #status = :status, gsi2pk = :p",
                    "ConditionExpression": "#status = :pending AND #round = :r",
                    "ExpressionAttributeNames": {"#status": "status", "#round": "round"},
                    "ExpressionAttributeValues": {
                        ":status": items.s(status),
                        ":p": items.s(partition),
                        ":pending": items.s("pending"),
                        ":r": items.n(loaded.round),
                    },
                }
            },
            {"Put": {"TableName": self._table.name, "Item": record}},
        ]
        for route, destination in targets:
            key = items.DeliveryKey(event.id, loaded.round, route)
            item = items.delivery_item(
                key, destination, loaded.webhook_id, event.received_ms, now_ms, expires
            )
            writes.append({"Put": {"TableName": self._table.name, "Item": item}})
        try:
            self._table.dynamodb.transact_write_items(TransactItems=writes)
        except clients.FAILURES as exc:
            if cancellation_codes(exc)[:1] != ["ConditionalCheckFailed"]:
                raise errors.StoreUnavailable(
                    f"routing {event.id}: {clients.describe(exc)}"
                ) from None
            return self.routing(event.id, loaded.round)
        return Routing(event.id, loaded.round, tuple(targets), published=False, created=True)

    def routing(self, event_id: str, round_: int) -> Routing | None:
        found = self._table.get(
            {"pk": items.s(items.event_pk(event_id)), "sk": items.s(items.routing_sk(round_))},
            consistent=True,
        )
        if found is None:
            return None
        targets = tuple(
            (str(r), str(d)) for r, d in json.loads(items.required_text(found, "targets"))
        )
        return Routing(event_id, round_, targets, bool(found["published"]["BOOL"]), created=False)

    def published(self, routing: Routing) -> None:
        with unavailable(f"marking {routing.event_id} published"):
            self._table.dynamodb.update_item(
                TableName=self._table.name,
                Key={
                    "pk": items.s(items.event_pk(routing.event_id)),
                    "sk": items.s(items.routing_sk(routing.round)),
                },
                UpdateExpression="SET published = :yes",
                ExpressionAttributeValues={":yes": {"BOOL": True}},
            )

    # -- delivering ----------------------------------------------------------------------------

    def delivery(self, event_id: str, round_: int, route: str) -> Tracked | None:
        key = items.DeliveryKey(event_id, round_, route)
        found = self._table.get(key.key, consistent=True)
        return None if found is None else _tracked(found)

    def begin(self, loaded: Loaded, route: str, generation: int, now_ms: int) -> Tracked | None:
        """What a destination queue's message for `route` (of `generation`, 0 unless a redrive
        sent it) should attempt: the pending delivery of the event's current round, revived
        first if it was dead or the message is newer; None when there is nothing to attempt
        (delivered already, a stale message, no such delivery): acknowledge the message."""
        tracked = self.delivery(loaded.event.id, loaded.round, route)
        if tracked is None or generation < tracked.generation:
            return None
        status = tracked.delivery.status
        if status == "dead" or generation > tracked.generation:
            self.revive(tracked, generation, now_ms)  # False: another message revived it
            tracked = self.delivery(loaded.event.id, loaded.round, route)
        elif status == "delivered":
            return None
        if tracked is None or tracked.delivery.status != "pending":
            return None
        return tracked

    def revive(self, tracked: Tracked, generation: int, now_ms: int) -> bool:
        """A redriven message reached a dead delivery (or one of an older generation): the
        delivery is pending again, attempts from 1, at `generation`. False if it changed
        meanwhile (another message got there first)."""
        d = tracked.delivery
        key = tracked.key
        values: items.Item = {
            ":pending": items.s("pending"),
            ":zero": items.n(0),
            ":g": items.n(generation),
            ":old": items.n(tracked.generation),
            ":was": items.s(d.status),
            ":now": items.n(now_ms),
            ":p": items.s(items.delivery_partition("pending", key.event_id, tracked.received_ms)),
        }
        update = {
            "TableName": self._table.name,
            "Key": key.key,
            "UpdateExpression": "SET #status = :pending, attempts = :zero, generation = :g, "
            "next_attempt_ms = :now, updated_ms = :now, gsi2pk = :p "
            "REMOVE gsi5pk, gsi5sk, dead_ms",
            "ConditionExpression": "#status = :was AND generation = :old",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": values,
        }
        writes: list[Any] = [{"Update": update}]
        if d.status == "dead":
            writes.append(_dead_count(self._table.name, key.event_id, -1))
        try:
            self._table.dynamodb.transact_write_items(TransactItems=writes)
        except clients.FAILURES as exc:
            if "ConditionalCheckFailed" in cancellation_codes(exc):
                return False
            raise errors.StoreUnavailable(f"reviving {d.id}: {clients.describe(exc)}") from None
        if d.status == "dead":
            self._clear_dead_mark(key.event_id)
        return True

    def record(
        self,
        tracked: Tracked,
        attempt: models.Attempt,
        outcome: models.Outcome,
        now_ms: int,
        next_attempt_ms: int | None = None,
    ) -> bool:
        """Keep the attempt and move the delivery to its outcome; False when the delivery did
        not follow (see the module docstring). The attempt is written first, on its own: a
        crash before the delivery follows leaves the message to be received again."""
        key = tracked.key
        ok = outcome == "delivered"
        with unavailable(f"recording an attempt of {key.id}"):
            self._table.dynamodb.put_item(
                TableName=self._table.name,
                Item=items.attempt_item(key, tracked.generation, attempt, ok, tracked.expires_at),
            )
        status = "pending" if outcome == "retry" else outcome
        values: items.Item = {
            ":status": items.s(status),
            ":pending": items.s("pending"),
            ":n": items.n(attempt.attempt),
            ":now": items.n(now_ms),
            ":p": items.s(items.delivery_partition(status, key.event_id, tracked.received_ms)),
        }
        sets = ["#status = :status", "attempts = :n", "updated_ms = :now", "gsi2pk = :p"]
        removes: list[str] = []
        last: tuple[tuple[str, int | str | None], ...] = (
            ("last_status_code", attempt.status_code),
            ("last_error", attempt.error),
        )
        for name, value in last:
            if value is None:
                removes.append(name)
            else:
                sets.append(f"{name} = :{name}")
                values[f":{name}"] = items.n(value) if isinstance(value, int) else items.s(value)
        if next_attempt_ms is not None:
            sets.append("next_attempt_ms = :next")
            values[":next"] = items.n(next_attempt_ms)
        if outcome == "dead":
            sets += ["dead_ms = :now", "gsi5pk = :dp", "gsi5sk = :ds"]
            values[":dp"] = items.s(items.dead_delivery_partition(tracked.delivery.destination))
            values[":ds"] = items.s(items.order(now_ms, key.id))
        update: dict[str, Any] = {
            "TableName": self._table.name,
            "Key": key.key,
            "UpdateExpression": "SET "
            + ", ".join(sets)
            + (" REMOVE " + ", ".join(removes) if removes else ""),
            # delivered: from any attempt; otherwise only forward
            "ConditionExpression": "#status = :pending" + ("" if ok else " AND attempts < :n"),
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": values,
        }
        try:
            if outcome == "dead":  # with the event's count of dead deliveries, atomically
                count = _dead_count(self._table.name, key.event_id, +1, tracked.received_ms)
                writes: list[Any] = [{"Update": update}, count]
                self._table.dynamodb.transact_write_items(TransactItems=writes)
            else:
                self._table.dynamodb.update_item(**update)
        except clients.FAILURES as exc:
            code = clients.error_code(exc)
            if code == "ConditionalCheckFailedException" or cancellation_codes(exc)[:1] == [
                "ConditionalCheckFailed"
            ]:
                return False
            raise errors.StoreUnavailable(
                f"recording an attempt of {key.id}: {clients.describe(exc)}"
            ) from None
        return True

    # -- plumbing ------------------------------------------------------------------------------

    def _clear_dead_mark(self, event_id: str) -> None:
        """Take the event out of the `dead` listing once no delivery of it is dead; best
        effort: a listing filters on the count too."""
        with contextlib.suppress(*clients.FAILURES):
            self._table.dynamodb.update_item(
                TableName=self._table.name,
                Key=items.event_key(event_id),
                UpdateExpression="REMOVE gsi5pk, gsi5sk",
                ConditionExpression="dead <= :zero",
                ExpressionAttributeValues={":zero": items.n(0)},
            )


def _dead_count(
    table: str, event_id: str, change: int, received_ms: int | None = None
) -> dict[str, object]:
    """The event's count of dead deliveries; +1 also lists it under `dead` (the by_dead index)."""
    update = "ADD dead :change"
    values: items.Item = {":change": items.n(change)}
    if received_ms is not None:
        update += " SET gsi5pk = :p, gsi5sk = :o"
        values[":p"] = items.s(items.dead_event_partition(items.day(received_ms)))
        values[":o"] = items.s(items.order(received_ms, event_id))
    return {
        "Update": {
            "TableName": table,
            "Key": items.event_key(event_id),
            "UpdateExpression": update,
            "ExpressionAttributeValues": values,
        }
    }


def _tracked(item: items.Item) -> Tracked:
    return Tracked(
        delivery=items.delivery_from_item(item),
        key=items.parse_delivery_id(items.required_text(item, "id")),
        generation=items.number(item, "generation") or 0,
        received_ms=items.required_number(item, "received_ms"),
        expires_at=items.required_number(item, "expires_at"),
    )
