"""Paddle Billing: `Paddle-Signature: ts=<unix>;h1=<hex>[;h1=<hex>...]`, each h1 the hex
HMAC-SHA256 of `{ts}:{body}` keyed with the notification destination's secret key (UTF-8 bytes).
Several h1 values appear during secret rotation; any match passes. Paddle's SDKs allow 5 s of
clock skew; we use the source's tolerance_seconds, in both directions.

https://developer.paddle.com/webhooks/signature-verification
"""

from __future__ import annotations

from webhook_processor.verify import base

SCHEME = base.TimestampedPairs("Paddle-Signature", ";", "ts", "h1", b":")
verifier = SCHEME.verifier
signer = SCHEME.signer
