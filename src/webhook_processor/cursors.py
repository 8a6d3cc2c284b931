"""Opaque paging cursors: a store's position in a listing, as text a client hands back.

A cursor is url-safe base64 of a small JSON object that only the store that made it reads (SQLite
keeps a row number, DynamoDB its LastEvaluatedKey). Clients must not build or read them; a cursor
that does not decode to what the store expects is a UsageError (400 in the admin API).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import orjson

from webhook_processor import errors

MAX_CURSOR_CHARS = 2048


def encode(position: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")


def decode(cursor: str, *keys: str) -> dict[str, Any]:
    """The position in `cursor`, which must hold `keys`; UsageError when it is not one of ours."""
    problem = errors.UsageError(
        "invalid cursor: pass the `next` value of the previous page as it is"
    )
    if len(cursor) > MAX_CURSOR_CHARS:
        raise problem
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = orjson.loads(raw)
    except (binascii.Error, ValueError):
        raise problem from None
    if not isinstance(position, dict) or any(key not in position for key in keys):
        raise problem
    return position


def integers(cursor: str, *keys: str) -> dict[str, int]:
    """`decode`, for a position of whole numbers (SQLite's row numbers): each of `keys` must hold
    one, or the cursor is not one of ours (it would otherwise fail in the store, or page wrong)."""
    position = decode(cursor, *keys)
    if any(not _int64(position[key]) for key in keys):
        raise errors.UsageError(
            "invalid cursor: pass the `next` value of the previous page as it is"
        )
    return {key: position[key] for key in keys}


def _int64(value: Any) -> bool:
    """A whole number SQLite can hold (bool is no int here)."""
    return type(value) is int and -(2**63) <= value < 2**63
