"""Rate limits: a token bucket (`per_second` tokens refill continuously up to `capacity`, the
burst) for ingest, and the same rule as one shared number for deliveries (`schedule`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

BOOK_AHEAD_MS = 1000.0  # a claim books the sends that may start within this, no further
Rate = tuple[float, int]  # per second, burst


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


def schedule(
    tat_ms: float, now_ms: float, per_second: float, burst: int, n: int, horizon_ms: float
) -> tuple[list[float], float]:
    """When the next `n` sends may start, by the generic cell rate algorithm (a token bucket of
    `burst` tokens refilled at `per_second`, kept as one number: the theoretical arrival time,
    `tat_ms`, of the next send). Only the starts before now + `horizon_ms` are given. Returns
    them (Unix ms, earliest first) and the new `tat_ms` to keep for the next call.

    One number is what several worker processes can share through the store: each claim reads
    and advances it in one transaction, so together they keep the destination's rate."""
    interval = 1000.0 / per_second
    tolerance = (burst - 1) * interval
    tat = max(tat_ms, now_ms)
    starts: list[float] = []
    while len(starts) < n:
        start = max(now_ms, tat - tolerance)
        if start > now_ms + horizon_ms:
            break
        starts.append(start)
        tat += interval
    return starts, tat


def cap_room(
    room: dict[str, int],
    tats: Mapping[str, float],
    now_ms: float,
    rates: Mapping[str, Rate],
    limit: int,
) -> None:
    """A claim's `room` per destination, each rate-limited one cut to the sends that may start
    within BOOK_AHEAD_MS (`tats`: the destinations' kept `tat_ms`)."""
    for name, rate in rates.items():
        starts, _ = schedule(
            tats.get(name, 0.0), now_ms, *rate, room.get(name, limit), BOOK_AHEAD_MS
        )
        room[name] = len(starts)


def book(
    tats: Mapping[str, float],
    now_ms: float,
    rates: Mapping[str, Rate],
    claimed: Iterable[tuple[int, str]],
) -> tuple[dict[int, float], dict[str, float]]:
    """Book a start for each claimed (delivery id, destination) of a rate-limited destination,
    in the order given (no more than `cap_room` allowed): the starts by delivery id, and the new
    `tat_ms` of each destination that booked some, to keep for the next claim."""
    ids: dict[str, list[int]] = {}
    for delivery_id, destination in claimed:
        if destination in rates:
            ids.setdefault(destination, []).append(delivery_id)
    starts: dict[int, float] = {}
    tats_after: dict[str, float] = {}
    for name, booked in ids.items():
        times, tats_after[name] = schedule(
            tats.get(name, 0.0), now_ms, *rates[name], len(booked), BOOK_AHEAD_MS
        )
        starts |= dict(zip(booked, times, strict=True))
    return starts, tats_after
