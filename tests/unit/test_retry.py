"""The retry policy as a table: attempt that failed, jitter draw, Retry-After -> decision."""

from __future__ import annotations

import pytest

from webhook_processor import retry

DEFAULT = retry.Policy()  # 8 attempts, 5 s initial, x4, capped at 36,000 s
SMALL = retry.Policy(
    max_attempts=3, initial_interval_seconds=1, multiplier=2, max_interval_seconds=3
)


@pytest.mark.parametrize(
    ("policy", "attempt", "draw", "retry_after", "expected"),
    [
        # the jitter draw scales the exponential cap: 5 * 4^(n-1)
        (DEFAULT, 1, 0.999, None, retry.Decision(False, 5 * 0.999)),
        (DEFAULT, 2, 0.5, None, retry.Decision(False, 10.0)),  # cap 20
        (DEFAULT, 3, 1.0, None, retry.Decision(False, 80.0)),  # cap 80
        (DEFAULT, 1, 0.0, None, retry.Decision(False, 0.0)),  # full jitter reaches zero
        # the cap: 5 * 4^6 = 20,480; 5 * 4^7 would be 81,920 but max_interval is 36,000
        (DEFAULT, 7, 1.0, None, retry.Decision(False, 20480.0)),
        (retry.Policy(max_attempts=20), 8, 1.0, None, retry.Decision(False, 36000.0)),
        # max_attempts counts every attempt: after the 8th failure the delivery is dead
        (DEFAULT, 8, 0.5, None, retry.DEAD),
        (SMALL, 3, 0.5, None, retry.DEAD),
        (retry.Policy(max_attempts=1), 1, 0.5, 10.0, retry.DEAD),  # Retry-After cannot revive it
        # Retry-After is a floor over the jittered wait...
        (SMALL, 1, 0.1, 2.0, retry.Decision(False, 2.0)),
        (DEFAULT, 3, 0.5, 1.0, retry.Decision(False, 40.0)),  # jitter already waits longer
        # ...honoured only up to max_interval_seconds
        (SMALL, 2, 0.0, 3600.0, retry.Decision(False, 3.0)),
    ],
)
def test_decision(
    policy: retry.Policy,
    attempt: int,
    draw: float,
    retry_after: float | None,
    expected: retry.Decision,
) -> None:
    assert retry.after_failure(policy, attempt, retry_after, lambda: draw) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 60.0),  # now is one minute before
        ("Wed, 21 Oct 2015 07:26:00 GMT", 0.0),  # already past: no wait
        ("soon", None),
        ("-5", None),
    ],
)
def test_retry_after_header(header: str | None, expected: float | None) -> None:
    now = 1445412420.0  # 2015-10-21T07:27:00Z
    assert retry.parse_retry_after(header, now) == expected
