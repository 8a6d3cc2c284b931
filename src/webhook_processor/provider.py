"""`whp send`: a correctly signed test webhook for a source, built as its provider would send it.

Every send carries a fresh provider delivery id, where the server reads the source's idempotency
key (a header, or a field of the JSON body, set before signing): sending an example file again is
then a new event, as a provider's next webhook would be, not a duplicate of the first. `keep_id`
sends the file's own id instead, to try out deduplication.
"""

from __future__ import annotations

import json
import secrets
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from webhook_processor import errors, fields, presets, verify

_ALNUM = string.ascii_letters + string.digits
_LOWER_ALNUM = string.ascii_lowercase + string.digits
_UPPER_ALNUM = string.ascii_uppercase + string.digits

# The shape of the delivery ids that providers put in the body, so that a test event looks like
# theirs; any other id (GitHub's, Shopify's, GitLab's headers, Square's event_id) is a UUID.
_SHAPES: dict[str, Callable[[], str]] = {
    "stripe": lambda: "evt_" + _token(_ALNUM, 24),  # evt_1NG8Du2eZvKYlo2CUI79vXWy
    "paddle": lambda: "evt_" + _token(_LOWER_ALNUM, 26),  # evt_01h8bkrfe7w1vwf8xmytwn51e7
    "slack": lambda: "Ev" + _token(_UPPER_ALNUM, 8),  # Ev08MFMKH6
}


@dataclass(frozen=True, slots=True)
class Outgoing:
    url: str
    headers: dict[str, str]
    body: bytes


def content_type_for(source: verify.Spec, body: bytes) -> str:
    try:
        json.loads(body)
    except ValueError:
        if source.scheme == "twilio":
            return "application/x-www-form-urlencoded"
        return "text/plain; charset=utf-8"
    return "application/json"


def build(
    source: verify.Spec,
    secret: str,
    body: bytes,
    url: str,
    now: float,
    *,
    event_type: str | None = None,
    content_type: str | None = None,
    headers: dict[str, str] | None = None,
    keep_id: bool = False,
) -> Outgoing:
    """Sign `body` for `source` and post it to `url` (the server's own address).

    A scheme that signs the URL signs `public_url` when the source has one: that is the URL the
    server checks against. Any query the signer adds (Twilio's bodySHA256) is carried over.
    Headers in `headers` replace those of the same name that whp would send."""
    out = {"Content-Type": content_type or content_type_for(source, body), "User-Agent": "whp-send"}
    type_specs, key_specs = presets.specs(source)
    if event_type is not None:
        spec = type_specs[0] if type_specs else None
        if spec is None or spec.kind != "header":
            where = f"from {spec}" if spec else "from nowhere (it is always 'unknown')"
            raise errors.UsageError(
                f"--event-type: this source takes its event type {where}; put the type in the file"
            )
        out[spec.arg] = event_type
    body = _with_fresh_id(source, key_specs, body, keep_id)
    given = {name.lower() for name in headers or {}}
    out = {name: value for name, value in out.items() if name.lower() not in given}
    out.update(headers or {})
    try:
        sign = verify.signer(source, secret)
    except ValueError as exc:
        raise errors.UsageError(f"cannot sign for this source: {exc}") from None
    signed_url = source.public_url or url
    signed = sign(body, now, signed_url)
    # A delivery id of its own, as the provider sends one, unless the signer made the id: a
    # second id header beside the signed one would be read instead of it.
    signed_names = {name.lower() for name in signed.headers}
    key_headers = [spec.arg for spec in key_specs if spec.kind == "header"]
    if (
        key_headers
        and key_specs[0].kind == "header"
        and signed_names.isdisjoint(key_headers)
        and given.isdisjoint(key_headers)
    ):
        out[key_headers[0]] = fresh_id(source)  # not in the file: fresh unless given with -H
    out.update(signed.headers)
    added = signed.url.removeprefix(signed_url)  # e.g. Twilio's "?bodySHA256=..."
    if added:
        url += ("&" if "?" in url else "?") + added.lstrip("?&")
    return Outgoing(url, out, body)


def fresh_id(source: verify.Spec) -> str:
    shape = _SHAPES.get(source.scheme) if source.idempotency_key is None else None
    return shape() if shape is not None else str(uuid.uuid4())


def _with_fresh_id(
    source: verify.Spec, specs: tuple[fields.FieldSpec, ...], body: bytes, keep_id: bool
) -> bytes:
    """`body`, with a fresh id where the server reads the key: the first of the source's key
    specs that yields a value, as fields.extract reads them. A header spec is set by `build`
    once it knows which headers the signer sets (a signed id is the key: no second one)."""
    detail = _json_object(body)
    for spec in specs:
        if spec.kind in ("header", "const"):
            return body
        old = fields.extract((spec,), {}, detail) if detail is not None else None
        if old is not None:
            if keep_id:
                return body
            value = _at(detail, spec.path)
            new: str | int = (
                secrets.randbelow(2**53) if isinstance(value, int) else fresh_id(source)
            )
            return _replaced(body, spec.path, value, new)
    return body


def _replaced(body: bytes, path: tuple[str, ...], old: Any, new: str | int) -> bytes:
    """`body` with the value at `path` set to `new`. Where the old value's JSON text occurs once,
    only that text changes and the file's layout is kept; else the document is re-serialized."""
    for text in dict.fromkeys((json.dumps(old), json.dumps(old, ensure_ascii=False))):
        raw = text.encode()
        if body.count(raw) == 1:
            candidate = body.replace(raw, json.dumps(new).encode())
            if _at(_json_object(candidate), path) == new:
                return candidate
    document = json.loads(body)
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = new
    return json.dumps(document, ensure_ascii=False).encode()


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _at(detail: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(detail, dict):
            return None
        detail = detail.get(key)
    return detail


def _token(alphabet: str, size: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(size))
