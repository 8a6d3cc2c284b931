"""A pattern's structure (nested objects, ``$or`` branches, leaf arrays) parsed into sub-rules."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from webhook_processor.patterns import matchers, operators, scalars
from webhook_processor.patterns.errors import PatternError, describe, show

_OR: Final = "$or"
_RESERVED_IN_OR: Final = frozenset(
    {
        "exactly",
        "equals-ignore-case",
        "prefix",
        "suffix",
        "anything-but",
        "exists",
        "wildcard",
        "numeric",
        "cidr",
        "=",
        "<",
        "<=",
        ">",
        ">=",
        "regex",
        "not-wildcard",
        "not-equals-ignore-case",
        "date-after",
        "date-on-or-after",
        "date-before",
        "date-on-or-before",
        "in-date-range",
        "ip-address-in-range",
        "ip-address-not-in-range",
    }
)

SubRule = dict[str, matchers.Leaf]


class Compiler:
    def __init__(self) -> None:
        self.paths: set[str] = set()

    # -- structure -----------------------------------------------------------------------------

    def pattern(self, pattern: object) -> list[SubRule]:
        if not isinstance(pattern, Mapping):
            raise PatternError(
                "", f"an event pattern must be a JSON object, not {describe(pattern)}"
            )
        rules: list[SubRule] = []
        self.walk_object(pattern, [], [], rules, in_or=False)
        return rules

    def walk_object(
        self,
        obj: Mapping[Any, Any],
        steps: list[str],
        where: list[str],
        rules: list[SubRule],
        *,
        in_or: bool,
    ) -> None:
        if not obj:
            raise PatternError(".".join(where), "empty objects are not allowed")
        for key, value in obj.items():
            if not isinstance(key, str):
                raise PatternError(".".join(where), f"field names must be strings, not {key!r}")
            if key == _OR:
                self.or_(value, steps, [*where, _OR], rules)
                continue
            here = [*where, key]
            if in_or and key in _RESERVED_IN_OR:
                raise PatternError(
                    ".".join(here),
                    f'"{key}" is an operator name and cannot be used as a field name inside $or',
                )
            if isinstance(value, Mapping):
                self.walk_object(value, [*steps, key], here, rules, in_or=in_or)
            elif isinstance(value, list):
                self.write(rules, ".".join([*steps, key]), self.leaf(value, ".".join(here)))
            else:
                raise PatternError(
                    ".".join(here),
                    f"pattern values must be arrays or objects, not {describe(value)} "
                    f"(write [{show(value)}] to match the value)",
                )

    def or_(self, value: object, steps: list[str], where: list[str], rules: list[SubRule]) -> None:
        path = ".".join(where)
        if not isinstance(value, list):
            raise PatternError(path, f"$or needs an array of objects, not {describe(value)}")
        if len(value) < 2:
            raise PatternError(path, "$or needs an array of at least 2 objects")
        before = [dict(rule) for rule in rules]
        rules.clear()
        for index, branch in enumerate(value):
            branch_where = [*where[:-1], f"{_OR}[{index}]"]
            if not isinstance(branch, Mapping):
                raise PatternError(
                    ".".join(branch_where),
                    f"$or array elements must be objects, not {describe(branch)}",
                )
            forked = [dict(rule) for rule in before] or [{}]
            self.walk_object(branch, steps, branch_where, forked, in_or=True)
            rules.extend(forked)

    def write(self, rules: list[SubRule], path: str, leaf: matchers.Leaf) -> None:
        self.paths.add(path)
        if not rules:
            rules.append({})
        for rule in rules:
            rule[path] = leaf  # the later of two patterns for the same path wins

    # -- leaf arrays -----------------------------------------------------------------------------

    def leaf(self, values: list[Any], path: str) -> matchers.Leaf:
        if not values:
            raise PatternError(path, "empty arrays are not allowed")
        found: list[matchers.Matcher] = []
        absent = False
        for value in values:
            if isinstance(value, Mapping):
                matcher = operators.matcher(value, path)
                if matcher is None:
                    absent = True
                else:
                    found.append(matcher)
            elif isinstance(value, str):
                address = scalars.ip(value)
                found.append(
                    matchers.ExactIP(address) if address is not None else matchers.Exact(value)
                )
            elif value is None or isinstance(value, bool):
                found.append(matchers.Exact(value))
            elif isinstance(value, int | float | Decimal):
                found.append(
                    matchers.ExactNumber(operators.number_argument(value, path, "match value"))
                )
            else:
                raise PatternError(
                    path,
                    "array elements must be strings, numbers, true, false, null or "
                    f"operator objects, not {describe(value)}",
                )
        return matchers.Leaf(tuple(found), absent)
