"""The error an invalid pattern raises, and how its messages show the values they quote."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal


class PatternError(ValueError):
    """An invalid event pattern: ``path`` is the key path in the pattern, ``reason`` the problem."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}" if path else reason)


def describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return type(value).__name__


def show(value: object) -> str:
    try:
        return json.dumps(value, default=str)
    except ValueError:
        return repr(value)
