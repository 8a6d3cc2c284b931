"""GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.

https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from webhook_processor import errors
from webhook_processor.verify import base

HEADER = "x-hub-signature-256"


def verifier(source: base.Spec, secrets: Sequence[str]) -> base.Verify:
    keys = base.hmac_keys(secrets)

    def verify(request: base.Request, now: float) -> None:
        value = base.header(request.headers, HEADER)
        if not value.startswith("sha256="):
            raise errors.SignatureInvalid(f"malformed {HEADER} header: expected sha256=<hex>")
        try:
            given = bytes.fromhex(value[7:])
        except ValueError:
            raise errors.SignatureInvalid(
                f"malformed {HEADER} header: not hex after sha256="
            ) from None
        base.check_hmac(keys, request.body, [given])

    return verify


def signer(source: base.Spec, secret: str) -> base.Sign:
    key = secret.encode()

    def sign(body: bytes, now: float, url: str) -> base.Signed:
        digest = hmac.digest(key, body, "sha256").hex()
        return base.Signed({"X-Hub-Signature-256": f"sha256={digest}"}, url)

    return sign
