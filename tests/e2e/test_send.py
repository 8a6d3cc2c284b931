"""`whp send`: a correctly signed test webhook, for each kind of scheme, to a running server."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from .helpers import Server, describe, event_by_id, free_port, run_whp
from .shared import ENV

pytestmark = pytest.mark.e2e

ANSWER = re.compile(r"^(\d{3}) (evt_\w+)$")


def send(server: Server, source: str, file: Path, *extra: str) -> str:
    """Run `whp send`; assert it reports 202 and return the event id it printed."""
    result = run_whp(
        [
            "send",
            source,
            str(file),
            *extra,
            "--config",
            str(server.config),
            "--url",
            server.webhook(source),
        ],
        env=ENV,
    )
    assert result.returncode == 0, describe(result)
    assert result.stdout.startswith("202 evt_"), describe(result)
    match = ANSWER.match(result.stdout.strip())
    assert match is not None, describe(result)
    return match.group(2)


def test_send_github_with_event_type(server: Server, tmp_path: Path) -> None:
    file = tmp_path / "push.json"
    file.write_text(json.dumps({"ref": "refs/heads/main", "commits": []}))

    event_id = send(server, "github", file, "--event-type", "push")

    stored = event_by_id(server.db, event_id)
    assert stored is not None, f"whp send printed {event_id}, which is not in the store"
    assert stored.source == "github"
    assert stored.event_type == "push"
    assert stored.body == file.read_bytes()
    assert stored.idempotency_key  # whp send makes up an X-GitHub-Delivery, as GitHub does


def test_send_stripe_twice_stores_two_events(server: Server, tmp_path: Path) -> None:
    stripe_id = f"evt_{uuid.uuid4().hex}"
    file = tmp_path / "stripe.json"
    file.write_text(json.dumps({"id": stripe_id, "type": "invoice.paid", "data": {"object": {}}}))

    first, second = send(server, "stripe", file), send(server, "stripe", file)

    events = [event_by_id(server.db, first), event_by_id(server.db, second)]
    assert None not in events, f"whp send printed {first} and {second}; the store lacks one"
    keys = {event.idempotency_key for event in events if event is not None}
    assert len(keys) == 2, "the second send was stored as a duplicate of the first"
    for event in events:
        assert event is not None
        assert event.event_type == "invoice.paid"
        assert event.idempotency_key is not None
        assert event.idempotency_key.startswith("evt_")
        assert json.loads(event.body)["id"] == event.idempotency_key  # the id Stripe's is read from


def test_send_keep_id_sends_the_files_id_and_the_second_is_a_duplicate(
    server: Server, tmp_path: Path
) -> None:
    stripe_id = f"evt_{uuid.uuid4().hex}"
    file = tmp_path / "stripe.json"
    file.write_text(json.dumps({"id": stripe_id, "type": "invoice.paid", "data": {"object": {}}}))

    event_id = send(server, "stripe", file, "--keep-id")
    again = run_whp(
        [
            *("send", "stripe", str(file), "--keep-id"),
            *("--config", str(server.config), "--url", server.webhook("stripe")),
        ],
        env=ENV,
    )

    assert again.returncode == 0, describe(again)
    assert again.stdout.strip() == f"200 {event_id} (duplicate: already stored)", describe(again)
    stored = event_by_id(server.db, event_id)
    assert stored is not None
    assert stored.idempotency_key == stripe_id
    assert stored.body == file.read_bytes()


def test_send_standard_webhooks(server: Server, tmp_path: Path) -> None:
    file = tmp_path / "app.json"
    file.write_text(json.dumps({"type": "user.created", "data": {"id": 1}}))

    event_id = send(server, "app", file)

    stored = event_by_id(server.db, event_id)
    assert stored is not None
    assert stored.source == "app"
    assert stored.event_type == "user.created"
    assert stored.idempotency_key is not None
    assert stored.idempotency_key == stored.headers.get("webhook-id")


def test_send_to_a_stopped_server_fails_with_one_line(server: Server, tmp_path: Path) -> None:
    file = tmp_path / "push.json"
    file.write_text("{}")
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks/github"

    result = run_whp(
        ["send", "github", str(file), "--config", str(server.config), "--url", url], env=ENV
    )

    assert result.returncode != 0, describe(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, describe(result)
    assert f"127.0.0.1:{port}" in lines[0], describe(result)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
