"""Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>`, keyed with the app's client
secret (or the store's webhook signing key) as UTF-8 bytes. No timestamp is signed.

https://shopify.dev/docs/apps/build/webhooks/subscribe/https
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence

from webhook_processor import errors
from webhook_processor.verify import base

HEADER = "x-shopify-hmac-sha256"


def verifier(source: base.Spec, secrets: Sequence[str]) -> base.Verify:
    keys = base.hmac_keys(secrets)

    def verify(request: base.Request, now: float) -> None:
        value = base.header(request.headers, HEADER)
        try:
            given = base64.b64decode(value.strip(), validate=True)
        except binascii.Error:
            raise errors.SignatureInvalid(f"malformed {HEADER} header: not base64") from None
        if len(given) != hashlib.sha256().digest_size:
            raise errors.SignatureInvalid(
                f"malformed {HEADER} header: expected the base64 of a 32-byte HMAC-SHA256"
            )
        base.check_hmac(keys, request.body, [given])

    return verify


def signer(source: base.Spec, secret: str) -> base.Sign:
    key = secret.encode()

    def sign(body: bytes, now: float, url: str) -> base.Signed:
        digest = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()
        return base.Signed({"X-Shopify-Hmac-Sha256": digest}, url)

    return sign
