"""Reading the table's time-ordered partitions: a page merged from many partitions, and counts.

A listing is groups of partitions, newest group first (a day's shards, say): the partitions of a
group are read newest first and merged, and the page goes on to the next group until it holds
`limit` + 1 items (the one more says whether there is a next page). Every partition is read
below one sort key (the cursor's) and from another (`since`): sort keys are unique and
time-ordered across partitions (items.py), so one key bounds them all.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from webhook_processor import ports
from webhook_processor.adapters.aws import items
from webhook_processor.adapters.aws.dynamodb import Table, unavailable

MAX = "9999999999999~"  # above every sort key
MIN = "0"
T = TypeVar("T")


@dataclass(slots=True)
class Plan:
    """Which listing a page is of (its cursors say so), its partitions, and what it filters on."""

    listing: str
    filters: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    values: items.Item = field(default_factory=dict)

    def where(self, expression: str, **values: dict[str, Any]) -> None:
        self.filters.append(expression)
        self.values.update({f":{k}": v for k, v in values.items()})


def page(
    table: Table, plan: Plan, groups: Sequence[Sequence[str]], low: str, high: str, limit: int
) -> list[items.Item]:
    """Up to limit + 1 items below `high` (excluded) and from `low` on, newest first."""
    want = limit + 1
    out: list[items.Item] = []
    for group in groups:
        merged: list[items.Item] = []
        for partition in group:
            merged += _newest(table, plan, partition, low, high, want - len(out))
        merged.sort(key=lambda item: item["sk"]["S"], reverse=True)
        out += merged[: want - len(out)]
        if len(out) >= want:
            break
    return out


def _newest(
    table: Table, plan: Plan, partition: str, low: str, high: str, want: int
) -> list[items.Item]:
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
        "ExpressionAttributeValues": {
            ":pk": items.s(partition),
            ":low": items.s(low),
            ":high": items.s(high),
            **plan.values,
        },
        "ScanIndexForward": False,
        "ConsistentRead": True,
        # Limit counts the items read before the filter: read a few more when filtering.
        "Limit": want if not plan.filters else max(want, 100),
    }
    if plan.names:
        kwargs["ExpressionAttributeNames"] = dict(plan.names)
    if plan.filters:
        kwargs["FilterExpression"] = " AND ".join(plan.filters)
    found: list[items.Item] = []
    for item in table.query(**kwargs):
        if item["sk"]["S"] == high:  # BETWEEN includes its bound: the cursor's own item
            continue
        found.append(item)
        if len(found) >= want:
            break
    return found


def paged(
    found: list[items.Item], limit: int, listing: str, decode: Callable[[items.Item], T]
) -> ports.Page[T]:
    shown = found[:limit]
    more = len(found) > limit
    return ports.Page(
        [decode(item) for item in shown],
        items.encode_cursor(listing, shown[-1]) if more and shown else None,
    )


def scan(
    table: Table, partitions: Sequence[str], projection: str, now_s: int, low: str = MIN
) -> Iterator[items.Item]:
    """Every unexpired item of these partitions from `low` on, with only `projection` (names
    of attributes, each given as #name), partitions a few at a time."""
    names = {f"#{name.strip()}": name.strip() for name in projection.split(",")}

    def one(partition: str) -> list[items.Item]:
        return list(
            table.query(
                KeyConditionExpression="pk = :pk AND sk >= :low",
                FilterExpression="expires_at > :now",
                ProjectionExpression=", ".join(names),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={
                    ":pk": items.s(partition),
                    ":low": items.s(low),
                    ":now": items.n(now_s),
                },
            )
        )

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        for found in pool.map(one, partitions):
            yield from found


def counts(table: Table, jobs: Mapping[Any, tuple[str, str]], now_s: int) -> dict[Any, int]:
    """COUNT queries (partition, lowest sort key), a few at a time."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        futures = {name: pool.submit(count, table, *job, now_s) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


def count(table: Table, partition: str, low: str, now_s: int) -> int:
    """The unexpired items of a partition from `low` on (DynamoDB reads them all to count)."""
    kwargs: dict[str, Any] = {
        "TableName": table.name,
        "Select": "COUNT",
        "KeyConditionExpression": "pk = :pk AND sk >= :low",
        "FilterExpression": "expires_at > :now",
        "ExpressionAttributeValues": {
            ":pk": items.s(partition),
            ":low": items.s(low),
            ":now": items.n(now_s),
        },
    }
    total = 0
    while True:
        with unavailable(f"counting in {table.name}"):
            answer = table.dynamodb.query(**kwargs)
        total += answer.get("Count", 0)
        if "LastEvaluatedKey" not in answer:
            return total
        kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def shards(day_: str) -> list[str]:
    """A day's state partitions."""
    return [items.partition(day_, sh) for sh in range(items.SHARDS)]


def days(low_ms: int, high_ms: int) -> list[str]:
    """The UTC days from high_ms's down to low_ms's, newest first."""
    if high_ms < low_ms:
        return []
    first, last = high_ms // items.DAY_MS, low_ms // items.DAY_MS
    return [items.day(d * items.DAY_MS) for d in range(first, last - 1, -1)]
