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
reached. The cursor is the LastEvaluatedKey of the page's last item; every partition is read
below its sort key, so one key serves all of them.

Costs, honestly: counts(), destinations() and activity() count with queries (exact; nothing to
keep in step on every write, no hot counter item), so they read every item they count: counts()
reads the metadata of every event and delivery in the retention window (a read unit per 8 KB:
~$0.01-0.02 per million events at on-demand prices, and seconds of latency at that size). Use
CloudWatch for dashboards at scale. `in_flight` is not tracked on AWS (0): SQS counts the
messages waiting out a backoff as in flight too, so its number would mislead.
"""

from __future__ import annotations

import concurrent.futures
import json
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from webhook_processor import errors, models, ports
from webhook_processor.adapters.aws import items, records, sqs
from webhook_processor.adapters.aws.dynamodb import Table, unavailable

MAX = "9999999999999~"  # above every sort key
MIN = "0"
CLOCK_SKEW_MS = 5 * 60_000  # another function's clock may run ahead of ours
EVENT_STATUSES = ("pending", "routed", "unrouted")
DELIVERY_STATUSES = ("pending", "delivered", "dead")
T = TypeVar("T")


@dataclass(slots=True)
class _Plan:
    index: str
    partitions: Callable[[str], list[str]]  # of one day (or of all time: not `daily`), merged
    daily: bool = True
    filters: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    values: items.Item = field(default_factory=dict)

    def where(self, expression: str, **values: dict[str, Any]) -> None:
        self.filters.append(expression)
        self.values.update({f":{k}": v for k, v in values.items()})


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
        high, low = MAX, MIN
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
        days = _days(lower, upper) if plan.daily else [""]
        found = self._page(plan, [plan.partitions(d) for d in days], low, high, limit)
        return _paged(found, limit, plan.index, items.event_from_item)

    def _plan(self, where: ports.EventFilter) -> _Plan:
        status = where.status
        if status is not None and status not in (*EVENT_STATUSES, "dead"):
            raise errors.UsageError(
                f"status {status!r} is not one of pending, routed, unrouted, dead"
            )
        plan: _Plan
        if where.idempotency_key is not None:
            key = items.key_text(where.idempotency_key)
            plan = _Plan("by_key", lambda _: [key], daily=False)
        elif status == "dead":
            plan = _Plan("by_dead", lambda d: [items.dead_event_partition(d)])
        elif status in ("pending", "unrouted") or (status == "routed" and where.source is None):
            plan = _Plan("by_status", _shards(items.event_status_partition, status))
        elif where.source is not None:
            plan = _Plan("by_source", _shards(items.source_partition, where.source))
        else:
            plan = _Plan("by_time", _shards(items.event_time_partition))
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
        plan = _Plan("by_dead", lambda _: partitions, daily=False)
        plan.where("expires_at > :now", now=items.n(int(self._clock())))
        high = MAX if cursor is None else items.decode_cursor(cursor, "by_dead")
        found = self._page(plan, [partitions], MIN, high, limit)
        return _paged(found, limit, "by_dead", items.dead_letter_from_item)

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
        for item in self._scan_partitions(
            "by_status",
            [
                items.delivery_status_partition("pending", d, sh)
                for d in _days(self._horizon_ms(), now_ms + CLOCK_SKEW_MS)
                for sh in range(items.SHARDS)
            ],
            projection="destination, next_attempt_ms",
        ):
            pending.setdefault(item["destination"]["S"], []).append(
                int(item["next_attempt_ms"]["N"])
            )
        dead = self._parallel(
            {name: ("by_dead", items.dead_delivery_partition(name), MIN) for name in pending}
        )
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
        days = _days(self._horizon_ms(), self._now_ms() + CLOCK_SKEW_MS)
        jobs: dict[tuple[str, str, str, int], tuple[str, str, str]] = {}
        for d in days:
            for sh in range(items.SHARDS):
                for st in EVENT_STATUSES:
                    p = items.event_status_partition(st, d, sh)
                    jobs[("event", st, d, sh)] = ("by_status", p, MIN)
                for st in DELIVERY_STATUSES:
                    p = items.delivery_status_partition(st, d, sh)
                    jobs[("delivery", st, d, sh)] = ("by_status", p, MIN)
        got = self._parallel(jobs)
        by_event = dict.fromkeys(EVENT_STATUSES, 0)
        by_delivery = dict.fromkeys(DELIVERY_STATUSES, 0)
        for (kind, st, _, _), count in got.items():
            (by_event if kind == "event" else by_delivery)[st] += count
        return by_event, by_delivery

    def activity(self, since_ms: int) -> ports.Activity:
        low = items.order_bound(since_ms)
        days = _days(since_ms, self._now_ms() + CLOCK_SKEW_MS)
        received = sum(
            self._parallel(
                {
                    (d, sh): ("by_time", items.event_time_partition(d, sh), low)
                    for d in days
                    for sh in range(items.SHARDS)
                }
            ).values()
        )
        delivered = failed = 0
        partitions = [
            items.attempt_time_partition(d, sh) for d in days for sh in range(items.SHARDS)
        ]
        for item in self._scan_partitions("by_time", partitions, projection="ok", low=low):
            if item["ok"]["BOOL"]:
                delivered += 1
            else:
                failed += 1
        return ports.Activity(received, delivered, failed)

    def purge(self, older_than_ms: int, cursor: str | None = None) -> ports.PurgeBatch:
        """Nothing to do: DynamoDB's TTL (`expires_at`) deletes expired items itself."""
        return ports.PurgeBatch(0, 0, None)

    # -- reading -------------------------------------------------------------------------------

    def _page(
        self, plan: _Plan, groups: Sequence[Sequence[str]], low: str, high: str, limit: int
    ) -> list[items.Item]:
        """Up to limit + 1 items below `high` (excluded) and from `low` on, newest first."""
        want = limit + 1
        out: list[items.Item] = []
        for group in groups:
            merged: list[items.Item] = []
            for partition in group:
                merged += self._newest(plan, partition, low, high, want - len(out))
            merged.sort(key=lambda item: item[items.INDEXES[plan.index][1]]["S"], reverse=True)
            out += merged[: want - len(out)]
            if len(out) >= want:
                break
        return out

    def _newest(
        self, plan: _Plan, partition: str, low: str, high: str, want: int
    ) -> list[items.Item]:
        pk, sk = items.INDEXES[plan.index]
        kwargs: dict[str, Any] = {
            "IndexName": plan.index,
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :low AND :high",
            "ExpressionAttributeNames": {"#pk": pk, "#sk": sk, **plan.names},
            "ExpressionAttributeValues": {
                ":pk": items.s(partition),
                ":low": items.s(low),
                ":high": items.s(high),
                **plan.values,
            },
            "ScanIndexForward": False,
            # Limit counts the items read before the filter: read a few more when filtering.
            "Limit": want if not plan.filters else max(want, 100),
        }
        if plan.filters:
            kwargs["FilterExpression"] = " AND ".join(plan.filters)
        found: list[items.Item] = []
        for item in self._table.query(**kwargs):
            if item[sk]["S"] == high:  # BETWEEN includes its bound: the cursor's own item
                continue
            found.append(item)
            if len(found) >= want:
                break
        return found

    def _scan_partitions(
        self, index: str, partitions: Sequence[str], projection: str, low: str = MIN
    ) -> Iterator[items.Item]:
        pk, sk = items.INDEXES[index]
        now = items.n(int(self._clock()))
        for partition in partitions:
            yield from self._table.query(
                IndexName=index,
                KeyConditionExpression="#pk = :pk AND #sk >= :low",
                FilterExpression="expires_at > :now",
                ProjectionExpression=projection,
                ExpressionAttributeNames={"#pk": pk, "#sk": sk},
                ExpressionAttributeValues={
                    ":pk": items.s(partition),
                    ":low": items.s(low),
                    ":now": now,
                },
            )

    def _parallel(self, jobs: Mapping[Any, tuple[str, str, str]]) -> dict[Any, int]:
        """COUNT queries (index, partition, lowest sort key), a few at a time."""
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            futures = {name: pool.submit(self._count, *job) for name, job in jobs.items()}
            return {name: future.result() for name, future in futures.items()}

    def _count(self, index: str, partition: str, low: str) -> int:
        pk, sk = items.INDEXES[index]
        kwargs: dict[str, Any] = {
            "TableName": self._table.name,
            "IndexName": index,
            "Select": "COUNT",
            "KeyConditionExpression": "#pk = :pk AND #sk >= :low",
            "FilterExpression": "expires_at > :now",
            "ExpressionAttributeNames": {"#pk": pk, "#sk": sk},
            "ExpressionAttributeValues": {
                ":pk": items.s(partition),
                ":low": items.s(low),
                ":now": items.n(int(self._clock())),
            },
        }
        total = 0
        while True:
            with unavailable(f"counting in {self._table.name}"):
                page = self._table.dynamodb.query(**kwargs)
            total += page.get("Count", 0)
            if "LastEvaluatedKey" not in page:
                return total
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _horizon_ms(self) -> int:
        """Nothing older is still in the table, give or take TTL's lag (a day of slack)."""
        return self._now_ms() - (self._retention_days + 1) * items.DAY_MS


def _shards(make: Callable[..., str], *args: str | None) -> Callable[[str], list[str]]:
    return lambda d: [make(*args, d, sh) for sh in range(items.SHARDS)]


def _days(low_ms: int, high_ms: int) -> list[str]:
    """The UTC days from high_ms's down to low_ms's, newest first."""
    if high_ms < low_ms:
        return []
    first, last = high_ms // items.DAY_MS, low_ms // items.DAY_MS
    return [items.day(d * items.DAY_MS) for d in range(first, last - 1, -1)]


def _paged(
    found: list[items.Item], limit: int, index: str, decode: Callable[[items.Item], T]
) -> ports.Page[T]:
    page = found[:limit]
    more = len(found) > limit
    return ports.Page(
        [decode(item) for item in page],
        items.encode_cursor(index, page[-1]) if more and page else None,
    )


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
