"""Generic HMAC, shaped by the source's config:

    <header>: <prefix><hex or base64 HMAC-<algorithm> of signed_content>

`signed_content` is a template over `{id}`, `{timestamp}` and `{body}` (default "{body}"), filled
with the raw bytes of the `id_header` value, the `timestamp_header` value and the body. When
`timestamp_header` is set, the timestamp must be within `tolerance_seconds` of now.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import uuid
from collections.abc import Sequence

from webhook_processor import errors
from webhook_processor.verify import base

PLACEHOLDER = re.compile(r"\{(\w*)\}")
HEX = re.compile(r"[0-9a-fA-F]+")

# A template part: literal bytes, or the name of a placeholder ("id", "timestamp", "body").
Part = bytes | str


def _template(source: base.Spec) -> list[Part]:
    """Split signed_content into literal bytes and placeholder names, checking each placeholder."""
    pieces = PLACEHOLDER.split(source.signed_content)
    parts: list[Part] = []
    for i, piece in enumerate(pieces):
        if i % 2 == 0:
            if piece:
                parts.append(piece.encode())
        elif piece == "body":
            parts.append(piece)
        elif piece == "timestamp":
            if not source.timestamp_header:
                raise ValueError("signed_content uses {timestamp} but no timestamp_header is set")
            parts.append(piece)
        elif piece == "id":
            if not source.id_header:
                raise ValueError("signed_content uses {id} but no id_header is set")
            parts.append(piece)
        else:
            raise ValueError(
                f"signed_content has an unknown placeholder {{{piece}}} "
                "(known: {id}, {timestamp}, {body})"
            )
    return parts


def _digest(key: bytes, algorithm: str, parts: list[Part], values: dict[str, bytes]) -> bytes:
    mac = hmac.new(key, digestmod=algorithm)
    for part in parts:
        mac.update(part if isinstance(part, bytes) else values[part])
    return mac.digest()


def _header(source: base.Spec) -> str:
    if not source.header:
        raise ValueError("verify: hmac needs 'header'")
    return source.header


def signed_id_header(source: base.Spec) -> str | None:
    """The header whose value is signed as `{id}`, if any: the preset idempotency key."""
    if source.id_header and "id" in PLACEHOLDER.findall(source.signed_content):
        return source.id_header.lower()
    return None


def verifier(source: base.Spec, secrets: Sequence[str]) -> base.Verify:
    parts = _template(source)
    name = _header(source).lower()
    ts_name = source.timestamp_header.lower() if source.timestamp_header else None
    id_name = signed_id_header(source)
    algorithm, encoding, prefix = source.algorithm, source.encoding, source.prefix
    tolerance = source.tolerance_seconds
    keys = [s.encode() for s in secrets]
    form = f"{prefix}<{encoding}>"

    def verify(request: base.Request, now: float) -> None:
        value = base.header(request.headers, name)
        if not value.startswith(prefix) or len(value) == len(prefix):
            raise errors.SignatureInvalid(f"malformed {name} header: expected {form}")
        text = value[len(prefix) :]
        if encoding == "hex":
            if not HEX.fullmatch(text):
                raise errors.SignatureInvalid(f"malformed {name} header: expected {form}")
            given = text.lower().encode()
        else:
            try:
                given = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                raise errors.SignatureInvalid(f"malformed {name} header: expected {form}") from None
        values = {"body": request.body}
        if ts_name is not None:
            timestamp = base.header(request.headers, ts_name)
            base.check_timestamp(timestamp, now, tolerance, f"{ts_name} header")
            values["timestamp"] = timestamp.encode()
        if id_name is not None:
            values["id"] = base.header(request.headers, id_name).encode()
        for key in keys:
            digest = _digest(key, algorithm, parts, values)
            expected = digest.hex().encode() if encoding == "hex" else digest
            if hmac.compare_digest(expected, given):
                return
        raise base.mismatch()

    return verify


def signer(source: base.Spec, secret: str) -> base.Sign:
    parts = _template(source)
    name = _header(source)
    key = secret.encode()

    def sign(body: bytes, now: float, url: str) -> base.Signed:
        headers: dict[str, str] = {}
        values = {"body": body}
        if source.timestamp_header:
            headers[source.timestamp_header] = str(int(now))
            values["timestamp"] = headers[source.timestamp_header].encode()
        if source.id_header:
            headers[source.id_header] = f"msg_{uuid.uuid4().hex}"
            values["id"] = headers[source.id_header].encode()
        digest = _digest(key, source.algorithm, parts, values)
        encoded = digest.hex() if source.encoding == "hex" else base64.b64encode(digest).decode()
        headers[name] = source.prefix + encoded
        return base.Signed(headers, url)

    return sign
