"""The use cases, over the ports, the same on both runtimes: `ingest` (a received webhook to a
stored event and the answer to its sender), `worker` (the local runtime's routing and delivery
loop over the delivery attempt of delivery.py), `operations` (what operators do to a store);
for the local runtime's alerts, `monitoring` (measure and evaluate the rules) and `notifying`
(the notifications, retried on their own)."""

from webhook_processor.services import ingest, monitoring, notifying, operations, worker

__all__ = ["ingest", "monitoring", "notifying", "operations", "worker"]
