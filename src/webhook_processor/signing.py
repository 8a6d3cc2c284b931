"""Standard Webhooks v1 signatures, once for both sides: verifying what senders sign
(verify/standard.py) and signing what whp delivers (delivery.py).

A v1 signature is `v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}.{body}">`, keyed by the bytes of
a `whsec_<base64>` secret (padding optional, as the official libraries accept).

https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of a secret, not one


def b64decode(text: str) -> bytes | None:
    """Base64 with or without its padding; None when it is not base64."""
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        return None


def signed_content(msg_id: str, timestamp: str, body: bytes) -> bytes:
    return f"{msg_id}.{timestamp}.".encode() + body


def v1_digest(key: bytes, content: bytes) -> bytes:
    return hmac.new(key, content, hashlib.sha256).digest()


def v1(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    """The `webhook-signature` entry for one message."""
    digest = v1_digest(key, signed_content(msg_id, timestamp, body))
    return "v1," + base64.b64encode(digest).decode()
