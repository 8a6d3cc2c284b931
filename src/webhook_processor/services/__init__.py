"""The use cases, over the ports, the same on both runtimes: `ingest` (a received webhook to a
stored event and the answer to its sender), `worker` (the local runtime's routing and delivery
loop over the delivery attempt of delivery.py), `operations` (what operators do to a store);
for the local runtime's alerts, `monitoring` (measure and evaluate the rules) and `notifying`
(the notifications, retried on their own).

Each is imported when first used (`services.worker`, ...), so that a Lambda function loads only
its own: the ingest function never imports the local worker.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from webhook_processor.services import ingest, monitoring, notifying, operations, worker

__all__ = ["ingest", "monitoring", "notifying", "operations", "worker"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
