"""The README tour, in an empty folder, with nothing but `whp` and the repository's examples:
init, check, serve, send, look at what was stored; then add the README's destination and route,
reload with SIGHUP, and send the Stripe example twice: two events, two deliveries."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .helpers import describe, free_port, launch, run_whp
from .receiver import wait_for

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 20.0  # seconds: generous, for a slow 2-core machine


def readme_config_addition() -> str:
    """The YAML the README's tour appends to whp.yaml (its `cat >> whp.yaml <<'EOF'` block)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(r"cat >> whp\.yaml <<'EOF'\n(.*?)\nEOF\n", readme, re.DOTALL)
    assert match is not None, "the README tour no longer adds a route to whp.yaml"
    return match.group(1) + "\n"


def test_readme_tour(tmp_path: Path) -> None:
    def whp(*args: str) -> subprocess.CompletedProcess[str]:
        result = run_whp(list(args), cwd=tmp_path)
        assert result.returncode == 0, describe(result)
        return result

    def show(event_id: str) -> dict[str, Any]:
        shown: dict[str, Any] = json.loads(whp("events", "show", event_id, "--json").stdout)
        return shown

    def listed(source: str) -> list[dict[str, Any]]:
        out = whp("events", "list", "--source", source, "--json").stdout
        return [json.loads(line) for line in out.splitlines()]

    whp("init")
    config = tmp_path / "whp.yaml"
    assert config.is_file()
    secret_files = [p for p in (tmp_path / ".whp").iterdir() if p.name != ".gitignore"]
    assert secret_files, "whp init made no secrets in .whp/"
    for file in secret_files:
        value = file.read_text().strip()
        assert value, f"{file.name} is empty"
        assert value not in config.read_text(), f"{file.name} is written inline in whp.yaml"
    checked = whp("check")
    assert "ok" in checked.stdout, describe(checked)
    assert "warning" not in checked.stderr, describe(checked)

    # The tour's commands as written, on a free port instead of 8080 (which may be taken).
    port = free_port()
    config.write_text(config.read_text().replace("port: 8080", f"port: {port}"))
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    server = launch(
        ["serve"],
        port=port,
        config=config,
        db=tmp_path / "whp.db",
        env={},
        cwd=tmp_path,
        stderr_path=tmp_path / "serve.log",
    )
    try:
        sent = whp("send", "github", "examples/github-push.json", "--event-type", "push")
        assert sent.stdout.startswith("202 evt_"), describe(sent)
        event_id = sent.stdout.split()[1]

        table = whp("events", "list").stdout
        line = next((row for row in table.splitlines() if event_id in row), None)
        assert line is not None, f"{event_id} not in `whp events list`:\n{table}"
        assert "github" in line
        assert "push" in line

        shown = show(event_id)
        assert shown["id"] == event_id
        assert shown["source"] == "github"
        assert shown["event_type"] == "push"
        assert shown["body"] == (tmp_path / "examples" / "github-push.json").read_text()
        first = whp("send", "stripe", "examples/stripe-payment.json").stdout
        assert first.startswith("202 evt_"), first
        # A reader takes longer than the worker's next look: it is unrouted by the next step.
        wait_for(
            lambda: show(first.split()[1])["status"] == "unrouted",
            TIMEOUT,
            interval=0.3,
            what="the first Stripe event unrouted",
        )

        with config.open("a") as whp_yaml:  # cat >> whp.yaml <<'EOF' ... EOF
            whp_yaml.write(readme_config_addition().replace(":8080/", f":{port}/"))
        os.kill(server.process.pid, signal.SIGHUP)  # kill -HUP %1
        wait_for(
            lambda: "config reloaded" in server.stderr(),
            TIMEOUT,
            what=f"the reload, in the log of whp serve:\n{server.stderr()}",
        )

        payments = []
        for _ in range(2):
            answer = whp("send", "stripe", "examples/stripe-payment.json").stdout
            assert re.fullmatch(r"202 evt_\w+\n", answer), answer  # not "(duplicate ...)"
            payments.append(answer.split()[1])
        assert len(set(payments)) == 2

        def delivered() -> bool:
            return all(
                [d["status"] for d in show(event_id)["deliveries"]] == ["delivered"]
                for event_id in payments
            )

        wait_for(delivered, TIMEOUT, interval=0.3, what="both Stripe events delivered")
        assert {e["id"] for e in listed("stripe")} >= set(payments)
        # The deliveries came back in as `app` events, signed by whp and verified by it.
        echoed = {show(e["id"])["headers"]["webhook-id"] for e in listed("app")}
        assert echoed == set(payments)
    finally:
        server.stop()
    # SIGTERM is a clean stop: exit 0, or death by the re-raised SIGTERM (uvicorn's convention);
    # never the SIGKILL that `stop` resorts to when the server hangs.
    assert server.process.returncode in (0, -signal.SIGTERM), server.stderr()
