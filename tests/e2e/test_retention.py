"""Retention, end to end: what `whp purge` deletes never costs a webhook acknowledged afterwards.

A real `whp serve` delivers to a real receiver (receiver.py); webhooks are sent with `whp send`
and purged with `whp purge`, as an operator does it.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from .helpers import Server, describe, run_whp, start_server
from .receiver import Receiver, new_signing_secret, wait_for

pytestmark = pytest.mark.e2e

GH_SECRET = "ret-e2e-" + secrets.token_hex(16)
SIGNING_SECRET = new_signing_secret()
ENV = {"RET_GH_SECRET": GH_SECRET, "RET_SIGNING_SECRET": SIGNING_SECRET}
ARRIVAL_TIMEOUT = 15.0  # seconds: generous, for a slow 2-core machine
PURGE_DAYS = "0.00001"  # 0.864 s


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(SIGNING_SECRET) as running:
        yield running


@pytest.fixture
def server(tmp_path: Path, receiver: Receiver) -> Iterator[Server]:
    """whp serve with one route: every github webhook to the receiver's /hooks."""
    config = tmp_path / "whp.yaml"
    document = {
        "storage": {"path": "whp.db"},
        "sources": {"github": {"verify": "github", "secret": "env:RET_GH_SECRET"}},
        "destinations": {
            "hooks": {"url": receiver.url("/hooks"), "signing_secret": "env:RET_SIGNING_SECRET"}
        },
        "routes": [{"name": "all", "destination": "hooks", "pattern": {"source": ["github"]}}],
    }
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    running = start_server(config, ENV)
    yield running
    running.stop()


def whp(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    result = run_whp([*args, "--config", str(server.config)], env=ENV, cwd=server.config.parent)
    assert result.returncode == 0, describe(result) + f"\nwhp serve stderr:\n{server.stderr()}"
    return result


def send(server: Server, tmp_path: Path) -> str:
    """`whp send github FILE`; the id of the event it stored (202)."""
    file = tmp_path / f"push-{secrets.token_hex(4)}.json"
    file.write_text(json.dumps({"ref": "refs/heads/main", "note": file.name}))
    sent = whp(server, "send", "github", str(file), "--url", server.webhook("github")).stdout
    assert sent.startswith("202 evt_"), sent
    return sent.split()[1]


def status(server: Server, event_id: str) -> str:
    shown = json.loads(whp(server, "events", "show", event_id, "--json").stdout)
    found: str = shown["status"]
    return found


def test_a_webhook_acknowledged_after_a_purge_is_routed_and_delivered(
    server: Server, receiver: Receiver, tmp_path: Path
) -> None:
    first, second = send(server, tmp_path), send(server, tmp_path)
    for event_id in (first, second):
        receiver.wait_for_arrivals(1, ARRIVAL_TIMEOUT, path="/hooks", webhook_id=event_id)
    time.sleep(1.5)  # both older than PURGE_DAYS
    purged = whp(server, "purge", "--older-than", PURGE_DAYS).stdout
    assert purged.startswith("purged 2 events"), purged

    third = send(server, tmp_path)

    (arrival,) = receiver.wait_for_arrivals(1, ARRIVAL_TIMEOUT, path="/hooks", webhook_id=third)
    assert arrival.verified, arrival.error
    wait_for(lambda: status(server, third) == "routed", 10, interval=0.2, what="routed")
    # and a fourth, once the third holds the newest place the purge emptied
    fourth = send(server, tmp_path)
    receiver.wait_for_arrivals(1, ARRIVAL_TIMEOUT, path="/hooks", webhook_id=fourth)
