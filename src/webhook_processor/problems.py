"""How config problems are put into words: at a key path, bounded in length, and never quoting a
value that may be a secret (one pasted under the wrong key is as secret as one under `secret:`,
and errors end up in terminals, CI logs and journals).

`Problems` lets a model validator report every rule it checks, each at its own key, instead of
stopping at the first: pydantic merges the line errors of a ValidationError raised inside a
validator into its own, under the validated model's location.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Annotated, Any, Union

from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails

SHOWN_CHARS = 40  # of a value quoted in a problem
KEY_CHARS = 64  # of one key in a key path (names are at most 64 characters)
PROBLEM_CHARS = 300  # of a whole problem, whatever it quotes

# The routing envelope's top-level fields (routing.py): a pattern can match nothing else.
ENVELOPE_FIELDS = (
    "version",
    "id",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail-type",
    "detail",
)


class Problems:
    """Problems found by one validator, raised together by `raise_any`."""

    def __init__(self) -> None:
        self._details: list[InitErrorDetails] = []

    def keep(self, exc: ValidationError) -> None:
        """Report the problems of `exc` too (a wrap validator's inner validation)."""
        self._details += [
            InitErrorDetails(type=e["type"], loc=e["loc"], input=e["input"], ctx=e.get("ctx", {}))
            for e in exc.errors()
        ]

    def add(self, loc: tuple[str | int, ...], message: str) -> None:
        self._details.append(
            InitErrorDetails(type="value_error", loc=loc, input=None, ctx={"error": message})
        )

    def raise_any(self, title: str) -> None:
        if self._details:
            raise ValidationError.from_exception_data(title, self._details)


def bounded(text: str, limit: int = SHOWN_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part != "[key]":
            out += ("." if out else "") + bounded(str(part), KEY_CHARS)
    return out


def given(error: Any) -> str:
    """What was given, said as far as it cannot be a secret: a number, a boolean or null is shown;
    text is not (a close allowed value is suggested instead), nor what a mapping or a list holds."""
    value = error.get("input")
    if value is None:
        return " (got null)"
    if isinstance(value, bool):
        return f" (got {str(value).lower()})"
    if isinstance(value, int | float):
        try:
            return f" (got {bounded(repr(value))})"
        except ValueError:  # an int too long to print (sys.get_int_max_str_digits)
            return " (got a number too long to show)"
    if isinstance(value, str):
        expected = re.findall(r"'([^']*)'", str((error.get("ctx") or {}).get("expected", "")))
        hint = difflib.get_close_matches(value, expected, n=1)
        return f" (did you mean '{hint[0]}'?)" if hint else ""
    if isinstance(value, dict):
        return " (got a mapping)"
    if isinstance(value, list):
        return " (got a list)"
    return ""


def pattern_warnings(where: str, pattern: dict[str, Any]) -> list[str]:
    """Top-level fields of a pattern (and of its `$or` branches) that no event has, as problems
    under `where`. A dotted key names its first segment (`detail.amount` is `detail`'s)."""
    found = []
    for key, value in pattern.items():
        if key == "$or" and isinstance(value, list):
            for i, branch in enumerate(value):
                if isinstance(branch, dict):
                    found += pattern_warnings(f"{where}.$or[{i}]", branch)
            continue
        top = key.split(".", 1)[0]
        if top in ENVELOPE_FIELDS:
            continue
        hint = difflib.get_close_matches(top, ENVELOPE_FIELDS, n=1)
        fix = f"did you mean '{hint[0]}'?" if hint else f"its fields: {', '.join(ENVELOPE_FIELDS)}"
        found.append(f"{where}.{bounded(key, KEY_CHARS)}: the event has no such field ({fix})")
    return found


def describe(error: Any, root: type[BaseModel]) -> str:
    """One pydantic error of validating `root` as `key path: problem`."""
    loc = tuple(error["loc"])
    path = key_path(loc) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = allowed_keys(root, loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        fix = f"did you mean '{hint[0]}'?" if hint else f"allowed keys: {', '.join(allowed)}"
        return bounded(f"{path}: unknown key ({fix})", PROBLEM_CHARS)
    if kind == "missing":
        return f"{path}: missing required key"
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind != "value_error":  # our own messages say what they may of the value
        message += given(error)
    return bounded(f"{path}: {message}", PROBLEM_CHARS)


def allowed_keys(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Walk the model tree from `root` along `loc` to list the keys allowed there."""
    node: Any = root
    for part in loc:
        node = _unwrap(node)
        if isinstance(node, type) and issubclass(node, BaseModel):
            field = next((f for n, f in node.model_fields.items() if (f.alias or n) == part), None)
            if field is None:
                return []
            node = field.annotation
        else:
            origin = typing.get_origin(node)
            args = typing.get_args(node)
            if origin in (dict, list) and args:
                node = args[-1]
            else:
                return []
    node = _unwrap(node)
    if isinstance(node, type) and issubclass(node, BaseModel):
        return sorted((f.alias or n) for n, f in node.model_fields.items())
    return []


def _unwrap(node: Any) -> Any:
    origin = typing.get_origin(node)
    if origin is Annotated:
        return _unwrap(typing.get_args(node)[0])
    if origin in (Union, types.UnionType):
        rest = [a for a in typing.get_args(node) if a is not type(None)]
        return _unwrap(rest[0]) if len(rest) == 1 else node
    return node
