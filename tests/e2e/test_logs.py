"""`whp serve --log-format json --log-level debug`: JSON lines on stderr that carry the event id,
and never a secret or a signature."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from .helpers import github_headers, github_signature, json_body, start_server, stripe_signature
from .shared import ALL_SECRETS, ENV, GH_SECRET, STRIPE_SECRET, write_config

pytestmark = pytest.mark.e2e


def test_json_logs_carry_event_id_and_no_secrets(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    server = start_server(config, ENV, extra_args=["--log-format", "json", "--log-level", "debug"])
    signatures: list[str] = []
    try:
        with httpx.Client(timeout=30.0) as client:
            body = json_body(action="logged")
            headers = github_headers(GH_SECRET, body, delivery=str(uuid.uuid4()))
            headers["Authorization"] = "Bearer e2e-log-token-" + uuid.uuid4().hex
            signatures.append(headers["X-Hub-Signature-256"])
            accepted = client.post(server.webhook("github"), content=body, headers=headers)
            assert accepted.status_code == 202, accepted.text
            event_id = accepted.json()["id"]

            wrong = github_signature("a-guessed-secret", body)
            signatures.append(wrong)
            headers["X-Hub-Signature-256"] = wrong
            rejected = client.post(server.webhook("github"), content=body, headers=headers)
            assert rejected.status_code == 401, rejected.text

            stripe_body = json_body(id="evt_logged", type="charge.failed")
            stale = stripe_signature(STRIPE_SECRET, stripe_body, int(time.time()) - 1000)
            signatures.append(stale)
            stale_answer = client.post(
                server.webhook("stripe"),
                content=stripe_body,
                headers={"Content-Type": "application/json", "Stripe-Signature": stale},
            )
            assert stale_answer.status_code == 401, stale_answer.text
    finally:
        server.stop()

    stderr = server.stderr()
    entries: list[dict[str, Any]] = []
    for number, line in enumerate(stderr.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            pytest.fail(f"stderr line {number} is not JSON: {line!r}\nstderr:\n{stderr}")
        assert isinstance(entry, dict), line
        entries.append(entry)
    assert entries, "the server logged nothing"
    assert any(e.get("event_id") == event_id for e in entries), (
        f"no log line carries event_id {event_id}:\n{stderr}"
    )
    assert any(e.get("status") == 401 and e.get("source") == "github" for e in entries), (
        f"the rejected webhook was not logged with its status and source:\n{stderr}"
    )
    for name, value in ALL_SECRETS.items():
        assert value not in stderr, f"the secret {name} appears in the server's stderr"
    for value in signatures:
        assert value not in stderr, f"a signature header value appears in stderr: {value}"
        digest = value.rpartition("=")[2]
        assert digest not in stderr, f"a signature digest appears in stderr: {digest}"
    assert headers["Authorization"] not in stderr
