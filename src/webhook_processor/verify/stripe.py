"""Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...][,v0=...]`, each v1 the hex
HMAC-SHA256 of `{t}.{body}` keyed with the endpoint secret (`whsec_...`) taken as UTF-8 bytes,
not base64-decoded. Any v1 matching any configured secret passes; other schemes are ignored.

https://docs.stripe.com/webhooks#verify-manually
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from webhook_processor import config
from webhook_processor.verify import base

HEADER = "stripe-signature"


def verifier(source: config.Source, secrets: Sequence[str]) -> base.Verify:
    keys = base.hmac_keys(secrets)
    tolerance = source.tolerance_seconds

    def verify(request: base.Request, now: float) -> None:
        value = base.header(request.headers, HEADER)
        timestamp, given = base.parse_pairs(value, ",", HEADER, "t", "v1")
        base.check_timestamp(timestamp, now, tolerance, f"{HEADER} timestamp")
        signed = timestamp.encode() + b"." + request.body
        base.check_hmac(keys, signed, given, base.hex_digest)

    return verify


def signer(source: config.Source, secret: str) -> base.Sign:
    key = secret.encode()

    def sign(body: bytes, now: float, url: str) -> base.Signed:
        ts = str(int(now))
        digest = hmac.digest(key, ts.encode() + b"." + body, "sha256").hex()
        return base.Signed({"Stripe-Signature": f"t={ts},v1={digest}"}, url)

    return sign
