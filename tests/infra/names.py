"""docs/aws.md's naming rule, written from the page (not from the module), for the tests."""

from __future__ import annotations

import hashlib


def fit(name: str, n: int) -> str:
    """fit(name, n): the name if it fits in n, else its first n - 9 characters, "-" and the
    first 8 hex digits of its sha256 (docs/aws.md, "Names")."""
    if len(name) <= n:
        return name
    return name[: n - 9] + "-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
