"""One attempt at a time to a destination whose `max_concurrency` is 1 (docs/aws.md, "Concurrency").

An event source mapping runs at most its maximum concurrency of invocations for a queue, and that
maximum is at least 2; for `max_concurrency: 1` each invocation attempts its batch's messages one
after the other (deliverer.attempts_at_once), and the two invocations take turns through a lease,
an item of the table:

    pk = lease#<destination>, sk = lease: holder (the message id), until_ms

taken with a conditional put (free, or its holder's time is up), given back after the attempt
(a conditional delete: only by its holder). An invocation that finds it taken waits, polling,
until it is free or until the invocation would not have the time for the attempt: the wait costs
function time, not an attempt. Only then is the message handed back to SQS (a few seconds of
visibility), which uses one of its receives. A lease lasts the attempt's timeout and a margin: an
attempt cannot outlive its timeout, and an invocation that crashes holding one frees it when the
time is up.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from webhook_processor import errors
from webhook_processor.adapters.aws import clients, items
from webhook_processor.adapters.aws.dynamodb import Table, unavailable

MARGIN_SECONDS = 30.0  # beyond the attempt's timeout: recording it, clock skew between functions
POLL_SECONDS = 0.2


class Leases:
    def __init__(
        self,
        table: Table,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._table = table
        self._clock = clock
        self._sleep = sleep
        self._monotonic = monotonic

    def take(self, destination: str, holder: str, seconds: float, give_up_at: float) -> bool:
        """Take `destination`'s lease for `seconds`, waiting for it until `give_up_at`
        (time.monotonic); False if it was not free by then."""
        while True:
            if self._try(destination, holder, seconds):
                return True
            if self._monotonic() + POLL_SECONDS > give_up_at:
                return False
            self._sleep(POLL_SECONDS)

    def give_back(self, destination: str, holder: str) -> None:
        try:
            with unavailable(f"giving back the lease of {destination}"):
                self._table.dynamodb.delete_item(
                    TableName=self._table.name,
                    Key=_key(destination),
                    ConditionExpression="holder = :me",
                    ExpressionAttributeValues={":me": items.s(holder)},
                )
        except errors.StoreUnavailable as exc:
            if "ConditionalCheckFailed" not in exc.detail:
                raise  # else not ours any more (its time was up): nothing to give back

    def _try(self, destination: str, holder: str, seconds: float) -> bool:
        now_ms = int(self._clock() * 1000)
        item = {
            **_key(destination),
            "kind": items.s("lease"),
            "holder": items.s(holder),
            "until_ms": items.n(now_ms + int(seconds * 1000)),
        }
        try:
            self._table.dynamodb.put_item(
                TableName=self._table.name,
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR until_ms < :now OR holder = :me",
                ExpressionAttributeValues={":now": items.n(now_ms), ":me": items.s(holder)},
            )
        except clients.FAILURES as exc:
            if clients.error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise errors.StoreUnavailable(
                f"taking the lease of {destination}: {clients.describe(exc)}"
            ) from None
        return True


def _key(destination: str) -> items.Item:
    return {"pk": items.s(f"lease#{destination}"), "sk": items.s("lease")}
