"""The times operators give (`--since 2h`, `?until=2026-11-30T10:00:00Z`), read the same way by the
CLI and the admin API: an RFC 3339 time with its offset, or a duration ago (`90s`, `30m`, `2h`,
`7d`). Results are Unix milliseconds, exact (no float rounding of the milliseconds given).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from webhook_processor import errors

_RELATIVE = re.compile(r"([0-9]{1,12})([smhd])")
DURATION = r"[0-9]{1,12}[smhd]"  # what _RELATIVE reads
# RFC 3339's date-time (section 5.6), a space allowed for the T as its note permits.
_LOCAL = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
_OFFSET = r"[Zz]|[+-][0-9]{2}:[0-9]{2}"
RFC3339 = f"{_LOCAL}(?:{_OFFSET})"
_TIME = re.compile(f"{_LOCAL}({_OFFSET})?")
_LEAP_SECOND = re.compile(r"[Tt ][0-9]{2}:[0-9]{2}:(60)")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
EARLIEST_MS = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // _MS
LATEST_MS = (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) - _EPOCH) // _MS
MAX_CHARS = 64  # the longest RFC 3339 time is 35 characters, with 9 digits of fraction


def parse_time(text: str | None, now: float, name: str) -> int | None:
    """Unix ms of `text` (None stays None); UsageError naming `name` (`--since`, `since`) and
    what is expected otherwise."""
    if text is None:
        return None
    shown = repr(text) if len(text) <= MAX_CHARS else f"{text[:MAX_CHARS]!r}..."
    match = _RELATIVE.fullmatch(text)
    if match:
        ms = round(now * 1000) - int(match.group(1)) * _UNITS[match.group(2)] * 1000
        if ms < EARLIEST_MS:
            raise errors.UsageError(f"{name} {shown}: that is before the year 1")
        return ms
    expected = f"{name} {shown}: expected an RFC 3339 time or a duration like 30m, 2h, 7d"
    found = _TIME.fullmatch(text) if len(text) <= MAX_CHARS else None
    if found is None:
        raise errors.UsageError(expected)
    if found.group(1) is None:
        raise errors.UsageError(f"{name} {shown}: give a time zone (e.g. Z or +02:00)")
    # RFC 3339 allows a leap second (:60), which datetime has not: the second after :59 is meant.
    leap = _LEAP_SECOND.search(text)
    iso = text if leap is None else text[: leap.start(1)] + "59" + text[leap.end(1) :]
    try:
        moment = datetime.fromisoformat(iso.replace("z", "Z").replace("Z", "+00:00"))
        if leap is not None:
            moment += timedelta(seconds=1)
        ms = (moment - _EPOCH) // _MS
    except ValueError:  # no such date, hour or offset
        raise errors.UsageError(expected) from None
    except OverflowError:
        ms = LATEST_MS + 1
    if not EARLIEST_MS <= ms <= LATEST_MS:  # its offset takes it past the year 1 or 9999
        raise errors.UsageError(f"{name} {shown}: out of range (years 1 to 9999, in UTC)")
    return ms
