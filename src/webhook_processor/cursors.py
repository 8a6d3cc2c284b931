"""Page cursors: where a listing goes on from, as a short URL-safe string (ports.Page.next).

A store writes its own position into one (SQLite a seq, DynamoDB its LastEvaluatedKey) and reads
it back from the next request. Callers pass them along without looking inside: the text is
base64url of JSON, so it survives shells, URLs and JSON untouched. A cursor that does not decode
to what the store wrote is a usage error, never a crash or a silent first page.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import orjson

from webhook_processor import errors

MAX_LENGTH = 4096  # far above any position a store writes; keeps garbage from being parsed


def encode(position: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(dict(position))).rstrip(b"=").decode()


def decode(text: str, keys: Mapping[str, type]) -> dict[str, Any]:
    """The position in `text`, which must hold exactly `keys`, each of its type; UsageError
    otherwise."""
    invalid = errors.UsageError(f"{text[:80]!r} is not a cursor this store gave")
    if len(text) > MAX_LENGTH:
        raise invalid
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        position = orjson.loads(raw)
    except (binascii.Error, ValueError):  # orjson.JSONDecodeError is a ValueError
        raise invalid from None
    if not isinstance(position, dict) or position.keys() != keys.keys():
        raise invalid
    if any(type(position[key]) is not kind for key, kind in keys.items()):  # True is no int
        raise invalid
    return position
