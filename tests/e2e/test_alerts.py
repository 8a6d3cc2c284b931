"""Alerts, end to end: a real `whp serve` evaluates its `alerts:` rules and notifies a real
receiver on 127.0.0.1, which checks every notification's signature with the official Standard
Webhooks library. A destination that fails fires its rules once; its recovery resolves them
once; nothing is said while nothing changes."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from standardwebhooks.webhooks import Webhook

from .helpers import Server, describe, github_headers, run_whp, start_server
from .receiver import Arrival, Receiver, Reply, new_signing_secret

pytestmark = pytest.mark.e2e

GH_SECRET = "alr-e2e-" + secrets.token_hex(16)
SIGNING_SECRET = new_signing_secret()  # of the deliveries
ALERT_SECRET = new_signing_secret()  # of the notifications
ENV = {
    "ALR_GH_SECRET": GH_SECRET,
    "ALR_SIGNING_SECRET": SIGNING_SECRET,
    "ALR_ALERT_SECRET": ALERT_SECRET,
}
TIMEOUT = 30.0  # seconds: generous, for a slow 2-core machine
QUIET_SECONDS = 3.5  # three evaluations and more: a rule still holding says nothing again
WINDOW = 4  # seconds, of the windowed rules
BEHIND = 3  # seconds a delivery may wait


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(SIGNING_SECRET, secrets={"/alerts": ALERT_SECRET}) as running:
        yield running


@pytest.fixture
def config(tmp_path: Path, receiver: Receiver) -> Path:
    document: dict[str, Any] = {
        "storage": {"path": "whp.db"},
        "sources": {"github": {"verify": "github", "secret": "env:ALR_GH_SECRET"}},
        "destinations": {
            "orders": {
                "url": receiver.url("/orders"),
                "signing_secret": "env:ALR_SIGNING_SECRET",
                "retry": {"max_attempts": 1},  # the first failure is dead
            }
        },
        "routes": [{"name": "all", "destination": "orders", "pattern": {"source": ["github"]}}],
        "alerts": {
            "interval_seconds": 1,
            "notify": [{"url": receiver.url("/alerts"), "signing_secret": "env:ALR_ALERT_SECRET"}],
            "rules": [
                {
                    "name": "orders-dead",
                    "metric": "dead_deliveries",
                    "destination": "orders",
                    "above": 0,
                },
                {
                    "name": "orders-failing",
                    "metric": "failure_rate",
                    "destination": "orders",
                    "above": 0.5,
                    "window_seconds": WINDOW,
                },
                {
                    "name": "orders-behind",
                    "metric": "oldest_pending_seconds",
                    "destination": "orders",
                    "above": BEHIND,
                },
                {
                    "name": "github-forged",
                    "metric": "rejected_signatures",
                    "source": "github",
                    "above": 1,
                    "window_seconds": WINDOW,
                },
            ],
        },
    }
    path = tmp_path / "whp.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.fixture
def server(config: Path) -> Iterator[Server]:
    running = start_server(config, ENV)
    yield running
    running.stop()


def send(server: Server) -> None:
    body = json.dumps({"order": uuid.uuid4().hex}).encode()
    with httpx.Client(timeout=30.0) as client:
        response = client.post(
            server.webhook("github"), content=body, headers=github_headers(GH_SECRET, body)
        )
    assert response.status_code == 202, response.text


def notified(receiver: Receiver, alert: str | None = None) -> list[dict[str, Any]]:
    found = [json.loads(a.body) for a in receiver.arrivals("/alerts")]
    return [n for n in found if alert is None or n["alert"] == alert]


def wait_notified(
    receiver: Receiver, server: Server, alert: str, count: int, timeout: float = TIMEOUT
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while len(notified(receiver, alert)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{count} notifications of {alert} expected; got {notified(receiver)}\n"
                f"whp serve stderr:\n{server.stderr()[-4000:]}"
            )
        time.sleep(0.05)
    return notified(receiver, alert)


def assert_quiet(receiver: Receiver, count: int, seconds: float = QUIET_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert len(notified(receiver)) <= count, f"more than {count}: {notified(receiver)}"
        time.sleep(0.05)


def test_a_failing_destination_fires_once_and_its_recovery_resolves_once(
    server: Server, receiver: Receiver, config: Path
) -> None:
    receiver.script("/orders", Reply(500))
    send(server)
    [dead] = wait_notified(receiver, server, "orders-dead", 1)
    [failing] = wait_notified(receiver, server, "orders-failing", 1)
    assert {k: v for k, v in dead.items() if k not in ("text", "at")} == {
        "alert": "orders-dead",
        "state": "firing",
        "metric": "dead_deliveries",
        "value": 1,
        "threshold": 0,
        "destination": "orders",
    }
    assert dead["text"] == (
        "[firing] orders-dead: dead deliveries of destination orders is 1, above 0"
    )
    assert dead["at"].endswith("Z")
    assert (failing["state"], failing["value"], failing["threshold"]) == ("firing", 1, 0.5)
    # Held, evaluated again and again: said once.
    assert_quiet(receiver, 2, seconds=1.5)
    assert len(notified(receiver, "orders-dead")) == 1

    # The failures leave the window (no attempt since): that rule resolves, once.
    [_, resolved] = wait_notified(receiver, server, "orders-failing", 2, timeout=WINDOW + TIMEOUT)
    assert (resolved["state"], resolved["value"]) == ("resolved", 0)

    # The receiver is back; the operator redrives the dead-letter queue: delivered, resolved.
    receiver.script("/orders", Reply(200))
    redrive = run_whp(["dlq", "redrive", "--all", "--config", str(config)], env=ENV)
    assert redrive.returncode == 0, describe(redrive)
    [_, back] = wait_notified(receiver, server, "orders-dead", 2)
    assert (back["state"], back["value"], back["destination"]) == ("resolved", 0, "orders")
    assert back["text"] == (
        "[resolved] orders-dead: dead deliveries of destination orders is 0, back to at most 0"
    )
    assert_quiet(receiver, 4)
    for alert in ("orders-dead", "orders-failing"):
        assert [n["state"] for n in notified(receiver, alert)] == ["firing", "resolved"]


def test_a_signed_notification_verifies_with_the_official_library(
    server: Server, receiver: Receiver
) -> None:
    receiver.script("/orders", Reply(500))
    send(server)
    wait_notified(receiver, server, "orders-dead", 1)
    arrival: Arrival = receiver.arrivals("/alerts")[0]
    assert arrival.verified, arrival.error  # the receiver checks with standardwebhooks too
    payload = Webhook(ALERT_SECRET).verify(arrival.body, arrival.headers)
    assert payload["state"] == "firing"
    assert arrival.headers["content-type"] == "application/json"
    assert arrival.headers["webhook-id"].startswith("alert_")
    # signed with the alerts' secret, not with a destination's
    with pytest.raises(Exception, match="signature"):
        Webhook(SIGNING_SECRET).verify(arrival.body, arrival.headers)


def test_forged_signatures_and_a_delivery_held_back_fire_and_resolve_once(
    server: Server, receiver: Receiver, config: Path
) -> None:
    body = json.dumps({"order": uuid.uuid4().hex}).encode()
    forged = github_headers(GH_SECRET, body)
    forged["X-Hub-Signature-256"] = "sha256=" + "0" * 64
    with httpx.Client(timeout=30.0) as client:
        for _ in range(2):
            response = client.post(server.webhook("github"), content=body, headers=forged)
            assert response.status_code == 401, response.text
    [fired] = wait_notified(receiver, server, "github-forged", 1)
    assert (fired["state"], fired["value"], fired["source"]) == ("firing", 2, "github")
    assert "destination" not in fired
    [_, resolved] = wait_notified(receiver, server, "github-forged", 2, timeout=WINDOW + TIMEOUT)
    assert (resolved["state"], resolved["value"]) == ("resolved", 0)

    def whp(*args: str) -> None:
        done = run_whp([*args, "--config", str(config)], env=ENV)
        assert done.returncode == 0, describe(done)

    whp("destinations", "pause", "orders")
    send(server)  # held: pending, and older every second
    [behind] = wait_notified(receiver, server, "orders-behind", 1)
    assert behind["state"] == "firing"
    assert behind["value"] > BEHIND
    whp("destinations", "resume", "orders")
    receiver.wait_for_arrivals(1, TIMEOUT, path="/orders")
    [_, caught_up] = wait_notified(receiver, server, "orders-behind", 2)
    assert (caught_up["state"], caught_up["value"]) == ("resolved", 0)
    assert_quiet(receiver, 4)
    assert {n["alert"] for n in notified(receiver)} == {"github-forged", "orders-behind"}
