"""The admin API and the CLI's `--url`, end to end: a real `whp serve` with an admin token, a real
receiver, and the operator's `whp` commands, as an operator uses them.

Each test routes its own event type to its own destination, so the tests share one server.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from .helpers import Server, describe, github_headers, json_body, run_whp, start_server
from .receiver import Receiver, Reply, new_signing_secret, wait_for

pytestmark = pytest.mark.e2e

GH_SECRET = "adm-e2e-" + secrets.token_hex(16)
SIGNING_SECRET = new_signing_secret()
TOKEN = "adm-token-" + secrets.token_urlsafe(24)
ENV = {"ADM_GH_SECRET": GH_SECRET, "ADM_SIGNING": SIGNING_SECRET, "ADM_TOKEN": TOKEN}
TIMEOUT = 20.0  # seconds: generous, for a slow 2-core machine
FAST = {"initial_interval_seconds": 0.05, "multiplier": 2, "max_interval_seconds": 0.2}
KINDS = ("replay", "redrive", "pause", "parity")  # event type -> destination of the same name


def config_document(receiver: Receiver, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    destinations = {
        kind: {
            "url": receiver.url(f"/{kind}"),
            "signing_secret": "env:ADM_SIGNING",
            "retry": FAST | {"max_attempts": 2},
        }
        for kind in KINDS
    } | (extra or {})
    return {
        "storage": {"path": "whp.db"},
        "admin": {"token": "env:ADM_TOKEN"},
        "sources": {"github": {"verify": "github", "secret": "env:ADM_GH_SECRET"}},
        "destinations": destinations,
        "routes": [
            {"name": kind, "destination": kind, "pattern": {"detail-type": [kind]}}
            for kind in KINDS
        ],
        "alerts": {
            "interval_seconds": 1,
            "rules": [
                {"name": "redrive-dead", "metric": "dead_deliveries", "destination": "redrive"}
                | {"above": 0}
            ],
        },
    }


@dataclass
class Deployment:
    server: Server
    receiver: Receiver
    api: httpx.Client

    def send(self, kind: str) -> tuple[str, str]:
        """A signed GitHub webhook of event type `kind`: (event id, its delivery id)."""
        delivery = str(uuid.uuid4())
        body = json_body(kind=kind, n=delivery)
        headers = github_headers(GH_SECRET, body, event=kind, delivery=delivery)
        sent = httpx.post(self.server.webhook("github"), content=body, headers=headers)
        assert sent.status_code == 202, sent.text
        event_id: str = sent.json()["id"]
        return event_id, delivery

    def get(self, path: str, **params: Any) -> Any:
        answer = self.api.get(path, params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def post(self, path: str, body: Any = None, status: int = 200) -> Any:
        answer = self.api.post(path, json=body)
        assert answer.status_code == status, answer.text
        return answer.json()

    def settled(self, event_id: str) -> list[dict[str, Any]]:
        """Wait until the event has deliveries and none is pending; its deliveries."""
        found: list[dict[str, Any]] = []

        def done() -> bool:
            nonlocal found
            found = self.get(f"/api/events/{event_id}")["deliveries"]
            return bool(found) and all(d["status"] != "pending" for d in found)

        wait_for(done, TIMEOUT, interval=0.1, what=f"{event_id} delivered or dead")
        return found

    def whp(self, *args: str, url: bool = False, env: dict[str, str] | None = None) -> Any:
        """`whp ARGS` on the local store, or with `url` through the API (token in the env)."""
        where = ["--url", self.server.url] if url else ["--config", str(self.server.config)]
        extra = {"WHP_ADMIN_TOKEN": TOKEN} if url else {}
        return run_whp([*args, *where], env=ENV | extra | (env or {}))


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    folder = tmp_path_factory.mktemp("admin")
    with Receiver(SIGNING_SECRET) as receiver:
        receiver.script("/parity", Reply(500))
        receiver.script("/redrive", Reply(500))
        config = folder / "whp.yaml"
        config.write_text(yaml.safe_dump(config_document(receiver), sort_keys=False))
        server = start_server(config, ENV)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as api:
            yield Deployment(server, receiver, api)
        server.stop()


def test_without_admin_token_there_is_no_admin_api(server: Server, client: httpx.Client) -> None:
    """The shared server's config has no admin.token."""
    for headers in ({}, {"Authorization": "Bearer anything"}):
        answer = client.get(f"{server.url}/api/events", headers=headers)
        assert answer.status_code == 404, answer.text


def test_the_api_needs_the_token(deployment: Deployment) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}):
        answer = httpx.get(f"{deployment.server.url}/api/stats", headers=headers)
        assert answer.status_code == 401
        assert answer.json()["error"] == "unauthorized"
    assert "unauthorized" not in deployment.server.stderr()  # no log line per refusal either
    assert deployment.get("/api/stats")["events"].keys() == {"pending", "routed", "unrouted"}


def test_replay_redelivers_with_the_same_webhook_id_unless_new_id(deployment: Deployment) -> None:
    event_id, delivery = deployment.send("replay")
    (first,) = deployment.receiver.wait_for_arrivals(1, TIMEOUT, path="/replay")
    assert first.webhook_id == event_id
    [found] = deployment.get("/api/events", key=delivery)["data"]
    assert found["id"] == event_id
    deployment.settled(event_id)

    assert deployment.post(f"/api/events/{event_id}/replay", status=202) == {"replayed": 1}
    second = deployment.receiver.wait_for_arrivals(2, TIMEOUT, path="/replay")[1]
    assert second.webhook_id == event_id  # receivers that dedupe on webhook-id skip it
    assert second.verified, second.error
    deployment.settled(event_id)

    deployment.post(f"/api/events/{event_id}/replay", {"new_id": True}, status=202)
    third = deployment.receiver.wait_for_arrivals(3, TIMEOUT, path="/replay")[2]
    assert third.webhook_id not in (event_id, "")
    assert third.body == first.body
    deliveries = deployment.settled(event_id)
    assert [d["webhook_id"] for d in deliveries] == [event_id, event_id, third.webhook_id]
    assert {d["status"] for d in deliveries} == {"delivered"}


def test_a_dead_delivery_is_found_and_redriven(deployment: Deployment) -> None:
    event_id, delivery = deployment.send("redrive")
    deployment.receiver.wait_for_arrivals(2, TIMEOUT, path="/redrive")
    [dead] = deployment.settled(event_id)
    assert [a["status_code"] for a in dead["attempts"]] == [500, 500]
    found = deployment.get("/api/events", status="dead", key=delivery)["data"]
    assert [e["id"] for e in found] == [event_id]
    [letter] = deployment.get("/api/dlq", destination="redrive")["data"]
    assert (letter["event_id"], letter["attempts"], letter["last_status_code"]) == (
        event_id,
        2,
        500,
    )

    alert = {"name": "redrive-dead", "state": "firing"}
    wait_for(lambda: alert in deployment.get("/api/stats")["alerts"], TIMEOUT, what="firing")

    deployment.receiver.script("/redrive", Reply(200))
    ids = [letter["delivery_id"]]
    assert deployment.post("/api/dlq/redrive", {"ids": ids}) == {"redriven": 1}
    again = deployment.receiver.wait_for_arrivals(3, TIMEOUT, path="/redrive")[2]
    assert (again.webhook_id, again.attempt, again.answered) == (event_id, 1, 200)
    assert deployment.get("/api/dlq", destination="redrive")["data"] == []
    resolved = {"name": "redrive-dead", "state": "ok"}
    wait_for(lambda: resolved in deployment.get("/api/stats")["alerts"], TIMEOUT, what="ok")


def test_pause_holds_deliveries_until_resume(deployment: Deployment) -> None:
    paused = deployment.post("/api/destinations/pause/pause")
    assert (paused["paused"], paused["paused_by"]) == (True, ["runtime"])
    event_id, _ = deployment.send("pause")

    def held() -> bool:
        item = next(d for d in deployment.get("/api/destinations")["data"] if d["name"] == "pause")
        return bool(item["pending"] == 1 and item["oldest_pending_seconds"] is not None)

    wait_for(held, TIMEOUT, interval=0.1, what="the delivery pending at the paused destination")
    assert deployment.receiver.arrivals("/pause") == []
    resumed = deployment.post("/api/destinations/pause/resume")
    assert resumed["paused"] is False
    (arrival,) = deployment.receiver.wait_for_arrivals(1, TIMEOUT, path="/pause")
    assert arrival.webhook_id == event_id


def test_the_cli_prints_the_same_locally_and_through_the_api(deployment: Deployment) -> None:
    event_id, _ = deployment.send("parity")
    deployment.settled(event_id)  # dead: nothing moves while both are asked
    for args in (
        ["events", "list", "--type", "parity"],
        ["events", "list", "--json", "--limit", "3"],
        ["events", "show", event_id],
        ["events", "show", event_id, "--json"],
        ["dlq", "list", "--destination", "parity"],
        ["dlq", "list", "--json"],
        ["destinations", "list"],
        ["replay", "--type", "parity", "--dry-run"],
    ):
        local, remote = deployment.whp(*args), deployment.whp(*args, url=True)
        assert local.returncode == 0, describe(local)
        assert (remote.returncode, remote.stdout) == (0, local.stdout), describe(remote)
    shown = json.loads(deployment.whp("events", "show", event_id, "--json", url=True).stdout)
    assert shown["deliveries"][0]["status"] == "dead"


def test_the_cli_acts_through_the_api(deployment: Deployment) -> None:
    event_id, _ = deployment.send("parity")
    deployment.settled(event_id)
    done = deployment.whp("destinations", "pause", "parity", url=True)
    assert done.stdout.startswith("paused parity:"), describe(done)
    listed = deployment.whp("destinations", "list", "--json")  # the local store says so too
    row = next(json.loads(r) for r in listed.stdout.splitlines() if '"parity"' in r)
    assert row["paused_by"] == ["runtime"]
    done = deployment.whp("dlq", "redrive", "--destination", "parity", url=True)
    assert done.returncode == 0, describe(done)
    assert done.stdout.startswith("redrove "), describe(done)
    done = deployment.whp("replay", event_id, url=True)
    assert done.stdout.startswith("replayed 1 event;"), describe(done)
    assert deployment.whp("destinations", "resume", "parity", url=True).returncode == 0

    unknown = deployment.whp("replay", "evt_nope", url=True)
    assert (unknown.returncode, unknown.stderr) == (
        2,
        "whp: unknown event id evt_nope; nothing replayed\n",
    )
    refused = deployment.whp("events", "list", url=True, env={"WHP_ADMIN_TOKEN": "wrong"})
    assert refused.returncode == 1
    assert "refused the admin token in $WHP_ADMIN_TOKEN" in refused.stderr
    assert "wrong" not in refused.stderr
    without = run_whp(["events", "list", "--url", deployment.server.url], env={})
    assert without.returncode == 2
    assert "WHP_ADMIN_TOKEN" in without.stderr


def test_a_reloaded_config_changes_the_destinations_the_api_shows(
    deployment: Deployment,
) -> None:
    config = deployment.server.config
    before = config.read_text()
    extra = {"audit": {"url": deployment.receiver.url("/audit"), "paused": True}}
    config.write_text(yaml.safe_dump(config_document(deployment.receiver, extra), sort_keys=False))
    try:
        os.kill(deployment.server.process.pid, signal.SIGHUP)

        def shown() -> bool:
            names = [d["name"] for d in deployment.get("/api/destinations")["data"]]
            return "audit" in names

        wait_for(shown, TIMEOUT, interval=0.1, what="the reloaded destination in the API")
        audit = deployment.post("/api/destinations/audit/resume")
        assert (audit["paused"], audit["paused_by"]) == (True, ["config"])
    finally:
        config.write_text(before)
        os.kill(deployment.server.process.pid, signal.SIGHUP)


def test_the_api_answers_in_its_error_shape(deployment: Deployment, tmp_path: Path) -> None:
    answer = deployment.api.get("/api/events", params={"status": "lost"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"
    assert "status 'lost'" in answer.json()["detail"]
    assert deployment.api.get("/api/events/evt_nope").json()["error"] == "not_found"
