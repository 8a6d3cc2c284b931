"""API key: the configured header (`header`) carries the key itself, compared as is."""

from __future__ import annotations

from collections.abc import Sequence

from webhook_processor.verify import base


def _header(source: base.Spec) -> str:
    if not source.header:
        raise ValueError("verify: api-key needs 'header'")
    return source.header


def verifier(source: base.Spec, secrets: Sequence[str]) -> base.Verify:
    name = _header(source).lower()
    keys = [s.encode() for s in secrets]

    def verify(request: base.Request, now: float) -> None:
        given = base.header(request.headers, name).encode()
        base.check_secret(keys, given, "API key")

    return verify


def signer(source: base.Spec, secret: str) -> base.Sign:
    name = _header(source)

    def sign(body: bytes, now: float, url: str) -> base.Signed:
        return base.Signed({name: secret}, url)

    return sign
