"""Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...][,v0=...]`, each v1 the hex
HMAC-SHA256 of `{t}.{body}` keyed with the endpoint secret (`whsec_...`) taken as UTF-8 bytes,
not base64-decoded. Any v1 matching any configured secret passes; other schemes are ignored.

https://docs.stripe.com/webhooks#verify-manually
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from webhook_processor import config, errors
from webhook_processor.verify import base

HEADER = "stripe-signature"


def _parse(value: str) -> tuple[str, list[bytes]]:
    timestamp: str | None = None
    signatures: list[bytes] = []
    for item in value.split(","):
        key, sep, val = item.strip().partition("=")
        if not sep:
            continue
        if key == "t" and timestamp is None:
            timestamp = val
        elif key == "v1":
            signatures.append(val.encode())
    if timestamp is None or not signatures:
        raise errors.SignatureInvalid(f"malformed {HEADER} header: expected t=<unix>,v1=<hex>")
    return timestamp, signatures


def verifier(source: config.Source, secrets: Sequence[str]) -> base.Verify:
    keys = [s.encode() for s in secrets]
    tolerance = source.tolerance_seconds

    def verify(request: base.Request, now: float) -> None:
        timestamp, given = _parse(base.header(request.headers, HEADER))
        base.check_timestamp(timestamp, now, tolerance, f"{HEADER} timestamp")
        signed = timestamp.encode() + b"." + request.body
        for key in keys:
            expected = hmac.new(key, signed, hashlib.sha256).hexdigest().encode()
            if any(hmac.compare_digest(expected, sig) for sig in given):
                return
        raise base.mismatch()

    return verify


def signer(source: config.Source, secret: str) -> base.Sign:
    key = secret.encode()

    def sign(body: bytes, now: float, url: str) -> base.Signed:
        ts = str(int(now))
        digest = hmac.new(key, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        return base.Signed({"Stripe-Signature": f"t={ts},v1={digest}"}, url)

    return sign
