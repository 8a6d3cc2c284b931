"""Retry policy for deliveries: a pure decision, given the attempt that just failed.

Exponential backoff with full jitter: the wait before attempt n+1 is uniform in
[0, min(max_interval, initial * multiplier^(n-1))]. A Retry-After (429/503) is honoured: the wait
is at least that long, up to `max_interval_seconds`. `max_attempts` counts every attempt, the first
included; after the last one the delivery is dead (the dead-letter queue) until redriven.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True, slots=True)
class Policy:
    """A destination's retry policy (whp.yaml `retry:`; the defaults are docs/architecture.md's)."""

    max_attempts: int = 8
    initial_interval_seconds: float = 5.0
    multiplier: float = 4.0
    max_interval_seconds: float = 36000.0


@dataclass(frozen=True, slots=True)
class Decision:
    """Retry after `delay` seconds, or give up (`dead`)."""

    dead: bool
    delay: float = 0.0


DEAD = Decision(dead=True)


def after_failure(
    policy: Policy,
    attempt: int,
    retry_after: float | None = None,
    uniform: Callable[[], float] = random.random,
) -> Decision:
    """What to do after attempt number `attempt` (1 for the first) failed.

    `uniform` returns a float in [0, 1): the jitter source, injected so tests can pin it."""
    if attempt >= policy.max_attempts:
        return DEAD
    cap = min(
        policy.max_interval_seconds,
        policy.initial_interval_seconds * policy.multiplier ** (attempt - 1),
    )
    delay = uniform() * cap
    if retry_after is not None:
        delay = max(delay, min(retry_after, policy.max_interval_seconds))
    return Decision(dead=False, delay=delay)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent
    or unreadable. A date in the past means no wait."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment: datetime = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - now)
