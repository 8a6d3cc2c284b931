"""ports.Operations on the DynamoDB table (and, for replay and redrive, the SQS queues).

Listings read the events' state items, partition by partition (a UTC day's shards, newest day
first, merged: query.py) and filter in DynamoDB; an idempotency key with its source is one read
(the key's payload item names its event). Dead letters are items of their own, by destination.

Costs, honestly: with no index (so that a webhook costs its few writes and nothing more), a
filter reads every state item of the days it covers, and counts(), destinations() and
activity() read every state item of the retention window (a read unit per 8 KB: ~$0.01-0.02
per million events at on-demand prices, and seconds of latency at that size). Use CloudWatch
for dashboards at scale. `in_flight` is not tracked on AWS (0): SQS counts the messages waiting
out a backoff as in flight too, so its number would mislead.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from webhook_processor import errors, models, ports
from webhook_processor.adapters.aws import items, mappings, query, records, sqs
from webhook_processor.adapters.aws.dynamodb import Table, unavailable

CLOCK_SKEW_MS = 5 * 60_000  # another function's clock may run ahead of ours
EVENT_STATUSES = ("pending", "routed", "unrouted")
DELIVERY_STATUSES = ("pending", "delivered", "dead")


class Operations:
    """ports.Operations for the AWS runtime. `destinations` are the config's (the store also
    knows those with a runtime pause); `ingest` and `queue_for` (a destination's queue) are
    needed by replay and redrive only; `event_sources`, by a pause that stops the delivery function
    (mappings.py): without it a pause is only recorded."""

    def __init__(
        self,
        table: Table,
        retention_days: int,
        destinations: Collection[str] = (),
        ingest: sqs.Queue | None = None,
        queue_for: Callable[[str], sqs.Queue] | None = None,
        clock: Callable[[], float] = time.time,
        event_sources: mappings.Mappings | None = None,
    ) -> None:
        self._table = table
        self._mappings = event_sources
        self._records = records.Records(table)
        self._retention_days = retention_days
        self._destinations = frozenset(destinations)
        self._ingest = ingest
        self._queue_for = queue_for
        self._clock = clock

    # -- events --------------------------------------------------------------------------------

    def events(
        self, where: ports.EventFilter, limit: int, cursor: str | None = None
    ) -> ports.Page[models.Event]:
        plan = self._plan(where)
        upper = self._now_ms() + CLOCK_SKEW_MS
        lower = self._horizon_ms()  # nothing older is left
        high, low = query.MAX, query.MIN
        if where.until_ms is not None:
            upper = min(upper, where.until_ms)
            high = items.order_bound(where.until_ms)
        if where.since_ms is not None:
            lower = max(lower, where.since_ms)
            low = items.order_bound(where.since_ms)
        if cursor is not None:
            high = min(high, items.decode_cursor(cursor, plan.listing))
            upper = min(upper, int(high[:13]))
        if low > high:
            return ports.Page([], None)
        if where.idempotency_key is not None and where.source is not None:
            groups = [self._keyed(where.source, where.idempotency_key)]
        else:
            groups = [query.shards(d) for d in query.days(lower, upper)]
        found = query.page(self._table, plan, groups, low, high, limit)
        return query.paged(found, limit, plan.listing, items.event_from_item)

    def _keyed(self, source: str, key: str) -> list[str]:
        """The partition of the event that has (source, key), if there is one: its payload
        item names it."""
        payload = self._table.get(items.dedupe_key(source, key), consistent=True)
        state = None if payload is None else items.state_key(items.required_text(payload, "id"))
        return [] if state is None else [state["pk"]["S"]]

    def _plan(self, where: ports.EventFilter) -> query.Plan:
        status = where.status
        if status is not None and status not in (*EVENT_STATUSES, "dead"):
            raise errors.UsageError(
                f"status {status!r} is not one of pending, routed, unrouted, dead"
            )
        plan = query.Plan("events")
        plan.where("expires_at > :now", now=items.n(int(self._clock())))
        if where.idempotency_key is not None:
            plan.where("idempotency_key = :key", key=items.s(where.idempotency_key))
        if where.source is not None:
            plan.names["#source"] = "source"
            plan.where("#source = :source", source=items.s(where.source))
        if where.event_type is not None:
            plan.where("event_type = :type", type=items.s(where.event_type))
        if status == "dead":
            plan.where("dead > :zero", zero=items.n(0))
        elif status is not None:
            plan.names["#status"] = "status"
            plan.where("#status = :status", status=items.s(status))
        return plan

    def event(self, event_id: str) -> models.Event | None:
        found = self._table.load_event(event_id)
        return None if found is None else found[1]

    def deliveries(self, event_id: str) -> Sequence[models.Delivery]:
        loaded = self._records.load(event_id, body=False)
        if loaded is None:
            return []
        later: dict[str, list[models.Attempt]] = {}
        for item in self._table.query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :a)",
            ExpressionAttributeValues={
                ":pk": items.s(items.event_pk(event_id)),
                ":a": items.s("attempt#"),
            },
            ConsistentRead=True,
        ):
            later.setdefault(items.required_text(item, "delivery_id"), []).append(
                items.attempt_from_item(item)
            )
        out = []
        for tracked in records.every(loaded):
            entry = loaded.entries.get(tracked.key.entry)
            history = [] if entry is None else [items.attempt_from_item(entry["M"]["first"]["M"])]
            history += later.get(tracked.key.id, [])
            history.sort(key=lambda a: a.started_ms)
            out.append(replace(tracked.delivery, history=tuple(history)))
        return sorted(out, key=lambda d: (d.created_ms, d.id))

    # -- replay and the dead-letter queue ------------------------------------------------------

    def replay(self, event_ids: Sequence[str], now_ms: int, new_id: bool = False) -> int:
        """Each event's next routing round goes to the ingest queue; the router starts it (the
        message says which round, so a replay sent twice routes once)."""
        if self._ingest is None:
            raise errors.UsageError("replaying on AWS needs the ingest queue (--outputs)")
        messages = []
        for event_id in dict.fromkeys(event_ids):
            state = self._table.state(event_id)
            if state is None:
                continue
            message: dict[str, object] = {
                "event_id": event_id,
                "round": items.required_number(state, "round") + 1,
            }
            if new_id:
                message["webhook_id"] = "msg_" + models.new_event_id(now_ms / 1000)[4:]
            messages.append(json.dumps(message))
        self._ingest.send_many(messages)
        return len(messages)

    def dead_letters(
        self, destination: str | None, limit: int, cursor: str | None = None
    ) -> ports.Page[models.DeadLetter]:
        names = [destination] if destination is not None else sorted(self._known())
        plan = query.Plan("dead")
        plan.where("expires_at > :now", now=items.n(int(self._clock())))
        high = query.MAX if cursor is None else items.decode_cursor(cursor, "dead")
        groups = [[items.dead_pk(d) for d in names]]
        found = query.page(self._table, plan, groups, query.MIN, high, limit)
        return query.paged(found, limit, "dead", items.dead_letter_from_item)

    def redrive(self, delivery_ids: Sequence[str], now_ms: int) -> int:
        """Each dead delivery gets a new message in its destination's queue, one generation on,
        then is marked pending: the message goes first, so a crash between the two leaves a
        message that revives the delivery when it arrives (records.py), never a pending
        delivery without a message. The old message stays in the DLQ until it expires, or is
        dropped as stale if a whole-queue redrive moves it."""
        if self._queue_for is None:
            raise errors.UsageError("redriving on AWS needs the destination queues (--outputs)")
        keys = [items.parse_delivery_id(i) for i in dict.fromkeys(delivery_ids)]  # all, first
        revived = 0
        for key in keys:
            loaded = self._records.load(key.event_id, body=False)
            tracked = None if loaded is None else records.find(loaded, key)
            if loaded is None or tracked is None or tracked.delivery.status != "dead":
                continue
            generation = tracked.generation + 1
            message = {
                "route": key.route,
                "event": _envelope(loaded.event),
                "generation": generation,
            }
            self._queue_for(tracked.delivery.destination).send(json.dumps(message))
            revived += self._records.revive(tracked, generation, now_ms)
        return revived

    # -- destinations --------------------------------------------------------------------------

    def set_paused(self, destination: str, paused: bool, now_ms: int) -> None:
        """The mapping first (what stops deliveries), then the record operators read back."""
        if self._mappings is not None:
            self._mappings.set_enabled(destination, not paused)
        with unavailable(f"pausing {destination}"):
            self._table.dynamodb.put_item(
                TableName=self._table.name,
                Item={
                    "pk": items.s(items.DESTINATIONS_PK),
                    "sk": items.s(destination),
                    "kind": items.s("destination"),
                    "paused": {"BOOL": paused},
                    "updated_ms": items.n(now_ms),
                },
            )

    def paused(self) -> set[str]:
        return {name for name, paused in self._states().items() if paused}

    def _states(self) -> dict[str, bool]:
        found = self._table.query(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": items.s(items.DESTINATIONS_PK)},
            ConsistentRead=True,
        )
        return {item["sk"]["S"]: bool(item["paused"]["BOOL"]) for item in found}

    def _known(self) -> set[str]:
        return set(self._destinations) | set(self._states())

    def destinations(self, now_ms: int) -> Mapping[str, models.DestinationState]:
        states = self._states()
        names = sorted(set(self._destinations) | set(states))
        pending: dict[str, list[int]] = {name: [] for name in names}
        every = (d for state in self._states_with_deliveries() for d in _deliveries_of(state))
        for delivery in every:
            if delivery.status == "pending":
                due = delivery.next_attempt_ms
                pending.setdefault(delivery.destination, []).append(
                    due if due is not None else delivery.created_ms
                )
        jobs = {name: (items.dead_pk(name), query.MIN) for name in pending}
        dead = query.counts(self._table, jobs, self._now_s())
        return {
            name: models.DestinationState(
                name=name,
                paused=states.get(name, False),
                pending=len(due),
                dead=dead[name],
                in_flight=0,
                oldest_pending_ms=min(due) if due else None,
            )
            for name, due in sorted(pending.items())
        }

    # -- stats ---------------------------------------------------------------------------------

    def _states_of_retention(self, projection: str) -> Iterator[items.Item]:
        days = query.days(self._horizon_ms(), self._now_ms() + CLOCK_SKEW_MS)
        partitions = [p for d in days for p in query.shards(d)]
        return query.scan(self._table, partitions, projection, self._now_s())

    def _states_with_deliveries(self) -> Iterator[items.Item]:
        """Every state item of the retention window, with what its deliveries need."""
        return self._states_of_retention(
            "id, source, event_type, received_ms, status, expires_at, round, webhook_id, "
            "targets, routed_ms, deliveries"
        )

    def counts(self) -> tuple[Mapping[str, int], Mapping[str, int]]:
        by_event = dict.fromkeys(EVENT_STATUSES, 0)
        by_delivery = dict.fromkeys(DELIVERY_STATUSES, 0)
        for state in self._states_with_deliveries():  # one read of each, for both counts
            status = items.required_text(state, "status")
            by_event[status] = by_event.get(status, 0) + 1
            for delivery in _deliveries_of(state):
                by_delivery[delivery.status] += 1
        return by_event, by_delivery

    def activity(self, since_ms: int) -> ports.Activity:
        """Events received since `since_ms`, and the attempts made since then (every delivery's
        first attempt is in its event's state item, later ones are items of their own)."""
        low = items.order_bound(since_ms)
        days = query.days(since_ms, self._now_ms() + CLOCK_SKEW_MS)
        jobs = {p: (p, low) for d in days for p in query.shards(d)}
        received = sum(query.counts(self._table, jobs, self._now_s()).values())
        delivered = failed = 0
        for state in self._states_of_retention("id, deliveries"):
            event_id = items.required_text(state, "id")
            for entry in items.entries(state).values():
                first = entry["M"]["first"]["M"]
                if items.required_number(first, "started_ms") >= since_ms:
                    delivered, failed = _tally(first, delivered, failed)
            if any(
                items.required_number(e["M"], "attempts") > 1 for e in items.entries(state).values()
            ):
                for attempt in self._later_attempts(event_id, since_ms):
                    delivered, failed = _tally(attempt, delivered, failed)
        return ports.Activity(received, delivered, failed)

    def _later_attempts(self, event_id: str, since_ms: int) -> list[items.Item]:
        found = self._table.query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :a)",
            FilterExpression="started_ms >= :since",
            ExpressionAttributeValues={
                ":pk": items.s(items.event_pk(event_id)),
                ":a": items.s("attempt#"),
                ":since": items.n(since_ms),
            },
        )
        return list(found)

    def purge(self, older_than_ms: int, cursor: str | None = None) -> ports.PurgeBatch:
        """Nothing to do: DynamoDB's TTL (`expires_at`) deletes expired items itself. So purge
        makes no cursor, and any it is handed is not one of its own (ports.Page)."""
        if cursor is not None:
            raise errors.UsageError(f"cursor {cursor[:40]!r} was not made by purge")
        return ports.PurgeBatch(0, 0, None)

    def _now_s(self) -> int:
        return int(self._clock())

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _horizon_ms(self) -> int:
        """Nothing older is still in the table, give or take TTL's lag (a day of slack)."""
        return self._now_ms() - (self._retention_days + 1) * items.DAY_MS


def _deliveries_of(state: items.Item) -> Iterator[models.Delivery]:
    """An event's deliveries, from its state item: its entries and its round's targets."""
    return (tracked.delivery for tracked in records.every(records.loaded(state)))


def _tally(attempt: Mapping[str, Any], delivered: int, failed: int) -> tuple[int, int]:
    if attempt["ok"]["BOOL"]:
        return delivered + 1, failed
    return delivered, failed + 1


def _envelope(event: models.Event) -> dict[str, object]:
    """The envelope of a redrive's message, as a rule target's `<aws.events.event>` gives it
    (no detail: the delivery function reads the body from the store)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": event.event_type,
        "source": event.source,
        "time": event.received[:19] + "Z",
        "resources": [f"whp:event:{event.id}"],
    }
