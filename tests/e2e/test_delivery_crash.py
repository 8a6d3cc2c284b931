"""At-least-once delivery through crashes: SIGKILL `whp serve` repeatedly while webhooks are being
received and delivered; after a final restart every 2xx-acknowledged event is delivered to its
destination at least once, and a receiver deduplicating on webhook-id sees each exactly once."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest
import yaml

from .helpers import Server, load_through_kill, start_server, stored_ids
from .receiver import Receiver, new_signing_secret

pytestmark = pytest.mark.e2e

GH_SECRET = "dlv-crash-" + secrets.token_hex(16)
SIGNING_SECRET = new_signing_secret()
ENV = {"DLV_CRASH_GH_SECRET": GH_SECRET, "DLV_CRASH_SIGNING_SECRET": SIGNING_SECRET}
THREADS = 8
LOAD_SECONDS = 1.5  # per cycle; the SIGKILL comes half-way through
CYCLES = 3
# A delivery leased when its server was killed is attempted again once the lease expires; whp
# leases for the destination's timeout + 10 s, so the last cycle's take about 12 s to come back.
DRAIN_TIMEOUT = 60.0


def write_config(folder: Path, url: str) -> Path:
    document = {
        "storage": {"path": "whp.db"},
        "sources": {"github": {"verify": "github", "secret": "env:DLV_CRASH_GH_SECRET"}},
        "destinations": {
            "sink": {
                "url": url,
                "signing_secret": "env:DLV_CRASH_SIGNING_SECRET",
                "timeout_seconds": 2,
                "max_concurrency": 50,
                "retry": {
                    "max_attempts": 20,
                    "initial_interval_seconds": 0.05,
                    "multiplier": 2,
                    "max_interval_seconds": 0.5,
                },
            }
        },
        "routes": [{"name": "all", "destination": "sink", "pattern": {"source": ["github"]}}],
    }
    config = folder / "whp.yaml"
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    return config


def test_acknowledged_webhooks_are_delivered_through_sigkills(tmp_path: Path) -> None:
    with Receiver(SIGNING_SECRET) as receiver:
        config = write_config(tmp_path, receiver.url("/sink"))
        server: Server = start_server(config, ENV)
        report: list[str] = []
        acked: set[str] = set()
        try:
            for cycle in range(1, CYCLES + 1):
                # SIGKILL while webhooks are received and delivered
                half = LOAD_SECONDS / 2
                tally = load_through_kill(server, GH_SECRET, THREADS, half, half)
                acked |= tally.acked
                report.append(
                    f"cycle {cycle}: {len(tally.acked)} acknowledged, {tally.errors} transport "
                    f"errors, other statuses {tally.other_status}, "
                    f"{len(receiver.seen_ids())} distinct webhook-ids received so far"
                )
                assert tally.acked, "no webhook was acknowledged: the load never ran\n" + "\n".join(
                    report
                )
                server = start_server(config, ENV)  # the same store, a fresh process

            started = time.monotonic()
            # Bounded; what is still missing then is reported below.
            while not acked <= receiver.seen_ids("/sink"):
                if time.monotonic() - started > DRAIN_TIMEOUT:
                    break
                time.sleep(0.2)
            drained = time.monotonic() - started
            arrivals = receiver.arrivals("/sink")
            seen = receiver.seen_ids("/sink")
            missing = acked - seen
            duplicates = len(arrivals) - len(seen)
            report.append(
                f"final: {len(acked)} acknowledged, {len(seen)} distinct webhook-ids received "
                f"({len(arrivals)} requests, {duplicates} duplicates a dedupe on webhook-id "
                f"absorbs), {len(missing)} missing after {drained:.1f} s"
            )
            summary = "\n".join(report)
            print(summary)
            assert not missing, (
                f"acknowledged but never delivered: {sorted(missing)[:10]}\n{summary}"
                f"\nwhp serve stderr:\n{server.stderr()[-4000:]}"
            )
            assert not receiver.unverified(), receiver.describe()
            # Nothing is delivered that was not stored, and it is the event's own id.
            assert seen <= stored_ids(server.db), summary
        finally:
            server.stop()
