"""Requests as each provider signs them, written from the providers' docs (GitHub's and Stripe's
live in tests/e2e/helpers.py), never taken from the product."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid

from tests.e2e import helpers


def github(
    secret: str, body: bytes, *, event: str = "push", delivery: str | None = None
) -> dict[str, str]:
    return helpers.github_headers(secret, body, event=event, delivery=delivery)


def stripe(secret: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">."""
    at = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        "Stripe-Signature": helpers.stripe_signature(secret, body, at),
    }


def standard(secret: str, body: bytes, *, msg_id: str | None = None) -> dict[str, str]:
    """Standard Webhooks v1: base64 HMAC-SHA256 of "<id>.<timestamp>.<body>", keyed with the
    base64-decoded part of `whsec_<base64>` (standardwebhooks.com, "Signature scheme")."""
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    timestamp = str(int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = f"{msg_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    return {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": f"v1,{signature}",
    }
