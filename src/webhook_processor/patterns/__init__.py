"""EventBridge event-pattern matching, as Amazon EventBridge applies it.

``compile(pattern)`` parses and validates a pattern once (a dict, or its JSON text) and returns a
:class:`Pattern`; ``Pattern.matches(event)`` tests a whole EventBridge envelope
(``{"version", "id", "source", "detail-type", "time", "region", "account", "resources",
"detail"}``).  Invalid patterns raise :class:`PatternError` (a ``ValueError``) whose message starts
with the key path inside the pattern, e.g. ``detail.amount: numeric needs ...``.

The semantics follow the EventBridge user guide ("Event patterns", "Comparison operators",
"Arrays", "Null values and empty strings") and, where the guide is silent, aws/event-ruler, the
matching library EventBridge is built on.

Supported syntax
----------------
Structure
    A pattern is a non-empty JSON object.  An object value nests (``"detail": {"state": [...]}``);
    an array value is a *leaf*: the field matches when its value matches any element of the array.
    Fields of one object are ANDed.  Keys are joined with ``.``, so ``{"detail": {"a.b": [1]}}`` and
    ``{"detail": {"a": {"b": [1]}}}`` are the same pattern, and either matches an event field
    written either way.  When a path is given twice the later one wins.  Empty objects, empty arrays
    and scalar values where an object or array is expected are invalid.
Exact values
    Strings (case-sensitive, no normalisation; ``""`` matches only the empty string), numbers,
    ``true``, ``false`` and ``null`` (``null`` and ``""`` are different).  Strings and numbers never
    match each other: ``["5"]`` does not match ``5``.  Numbers are compared by value
    (``[300]`` matches ``300.0`` and ``3.0e2``).  A string that is an IPv4/IPv6 address matches the
    same address in any spelling (``"::1"`` matches ``"0:0:0:0:0:0:0:1"``).
Arrays in events
    When the event field is an array, the pattern matches if any element matches.  Inside arrays of
    objects matching is *array-consistent*: the fields one pattern object names must all be matched
    within the same array element (event-ruler's ``rulesForJSONEvent``).
``{"prefix": "s"}`` / ``{"suffix": "s"}``
    String starts / ends with ``s``; ``{"prefix": {"equals-ignore-case": "s"}}`` and
    ``{"suffix": {"equals-ignore-case": "s"}}`` ignore case.  Strings only.
``{"equals-ignore-case": "s"}``
    String equal to ``s`` ignoring case.
``{"wildcard": "a*b"}``
    ``*`` matches any run of characters (also none); ``\\*`` is a literal star and ``\\\\`` a
    literal backslash; consecutive ``**`` and any other backslash escape are invalid.
``{"anything-but": ...}``
    The field exists and its value is not one of: a string, a number, a non-empty list of only
    strings or only numbers, ``{"prefix": s|[s...]}``, ``{"suffix": s|[s...]}`` (non-empty strings),
    ``{"equals-ignore-case": s|[s...]}`` or ``{"wildcard": s|[s...]}``.  A value of another type
    always passes (``{"anything-but": "x"}`` matches ``5`` and ``null``); for an array field any
    element that passes is enough.
``{"numeric": [op, n]}`` / ``{"numeric": [">"|">=", n, "<"|"<=", m]}``
    ``op`` is one of ``= > >= < <=``; a range gives its lower bound first and needs ``n < m``.
    Operands are JSON numbers in [-5e9, 5e9] with at most 6 decimal places.  Only JSON numbers in
    that range and precision match (not strings, not booleans).
``{"exists": true|false}``
    Whether the field is present as a leaf.  ``null`` is present; an object, ``{}`` or ``[]`` is
    not a leaf value, so ``exists: false`` matches it.  Combined with other values in the same
    array it ORs (``["x", {"exists": false}]``: "x" or absent).
``{"cidr": "10.0.0.0/24"}``
    String holding an IPv4/IPv6 address inside the block (IPv4 prefix 0-31, IPv6 prefix 0-127, as
    event-ruler validates).
``"$or": [{...}, {...}, ...]``
    At any level: at least two non-empty objects, any of which must match; ``$or`` objects may not
    use operator names (``prefix``, ``numeric``, ...) as field names.

Not modelled: EventBridge's pattern-size and wildcard-complexity limits, and event-ruler's
``{"exactly": ...}`` (not part of EventBridge's documented syntax, so it is rejected here).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from webhook_processor.patterns import flatten, matchers, parse
from webhook_processor.patterns.errors import PatternError, show

__all__ = ["Pattern", "PatternError", "compile"]

# Defined in a submodule so that the parser can raise it; named here, where callers import it
# from, so that reprs and tracebacks show webhook_processor.patterns.PatternError.
PatternError.__module__ = __name__


def _utf16_order(key: str) -> bytes:
    """event-ruler sorts field names as Java strings (UTF-16 code units)."""
    return key.encode("utf-16-be", "surrogatepass")


class Pattern:
    """A compiled, validated EventBridge event pattern."""

    __slots__ = ("_paths", "_prefixes", "_rules", "source")

    def __init__(
        self, source: Mapping[str, Any], rules: list[parse.SubRule], paths: set[str]
    ) -> None:
        self.source = source
        # Each sub-rule is one branch of the $or expansion: its fields, sorted as event-ruler
        # visits them (the order decides which array elements exists:false is checked against).
        self._rules: tuple[tuple[tuple[str, matchers.Leaf], ...], ...] = tuple(
            tuple(sorted(rule.items(), key=lambda item: _utf16_order(item[0]))) for rule in rules
        )
        self._paths = frozenset(paths)
        prefixes: set[str] = set()
        for path in paths:
            for index, char in enumerate(path):
                if char == ".":
                    prefixes.add(path[:index])
        self._prefixes = frozenset(prefixes)

    def __repr__(self) -> str:
        return f"Pattern({show(self.source)})"

    def matches(self, event: Mapping[str, Any]) -> bool:
        """Whether the event (a whole EventBridge envelope, as a dict) matches the pattern."""
        if not isinstance(event, Mapping):
            raise TypeError(f"an event must be a JSON object (dict), not {type(event).__name__}")
        flattener = flatten.Flattener(self._paths, self._prefixes)
        flattener.walk(event)
        fields = flattener.fields
        return any(_match_rule(rule, 0, fields, {}) for rule in self._rules)


_NO_FIELDS: Final[list[flatten.Field]] = []


def _match_rule(
    rule: tuple[tuple[str, matchers.Leaf], ...],
    index: int,
    fields: Mapping[str, list[flatten.Field]],
    membership: flatten.Membership,
) -> bool:
    """Backtracking search for one array-consistent choice of event fields for the rule's keys."""
    if index == len(rule):
        return True
    path, leaf = rule[index]
    candidates = fields.get(path, _NO_FIELDS)
    absent = leaf.absent and not any(
        flatten.consistent(membership, field.membership) is not None for field in candidates
    )
    if absent and _match_rule(rule, index + 1, fields, membership):
        return True
    for field in candidates:
        merged = flatten.consistent(membership, field.membership)
        if merged is None or not any(matcher(field) for matcher in leaf.matchers):
            continue
        if _match_rule(rule, index + 1, fields, merged):
            return True
    return False


def compile(pattern: Mapping[str, Any] | str) -> Pattern:
    """Parse and validate an EventBridge event pattern (a dict or its JSON text)."""
    if isinstance(pattern, str | bytes):
        try:
            parsed = json.loads(
                pattern,
                parse_float=Decimal,
                parse_constant=_reject_constant,
            )
        except ValueError as exc:
            if isinstance(exc, PatternError):
                raise
            raise PatternError("", f"the event pattern is not valid JSON: {exc}") from None
    else:
        parsed = pattern
    compiler = parse.Compiler()
    rules = compiler.pattern(parsed)
    return Pattern(parsed, rules, compiler.paths)


def _reject_constant(name: str) -> object:
    raise PatternError("", f"the event pattern is not valid JSON: {name} is not a JSON number")
