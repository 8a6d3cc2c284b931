"""The times operators give to `--since`/`--until` and to the admin API's since/until."""

from __future__ import annotations

import pytest

from webhook_processor import errors, models, times

NOW = 1_796_032_800.5  # 2026-11-30T10:00:00.500Z


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # durations ago, from NOW
        ("0s", "2026-11-30T10:00:00.500Z"),
        ("90s", "2026-11-30T09:58:30.500Z"),
        ("30m", "2026-11-30T09:30:00.500Z"),
        ("2h", "2026-11-30T08:00:00.500Z"),
        ("7d", "2026-11-23T10:00:00.500Z"),
        # RFC 3339, to the millisecond, any offset, t/z in either case, a space for the T
        ("2026-11-30T10:00:00Z", "2026-11-30T10:00:00.000Z"),
        ("2026-11-30T10:00:00.123Z", "2026-11-30T10:00:00.123Z"),
        ("2026-11-30T10:00:00.1239Z", "2026-11-30T10:00:00.123Z"),
        ("2026-11-30t12:00:00+02:00", "2026-11-30T10:00:00.000Z"),
        ("2026-11-30 05:30:00-04:30", "2026-11-30T10:00:00.000Z"),
        ("2026-11-30T10:00:00z", "2026-11-30T10:00:00.000Z"),
        ("2016-12-31T23:59:60Z", "2017-01-01T00:00:00.000Z"),  # a leap second
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z"),
        ("9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"),
    ],
)
def test_times_read(text: str, expected: str) -> None:
    ms = times.parse_time(text, NOW, "--since")
    assert ms is not None
    assert models.rfc3339(ms) == expected
    assert times.parse_time(models.rfc3339(ms), NOW, "--since") == ms  # printed, read back


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("yesterday", "expected an RFC 3339 time or a duration like 30m, 2h, 7d"),
        ("2h ", "expected an RFC 3339"),
        ("2h\n", "expected an RFC 3339"),
        ("-5m", "expected an RFC 3339"),
        ("5w", "expected an RFC 3339"),
        ("2026-11-30", "expected an RFC 3339"),
        ("2026-11-30T10:00", "expected an RFC 3339"),
        ("20261130T100000Z", "expected an RFC 3339"),  # ISO 8601's basic format is not RFC 3339
        ("2026-02-30T10:00:00Z", "expected an RFC 3339"),
        ("2026-11-30T25:00:00Z", "expected an RFC 3339"),
        ("2026-11-30T10:00:00+24:00", "expected an RFC 3339"),
        ("2026-11-30T10:00:00", "give a time zone (e.g. Z or +02:00)"),
        ("0001-01-01T00:00:00+01:00", "out of range"),
        ("9999-12-31T23:59:60Z", "out of range"),
        ("999999999999d", "before the year 1"),
        ("x" * 10_000, "expected an RFC 3339"),
    ],
)
def test_bad_times_name_the_flag_and_say_what_is_expected(text: str, problem: str) -> None:
    with pytest.raises(errors.UsageError) as refused:
        times.parse_time(text, NOW, "--until")
    assert refused.value.detail.startswith("--until ")
    assert problem in refused.value.detail
    assert len(refused.value.detail) < 200  # a long input is not echoed whole


def test_no_time_is_none() -> None:
    assert times.parse_time(None, NOW, "since") is None
