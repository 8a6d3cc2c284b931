"""ports.Operations on the DynamoDB table (and, for replay and redrive, the SQS queues).

Listings read one index, chosen by the filter, and filter the rest in DynamoDB:

    idempotency key given        by_key     (one partition: the key)
    status dead                  by_dead    (events with a dead delivery, by day)
    status pending or unrouted   by_status  (few events: these are the exceptions)
    source given                 by_source
    status routed                by_status
    otherwise                    by_time

Time-ordered partitions are split by day and shard (items.py): a page merges the shards of a day,
newest first, and goes on to the day before until it is full or the retention (or `since`) is
reached (query.py). The cursor is the LastEvaluatedKey of the page's last item; every partition
is read below its sort key, so one key serves all of them.

Costs, honestly: counts(), destinations() and activity() count with queries (exact; nothing to
keep in step on every write, no hot counter item), so they read every item they count: counts()
reads the metadata of every event and delivery in the retention window (a read unit per 8 KB:
~$0.01-0.02 per million events at on-demand prices, and seconds of latency at that size). Use
CloudWatch for dashboards at scale. `in_flight` is not tracked on AWS (0): SQS counts the
messages waiting out a backoff as in flight too, so its number would mislead.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence

from webhook_processor import errors, models, ports
from webhook_processor.adapters.aws import items, query, records, sqs
from webhook_processor.adapters.aws.dynamodb import Table, unavailable

CLOCK_SKEW_MS = 5 * 60_000  # another function's clock may run ahead of ours
EVENT_STATUSES = ("pending", "routed", "unrouted")
DELIVERY_STATUSES = ("pending", "delivered", "dead")


class Operations:
    """ports.Operations for the AWS runtime. `destinations` are the config's (the store also
    knows those with a runtime pause); `ingest` and `queue_for` (a destination's queue) are
    needed by replay and redrive only."""

    def __init__(
        self,
        table: Table,
        retention_days: int,
        destinations: Collection[str] = (),
        ingest: sqs.Queue | None = None,
        queue_for: Callable[[str], sqs.Queue] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._table = table
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
            high = min(high, items.decode_cursor(cursor, plan.index))
            upper = min(upper, int(high[:13]))
        if low > high:
            return ports.Page([], None)
        days = query.days(lower, upper) if plan.daily else [""]
        found = query.page(self._table, plan, [plan.partitions(d) for d in days], low, high, limit)
        return query.paged(found, limit, plan.index, items.event_from_item)

    def _plan(self, where: ports.EventFilter) -> query.Plan:
        status = where.status
        if status is not None and status not in (*EVENT_STATUSES, "dead"):
            raise errors.UsageError(
                f"status {status!r} is not one of pending, routed, unrouted, dead"
            )
        plan: query.Plan
        if where.idempotency_key is not None:
            key = items.key_text(where.idempotency_key)
            plan = query.Plan("by_key", lambda _: [key], daily=False)
        elif status == "dead":
            plan = query.Plan("by_dead", lambda d: [items.dead_event_partition(d)])
        elif status in ("pending", "unrouted") or (status == "routed" and where.source is None):
            plan = query.Plan("by_status", query.shards(items.event_status_partition, status))
        elif where.source is not None:
            plan = query.Plan("by_source", query.shards(items.source_partition, where.source))
        else:
            plan = query.Plan("by_time", query.shards(items.event_time_partition))
        plan.names["#kind"] = "kind"
        plan.where("#kind = :kind", kind=items.s("event"))
        plan.where("expires_at > :now", now=items.n(int(self._clock())))
        if where.idempotency_key is not None:
            plan.where("idempotency_key = :key", key=items.s(where.idempotency_key))
        if where.source is not None and plan.index != "by_source":
            plan.names["#source"] = "source"
            plan.where("#source = :source", source=items.s(where.source))
        if where.event_type is not None:
            plan.where("event_type = :type", type=items.s(where.event_type))
        if status == "dead":
            plan.where("dead > :zero", zero=items.n(0))
        elif status is not None and plan.index != "by_status":
            plan.names["#status"] = "status"
            plan.where("#status = :status", status=items.s(status))
        return plan

    def event(self, event_id: str) -> models.Event | None:
        found = self._table.load_event(event_id)
        return None if found is None else found[1]

    def deliveries(self, event_id: str) -> Sequence[models.Delivery]:
        found = list(
            self._table.query(
                KeyConditionExpression="pk = :pk AND begins_with(sk, :d)",
                ExpressionAttributeValues={
                    ":pk": items.s(items.event_pk(event_id)),
                    ":d": items.s("delivery#"),
                },
                ConsistentRead=True,
            )
        )
        history: dict[str, list[models.Attempt]] = {}
        for item in found:
            if item["kind"]["S"] == "attempt":
                history.setdefault(item["delivery_id"]["S"], []).append(
                    items.attempt_from_item(item)
                )
        out = [
            items.delivery_from_item(item, tuple(history.get(item["id"]["S"], ())))
            for item in found
            if item["kind"]["S"] == "delivery"
        ]
        return sorted(out, key=lambda d: (d.created_ms, d.id))

    # -- replay and the dead-letter queue ------------------------------------------------------

    def replay(self, event_ids: Sequence[str], now_ms: int, new_id: bool = False) -> int:
        """Each event's next routing round goes to the ingest queue; the router starts it (the
        message says which round, so a replay sent twice routes once)."""
        if self._ingest is None:
            raise errors.UsageError("replaying on AWS needs the ingest queue (--outputs)")
        messages = []
        for event_id in dict.fromkeys(event_ids):
            meta = self._table.get(items.event_key(event_id))
            if meta is None:
                continue
            message: dict[str, object] = {
                "event_id": event_id,
                "round": items.required_number(meta, "round") + 1,
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
        partitions = [items.dead_delivery_partition(d) for d in names]
        plan = query.Plan("by_dead", lambda _: partitions, daily=False)
        plan.where("expires_at > :now", now=items.n(int(self._clock())))
        high = query.MAX if cursor is None else items.decode_cursor(cursor, "by_dead")
        found = query.page(self._table, plan, [partitions], query.MIN, high, limit)
        return query.paged(found, limit, "by_dead", items.dead_letter_from_item)

    def redrive(self, delivery_ids: Sequence[str], now_ms: int) -> int:
        """Each dead delivery gets a new message in its destination's queue, one generation on,
        then is marked pending: the message goes first, so a crash between the two leaves a
        message that revives the delivery when it arrives (records.py), never a pending
        delivery without a message. The old message stays in the DLQ until it expires, or is
        dropped as stale if a whole-queue redrive moves it."""
        if self._queue_for is None:
            raise errors.UsageError("redriving on AWS needs the destination queues (--outputs)")
        revived = 0
        for delivery_id in dict.fromkeys(delivery_ids):
            key = items.parse_delivery_id(delivery_id)
            tracked = self._records.delivery(key.event_id, key.round, key.route)
            meta = self._table.get(items.event_key(key.event_id))
            if tracked is None or meta is None or tracked.delivery.status != "dead":
                continue
            generation = tracked.generation + 1
            event = items.event_from_item(meta)
            message = {"route": key.route, "event": _envelope(event), "generation": generation}
            self._queue_for(tracked.delivery.destination).send(json.dumps(message))
            revived += self._records.revive(tracked, generation, now_ms)
        return revived

    # -- destinations --------------------------------------------------------------------------

    def set_paused(self, destination: str, paused: bool, now_ms: int) -> None:
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
        partitions = [
            items.delivery_status_partition("pending", d, sh)
            for d in query.days(self._horizon_ms(), now_ms + CLOCK_SKEW_MS)
            for sh in range(items.SHARDS)
        ]
        projection = "destination, next_attempt_ms"
        for item in query.scan(self._table, "by_status", partitions, projection, self._now_s()):
            pending.setdefault(item["destination"]["S"], []).append(
                int(item["next_attempt_ms"]["N"])
            )
        jobs = {
            name: ("by_dead", items.dead_delivery_partition(name), query.MIN) for name in pending
        }
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

    def counts(self) -> tuple[Mapping[str, int], Mapping[str, int]]:
        days = query.days(self._horizon_ms(), self._now_ms() + CLOCK_SKEW_MS)
        jobs: dict[tuple[str, str, str, int], tuple[str, str, str]] = {}
        for d in days:
            for sh in range(items.SHARDS):
                for st in EVENT_STATUSES:
                    p = items.event_status_partition(st, d, sh)
                    jobs[("event", st, d, sh)] = ("by_status", p, query.MIN)
                for st in DELIVERY_STATUSES:
                    p = items.delivery_status_partition(st, d, sh)
                    jobs[("delivery", st, d, sh)] = ("by_status", p, query.MIN)
        got = query.counts(self._table, jobs, self._now_s())
        by_event = dict.fromkeys(EVENT_STATUSES, 0)
        by_delivery = dict.fromkeys(DELIVERY_STATUSES, 0)
        for (kind, st, _, _), count in got.items():
            (by_event if kind == "event" else by_delivery)[st] += count
        return by_event, by_delivery

    def activity(self, since_ms: int) -> ports.Activity:
        low = items.order_bound(since_ms)
        days = query.days(since_ms, self._now_ms() + CLOCK_SKEW_MS)
        jobs = {
            (d, sh): ("by_time", items.event_time_partition(d, sh), low)
            for d in days
            for sh in range(items.SHARDS)
        }
        received = sum(query.counts(self._table, jobs, self._now_s()).values())
        delivered = failed = 0
        partitions = [
            items.attempt_time_partition(d, sh) for d in days for sh in range(items.SHARDS)
        ]
        for item in query.scan(self._table, "by_time", partitions, "ok", self._now_s(), low):
            if item["ok"]["BOOL"]:
                delivered += 1
            else:
                failed += 1
        return ports.Activity(received, delivered, failed)

    def purge(self, older_than_ms: int, cursor: str | None = None) -> ports.PurgeBatch:
        """Nothing to do: DynamoDB's TTL (`expires_at`) deletes expired items itself."""
        return ports.PurgeBatch(0, 0, None)

    def _now_s(self) -> int:
        return int(self._clock())

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _horizon_ms(self) -> int:
        """Nothing older is still in the table, give or take TTL's lag (a day of slack)."""
        return self._now_ms() - (self._retention_days + 1) * items.DAY_MS


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
