"""What the long-running commands (`whp serve`, `whp worker`) do to the process before they run."""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Take what start-up made (modules, config, the composed services) out of the cyclic garbage
    collector's sight: it lives as long as the process, and every full collection walked all of
    it, stopping the event loop 30-50 ms every few seconds under load (bench/README.md, "The
    garbage collector"). What is made afterwards is collected as usual."""
    gc.collect()
    gc.freeze()
