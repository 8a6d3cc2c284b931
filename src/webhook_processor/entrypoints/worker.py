"""`whp worker`: the processing worker alone, against the same store as a `whp serve`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal

import uvloop

from webhook_processor import config, logs
from webhook_processor.bootstrap import local
from webhook_processor.entrypoints import reload, runtime

log = logging.getLogger("whp")


def run(args: argparse.Namespace) -> int:
    cfg = config.load(args.config)
    logs.configure(args.log_level or cfg.logging.level, args.log_format or cfg.logging.format)
    worker = local.processor(cfg, args.config, os.environ)

    async def main() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        hangup = reload.Reloader(args.config, os.environ, cfg, worker)  # SIGHUP reloads
        hangup.start()
        worker.start()
        log.info("whp worker running - store: %s", cfg.storage.path)
        await stopping.wait()
        log.info("whp worker stopping: finishing the attempts under way")
        await hangup.stop()
        await worker.stop()

    runtime.prepare()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # as `whp serve`'s worker
        runner.run(main())
    return 0
