"""The README tour, in an empty folder, with nothing but `whp`: init, check, serve, send, and look
at what was stored."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from .helpers import describe, free_port, launch, run_whp

pytestmark = pytest.mark.e2e


def test_readme_tour(tmp_path: Path) -> None:
    def whp(*args: str) -> subprocess.CompletedProcess[str]:
        result = run_whp(list(args), cwd=tmp_path)
        assert result.returncode == 0, describe(result)
        return result

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

    port = free_port()
    server = launch(
        ["serve", "--port", str(port)],
        port=port,
        config=tmp_path / "whp.yaml",
        db=tmp_path / "whp.db",
        env={},
        cwd=tmp_path,
        stderr_path=tmp_path / "serve.log",
    )
    try:
        payload = tmp_path / "push.json"
        payload.write_text(json.dumps({"ref": "refs/heads/main", "pusher": {"name": "e2e"}}))
        sent = whp(
            "send",
            "github",
            "push.json",
            "--event-type",
            "push",
            "--url",
            f"{server.url}/webhooks/github",
        )
        assert sent.stdout.startswith("202 evt_"), describe(sent)
        event_id = sent.stdout.split()[1]

        listed = whp("events", "list").stdout
        line = next((row for row in listed.splitlines() if event_id in row), None)
        assert line is not None, f"{event_id} not in `whp events list`:\n{listed}"
        assert "github" in line
        assert "push" in line

        shown = json.loads(whp("events", "show", event_id, "--json").stdout)
        assert shown["id"] == event_id
        assert shown["source"] == "github"
        assert shown["event_type"] == "push"
        assert shown["body"] == payload.read_text()
    finally:
        server.stop()
    # SIGTERM is a clean stop: exit 0, or death by the re-raised SIGTERM (uvicorn's convention);
    # never the SIGKILL that `stop` resorts to when the server hangs.
    assert server.process.returncode in (0, -signal.SIGTERM), server.stderr()
