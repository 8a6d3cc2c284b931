"""Operator objects (``{"prefix": ...}``, ``{"numeric": [...]}``, ...), validated into matchers."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final

from webhook_processor.patterns import matchers, scalars
from webhook_processor.patterns.errors import PatternError, describe, show

_NUMERIC_OPERATORS: Final = ("=", ">", ">=", "<", "<=")


def matcher(expression: Mapping[Any, Any], path: str) -> matchers.Matcher | None:
    """A matcher for ``{"op": ...}``; None for ``{"exists": false}``."""
    if not expression:
        raise PatternError(path, "empty operator object: expected one of " + _OPERATORS)
    if len(expression) != 1:
        keys = ", ".join(show(key) for key in expression)
        raise PatternError(path, f"an operator object takes exactly one key, got {keys}")
    ((name, argument),) = expression.items()
    handler = _HANDLERS.get(name)
    if handler is None:
        raise PatternError(
            path, f"unrecognized operator {show(name)}: expected one of {_OPERATORS}"
        )
    return handler(argument, path)


def number_argument(value: object, path: str, what: str) -> Decimal:
    number = scalars.number(value)
    if number is None:
        raise PatternError(path, f"{what} {show(value)} is not a finite JSON number")
    return number


def _comparable_argument(value: object, path: str, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise PatternError(path, f"{what} must be a number, not {describe(value)}")
    number = number_argument(value, path, what)
    problem = scalars.comparable_problem(number)
    if problem is not None:
        raise PatternError(path, f"{what} {show(value)} {problem}")
    return number


def _string_argument(value: object, path: str, what: str) -> str:
    if not isinstance(value, str):
        raise PatternError(path, f"{what} needs a string, not {describe(value)}")
    return value


def _prefix_or_suffix(argument: object, path: str, how: str) -> matchers.Matcher:
    if isinstance(argument, Mapping):
        if len(argument) != 1 or "equals-ignore-case" not in argument:
            keys = ", ".join(show(key) for key in argument) or "nothing"
            raise PatternError(
                path, f'{how} takes a string or {{"equals-ignore-case": string}}, got {keys}'
            )
        text = _string_argument(argument["equals-ignore-case"], path, f"{how} equals-ignore-case")
        return matchers.StringTest(matchers.ignore_case_test(text, how))
    return matchers.StringTest(matchers.affix_test(_string_argument(argument, path, how), how))


def _prefix(argument: object, path: str) -> matchers.Matcher:
    return _prefix_or_suffix(argument, path, "prefix")


def _suffix(argument: object, path: str) -> matchers.Matcher:
    return _prefix_or_suffix(argument, path, "suffix")


def _equals_ignore_case(argument: object, path: str) -> matchers.Matcher:
    text = _string_argument(argument, path, "equals-ignore-case")
    return matchers.StringTest(matchers.ignore_case_test(text, "equals"))


def _wildcard_test(argument: object, path: str, what: str) -> Callable[[str], bool]:
    text = _string_argument(argument, path, what)
    try:
        regex = re.compile(matchers.wildcard_regex(text), re.DOTALL)
    except ValueError as exc:
        raise PatternError(path, f"{what} {show(text)}: {exc}") from None
    return lambda value: regex.fullmatch(value) is not None


def _wildcard(argument: object, path: str) -> matchers.Matcher:
    return matchers.StringTest(_wildcard_test(argument, path, "wildcard"))


def _exists(argument: object, path: str) -> matchers.Matcher | None:
    if not isinstance(argument, bool):
        raise PatternError(path, f"exists takes true or false, not {show(argument)}")
    return matchers.Exists() if argument else None


def _cidr(argument: object, path: str) -> matchers.Matcher:
    text = _string_argument(argument, path, "cidr")
    try:
        low, high = scalars.cidr(text)
    except ValueError as exc:
        raise PatternError(path, f"cidr: {exc}") from None
    return matchers.Cidr(low, high)


def _numeric(argument: object, path: str) -> matchers.Matcher:
    usage = (
        'numeric needs an operator and a number, e.g. [">", 0] or [">=", 0, "<", 10], '
        f"not {show(argument)}"
    )
    if not isinstance(argument, list) or len(argument) not in (2, 4):
        raise PatternError(path, usage)
    operator = argument[0]
    if operator not in _NUMERIC_OPERATORS:
        raise PatternError(
            path, f"numeric operator must be one of = > >= < <=, not {show(operator)}"
        )
    first = _comparable_argument(argument[1], path, f"numeric {operator} operand")
    if len(argument) == 2:
        if operator == "=":
            return matchers.Numeric(first, False, first, False)
        if operator in (">", ">="):
            return matchers.Numeric(first, operator == ">", None, False)
        return matchers.Numeric(None, False, first, operator == "<")
    if operator not in (">", ">="):
        raise PatternError(
            path, f'a numeric range starts with ">" or ">=" then "<" or "<=", not {operator!r}'
        )
    upper = argument[2]
    if upper not in ("<", "<="):
        raise PatternError(
            path, f'a numeric range ends with "<" or "<=" and a number, not {show(upper)}'
        )
    second = _comparable_argument(argument[3], path, f"numeric {upper} operand")
    if not first < second:
        raise PatternError(
            path, f"numeric range lower bound {first} must be less than upper bound {second}"
        )
    return matchers.Numeric(first, operator == ">", second, upper == "<")


def _anything_but(argument: object, path: str) -> matchers.Matcher:
    if isinstance(argument, Mapping):
        return _anything_but_operator(argument, path)
    values = argument if isinstance(argument, list) else [argument]
    if isinstance(argument, list) and not argument:
        raise PatternError(path, "anything-but list must not be empty")
    strings: set[str] = set()
    numbers: set[Decimal] = set()
    for value in values:
        if isinstance(value, str):
            strings.add(value)
        elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
            numbers.add(_comparable_argument(value, path, "anything-but number"))
        else:
            raise PatternError(
                path,
                "anything-but takes a string, a number, a list of only strings or only "
                f"numbers, or a prefix/suffix/equals-ignore-case/wildcard object, "
                f"not {describe(value)}",
            )
    if strings and numbers:
        raise PatternError(path, "anything-but list must be all strings or all numbers, not a mix")
    excluded = frozenset(strings)
    return matchers.AnythingBut(excluded.__contains__ if excluded else None, frozenset(numbers))


def _anything_but_operator(argument: Mapping[Any, Any], path: str) -> matchers.Matcher:
    if len(argument) != 1:
        keys = ", ".join(show(key) for key in argument) or "nothing"
        raise PatternError(
            path,
            f"anything-but takes one of prefix, suffix, equals-ignore-case, wildcard; got {keys}",
        )
    ((name, value),) = argument.items()
    if name not in ("prefix", "suffix", "equals-ignore-case", "wildcard"):
        raise PatternError(
            path,
            f"unsupported anything-but operator {show(name)}: expected prefix, suffix, "
            "equals-ignore-case or wildcard",
        )
    what = f"anything-but {name}"
    values = value if isinstance(value, list) else [value]
    if not values:
        raise PatternError(path, f"{what} list must not be empty")
    tests: list[Callable[[str], bool]] = []
    for item in values:
        if name == "wildcard":
            tests.append(_wildcard_test(item, path, what))
            continue
        text = _string_argument(item, path, what)
        if name == "equals-ignore-case":
            tests.append(matchers.ignore_case_test(text, "equals"))
            continue
        if not text:
            raise PatternError(path, f"{what} must not be an empty string")
        tests.append(matchers.affix_test(text, name))
    return matchers.AnythingBut(matchers.any_of(tests), frozenset())


_HANDLERS: Final[dict[str, Callable[[object, str], matchers.Matcher | None]]] = {
    "prefix": _prefix,
    "suffix": _suffix,
    "equals-ignore-case": _equals_ignore_case,
    "wildcard": _wildcard,
    "anything-but": _anything_but,
    "numeric": _numeric,
    "exists": _exists,
    "cidr": _cidr,
}
_OPERATORS: Final = ", ".join(_HANDLERS)
