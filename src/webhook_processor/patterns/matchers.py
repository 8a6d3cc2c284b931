"""Matchers: the tests one leaf value of the event must pass, and the string tests they run."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

from webhook_processor.patterns import flatten


class Matcher:
    """Matches one leaf value of the event."""

    __slots__ = ()

    def __call__(self, field: flatten.Field) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError


class Exact(Matcher):
    __slots__ = ("expected",)

    def __init__(self, expected: str | bool | None) -> None:
        self.expected = expected

    def __call__(self, field: flatten.Field) -> bool:
        value = field.value
        if self.expected is None:
            return value is None
        if isinstance(self.expected, bool):
            return isinstance(value, bool) and value is self.expected
        return isinstance(value, str) and value == self.expected


class ExactNumber(Matcher):
    __slots__ = ("expected",)

    def __init__(self, expected: Decimal) -> None:
        self.expected = expected

    def __call__(self, field: flatten.Field) -> bool:
        number = field.number
        return number is not None and number == self.expected


class ExactIP(Matcher):
    __slots__ = ("address",)

    def __init__(self, address: bytes) -> None:
        self.address = address

    def __call__(self, field: flatten.Field) -> bool:
        return field.ip == self.address


class Cidr(Matcher):
    __slots__ = ("high", "low")

    def __init__(self, low: bytes, high: bytes) -> None:
        self.low = low
        self.high = high

    def __call__(self, field: flatten.Field) -> bool:
        address = field.ip
        return (
            address is not None
            and len(address) == len(self.low)
            and self.low <= address <= self.high
        )


class StringTest(Matcher):
    """A test on string values only (prefix, suffix, equals-ignore-case, wildcard)."""

    __slots__ = ("test",)

    def __init__(self, test: Callable[[str], bool]) -> None:
        self.test = test

    def __call__(self, field: flatten.Field) -> bool:
        value = field.value
        return isinstance(value, str) and self.test(value)


class Numeric(Matcher):
    __slots__ = ("high", "high_open", "low", "low_open")

    def __init__(
        self, low: Decimal | None, low_open: bool, high: Decimal | None, high_open: bool
    ) -> None:
        self.low = low
        self.low_open = low_open
        self.high = high
        self.high_open = high_open

    def __call__(self, field: flatten.Field) -> bool:
        number = field.comparable
        if number is None:
            return False
        if self.low is not None and (number <= self.low if self.low_open else number < self.low):
            return False
        return self.high is None or (number < self.high if self.high_open else number <= self.high)


class AnythingBut(Matcher):
    """Passes unless the value is a string (or number) the exclusion names."""

    __slots__ = ("excluded_numbers", "excluded_string")

    def __init__(
        self, excluded_string: Callable[[str], bool] | None, excluded_numbers: frozenset[Decimal]
    ) -> None:
        self.excluded_string = excluded_string
        self.excluded_numbers = excluded_numbers

    def __call__(self, field: flatten.Field) -> bool:
        value = field.value
        if isinstance(value, str):
            return self.excluded_string is None or not self.excluded_string(value)
        if self.excluded_numbers:
            number = field.number
            return number is None or number not in self.excluded_numbers
        return True


class Exists(Matcher):
    __slots__ = ()

    def __call__(self, field: flatten.Field) -> bool:
        return True


class Leaf:
    """The compiled value array of one field: matchers, plus whether absence also matches."""

    __slots__ = ("absent", "matchers")

    def __init__(self, matchers: tuple[Matcher, ...], absent: bool) -> None:
        self.matchers = matchers
        self.absent = absent


def _ignore_case_regex(text: str) -> str:
    """event-ruler's equals-ignore-case: each character matches its lower or its upper case."""
    parts = []
    for char in text:
        forms = sorted({char.lower(), char.upper()}, key=len, reverse=True)
        parts.append("(?:" + "|".join(re.escape(form) for form in forms) + ")")
    return "".join(parts)


def ignore_case_test(text: str, how: str) -> Callable[[str], bool]:
    body = _ignore_case_regex(text)
    if how == "prefix":
        regex = re.compile(body, re.DOTALL)
        return lambda value: regex.match(value) is not None
    if how == "suffix":
        regex = re.compile(f"(?:{body})\\Z", re.DOTALL)
        return lambda value: regex.search(value) is not None
    regex = re.compile(body, re.DOTALL)
    return lambda value: regex.fullmatch(value) is not None


def wildcard_regex(text: str) -> str:
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


def affix_test(text: str, how: str) -> Callable[[str], bool]:
    if how == "prefix":
        return lambda value: value.startswith(text)
    return lambda value: value.endswith(text)


def any_of(tests: list[Callable[[str], bool]]) -> Callable[[str], bool]:
    if len(tests) == 1:
        return tests[0]
    return lambda value: any(test(value) for test in tests)
