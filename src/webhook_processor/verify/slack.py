"""Slack: `X-Slack-Request-Timestamp: <unix>` and `X-Slack-Signature: v0=<hex>`, the hex
HMAC-SHA256 of `v0:{timestamp}:{body}` keyed with the app's signing secret (UTF-8 bytes).

When a Request URL is set up, Slack sends a signed `url_verification` event and accepts the URL
only if the answer, a 200, carries its `challenge` back.

https://api.slack.com/authentication/verifying-requests-from-slack
https://api.slack.com/events/url_verification
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

from webhook_processor import errors
from webhook_processor.verify import base

TIMESTAMP_HEADER = "x-slack-request-timestamp"
SIGNATURE_HEADER = "x-slack-signature"


def verifier(source: base.Spec, secrets: Sequence[str]) -> base.Verify:
    keys = base.hmac_keys(secrets)
    tolerance = source.tolerance_seconds

    def verify(request: base.Request, now: float) -> None:
        timestamp = base.header(request.headers, TIMESTAMP_HEADER)
        value = base.header(request.headers, SIGNATURE_HEADER)
        base.check_timestamp(timestamp, now, tolerance, f"{TIMESTAMP_HEADER} header")
        if not value.startswith("v0="):
            raise errors.SignatureInvalid(f"malformed {SIGNATURE_HEADER} header: expected v0=<hex>")
        signed = b"v0:" + timestamp.encode() + b":" + request.body
        base.check_hmac(keys, signed, [value[3:].encode()], base.hex_digest)

    return verify


def signer(source: base.Spec, secret: str) -> base.Sign:
    key = secret.encode()

    def sign(body: bytes, now: float, url: str) -> base.Signed:
        ts = str(int(now))
        digest = hmac.new(key, b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
        headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}
        return base.Signed(headers, url)

    return sign


def challenge(detail: Any) -> str | None:
    """The challenge of a `url_verification` event; None for any other payload."""
    if isinstance(detail, dict) and detail.get("type") == "url_verification":
        value = detail.get("challenge")
        if isinstance(value, str):
            return value
    return None
