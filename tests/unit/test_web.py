"""The ingest endpoint's own answers, in process: what a bug looks like to a sender."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from webhook_processor import bootstrap, config, models, services, testing
from webhook_processor.entrypoints import web

SECRET = "s3cret"


class BrokenStore(testing.MemoryStore):
    def add(self, event: models.Event) -> asyncio.Task[models.Stored]:
        raise RuntimeError("a bug in the store adapter")


def post(app: web.App, body: bytes, headers: dict[str, str]) -> list[MutableMapping[str, Any]]:
    sent: list[MutableMapping[str, Any]] = []
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/webhooks/github",
        "query_string": b"",
        "scheme": "http",
        "server": ("127.0.0.1", 8080),
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def test_a_bug_is_a_500_in_the_api_shape_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = tmp_path / "whp.yaml"
    file.write_text("sources:\n  github: {verify: github, secret: env:GH}\n")
    cfg = config.load(file)
    clock = testing.FakeClock()
    runtimes = bootstrap.source_runtimes(cfg, str(file), {"GH": SECRET}, clock)
    ingest = services.ingest.Ingest(runtimes, BrokenStore(), testing.MemoryMetrics(), clock)
    body = b'{"zen": "Design for failure."}'
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    start, reply = post(
        web.App(ingest, [], CollectorRegistry()),
        body,
        {"content-type": "application/json", "x-hub-signature-256": signature},
    )
    assert start["status"] == 500
    assert (b"content-type", b"application/json") in start["headers"]
    answer = orjson.loads(reply["body"])
    assert answer == {
        "error": "internal_error",
        "detail": "the server failed on this webhook; send it again",
    }
    [record] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert "a bug in the store adapter" in str(record.exc_info and record.exc_info[1])
