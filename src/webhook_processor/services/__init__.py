"""The use cases, over the ports, the same on both runtimes: `ingest` (a received webhook to a
stored event and the answer to its sender), `worker` (the local runtime's routing and delivery
loop over the delivery attempt of delivery.py), `operations` (what operators do to a store)."""

from webhook_processor.services import ingest, operations, worker

__all__ = ["ingest", "operations", "worker"]
