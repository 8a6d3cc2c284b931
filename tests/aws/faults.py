"""Fault injection into real boto3 clients, through botocore's event hooks (no wrapper, no mock):
the adapter under test keeps its own client and the call goes to moto unless a fault takes it.

    fail(client, "SendMessage")                 the next call fails before it is sent
    fail(client, "SendMessage", after=True)     the next call is made, its answer is lost
    fail(client, "SendMessage", error=Crash())  the process "dies" there (a BaseException)
    drop_entries(client, "SendMessageBatch", 3) the next batch call fails its last 3 entries,
                                                the way SQS / EventBridge report partial failures

Each returns a Fault whose `hits` counts the calls it took; `remove()` takes it away. Reused by
the scenario suites: import `tests.aws.faults`.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions


class Crash(BaseException):
    """The process ends here: nothing after it runs, no handler catches it (not an Exception)."""


def unavailable(operation: str) -> botocore.exceptions.ClientError:
    answer: Any = {
        "Error": {"Code": "ServiceUnavailable", "Message": "injected fault"},
        "ResponseMetadata": {"HTTPStatusCode": 503},
    }
    return botocore.exceptions.ClientError(answer, operation)


@dataclass
class Fault:
    client: Any
    events: list[tuple[str, Callable[..., Any]]] = field(default_factory=list)
    hits: int = 0

    def remove(self) -> None:
        for name, handler in self.events:
            self.client.meta.events.unregister(name, handler)
        self.events.clear()

    def _on(self, name: str, handler: Callable[..., Any]) -> None:
        self.client.meta.events.register(name, handler)
        self.events.append((name, handler))


def _service(client: Any) -> str:
    return str(client.meta.service_model.service_id.hyphenize())


def fail(
    client: Any,
    operation: str,
    times: int | None = 1,
    error: BaseException | None = None,
    after: bool = False,
) -> Fault:
    """The next `times` calls of `operation` (None: every call) raise `error` (default: a 503
    ClientError): before the request is sent, or `after` the service handled it."""
    fault = Fault(client)

    def handler(**_: Any) -> None:
        if times is not None and fault.hits >= times:
            return
        fault.hits += 1
        raise error if error is not None else unavailable(operation)

    stage = "after-call" if after else "before-call"
    fault._on(f"{stage}.{_service(client)}.{operation}", handler)
    return fault


def drop_entries(
    client: Any, operation: str, count: int, times: int = 1, code: str | None = None
) -> Fault:
    """The next `times` calls of a batch operation (SQS SendMessageBatch, EventBridge PutEvents)
    do not send their last `count` entries, and answer them as failed, in the shape the service
    uses: on the service's side and retryable, unless `code` names another error (SQS: then a
    SenderFault, the entry's own fault)."""
    fault = Fault(client)
    dropped: list[Any] = []
    short: list[bool] = []

    def before(params: dict[str, Any], **_: Any) -> None:
        dropped.clear()
        short.clear()
        if fault.hits >= times or not params.get("Entries"):
            return
        fault.hits += 1
        entries = params["Entries"]
        n = min(count, len(entries))
        dropped.extend(entries[len(entries) - n :])
        if n == len(entries):  # nothing left to send: the call is answered here
            short.append(True)
        else:
            del entries[len(entries) - n :]

    def answer(**_: Any) -> tuple[Any, dict[str, Any]] | None:
        return (types.SimpleNamespace(status_code=200, headers={}), {}) if short else None

    def after(parsed: dict[str, Any], **_: Any) -> None:
        if not dropped:
            return
        if operation == "PutEvents":
            parsed["Entries"] = parsed.get("Entries", []) + [
                {"ErrorCode": code or "ThrottlingException", "ErrorMessage": "injected fault"}
                for _ in dropped
            ]
            parsed["FailedEntryCount"] = parsed.get("FailedEntryCount", 0) + len(dropped)
        else:
            parsed.setdefault("Failed", []).extend(
                {
                    "Id": e["Id"],
                    "SenderFault": code is not None,
                    "Code": code or "InternalError",
                    "Message": "injected fault",
                }
                for e in dropped
            )
        dropped.clear()

    service = _service(client)
    fault._on(f"before-parameter-build.{service}.{operation}", before)
    fault._on(f"before-call.{service}.{operation}", answer)
    fault._on(f"after-call.{service}.{operation}", after)
    return fault


def count(client: Any, operation: str) -> Fault:
    """No fault: counts the calls of `operation` (in `hits`)."""
    fault = Fault(client)

    def handler(**_: Any) -> None:
        fault.hits += 1

    fault._on(f"before-call.{_service(client)}.{operation}", handler)
    return fault


def answer(client: Any, operation: str, parsed: dict[str, Any]) -> tuple[Fault, list[Any]]:
    """Every call of `operation` is answered `parsed` without reaching the endpoint: stands in
    for AWS where moto lacks an action. The second value collects each call's request body."""
    fault = Fault(client)
    bodies: list[Any] = []

    def handler(params: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]]:
        fault.hits += 1
        bodies.append(params.get("body"))
        return types.SimpleNamespace(status_code=200, headers={}), dict(parsed)

    fault._on(f"before-call.{_service(client)}.{operation}", handler)
    return fault, bodies
