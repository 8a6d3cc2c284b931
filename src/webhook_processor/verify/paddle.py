"""Paddle Billing: `Paddle-Signature: ts=<unix>;h1=<hex>[;h1=<hex>...]`, each h1 the hex
HMAC-SHA256 of `{ts}:{body}` keyed with the notification destination's secret key (UTF-8 bytes).
Several h1 values appear during secret rotation; any match passes. Paddle's SDKs allow 5 s of
clock skew; we use the source's tolerance_seconds, in both directions.

https://developer.paddle.com/webhooks/signature-verification
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from webhook_processor import config
from webhook_processor.verify import base

HEADER = "paddle-signature"


def verifier(source: config.Source, secrets: Sequence[str]) -> base.Verify:
    keys = base.hmac_keys(secrets)
    tolerance = source.tolerance_seconds

    def verify(request: base.Request, now: float) -> None:
        value = base.header(request.headers, HEADER)
        timestamp, given = base.parse_pairs(value, ";", HEADER, "ts", "h1")
        base.check_timestamp(timestamp, now, tolerance, f"{HEADER} timestamp")
        signed = timestamp.encode() + b":" + request.body
        base.check_hmac(keys, signed, given, base.hex_digest)

    return verify


def signer(source: config.Source, secret: str) -> base.Sign:
    key = secret.encode()

    def sign(body: bytes, now: float, url: str) -> base.Signed:
        ts = str(int(now))
        digest = hmac.digest(key, ts.encode() + b":" + body, "sha256").hex()
        return base.Signed({"Paddle-Signature": f"ts={ts};h1={digest}"}, url)

    return sign
