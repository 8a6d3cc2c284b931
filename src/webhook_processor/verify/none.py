"""No verification: every request is accepted, and `whp send` adds no headers."""

from __future__ import annotations

from collections.abc import Sequence

from webhook_processor.verify import base


def verifier(source: base.Spec, secrets: Sequence[str]) -> base.Verify:
    def verify(request: base.Request, now: float) -> None:
        return None

    return verify


def signer(source: base.Spec, secret: str) -> base.Sign:
    def sign(body: bytes, now: float, url: str) -> base.Signed:
        return base.Signed({}, url)

    return sign
