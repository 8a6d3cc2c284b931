"""Turn a raw body into the event's `detail`, as docs/architecture.md, "The event" says.

JSON objects are the detail. Other JSON values, and text bodies that are neither JSON nor
form-encoded, are wrapped as {"body": <value or text>}. Form bodies become an object of their
fields; repeated keys become lists.
"""

from __future__ import annotations

import decimal
import functools
import json
from typing import Any
from urllib.parse import parse_qsl

import orjson

from webhook_processor import errors

IDENTITY_ENCODINGS = frozenset({"", "identity"})
BOM = b"\xef\xbb\xbf"  # which RFC 8259 lets a parser ignore, and some senders (.NET) write


@functools.lru_cache(maxsize=256)
def media_type(content_type: str | None) -> str:
    """`application/json; charset=utf-8` -> `application/json` (cached: senders repeat theirs)."""
    if not content_type:
        return ""
    return content_type.partition(";")[0].strip().lower()


def is_json(mtype: str) -> bool:
    return mtype == "application/json" or mtype.endswith("+json")


def parse(body: bytes, content_type: str | None, content_encoding: str | None = None) -> Any:
    if content_encoding is not None and content_encoding.strip().lower() not in IDENTITY_ENCODINGS:
        raise errors.UnsupportedMediaType(
            f"Content-Encoding {errors.shown(content_encoding)} is not supported; "
            "send the body uncompressed"
        )
    mtype = media_type(content_type)
    if is_json(mtype):
        try:
            value = orjson.loads(body.removeprefix(BOM))
        except orjson.JSONDecodeError as exc:
            raise errors.MalformedPayload(f"body is not valid JSON: {exc}") from None
        return value if isinstance(value, dict) else {"body": value}
    if mtype == "application/x-www-form-urlencoded":
        return _form(body)
    if not mtype:
        try:
            value = orjson.loads(body.removeprefix(BOM))
        except orjson.JSONDecodeError:
            pass
        else:
            return value if isinstance(value, dict) else {"body": value}
    try:
        return {"body": body.decode("utf-8")}
    except UnicodeDecodeError:
        raise errors.UnsupportedMediaType(
            f"body is binary ({errors.shown(mtype) if mtype else 'no content type'}); "
            "accepted: JSON, form-encoded or UTF-8 text"
        ) from None


def _form(body: bytes) -> dict[str, Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.MalformedPayload("form-encoded body is not valid UTF-8") from None
    out: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        if key not in out:
            out[key] = value
        elif isinstance(out[key], list):
            out[key].append(value)
        else:
            out[key] = [out[key], value]
    return out


def exact_json(body: bytes) -> Any:
    """The detail of a JSON body with every number as written: integers of any size, others as
    Decimal. Slower than `parse`; for the rare field whose fast reading lost digits. None for a
    body nested deeper than Python's parser goes (orjson's goes further)."""
    try:
        value = json.loads(body.removeprefix(BOM), parse_float=decimal.Decimal)
    except RecursionError:
        return None
    return value if isinstance(value, dict) else {"body": value}
