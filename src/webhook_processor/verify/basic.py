"""HTTP Basic: `Authorization: Basic <base64 of username:password>`; the password is the secret.

https://www.rfc-editor.org/rfc/rfc7617
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from webhook_processor import errors
from webhook_processor.verify import base

HEADER = "authorization"


def _username(source: base.Spec) -> str:
    if source.username is None:
        raise ValueError("verify: basic needs 'username'")
    if ":" in source.username:
        raise ValueError("a Basic username cannot contain ':'")
    return source.username


def verifier(source: base.Spec, secrets: Sequence[str]) -> base.Verify:
    username = _username(source)
    expected = [f"{username}:{s}".encode() for s in secrets]

    def verify(request: base.Request, now: float) -> None:
        scheme, _, token = base.header(request.headers, HEADER).partition(" ")
        if scheme.lower() != "basic":
            raise errors.SignatureInvalid(f"malformed {HEADER} header: expected Basic <base64>")
        try:
            given = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise errors.SignatureInvalid(
                f"malformed {HEADER} header: credentials are not valid base64"
            ) from None
        if b":" not in given:
            raise errors.SignatureInvalid(
                f"malformed {HEADER} header: credentials are not username:password"
            )
        base.check_secret(expected, given, "username or password")

    return verify


def signer(source: base.Spec, secret: str) -> base.Sign:
    credentials = base64.b64encode(f"{_username(source)}:{secret}".encode()).decode()

    def sign(body: bytes, now: float, url: str) -> base.Signed:
        return base.Signed({"Authorization": f"Basic {credentials}"}, url)

    return sign
