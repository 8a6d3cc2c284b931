"""What the long-running commands (`whp serve`, `whp worker`) do to the process before they run."""

from __future__ import annotations

import gc
import sys


def prepare() -> None:
    """Right before the event loop runs: a short GIL switch interval, and start-up's objects
    frozen out of the garbage collector's sight."""
    _hand_the_gil_over_often()
    _freeze_startup_objects()


def _freeze_startup_objects() -> None:
    """Take what start-up made (modules, config, the composed services) out of the cyclic garbage
    collector's sight: it lives as long as the process, and every full collection walked all of
    it, stopping the event loop 30-50 ms every few seconds under load (bench/README.md, "The
    garbage collector"). What is made afterwards is collected as usual."""
    gc.collect()
    gc.freeze()


def _hand_the_gil_over_often() -> None:
    """The event loop and the thread that runs SQLite's calls (the store's writer in `whp
    serve`, the executor in `whp worker`) pass the GIL back and forth several times per batch:
    a thread that wants it back waits until the busy loop yields it, up to the switch interval.
    0.5 ms instead of Python's 5 ms bounds that wait."""
    sys.setswitchinterval(0.0005)
