"""The event side: its leaf values by path, and event-ruler's array consistency between them."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final, cast

from webhook_processor.patterns import scalars

_UNSET: Final = object()

Membership = Mapping[int, int]


class Field:
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
            self._number = scalars.number(self.value)
        return cast("Decimal | None", self._number)

    @property
    def comparable(self) -> Decimal | None:
        """The number, if numeric matching covers it (within +-5e9, at most 6 decimals)."""
        if self._comparable is _UNSET:
            number = self.number
            ok = number is not None and scalars.comparable_problem(number) is None
            self._comparable = number if ok else None
        return cast("Decimal | None", self._comparable)

    @property
    def ip(self) -> bytes | None:
        if self._ip is _UNSET:
            self._ip = scalars.ip(self.value) if isinstance(self.value, str) else None
        return cast("bytes | None", self._ip)


def consistent(so_far: Membership, field: Membership) -> Membership | None:
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


class Flattener:
    """Turns an event into ``path -> fields``, keeping only the paths a pattern can use.

    The walk keeps its own stack: an event is a webhook's body, and one nested a thousand arrays
    deep (JSON parsers accept 1,024 levels) must not exhaust Python's recursion limit."""

    def __init__(self, paths: frozenset[str], prefixes: frozenset[str]) -> None:
        self.paths = paths
        self.prefixes = prefixes
        self.fields: dict[str, list[Field]] = {}
        self.arrays = 0

    def walk(self, event: Mapping[Any, Any]) -> None:
        paths, prefixes = self.paths, self.prefixes
        # (container, its path, the array elements it sits in); objects and arrays alike
        todo: list[tuple[Any, str, Membership]] = [(event, "", {})]
        while todo:
            container, path, membership = todo.pop()
            if isinstance(container, Mapping):
                for key, value in container.items():
                    if isinstance(key, str):
                        inner = f"{path}.{key}" if path else key
                        if inner in paths or inner in prefixes:
                            self._value(value, inner, membership, todo)
                continue
            array_id = self.arrays
            self.arrays += 1
            for index, item in enumerate(container):
                if isinstance(item, Mapping):
                    if path in prefixes:
                        todo.append((item, path, {**membership, array_id: index}))
                elif isinstance(item, list | tuple):
                    todo.append((item, path, {**membership, array_id: index}))
                else:
                    self._value(item, path, membership, todo)

    def _value(
        self,
        value: object,
        path: str,
        membership: Membership,
        todo: list[tuple[Any, str, Membership]],
    ) -> None:
        if isinstance(value, dict) or isinstance(value, Mapping):  # noqa: SIM101 - dict is fast
            if path in self.prefixes:
                todo.append((value, path, membership))
        elif isinstance(value, list | tuple):
            if path in self.paths or path in self.prefixes:
                todo.append((value, path, membership))
        elif path in self.paths and (
            value is None or isinstance(value, str | bool | int | float | Decimal)
        ):
            self.fields.setdefault(path, []).append(Field(value, membership))
