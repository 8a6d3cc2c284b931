"""Square: `x-square-hmacsha256-signature: <base64 HMAC-SHA256 of the notification URL + body>`.

The notification URL is the one configured in the Square Developer Console (`public_url`).
https://developer.squareup.com/docs/webhooks/step3validate
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from webhook_processor import errors
from webhook_processor.verify import base

HEADER = "x-square-hmacsha256-signature"


def _digest(key: bytes, url: str, body: bytes) -> bytes:
    return base64.b64encode(hmac.new(key, url.encode() + body, hashlib.sha256).digest())


def verifier(source: base.Spec, secrets: Sequence[str]) -> base.Verify:
    keys = base.hmac_keys(secrets)

    def verify(request: base.Request, now: float) -> None:
        given = base.header(request.headers, HEADER).encode()
        if not request.url:
            raise errors.SignatureInvalid("cannot verify: the notification URL is unknown")
        base.check_hmac(keys, request.url.encode() + request.body, [given], base.base64_digest)

    return verify


def signer(source: base.Spec, secret: str) -> base.Sign:
    key = secret.encode()

    def sign(body: bytes, now: float, url: str) -> base.Signed:
        digest = _digest(key, url, body).decode()
        return base.Signed({"X-Square-HmacSha256-Signature": digest}, url)

    return sign
