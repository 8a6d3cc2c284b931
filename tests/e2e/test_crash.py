"""Nothing acknowledged is ever lost: SIGKILL the server under load, restart it on the same store,
and every webhook that got a 2xx is there."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from .helpers import Server, load_through_kill, start_server, stored_ids

pytestmark = pytest.mark.e2e

SECRET = "crash-e2e-secret"
CONFIG = """\
storage: {path: whp.db}
sources:
  github:
    verify: github
    secret: env:CRASH_SECRET
"""
THREADS = 16
LOAD_SECONDS = 1.5
CYCLES = 3


def test_acknowledged_webhooks_survive_sigkill(tmp_path: Path) -> None:
    config = tmp_path / "whp.yaml"
    config.write_text(CONFIG)
    env = {"CRASH_SECRET": SECRET}
    server: Server = start_server(config, env)
    report: list[str] = []
    acked_total: set[str] = set()
    try:
        for cycle in range(1, CYCLES + 1):
            # SIGKILL while requests are in flight
            tally = load_through_kill(server, SECRET, THREADS, LOAD_SECONDS, 0.2)
            acked_total |= tally.acked
            server = start_server(config, env)  # the same store, a fresh process
            present = stored_ids(server.db)
            lost = tally.acked - present
            report.append(
                f"cycle {cycle}: {len(tally.acked)} acknowledged, {len(lost)} lost, "
                f"{tally.errors} transport errors, other statuses {tally.other_status}, "
                f"{len(present)} events in the store"
            )
            summary = "\n".join(report)
            assert tally.acked, f"no webhook was acknowledged: the load never ran\n{summary}"
            assert not lost, f"acknowledged but lost: {sorted(lost)[:10]}\n{summary}"
            assert set(tally.other_status) <= {503}, summary
        with closing(sqlite3.connect(f"{server.db.as_uri()}?mode=ro", uri=True)) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert acked_total <= stored_ids(server.db)
    finally:
        server.stop()
