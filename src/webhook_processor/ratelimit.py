"""A token bucket: `per_second` tokens refill continuously up to `capacity` (the burst)."""

from __future__ import annotations


class TokenBucket:
    __slots__ = ("_capacity", "_rate", "_tokens", "_updated")

    def __init__(self, per_second: float, capacity: int, now: float) -> None:
        self._rate = per_second
        self._capacity = float(capacity)
        self._tokens = float(capacity)
        self._updated = now

    def take(self, now: float) -> float:
        """Take one token. Returns 0.0 when granted, else the seconds until one is available."""
        elapsed = now - self._updated
        if elapsed > 0:
            self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
            self._updated = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._rate
