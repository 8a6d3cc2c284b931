"""Secret references as the AWS runtime resolves them (bootstrap/aws.py), and what is built from
them, built again when a rotation changes a value."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Generic, TypeVar

from webhook_processor import secrets
from webhook_processor.adapters.aws import secrets as aws_secrets

Clock = Callable[[], float]
T = TypeVar("T")


class Secrets:
    """Secret references as the AWS runtime resolves them: `aws-sm:` from Secrets Manager (every
    value a signature may use), others as locally (`env:` from the function's environment)."""

    def __init__(self, resolver: aws_secrets.Resolver, env: Mapping[str, str]) -> None:
        self._resolver = resolver
        self._env = env

    def values(self, ref: str) -> tuple[str, ...]:
        kind, _, rest = ref.partition(":")
        if kind == "aws-sm":
            return self._resolver.values(rest)
        return (secrets.resolve(ref, self._env),)

    def current(self, ref: str) -> tuple[str, ...]:
        """AWSCURRENT only: what whp signs with."""
        kind, _, rest = ref.partition(":")
        if kind == "aws-sm":
            return (self._resolver.current(rest),)
        return (secrets.resolve(ref, self._env),)

    def prefetch(self, refs: Sequence[str], previous: bool = True) -> None:
        """Read every `aws-sm:` secret of `refs` at once (a cold start reads them all)."""
        names_ = [r.removeprefix("aws-sm:") for r in refs if r.startswith("aws-sm:")]
        self._resolver.prefetch(names_, previous)


class Refreshed(Generic[T]):
    """What is built from secrets, built again when a secret's values change (a rotation); the
    check runs at most every `every` seconds and reads the resolver's cache."""

    def __init__(
        self,
        refs: Sequence[str],
        values: Callable[[str], tuple[str, ...]],
        build: Callable[[], T],
        every: float = aws_secrets.TTL_SECONDS,
        clock: Clock = time.monotonic,
    ) -> None:
        self._refs = list(dict.fromkeys(refs))
        self._values = values
        self._build = build
        self._every = every
        self._clock = clock
        self._seen = self._fingerprint()
        self._built = build()
        self._next = clock() + every

    def __call__(self) -> T:
        now = self._clock()
        if now >= self._next:
            self._next = now + self._every
            seen = self._fingerprint()
            if seen != self._seen:
                self._built, self._seen = self._build(), seen
        return self._built

    def _fingerprint(self) -> tuple[tuple[str, ...], ...]:
        return tuple(self._values(ref) for ref in self._refs)
