"""What the router and delivery functions record in the table, each step idempotent, because SQS
delivers every message at least once. Everything they record is on the event's state item
(items.py): one write per step, no transaction.

Routing, per event and round (0 first, one more per replay):

    load(event) -> match the routes -> PutEvents (router.py) -> route(): the event's status
    (routed or unrouted) and the round's targets, if the event is still pending at that round

A redelivered message finds the event routed at its round and does nothing. Publishing comes
before the record, so a crash between the two publishes again when the message comes back (a
delivery published twice is attempted once more at worst, see below); never a routed event
that was not published.

Delivery, per message of a destination queue:

    begin() -> skip when delivered, or when the message is older than a redrive of it (its
    `generation` is lower) -> revive() when the message is newer or the delivery is dead (a
    redriven message) -> attempt -> record(): the delivery's entry follows the attempt

A delivery's entry in the state item is made by its first attempt (until then the delivery is
pending, as its round's targets say) and keeps that attempt; later attempts are items of their
own. An entry follows an attempt only while pending, and only to a higher attempt number unless
the attempt delivered it: a late outcome cannot move it back from `delivered` or from a newer
attempt. The attempt is kept whatever happens (it happened). On AWS the attempt number is the
SQS receive count, so a crashed invocation leaves a gap in the numbers, not a stuck delivery.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from webhook_processor import errors, models
from webhook_processor.adapters.aws import clients, items
from webhook_processor.adapters.aws.dynamodb import Table, condition_failed, unavailable


@dataclass(frozen=True, slots=True)
class Loaded:
    """An event as the router and delivery functions need it, from its state item."""

    event: models.Event
    round: int
    webhook_id: str  # of its deliveries: the event id, or a replay's fresh one
    expires_at: int
    targets: tuple[tuple[str, str], ...]  # the round's, once routed
    routed_ms: int | None
    entries: Mapping[str, Mapping[str, Any]]  # the deliveries map

    @property
    def routed(self) -> bool:
        """Recorded for this round (routed or unrouted)."""
        return self.event.status != "pending"


@dataclass(frozen=True, slots=True)
class Tracked:
    """A delivery with what its function needs beyond models.Delivery."""

    delivery: models.Delivery
    key: items.DeliveryKey
    generation: int
    received_ms: int
    expires_at: int
    exists: bool  # its entry is in the state item (False: not attempted yet)


class Records:
    def __init__(self, table: Table) -> None:
        self._table = table

    # -- routing -------------------------------------------------------------------------------

    def load(self, event_id: str, body: bool = True) -> Loaded | None:
        """None when the event does not exist: one never acknowledged (deleted after a failed
        hand-off) or expired; its message has nothing to do."""
        found = self._table.load_event(event_id, body)
        return None if found is None else loaded(*found)

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
        key = items.state_key(event_id)
        if key is None:
            return False
        names = {"#status": "status", "#round": "round"}
        values: items.Item = {":pending": items.s("pending"), ":r": items.n(round_)}
        update = "SET #status = :pending, #round = :r"
        if webhook_id is not None:
            update += ", webhook_id = :w"
            values[":w"] = items.s(webhook_id)
            update += " REMOVE targets, routed_ms"
        else:
            update += " REMOVE webhook_id, targets, routed_ms"
        condition = "attribute_exists(pk) AND #round < :r"
        return self._update(key, f"replaying {event_id}", update, condition, names, values)

    def route(self, loaded: Loaded, targets: Sequence[tuple[str, str]], now_ms: int) -> bool:
        """Record the routing of `loaded`'s round (after it was published); False when it was
        recorded before or the event has moved to a later round meanwhile."""
        event = loaded.event
        key = items.state_key(event.id)
        assert key is not None  # loaded from it
        return self._update(
            key,
            f"routing {event.id}",
            "SET #status = :status, targets = :t, routed_ms = :now",
            "#status = :pending AND #round = :r",
            {"#status": "status", "#round": "round"},
            {
                ":status": items.s("routed" if targets else "unrouted"),
                ":t": items.s(json.dumps([list(t) for t in targets])),
                ":now": items.n(now_ms),
                ":pending": items.s("pending"),
                ":r": items.n(loaded.round),
            },
        )

    # -- delivering ----------------------------------------------------------------------------

    def delivery(self, event_id: str, round_: int, route: str) -> Tracked | None:
        """The delivery of (event, round, route) as its state item has it: its entry, or pending
        and not attempted when the round's targets name it; None when there is none."""
        loaded = self.load(event_id, body=False)
        if loaded is None:
            return None
        return find(loaded, items.DeliveryKey(event_id, round_, route))

    def begin(
        self,
        loaded: Loaded,
        route: str,
        generation: int,
        now_ms: int,
        destination: str | None = None,
    ) -> Tracked | None:
        """What a destination queue's message for `route` (of `generation`, 0 unless a redrive
        sent it; from `destination`'s queue) should attempt: the pending delivery of the event's
        current round, revived first if it was dead or the message is newer; None when there is
        nothing to attempt (delivered already, a stale message, no such delivery): acknowledge
        the message."""
        key = items.DeliveryKey(loaded.event.id, loaded.round, route)
        tracked = find(loaded, key, destination, generation)
        if tracked is None or generation < tracked.generation:
            return None
        status = tracked.delivery.status
        if tracked.exists and (status == "dead" or generation > tracked.generation):
            self.revive(tracked, generation, now_ms)  # False: another message revived it
            reloaded = self.load(loaded.event.id, body=False)
            tracked = None if reloaded is None else find(reloaded, key, None, generation)
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
        path = "deliveries.#e"
        update = (
            f"SET {path}.#status = :pending, {path}.attempts = :zero, {path}.generation = :g, "
            f"{path}.next_attempt_ms = :now, {path}.updated_ms = :now REMOVE {path}.dead_ms"
        )
        values: items.Item = {
            ":pending": items.s("pending"),
            ":zero": items.n(0),
            ":g": items.n(generation),
            ":old": items.n(tracked.generation),
            ":was": items.s(d.status),
            ":now": items.n(now_ms),
        }
        if d.status == "dead":
            update += " ADD dead :minus"
            values[":minus"] = items.n(-1)
        revived = self._update(
            _state_key(tracked),
            f"reviving {d.id}",
            update,
            f"{path}.#status = :was AND {path}.generation = :old",
            {"#e": tracked.key.entry, "#status": "status"},
            values,
        )
        if not revived:
            return False
        if d.status == "dead":
            self._forget_dead_letter(tracked)
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
        not follow (see the module docstring)."""
        key = tracked.key
        ok = outcome == "delivered"
        status = "pending" if outcome == "retry" else outcome
        fields: items.Item = {
            "status": items.s(status),
            "attempts": items.n(attempt.attempt),
            "updated_ms": items.n(now_ms),
        }
        if attempt.status_code is not None:
            fields["last_status_code"] = items.n(attempt.status_code)
        if attempt.error is not None:
            fields["last_error"] = items.s(attempt.error)
        if next_attempt_ms is not None:
            fields["next_attempt_ms"] = items.n(next_attempt_ms)
        if outcome == "dead":
            fields["dead_ms"] = items.n(now_ms)
        dead = outcome == "dead"
        first = items.attempt_value(attempt, ok, tracked.generation)
        done = not tracked.exists and self._first(tracked, first, fields, dead)
        if not done:  # a later attempt, or another message made the entry meanwhile
            done = self._follow(tracked, attempt, fields, ok, dead)
        if done and dead:
            entry = {**_entry_fields(tracked), **fields}
            item = items.dead_letter_item(key, entry, now_ms, tracked.expires_at)
            with unavailable(f"listing {key.id} as dead"):
                self._table.dynamodb.put_item(TableName=self._table.name, Item=item)
        return bool(done)

    def _first(self, tracked: Tracked, attempt: items.Item, fields: items.Item, dead: bool) -> bool:
        """The delivery's entry, made by its first attempt, with it: one write."""
        entry = {**_entry_fields(tracked), **fields, "first": {"M": attempt}}
        update = "SET deliveries.#e = :entry"
        values: items.Item = {":entry": {"M": entry}}
        if dead:
            update += " ADD dead :one"
            values[":one"] = items.n(1)
        return self._update(
            _state_key(tracked),
            f"recording an attempt of {tracked.key.id}",
            update,
            "attribute_exists(pk) AND attribute_not_exists(deliveries.#e)",
            {"#e": tracked.key.entry},
            values,
        )

    def _follow(
        self, tracked: Tracked, attempt: models.Attempt, fields: items.Item, ok: bool, dead: bool
    ) -> bool:
        """A later attempt: its own item first (a crash before the entry follows leaves the
        message to be received again), then the entry, if it is pending and this attempt is a
        later one (or delivered it)."""
        self._put_attempt(tracked, attempt, ok)
        names = {"#e": tracked.key.entry, "#status": "status"}
        sets = [f"deliveries.#e.#{name} = :{name}" for name in fields]
        names.update({f"#{name}": name for name in fields})
        values = {f":{name}": value for name, value in fields.items()}
        removes = [
            f"deliveries.#e.#{name}"
            for name in ("last_status_code", "last_error")
            if name not in fields
        ]
        names.update({f"#{name}": name for name in ("last_status_code", "last_error")})
        update = "SET " + ", ".join(sets)
        if removes:
            update += " REMOVE " + ", ".join(removes)
        if dead:
            update += " ADD dead :one"
            values[":one"] = items.n(1)
        values[":pending"] = items.s("pending")
        condition = "deliveries.#e.#status = :pending"
        if not ok:  # delivered: from any attempt; otherwise only forward
            condition += " AND deliveries.#e.attempts < :attempts"
        what = f"recording an attempt of {tracked.key.id}"
        return self._update(_state_key(tracked), what, update, condition, names, values)

    def _update(
        self,
        key: items.Item,
        what: str,
        update: str,
        condition: str,
        names: dict[str, str],
        values: items.Item,
    ) -> bool:
        """One conditional update of a state item: False when the condition does not hold (the
        step was done, or overtaken), StoreUnavailable naming `what` when DynamoDB fails."""
        try:
            self._table.dynamodb.update_item(
                TableName=self._table.name,
                Key=key,
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except clients.FAILURES as exc:
            if condition_failed(exc):
                return False
            raise errors.StoreUnavailable(f"{what}: {clients.describe(exc)}") from None
        return True

    def _put_attempt(self, tracked: Tracked, attempt: models.Attempt, ok: bool) -> None:
        item = items.attempt_item(tracked.key, tracked.generation, attempt, ok, tracked.expires_at)
        with unavailable(f"recording an attempt of {tracked.key.id}"):
            self._table.dynamodb.put_item(TableName=self._table.name, Item=item)

    def _forget_dead_letter(self, tracked: Tracked) -> None:
        """The dead-letter item of a revived delivery: found by its destination and id."""
        partition = items.dead_pk(tracked.delivery.destination)
        found = self._table.query(
            KeyConditionExpression="pk = :pk",
            FilterExpression="#id = :id",
            ExpressionAttributeNames={"#id": "id"},
            ExpressionAttributeValues={":pk": items.s(partition), ":id": items.s(tracked.key.id)},
            ProjectionExpression="pk, sk",
        )
        with unavailable(f"unlisting {tracked.key.id} as dead"):
            for item in list(found):
                self._table.dynamodb.delete_item(
                    TableName=self._table.name, Key={"pk": item["pk"], "sk": item["sk"]}
                )


def loaded(state: items.Item, event: models.Event | None = None) -> Loaded:
    """A state item read: `event` is the event with its payload, if read."""
    event = event if event is not None else items.event_from_item(state)
    return Loaded(
        event,
        items.required_number(state, "round"),
        items.text(state, "webhook_id") or event.id,
        items.required_number(state, "expires_at"),
        items.targets_of(state),
        items.number(state, "routed_ms"),
        items.entries(state),
    )


def _state_key(tracked: Tracked) -> items.Item:
    key = items.state_key(tracked.key.event_id)
    assert key is not None  # tracked from it
    return key


def _entry_fields(tracked: Tracked) -> items.Item:
    d = tracked.delivery
    return {
        "destination": items.s(d.destination),
        "webhook_id": items.s(d.webhook_id),
        "generation": items.n(tracked.generation),
        "created_ms": items.n(d.created_ms),
        "received_ms": items.n(tracked.received_ms),
    }


def every(loaded: Loaded) -> Iterator[Tracked]:
    """Every delivery of `loaded`: its entries, and its round's targets not attempted yet."""
    names = set(loaded.entries) | {items.entry_name(loaded.round, r) for r, _ in loaded.targets}
    for name in names:
        round_, _, route = name.partition("#")
        tracked = find(loaded, items.DeliveryKey(loaded.event.id, int(round_), route))
        if tracked is not None:
            yield tracked


def find(
    loaded: Loaded, key: items.DeliveryKey, destination: str | None = None, generation: int = 0
) -> Tracked | None:
    """The delivery `key` of `loaded`: its entry, or (its round the current one, its route one
    of the round's targets or its destination given) pending with no attempt yet."""
    event = loaded.event
    entry = loaded.entries.get(key.entry)
    if entry is not None:
        return Tracked(
            items.delivery_from_entry(key, entry["M"]),
            key,
            items.number(entry["M"], "generation") or 0,
            event.received_ms,
            loaded.expires_at,
            exists=True,
        )
    if key.round != loaded.round:
        return None
    routes = dict(loaded.targets)
    found = routes.get(key.route, destination)
    if found is None:
        return None
    created = loaded.routed_ms if loaded.routed_ms is not None else event.received_ms
    pending = models.Delivery(
        id=key.id,
        event_id=event.id,
        route=key.route,
        destination=found,
        webhook_id=loaded.webhook_id,
        status="pending",
        attempts=0,
        next_attempt_ms=created,
        created_ms=created,
        updated_ms=created,
    )
    return Tracked(pending, key, generation, event.received_ms, loaded.expires_at, exists=False)
