"""What the long-running commands (`whp serve`, `whp worker`) do to the process before they run."""

from __future__ import annotations

import gc
import logging
import resource
import sys

log = logging.getLogger(__name__)
MAX_OPEN_FILES = 1 << 20  # when the hard limit is "unlimited"


def prepare() -> None:
    """Right before the event loop runs: as many open files as the system allows, a short GIL
    switch interval, and start-up's objects frozen out of the garbage collector's sight."""
    raise_open_files_limit()
    _hand_the_gil_over_often()
    _freeze_startup_objects()


def raise_open_files_limit() -> None:
    """Raise the soft limit on open files to the hard one, as Go's runtime and most servers do:
    every connection takes a descriptor, and a soft limit of 1,024 (the common default) is
    soon reached by senders that hold connections open. Left as it is where it cannot be."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MAX_OPEN_FILES if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as exc:
            log.debug("open files limit left at %d: %s", soft, exc)


def _freeze_startup_objects() -> None:
    """Take what start-up made (modules, config, the composed services) out of the cyclic garbage
    collector's sight: it lives as long as the process, and every full collection walked all of
    it, stopping the event loop 30-50 ms every few seconds under load (docs/performance-notes.md,
    "The garbage collector"). What is made afterwards is collected as usual."""
    gc.collect()
    gc.freeze()


def _hand_the_gil_over_often() -> None:
    """The event loop and the thread that runs SQLite's calls (the store's writer in `whp
    serve`, the executor in `whp worker`) pass the GIL back and forth several times per batch:
    a thread that wants it back waits until the busy loop yields it, up to the switch interval.
    0.5 ms instead of Python's 5 ms bounds that wait."""
    sys.setswitchinterval(0.0005)
