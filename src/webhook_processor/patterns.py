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

import ipaddress
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, cast

__all__ = ["Pattern", "PatternError", "compile"]


class PatternError(ValueError):
    """An invalid event pattern: ``path`` is the key path in the pattern, ``reason`` the problem."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}" if path else reason)


# --------------------------------------------------------------------------------------------
# Numbers and IP addresses
# --------------------------------------------------------------------------------------------

_NUMERIC_LIMIT: Final = Decimal("5E9")
_MAX_DECIMALS: Final = 6


def _number(value: object) -> Decimal | None:
    """The exact decimal value of a JSON number; None for anything else (bool is not a number)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # repr() is the shortest text that round-trips: the number as it was written in JSON.
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    return None


def _comparable_problem(number: Decimal) -> str | None:
    """Why a number is outside what numeric matching handles, or None if it is inside."""
    if abs(number) > _NUMERIC_LIMIT:
        return "must be between -5e9 and 5e9 inclusive"
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -_MAX_DECIMALS:
        return "must have at most 6 digits after the decimal point"
    return None


_IPV4_RE: Final = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_IPV6_RE: Final = re.compile(r"[0-9a-fA-F:]*:[0-9a-fA-F:]*")


def _ip(text: str) -> bytes | None:
    """The address bytes of an IP literal as event-ruler reads one (4 or 16 bytes), else None.

    Only dotted quads and hex-and-colon IPv6 forms count (no zone ids, no embedded IPv4); an
    IPv4-mapped IPv6 address is its IPv4 address, as Java's InetAddress reads it.
    """
    if _IPV4_RE.fullmatch(text):
        parts = text.split(".")
        # Leading zeros are ambiguous (octal?) and rejected, as by current JDKs and ipaddress.
        if any(len(part) > 1 and part[0] == "0" for part in parts):
            return None
        octets = [int(part) for part in parts]
        if any(octet > 255 for octet in octets):
            return None
        return bytes(octets)
    if _IPV6_RE.fullmatch(text):
        try:
            address = ipaddress.IPv6Address(text)
        except ValueError:
            return None
        mapped = address.ipv4_mapped
        return mapped.packed if mapped is not None else address.packed
    return None


def _cidr(text: str) -> tuple[bytes, bytes]:
    """The lowest and highest address of a CIDR block; ValueError says what is wrong."""
    parts = text.split("/")
    if len(parts) != 2 or parts[1] == "":
        raise ValueError(f"malformed CIDR {text!r}: one '/' required")
    address_text, bits_text = parts
    if not re.fullmatch(r"[+-]?[0-9]+", bits_text):
        raise ValueError(f"malformed CIDR {text!r}: mask bits must be an integer")
    bits = int(bits_text)
    if bits < 0:
        raise ValueError(f"malformed CIDR {text!r}: mask bits must not be negative")
    address = _ip(address_text)
    if address is None:
        raise ValueError(f"invalid IP address {address_text!r} in CIDR {text!r}")
    width = len(address) * 8
    if bits > width - 1:
        family = "IPv4" if width == 32 else "IPv6"
        raise ValueError(f"{family} mask bits must be < {width} in CIDR {text!r}")
    value = int.from_bytes(address, "big")
    host_mask = (1 << (width - bits)) - 1
    low = value & ~host_mask
    high = value | host_mask
    return low.to_bytes(len(address), "big"), high.to_bytes(len(address), "big")


# --------------------------------------------------------------------------------------------
# Event fields
# --------------------------------------------------------------------------------------------

_UNSET: Final = object()

Membership = Mapping[int, int]


class _Field:
    """One leaf value of the flattened event, with the array elements it sits in."""

    __slots__ = ("_comparable", "_ip", "_number", "membership", "value")

    def __init__(self, value: object, membership: Membership) -> None:
        self.value = value
        self.membership = membership
        self._number: object = _UNSET
        self._comparable: object = _UNSET
        self._ip: object = _UNSET

    @property
    def number(self) -> Decimal | None:
        if self._number is _UNSET:
            self._number = _number(self.value)
        return cast("Decimal | None", self._number)

    @property
    def comparable(self) -> Decimal | None:
        """The number, if numeric matching covers it (within +-5e9, at most 6 decimals)."""
        if self._comparable is _UNSET:
            number = self.number
            ok = number is not None and _comparable_problem(number) is None
            self._comparable = number if ok else None
        return cast("Decimal | None", self._comparable)

    @property
    def ip(self) -> bytes | None:
        if self._ip is _UNSET:
            self._ip = _ip(self.value) if isinstance(self.value, str) else None
        return cast("bytes | None", self._ip)


def _consistent(so_far: Membership, field: Membership) -> Membership | None:
    """event-ruler's array consistency: merged memberships, or None if two elements differ."""
    if not field:
        return so_far
    if not so_far:
        return field
    merged: dict[int, int] | None = None
    for array, index in field.items():
        seen = so_far.get(array)
        if seen is None:
            if merged is None:
                merged = dict(so_far)
            merged[array] = index
        elif seen != index:
            return None
    return so_far if merged is None else merged


class _Flattener:
    """Turns an event into ``path -> fields``, keeping only the paths a pattern can use."""

    def __init__(self, paths: frozenset[str], prefixes: frozenset[str]) -> None:
        self.paths = paths
        self.prefixes = prefixes
        self.fields: dict[str, list[_Field]] = {}
        self.arrays = 0

    def walk_object(self, obj: Mapping[Any, Any], base: str, membership: Membership) -> None:
        paths, prefixes = self.paths, self.prefixes
        for key, value in obj.items():
            if not isinstance(key, str):
                continue
            path = f"{base}.{key}" if base else key
            if path in paths or path in prefixes:
                self.value(value, path, membership)

    def value(self, value: object, path: str, membership: Membership) -> None:
        if isinstance(value, dict) or isinstance(value, Mapping):  # noqa: SIM101 - dict is fast
            if path in self.prefixes:
                self.walk_object(value, path, membership)
        elif isinstance(value, list | tuple):
            if path in self.paths or path in self.prefixes:
                self.array(value, path, membership)
        elif path in self.paths and (
            value is None or isinstance(value, str | bool | int | float | Decimal)
        ):
            self.fields.setdefault(path, []).append(_Field(value, membership))

    def array(self, items: Sequence[Any], path: str, membership: Membership) -> None:
        array_id = self.arrays
        self.arrays += 1
        for index, item in enumerate(items):
            if isinstance(item, Mapping):
                if path in self.prefixes:
                    self.walk_object(item, path, {**membership, array_id: index})
            elif isinstance(item, list | tuple):
                self.array(item, path, {**membership, array_id: index})
            else:
                self.value(item, path, membership)


# --------------------------------------------------------------------------------------------
# Value matchers
# --------------------------------------------------------------------------------------------


class _Matcher:
    """Matches one leaf value of the event."""

    __slots__ = ()

    def __call__(self, field: _Field) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError


class _Exact(_Matcher):
    __slots__ = ("expected",)

    def __init__(self, expected: str | bool | None) -> None:
        self.expected = expected

    def __call__(self, field: _Field) -> bool:
        value = field.value
        if self.expected is None:
            return value is None
        if isinstance(self.expected, bool):
            return isinstance(value, bool) and value is self.expected
        return isinstance(value, str) and value == self.expected


class _ExactNumber(_Matcher):
    __slots__ = ("expected",)

    def __init__(self, expected: Decimal) -> None:
        self.expected = expected

    def __call__(self, field: _Field) -> bool:
        number = field.number
        return number is not None and number == self.expected


class _ExactIP(_Matcher):
    __slots__ = ("address",)

    def __init__(self, address: bytes) -> None:
        self.address = address

    def __call__(self, field: _Field) -> bool:
        return field.ip == self.address


class _Cidr(_Matcher):
    __slots__ = ("high", "low")

    def __init__(self, low: bytes, high: bytes) -> None:
        self.low = low
        self.high = high

    def __call__(self, field: _Field) -> bool:
        address = field.ip
        return (
            address is not None
            and len(address) == len(self.low)
            and self.low <= address <= self.high
        )


class _StringTest(_Matcher):
    """A test on string values only (prefix, suffix, equals-ignore-case, wildcard)."""

    __slots__ = ("test",)

    def __init__(self, test: Callable[[str], bool]) -> None:
        self.test = test

    def __call__(self, field: _Field) -> bool:
        value = field.value
        return isinstance(value, str) and self.test(value)


class _Numeric(_Matcher):
    __slots__ = ("high", "high_open", "low", "low_open")

    def __init__(
        self, low: Decimal | None, low_open: bool, high: Decimal | None, high_open: bool
    ) -> None:
        self.low = low
        self.low_open = low_open
        self.high = high
        self.high_open = high_open

    def __call__(self, field: _Field) -> bool:
        number = field.comparable
        if number is None:
            return False
        if self.low is not None and (number <= self.low if self.low_open else number < self.low):
            return False
        return self.high is None or (number < self.high if self.high_open else number <= self.high)


class _AnythingBut(_Matcher):
    """Passes unless the value is a string (or number) the exclusion names."""

    __slots__ = ("excluded_numbers", "excluded_string")

    def __init__(
        self, excluded_string: Callable[[str], bool] | None, excluded_numbers: frozenset[Decimal]
    ) -> None:
        self.excluded_string = excluded_string
        self.excluded_numbers = excluded_numbers

    def __call__(self, field: _Field) -> bool:
        value = field.value
        if isinstance(value, str):
            return self.excluded_string is None or not self.excluded_string(value)
        if self.excluded_numbers:
            number = field.number
            return number is None or number not in self.excluded_numbers
        return True


class _Exists(_Matcher):
    __slots__ = ()

    def __call__(self, field: _Field) -> bool:
        return True


def _ignore_case_regex(text: str) -> str:
    """event-ruler's equals-ignore-case: each character matches its lower or its upper case."""
    parts = []
    for char in text:
        forms = sorted({char.lower(), char.upper()}, key=len, reverse=True)
        parts.append("(?:" + "|".join(re.escape(form) for form in forms) + ")")
    return "".join(parts)


def _ignore_case_test(text: str, how: str) -> Callable[[str], bool]:
    body = _ignore_case_regex(text)
    if how == "prefix":
        regex = re.compile(body, re.DOTALL)
        return lambda value: regex.match(value) is not None
    if how == "suffix":
        regex = re.compile(f"(?:{body})\\Z", re.DOTALL)
        return lambda value: regex.search(value) is not None
    regex = re.compile(body, re.DOTALL)
    return lambda value: regex.fullmatch(value) is not None


def _wildcard_regex(text: str) -> str:
    """The regex for a wildcard value; ValueError says what is wrong with it."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "*":
            if i + 1 < len(text) and text[i + 1] == "*":
                raise ValueError(f"consecutive wildcard characters at position {i}")
            out.append(".*")
        elif char == "\\":
            if i + 1 < len(text) and text[i + 1] in "*\\":
                out.append(re.escape(text[i + 1]))
                i += 1
            else:
                raise ValueError(
                    f"invalid escape at position {i}: only \\* and \\\\ may be escaped"
                )
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def _affix_test(text: str, how: str) -> Callable[[str], bool]:
    if how == "prefix":
        return lambda value: value.startswith(text)
    return lambda value: value.endswith(text)


def _any_of(tests: list[Callable[[str], bool]]) -> Callable[[str], bool]:
    if len(tests) == 1:
        return tests[0]
    return lambda value: any(test(value) for test in tests)


# --------------------------------------------------------------------------------------------
# The compiler
# --------------------------------------------------------------------------------------------

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
_NUMERIC_OPERATORS: Final = ("=", ">", ">=", "<", "<=")


class _Leaf:
    """The compiled value array of one field: matchers, plus whether absence also matches."""

    __slots__ = ("absent", "matchers")

    def __init__(self, matchers: tuple[_Matcher, ...], absent: bool) -> None:
        self.matchers = matchers
        self.absent = absent


_SubRule = dict[str, _Leaf]


def _describe(value: object) -> str:
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


def _show(value: object) -> str:
    try:
        return json.dumps(value, default=str)
    except ValueError:
        return repr(value)


class _Compiler:
    def __init__(self) -> None:
        self.paths: set[str] = set()

    # -- structure -----------------------------------------------------------------------------

    def pattern(self, pattern: object) -> list[_SubRule]:
        if not isinstance(pattern, Mapping):
            raise PatternError(
                "", f"an event pattern must be a JSON object, not {_describe(pattern)}"
            )
        rules: list[_SubRule] = []
        self.walk_object(pattern, [], [], rules, in_or=False)
        return rules

    def walk_object(
        self,
        obj: Mapping[Any, Any],
        steps: list[str],
        where: list[str],
        rules: list[_SubRule],
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
                    f"pattern values must be arrays or objects, not {_describe(value)} "
                    f"(write [{_show(value)}] to match the value)",
                )

    def or_(self, value: object, steps: list[str], where: list[str], rules: list[_SubRule]) -> None:
        path = ".".join(where)
        if not isinstance(value, list):
            raise PatternError(path, f"$or needs an array of objects, not {_describe(value)}")
        if len(value) < 2:
            raise PatternError(path, "$or needs an array of at least 2 objects")
        before = [dict(rule) for rule in rules]
        rules.clear()
        for index, branch in enumerate(value):
            branch_where = [*where[:-1], f"{_OR}[{index}]"]
            if not isinstance(branch, Mapping):
                raise PatternError(
                    ".".join(branch_where),
                    f"$or array elements must be objects, not {_describe(branch)}",
                )
            forked = [dict(rule) for rule in before] or [{}]
            self.walk_object(branch, steps, branch_where, forked, in_or=True)
            rules.extend(forked)

    def write(self, rules: list[_SubRule], path: str, leaf: _Leaf) -> None:
        self.paths.add(path)
        if not rules:
            rules.append({})
        for rule in rules:
            rule[path] = leaf  # the later of two patterns for the same path wins

    # -- leaf arrays -----------------------------------------------------------------------------

    def leaf(self, values: list[Any], path: str) -> _Leaf:
        if not values:
            raise PatternError(path, "empty arrays are not allowed")
        matchers: list[_Matcher] = []
        absent = False
        for value in values:
            if isinstance(value, Mapping):
                matcher = self.operator(value, path)
                if matcher is None:
                    absent = True
                else:
                    matchers.append(matcher)
            elif isinstance(value, str):
                address = _ip(value)
                matchers.append(_ExactIP(address) if address is not None else _Exact(value))
            elif value is None or isinstance(value, bool):
                matchers.append(_Exact(value))
            elif isinstance(value, int | float | Decimal):
                matchers.append(_ExactNumber(self.number(value, path, "match value")))
            else:
                raise PatternError(
                    path,
                    "array elements must be strings, numbers, true, false, null or "
                    f"operator objects, not {_describe(value)}",
                )
        return _Leaf(tuple(matchers), absent)

    def number(self, value: object, path: str, what: str) -> Decimal:
        number = _number(value)
        if number is None:
            raise PatternError(path, f"{what} {_show(value)} is not a finite JSON number")
        return number

    def comparable(self, value: object, path: str, what: str) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise PatternError(path, f"{what} must be a number, not {_describe(value)}")
        number = self.number(value, path, what)
        problem = _comparable_problem(number)
        if problem is not None:
            raise PatternError(path, f"{what} {_show(value)} {problem}")
        return number

    def operator(self, expression: Mapping[Any, Any], path: str) -> _Matcher | None:
        """A matcher for ``{"op": ...}``; None for ``{"exists": false}``."""
        if not expression:
            raise PatternError(path, "empty operator object: expected one of " + _OPERATORS)
        if len(expression) != 1:
            keys = ", ".join(_show(key) for key in expression)
            raise PatternError(path, f"an operator object takes exactly one key, got {keys}")
        ((name, argument),) = expression.items()
        handler = _HANDLERS.get(name)
        if handler is None:
            raise PatternError(
                path, f"unrecognized operator {_show(name)}: expected one of {_OPERATORS}"
            )
        return handler(self, argument, path)

    def string_argument(self, value: object, path: str, what: str) -> str:
        if not isinstance(value, str):
            raise PatternError(path, f"{what} needs a string, not {_describe(value)}")
        return value

    def prefix_or_suffix(self, argument: object, path: str, how: str) -> _Matcher:
        if isinstance(argument, Mapping):
            if len(argument) != 1 or "equals-ignore-case" not in argument:
                keys = ", ".join(_show(key) for key in argument) or "nothing"
                raise PatternError(
                    path, f'{how} takes a string or {{"equals-ignore-case": string}}, got {keys}'
                )
            text = self.string_argument(
                argument["equals-ignore-case"], path, f"{how} equals-ignore-case"
            )
            return _StringTest(_ignore_case_test(text, how))
        return _StringTest(_affix_test(self.string_argument(argument, path, how), how))

    def prefix(self, argument: object, path: str) -> _Matcher:
        return self.prefix_or_suffix(argument, path, "prefix")

    def suffix(self, argument: object, path: str) -> _Matcher:
        return self.prefix_or_suffix(argument, path, "suffix")

    def equals_ignore_case(self, argument: object, path: str) -> _Matcher:
        text = self.string_argument(argument, path, "equals-ignore-case")
        return _StringTest(_ignore_case_test(text, "equals"))

    def wildcard_test(self, argument: object, path: str, what: str) -> Callable[[str], bool]:
        text = self.string_argument(argument, path, what)
        try:
            regex = re.compile(_wildcard_regex(text), re.DOTALL)
        except ValueError as exc:
            raise PatternError(path, f"{what} {_show(text)}: {exc}") from None
        return lambda value: regex.fullmatch(value) is not None

    def wildcard(self, argument: object, path: str) -> _Matcher:
        return _StringTest(self.wildcard_test(argument, path, "wildcard"))

    def exists(self, argument: object, path: str) -> _Matcher | None:
        if not isinstance(argument, bool):
            raise PatternError(path, f"exists takes true or false, not {_show(argument)}")
        return _Exists() if argument else None

    def cidr(self, argument: object, path: str) -> _Matcher:
        text = self.string_argument(argument, path, "cidr")
        try:
            low, high = _cidr(text)
        except ValueError as exc:
            raise PatternError(path, f"cidr: {exc}") from None
        return _Cidr(low, high)

    def numeric(self, argument: object, path: str) -> _Matcher:
        usage = (
            'numeric needs an operator and a number, e.g. [">", 0] or [">=", 0, "<", 10], '
            f"not {_show(argument)}"
        )
        if not isinstance(argument, list) or len(argument) not in (2, 4):
            raise PatternError(path, usage)
        operator = argument[0]
        if operator not in _NUMERIC_OPERATORS:
            raise PatternError(
                path, f"numeric operator must be one of = > >= < <=, not {_show(operator)}"
            )
        first = self.comparable(argument[1], path, f"numeric {operator} operand")
        if len(argument) == 2:
            if operator == "=":
                return _Numeric(first, False, first, False)
            if operator in (">", ">="):
                return _Numeric(first, operator == ">", None, False)
            return _Numeric(None, False, first, operator == "<")
        if operator not in (">", ">="):
            raise PatternError(
                path, f'a numeric range starts with ">" or ">=" then "<" or "<=", not {operator!r}'
            )
        upper = argument[2]
        if upper not in ("<", "<="):
            raise PatternError(
                path, f'a numeric range ends with "<" or "<=" and a number, not {_show(upper)}'
            )
        second = self.comparable(argument[3], path, f"numeric {upper} operand")
        if not first < second:
            raise PatternError(
                path, f"numeric range lower bound {first} must be less than upper bound {second}"
            )
        return _Numeric(first, operator == ">", second, upper == "<")

    def anything_but(self, argument: object, path: str) -> _Matcher:
        if isinstance(argument, Mapping):
            return self.anything_but_operator(argument, path)
        values = argument if isinstance(argument, list) else [argument]
        if isinstance(argument, list) and not argument:
            raise PatternError(path, "anything-but list must not be empty")
        strings: set[str] = set()
        numbers: set[Decimal] = set()
        for value in values:
            if isinstance(value, str):
                strings.add(value)
            elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
                numbers.add(self.comparable(value, path, "anything-but number"))
            else:
                raise PatternError(
                    path,
                    "anything-but takes a string, a number, a list of only strings or only "
                    f"numbers, or a prefix/suffix/equals-ignore-case/wildcard object, "
                    f"not {_describe(value)}",
                )
        if strings and numbers:
            raise PatternError(
                path, "anything-but list must be all strings or all numbers, not a mix"
            )
        excluded = frozenset(strings)
        return _AnythingBut(excluded.__contains__ if excluded else None, frozenset(numbers))

    def anything_but_operator(self, argument: Mapping[Any, Any], path: str) -> _Matcher:
        if len(argument) != 1:
            keys = ", ".join(_show(key) for key in argument) or "nothing"
            raise PatternError(
                path,
                "anything-but takes one of prefix, suffix, equals-ignore-case, wildcard; "
                f"got {keys}",
            )
        ((name, value),) = argument.items()
        if name not in ("prefix", "suffix", "equals-ignore-case", "wildcard"):
            raise PatternError(
                path,
                f"unsupported anything-but operator {_show(name)}: expected prefix, suffix, "
                "equals-ignore-case or wildcard",
            )
        what = f"anything-but {name}"
        values = value if isinstance(value, list) else [value]
        if not values:
            raise PatternError(path, f"{what} list must not be empty")
        tests: list[Callable[[str], bool]] = []
        for item in values:
            if name == "wildcard":
                tests.append(self.wildcard_test(item, path, what))
                continue
            text = self.string_argument(item, path, what)
            if name == "equals-ignore-case":
                tests.append(_ignore_case_test(text, "equals"))
                continue
            if not text:
                raise PatternError(path, f"{what} must not be an empty string")
            tests.append(_affix_test(text, name))
        return _AnythingBut(_any_of(tests), frozenset())


_HANDLERS: Final[dict[str, Callable[[_Compiler, object, str], _Matcher | None]]] = {
    "prefix": _Compiler.prefix,
    "suffix": _Compiler.suffix,
    "equals-ignore-case": _Compiler.equals_ignore_case,
    "wildcard": _Compiler.wildcard,
    "anything-but": _Compiler.anything_but,
    "numeric": _Compiler.numeric,
    "exists": _Compiler.exists,
    "cidr": _Compiler.cidr,
}
_OPERATORS: Final = ", ".join(_HANDLERS)


def _utf16_order(key: str) -> bytes:
    """event-ruler sorts field names as Java strings (UTF-16 code units)."""
    return key.encode("utf-16-be", "surrogatepass")


class Pattern:
    """A compiled, validated EventBridge event pattern."""

    __slots__ = ("_paths", "_prefixes", "_rules", "source")

    def __init__(self, source: Mapping[str, Any], rules: list[_SubRule], paths: set[str]) -> None:
        self.source = source
        # Each sub-rule is one branch of the $or expansion: its fields, sorted as event-ruler
        # visits them (the order decides which array elements exists:false is checked against).
        self._rules: tuple[tuple[tuple[str, _Leaf], ...], ...] = tuple(
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
        return f"Pattern({_show(self.source)})"

    def matches(self, event: Mapping[str, Any]) -> bool:
        """Whether the event (a whole EventBridge envelope, as a dict) matches the pattern."""
        if not isinstance(event, Mapping):
            raise TypeError(f"an event must be a JSON object (dict), not {type(event).__name__}")
        flattener = _Flattener(self._paths, self._prefixes)
        flattener.walk_object(event, "", {})
        fields = flattener.fields
        return any(_match_rule(rule, 0, fields, {}) for rule in self._rules)


_NO_FIELDS: Final[list[_Field]] = []


def _match_rule(
    rule: tuple[tuple[str, _Leaf], ...],
    index: int,
    fields: Mapping[str, list[_Field]],
    membership: Membership,
) -> bool:
    """Backtracking search for one array-consistent choice of event fields for the rule's keys."""
    if index == len(rule):
        return True
    path, leaf = rule[index]
    candidates = fields.get(path, _NO_FIELDS)
    absent = leaf.absent and not any(
        _consistent(membership, field.membership) is not None for field in candidates
    )
    if absent and _match_rule(rule, index + 1, fields, membership):
        return True
    for field in candidates:
        merged = _consistent(membership, field.membership)
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
    compiler = _Compiler()
    rules = compiler.pattern(parsed)
    return Pattern(parsed, rules, compiler.paths)


def _reject_constant(name: str) -> object:
    raise PatternError("", f"the event pattern is not valid JSON: {name} is not a JSON number")
