"""The local runtime: a real `whp serve` process on 127.0.0.1, its SQLite file, and the operator's
commands run beside it on the same file, as `whp replay` and `whp dlq` run them."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from tests.e2e import helpers
from tests.e2e import receiver as receiving
from tests.scenarios import runtimes, whp_config
from webhook_processor import config, services
from webhook_processor.bootstrap import local

POLL_SECONDS = 0.05


class LocalRuntime(runtimes.Operated):
    name: whp_config.Kind = "local"

    def __init__(
        self, folder: Path, receiver: receiving.Receiver, held: whp_config.Secrets
    ) -> None:
        self.receiver = receiver
        self.secrets = held
        self._file = folder / "whp.yaml"
        self._write_config()
        self._server = helpers.start_server(self._file, whp_config.local_env(self.secrets))
        self._http = httpx.Client(timeout=30.0)
        cfg = config.load(str(self._file))
        # as the CLI does it: the Operations adapter on its own connection to the server's file
        self.operator = services.operations.Operator(
            local.operations(cfg), runtimes.destination_configs(cfg)
        )

    def _write_config(self) -> None:
        text = whp_config.render("local", self.receiver.url(""), self.secrets)
        self._file.write_text(text, encoding="utf-8")

    def send(self, source: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, Any]:
        response = self._http.post(self._server.webhook(source), content=body, headers=headers)
        return response.status_code, response.json()

    def settle(self) -> None:
        runtimes.wait_until(
            lambda: self.pending() == (0, 0),
            lambda: f"(pending events, pending deliveries) = {self.pending()}",
            lambda: time.sleep(POLL_SECONDS),
        )

    def redrive_destination(self, destination: str) -> int:
        return self.operator.redrive_all(destination)

    def rotate_secret(self, name: str, new_value: str) -> None:
        """Locally a rotation is `secrets: [new, old]` in whp.yaml. The values are `env:`
        references, and a running process cannot be given a new environment, so whp serve
        restarts with it (a SIGHUP reload reads the config again, not the environment)."""
        self.secrets.rotate(name, new_value)
        self._write_config()
        self._server.stop()
        self._server = helpers.start_server(self._file, whp_config.local_env(self.secrets))

    def body_location(self, event_id: str) -> str:
        stored = helpers.event_by_id(self._server.db, event_id)  # the file itself, read-only
        return "sqlite" if stored is not None and stored.body else "nowhere"

    def close(self) -> None:
        self._http.close()
        self._server.stop()
