"""Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...][,v0=...]`, each v1 the hex
HMAC-SHA256 of `{t}.{body}` keyed with the endpoint secret (`whsec_...`) taken as UTF-8 bytes,
not base64-decoded. Any v1 matching any configured secret passes; other schemes are ignored.

https://docs.stripe.com/webhooks#verify-manually
"""

from __future__ import annotations

from webhook_processor.verify import base

SCHEME = base.TimestampedPairs("Stripe-Signature", ",", "t", "v1", b".")
verifier = SCHEME.verifier
signer = SCHEME.signer
