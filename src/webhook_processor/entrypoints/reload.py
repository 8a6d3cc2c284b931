"""SIGHUP reloads the config of a running `whp serve` or `whp worker`.

Sources, destinations and routes are taken on at once; a config that does not validate changes
nothing (the process goes on with the one it runs, and logs why); changes to what cannot be
changed live (the store, the listening address) are logged as needing a restart.

    SIGHUP -> read and build the config on a thread (bootstrap.reload) -> swap it in on the
    event loop (bootstrap.apply): between two requests, and for the worker between two steps
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Mapping

from webhook_processor import bootstrap, config, errors, services

log = logging.getLogger("whp")


class Reloader:
    """Reloads on SIGHUP while it runs (a ports.Service, started and stopped with the others)."""

    def __init__(
        self,
        file: str,
        env: Mapping[str, str],
        started: config.Config,
        worker: services.worker.Worker,
        ingest: services.ingest.Ingest | None = None,
        on_reload: Callable[[config.Config], None] | None = None,
    ) -> None:
        """`on_reload` is told each config taken on (the metrics' and the admin API's views of
        destinations)."""
        self._file = file
        self._on_reload = on_reload
        self._env = env
        self._started = started  # what needs a restart is compared with this
        self._current = started
        self._worker = worker
        self._ingest = ingest
        self._task: asyncio.Task[None] | None = None
        self._again = False  # a SIGHUP came during a reload: reload once more after it

    def start(self) -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.hangup)

    async def stop(self) -> None:
        asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        # A SIGHUP while shutting down is not worth dying of (its default action).
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        if self._task is not None:
            await self._task

    def ready(self) -> bool:
        return True

    def hangup(self) -> None:
        if self._task is not None and not self._task.done():
            self._again = True  # the file may have changed after this reload read it
            return
        self._task = asyncio.get_running_loop().create_task(self._reload(), name="whp-reload")

    async def _reload(self) -> None:
        while True:
            self._again = False
            await self.reload()
            if not self._again:
                return

    async def reload(self) -> bool:
        """Reload now; False (logged) when the config does not validate or cannot be built."""
        log.info("SIGHUP: reloading %s", self._file)
        try:
            new = await asyncio.to_thread(
                bootstrap.reload,
                self._started,
                self._file,
                self._env,
                serving=self._ingest is not None,
            )
        except errors.ConfigError as exc:
            log.error(
                "config not reloaded, still running the previous one: %s",
                "; ".join(str(exc).splitlines()),
            )
            return False
        except Exception:  # a bug: the running config is still good
            log.exception("config not reloaded, still running the previous one")
            return False
        bootstrap.apply(new, self._worker, self._ingest, self._current)
        if self._on_reload is not None:
            self._on_reload(new.config)
        self._current = new.config
        cfg = new.config
        counts = [(len(cfg.destinations), "destination"), (len(cfg.routes), "route")]
        if self._ingest is not None:
            counts.insert(0, (len(cfg.sources), "source"))
        log.info(
            "config reloaded: %s",
            ", ".join(f"{n} {noun}{'' if n == 1 else 's'}" for n, noun in counts),
        )
        if new.needs_restart:
            log.warning(
                "config: %s changed; needs a restart to take effect", ", ".join(new.needs_restart)
            )
        return True
