"""Where an event's type and idempotency key come from: `header:<Name>`, `json:<dotted.path>`,
`const:<value>`.

A spec is parsed once (config load); extraction runs per request, so it stays a few dict lookups.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from webhook_processor import payload

Kind = Literal["header", "json", "const"]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    kind: Kind
    arg: str
    path: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.kind}:{self.arg}"


def parse(spec: str) -> FieldSpec:
    """Parse `header:X`, `json:a.b` or `const:v`; raise ValueError naming the problem."""
    kind, sep, arg = spec.partition(":")
    if not sep or kind not in ("header", "json", "const"):
        raise ValueError(
            f"{spec!r} must start with header:, json: or const: (e.g. header:X-Event-Type)"
        )
    if not arg:
        raise ValueError(f"{spec!r} names nothing after {kind}:")
    if kind == "header":
        return FieldSpec("header", arg.lower())
    if kind == "json":
        path = tuple(arg.split("."))
        if "" in path:
            raise ValueError(f"{spec!r} has an empty segment in its dotted path")
        return FieldSpec("json", arg, path)
    return FieldSpec("const", arg)


def extract(
    specs: tuple[FieldSpec, ...],
    headers: Mapping[str, str],
    detail: Any,
    body: bytes | None = None,
) -> str | None:
    """The first spec that yields a non-empty scalar wins; None when none does.

    A number read as a float may have lost digits (the fast JSON parser reads integers beyond 64
    bits as floats): it is read again from `body`, the JSON that `detail` came from, parsed with
    every number as written (when that parser can)."""
    for spec in specs:
        value: Any
        if spec.kind == "header":
            value = headers.get(spec.arg)
        elif spec.kind == "const":
            value = spec.arg
        else:
            value = _at(detail, spec.path)
            if isinstance(value, float) and body is not None:
                precise = payload.exact_json(body)
                value = value if precise is None else _at(precise, spec.path)
        if isinstance(value, bool) or value is None or isinstance(value, dict | list):
            continue
        text = value if isinstance(value, str) else str(value)
        if text:
            return text
    return None


def _at(detail: Any, path: tuple[str, ...]) -> Any:
    value = detail
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value
