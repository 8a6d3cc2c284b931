"""SQS: sending messages, the visibility timeout as a delivery's backoff, and DLQ redrive.

- `Queue.send_many`: SendMessageBatch, 10 messages and at most 1 MiB a call; the entries SQS
  failed on its side are sent again, a bounded number of times, then StoreUnavailable names them.
  Entries refused for what they are (SenderFault: too large, bad characters) fail at once.
- `visibility_timeout`: a backoff in seconds as a message's new visibility timeout, clamped so
  the message's total time invisible stays within SQS's 12 hours counted from its receipt.
- `redrive`: moves a dead-letter queue's messages back, with StartMessageMoveTask where the
  endpoint has it, else (moto) with a bounded receive / send / delete loop.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from webhook_processor import errors
from webhook_processor.adapters.aws import clients

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

log = logging.getLogger(__name__)

MAX_BATCH = 10  # entries per SendMessageBatch / DeleteMessageBatch
MAX_MESSAGE_BYTES = 1024 * 1024  # a message, and a whole batch (since January 2026)
MAX_VISIBILITY = 43_200  # s: 12 hours, counted from the receipt of the message
# The Lambda poller may hold a received message up to its batching window (at most 300 s) before
# the handler runs; the margin keeps a visibility change within the 12 hours nevertheless.
VISIBILITY_MARGIN = 360
SEND_ATTEMPTS = 3


class Queue:
    """One queue, by URL."""

    def __init__(
        self,
        url: str,
        client: SQSClient | None = None,
        attempts: int = SEND_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self._client = client if client is not None else clients.sqs()
        self._attempts = attempts
        self._sleep = sleep

    def send(self, body: str) -> None:
        """One message; StoreUnavailable when SQS did not take it (botocore retried already)."""
        try:
            self._client.send_message(QueueUrl=self.url, MessageBody=body)
        except clients.FAILURES as exc:
            raise errors.StoreUnavailable(
                f"SQS did not take the message for {self._name}: {clients.describe(exc)}"
            ) from None

    def send_many(self, bodies: Sequence[str], delay_seconds: int = 0) -> None:
        """Every message, in batches; StoreUnavailable if some could not be sent (the others
        were: sending again duplicates them, which every consumer of whp's queues tolerates)."""
        for batch in _batches(bodies):
            self._send_batch(batch, delay_seconds)

    def _send_batch(self, bodies: Sequence[str], delay_seconds: int) -> None:
        pending: dict[str, str] = {str(i): body for i, body in enumerate(bodies)}
        cause = ""
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(random.uniform(0, min(2.0, 0.1 * 2**attempt)))  # noqa: S311
            entries: list[SendMessageBatchRequestEntryTypeDef] = [
                {"Id": i, "MessageBody": body, "DelaySeconds": delay_seconds}
                for i, body in pending.items()
            ]
            try:
                answer = self._client.send_message_batch(QueueUrl=self.url, Entries=entries)
            except clients.FAILURES as exc:
                cause = clients.describe(exc)
                continue
            for ok in answer.get("Successful", []):
                pending.pop(ok["Id"], None)
            failed = answer.get("Failed", [])
            refused = [f for f in failed if f.get("SenderFault")]
            if refused:
                first = refused[0]
                raise errors.StoreUnavailable(
                    f"SQS refused {len(refused)} message(s) for {self._name}: "
                    f"{first.get('Code')}: {first.get('Message', '')}"
                )
            if not pending:
                return
            cause = "; ".join(sorted({f"{f.get('Code')}: {f.get('Message', '')}" for f in failed}))
        raise errors.StoreUnavailable(
            f"SQS did not take {len(pending)} of {len(bodies)} message(s) for {self._name} "
            f"after {self._attempts} attempts: {cause}"
        )

    def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        try:
            self._client.change_message_visibility(
                QueueUrl=self.url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
            )
        except clients.FAILURES as exc:
            raise errors.StoreUnavailable(
                f"SQS did not change a message's visibility in {self._name}: "
                f"{clients.describe(exc)}"
            ) from None

    def depth(self) -> tuple[int, int]:
        """(messages waiting: visible or delayed, messages received and not deleted yet), both
        approximate, as SQS counts them."""
        try:
            got = self._client.get_queue_attributes(
                QueueUrl=self.url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesDelayed",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
        except clients.FAILURES as exc:
            raise errors.StoreUnavailable(
                f"SQS did not answer for {self._name}: {clients.describe(exc)}"
            ) from None
        waiting = int(got.get("ApproximateNumberOfMessages", "0"))
        waiting += int(got.get("ApproximateNumberOfMessagesDelayed", "0"))
        return waiting, int(got.get("ApproximateNumberOfMessagesNotVisible", "0"))

    @property
    def _name(self) -> str:
        return self.url.rsplit("/", 1)[-1]


def _batches(bodies: Sequence[str]) -> list[list[str]]:
    out: list[list[str]] = []
    size = 0
    for body in bodies:
        length = len(body.encode())
        if length > MAX_MESSAGE_BYTES:
            raise errors.StoreUnavailable(
                f"a message of {length} bytes is over SQS's limit of {MAX_MESSAGE_BYTES}"
            )
        if not out or len(out[-1]) == MAX_BATCH or size + length > MAX_MESSAGE_BYTES:
            out.append([])
            size = 0
        out[-1].append(body)
        size += length
    return out


def visibility_timeout(delay_seconds: float, elapsed_seconds: float = 0.0) -> int:
    """The visibility timeout that makes a received message come back after `delay_seconds`.

    SQS rejects a change that makes a message invisible for more than 12 hours in total since
    it was received (ChangeMessageVisibility, "you can't extend ... beyond 12 hours"), so the
    delay is clamped to what is left of those 12 hours: `elapsed_seconds` is how long the handler
    has run, and VISIBILITY_MARGIN covers the time the message spent in the poller before."""
    room = MAX_VISIBILITY - VISIBILITY_MARGIN - math.ceil(max(0.0, elapsed_seconds))
    return max(0, min(math.ceil(max(0.0, delay_seconds)), room))


def receive_count(record: Mapping[str, Any]) -> int:
    """A Lambda SQS record's ApproximateReceiveCount: 1 the first time it is received."""
    raw = (record.get("attributes") or {}).get("ApproximateReceiveCount")
    try:
        count = int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        count = 0
    if count < 1:
        raise errors.WhpError(
            f"SQS record {record.get('messageId', '?')} has no valid ApproximateReceiveCount "
            f"(got {raw!r}); is the event an SQS batch?"
        )
    return count


# -- redrive -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Redriven:
    """How a redrive went: an SQS move task started (`task`: its handle; it runs on its own, and
    `moved` is the number of messages the DLQ held), or the fallback loop moved `moved`."""

    moved: int
    task: str | None = None


def redrive(
    client: SQSClient, dlq_url: str, queue_url: str, limit: int = 10_000, wait_seconds: int = 1
) -> Redriven:
    """Move the messages of `dlq_url` back to `queue_url`."""
    try:
        dlq = client.get_queue_attributes(
            QueueUrl=dlq_url, AttributeNames=["QueueArn", "ApproximateNumberOfMessages"]
        )["Attributes"]
        queue_arn = client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
    except clients.FAILURES as exc:
        raise errors.StoreUnavailable(f"SQS did not answer: {clients.describe(exc)}") from None
    try:
        task = client.start_message_move_task(SourceArn=dlq["QueueArn"], DestinationArn=queue_arn)
    except clients.FAILURES as exc:
        if not unsupported(exc):
            raise errors.StoreUnavailable(
                f"SQS did not start a message move task: {clients.describe(exc)}"
            ) from None
        log.info("StartMessageMoveTask is not supported here: moving messages one by one")
        return Redriven(_move(client, dlq_url, queue_url, limit, wait_seconds))
    return Redriven(int(dlq.get("ApproximateNumberOfMessages", "0")), task["TaskHandle"])


def unsupported(exc: BaseException) -> bool:
    """Whether a failed call means "this endpoint has no such action" (an emulator): an AWS
    error code saying so, or an HTTP 500/501 whose reply was no AWS error document at all
    (botocore then gives the status as the code: moto answers an unimplemented action so)."""
    code = clients.error_code(exc)
    if code in {"InvalidAction", "UnsupportedOperation", "NotImplemented", "501"}:
        return True
    return code == "500"


def _move(client: SQSClient, dlq_url: str, queue_url: str, limit: int, wait_seconds: int) -> int:
    """Receive, send, delete, 10 at a time, until the DLQ answers empty twice or `limit` moved.
    A crash between the send and the delete leaves a message in both queues: delivered twice at
    worst (receivers dedupe on webhook-id), never lost."""
    moved = 0
    empty = 0
    target = Queue(queue_url, client)
    while moved < limit and empty < 2:
        try:
            got = client.receive_message(
                QueueUrl=dlq_url,
                MaxNumberOfMessages=min(MAX_BATCH, limit - moved),
                WaitTimeSeconds=wait_seconds,
                VisibilityTimeout=60,
            ).get("Messages", [])
        except clients.FAILURES as exc:
            raise errors.StoreUnavailable(
                f"SQS did not answer while redriving: {clients.describe(exc)}"
            ) from None
        if not got:
            empty += 1
            continue
        empty = 0
        target.send_many([m["Body"] for m in got])
        try:
            client.delete_message_batch(
                QueueUrl=dlq_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
                ],
            )
        except clients.FAILURES as exc:
            raise errors.StoreUnavailable(
                f"SQS did not delete redriven messages from the DLQ: {clients.describe(exc)}"
            ) from None
        moved += len(got)
    return moved
