"""SIGHUP reloads the config of a running `whp serve` and `whp worker`: a route and destination
added to whp.yaml deliver the next webhook; a config that does not validate leaves the running
one in place, and the log says why; what cannot change live is logged as needing a restart."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from .helpers import (
    WHP,
    Server,
    child_env,
    describe,
    github_headers,
    run_whp,
    start_server,
)
from .receiver import Receiver, new_signing_secret, wait_for

pytestmark = pytest.mark.e2e

GH_SECRET = "reload-e2e-" + secrets.token_hex(16)
SIGNING_SECRET = new_signing_secret()
ENV = {"RL_GH_SECRET": GH_SECRET, "RL_SIGNING_SECRET": SIGNING_SECRET}
TIMEOUT = 20.0  # seconds: generous, for a slow 2-core machine
GITHUB = {"verify": "github", "secret": "env:RL_GH_SECRET"}


def document(**sections: Any) -> str:
    return yaml.safe_dump({"storage": {"path": "whp.db"}, **sections}, sort_keys=False)


def delivering(receiver: Receiver, **sections: Any) -> str:
    """A config whose github source's webhooks go to the receiver's /orders."""
    return document(
        sources={"github": GITHUB, **sections.pop("sources", {})},
        destinations={
            "orders": {"url": receiver.url("/orders"), "signing_secret": "env:RL_SIGNING_SECRET"}
        },
        routes=[{"name": "all", "destination": "orders", "pattern": {"source": ["github"]}}],
        **sections,
    )


def post(url: str) -> httpx.Response:
    body = json.dumps({"reload_test": uuid.uuid4().hex}).encode()
    with httpx.Client(timeout=30.0) as client:
        return client.post(url, content=body, headers=github_headers(GH_SECRET, body))


def hangup(process: subprocess.Popen[bytes], log: Path, line: str, seen: int) -> None:
    """SIGHUP the process; wait until its log has one more line containing `line`."""
    os.kill(process.pid, signal.SIGHUP)
    wait_for(
        lambda: log.read_text(errors="replace").count(line) > seen,
        TIMEOUT,
        what=f"{line!r} in the log:\n{log.read_text(errors='replace')[-3000:]}",
    )
    assert process.poll() is None, log.read_text(errors="replace")


def status(server: Server, event_id: str) -> str:
    """The event's status, as `whp events show` reports it."""
    shown = run_whp(["events", "show", event_id, "--json", "--config", str(server.config)])
    assert shown.returncode == 0, describe(shown)
    found: str = json.loads(shown.stdout)["status"]
    return found


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(SIGNING_SECRET) as running:
        yield running


@pytest.fixture
def serve(tmp_path: Path, receiver: Receiver) -> Iterator[Server]:
    """`whp serve` on a config with a github source and nothing to deliver to."""
    config = tmp_path / "whp.yaml"
    config.write_text(document(sources={"github": GITHUB}))
    server = start_server(config, ENV)
    yield server
    server.stop()


def test_sighup_takes_on_new_routes_and_keeps_serving_when_the_config_is_invalid(
    serve: Server, receiver: Receiver
) -> None:
    log = serve.stderr_path
    before = post(serve.webhook("github"))
    assert before.status_code == 202, before.text
    wait_for(
        lambda: status(serve, before.json()["id"]) == "unrouted",
        TIMEOUT,
        interval=0.2,
        what="the first webhook unrouted",
    )

    serve.config.write_text(
        delivering(receiver, sources={"other": GITHUB}, server={"port": serve.port + 1})
    )
    hangup(serve.process, log, "config reloaded: 2 sources, 1 destination, 1 route", 0)

    sent = post(serve.webhook("github"))
    assert sent.status_code == 202, sent.text
    [arrival] = receiver.wait_for_arrivals(1, TIMEOUT, path="/orders")
    assert arrival.webhook_id == sent.json()["id"]
    assert arrival.verified, arrival.error  # signed with the new destination's secret
    assert post(serve.webhook("other")).status_code == 202  # the new source takes webhooks
    assert "server.port changed; needs a restart" in serve.stderr()
    assert before.json()["id"] not in receiver.seen_ids()  # routed when no route existed

    serve.config.write_text(delivering(receiver).replace("signing_secret:", "signing_secrt:"))
    hangup(serve.process, log, "config not reloaded", 0)
    assert "destinations.orders.signing_secrt: unknown key" in serve.stderr()

    again = post(serve.webhook("github"))
    assert again.status_code == 202, again.text  # still serving, with the previous config
    receiver.wait_for_arrivals(1, TIMEOUT, path="/orders", webhook_id=again.json()["id"])
    assert post(serve.webhook("other")).status_code == 202


def test_sighup_reloads_the_routes_of_whp_worker(tmp_path: Path, receiver: Receiver) -> None:
    config = tmp_path / "whp.yaml"
    config.write_text(document(sources={"github": GITHUB}))
    server = start_server(config, ENV)
    try:
        stored = post(server.webhook("github"))
        assert stored.status_code == 202, stored.text
    finally:
        server.stop()
    event_id = stored.json()["id"]

    log = tmp_path / "worker.log"
    with log.open("wb") as err:
        worker = subprocess.Popen(
            [*WHP, "worker", "--config", str(config)],
            env=child_env(ENV),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        wait_for(
            lambda: "whp worker running" in log.read_text(errors="replace"),
            TIMEOUT,
            what="whp worker to start",
        )
        config.write_text(delivering(receiver))
        hangup(worker, log, "config reloaded: 1 destination, 1 route", 0)
        replayed = run_whp(["replay", event_id, "--config", str(config)], env=ENV)
        assert replayed.returncode == 0, describe(replayed)
        receiver.wait_for_arrivals(1, TIMEOUT, path="/orders", webhook_id=event_id)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
