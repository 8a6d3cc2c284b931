"""What `whp serve` and `whp worker` do to their process before they run."""

from __future__ import annotations

import resource
from collections.abc import Iterator

import pytest

from webhook_processor.entrypoints import runtime


@pytest.fixture
def lowered_open_files_limit() -> Iterator[int]:
    """The soft limit lowered to 256 for the test (a process may always lower it), then put
    back; the hard limit."""
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, before[1]))
    try:
        yield before[1]
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, before)


def test_open_files_limit_is_raised_to_the_hard_limit(lowered_open_files_limit: int) -> None:
    runtime.raise_open_files_limit()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    expected = (
        runtime.MAX_OPEN_FILES
        if lowered_open_files_limit == resource.RLIM_INFINITY
        else lowered_open_files_limit
    )
    assert (soft, hard) == (expected, lowered_open_files_limit)
