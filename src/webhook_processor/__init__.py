"""webhook-processor: receive, verify, durably store, route and deliver webhooks."""

__version__ = "0.1.0"
