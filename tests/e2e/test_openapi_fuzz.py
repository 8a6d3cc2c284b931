"""schemathesis against a live `whp serve` on 127.0.0.1, from the server's own /openapi.json:
every operation, the ingest one included, with generated valid and invalid requests (the admin
token supplied). No answer may be a 5xx, and none may break the document: undocumented status
codes, content types or bodies that do not match their schema all fail.

Bounded (EXAMPLES per operation, a deadline-free Hypothesis run) to stay well under a minute.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
import yaml
from schemathesis.core import result

from .helpers import Server, github_headers, json_body, start_server
from .receiver import wait_for

pytestmark = pytest.mark.e2e

TOKEN = "fuzz-token-" + secrets.token_urlsafe(24)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ENV = {"FUZZ_GH_SECRET": "fuzz-" + secrets.token_hex(16), "FUZZ_TOKEN": TOKEN}
EXAMPLES = 30
# A request valid by the document may still be refused, rightly: a cursor whp did not give, an
# empty replay filter without `all`, a destination the config has not. The document cannot say
# "one of our cursors"; every other check stays (negative_data_rejection included: a request
# the document calls invalid must be refused with a 4xx).
NOT_CHECKED = [schemathesis.checks.positive_data_acceptance]
CONFIG = {
    "storage": {"path": "whp.db"},
    "admin": {"token": "env:FUZZ_TOKEN"},
    "sources": {"github": {"verify": "github", "secret": "env:FUZZ_GH_SECRET"}},
    # A destination nothing listens on: its deliveries fail, so the DLQ has entries to list.
    "destinations": {
        "orders": {
            "url": "http://127.0.0.1:9/orders",
            "retry": {"max_attempts": 1, "initial_interval_seconds": 0.05},
        }
    },
    "routes": [{"name": "all", "destination": "orders", "pattern": {"source": ["github"]}}],
}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder: Path = tmp_path_factory.mktemp("fuzz")
    config = folder / "whp.yaml"
    config.write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    server = start_server(config, ENV)
    yield server
    server.stop()
    errors = [line for line in server.stderr().splitlines() if "Traceback" in line]
    assert not errors, server.stderr()[-4000:]


def seed(server: Server) -> str:
    """Webhooks whose deliveries die (nothing listens on the destination): events, deliveries
    with attempts and a dead-letter queue for the listings to show. The id of one event."""
    ids = []
    for n in range(3):
        body = json_body(seed=n)
        headers = github_headers(ENV["FUZZ_GH_SECRET"], body, event="push")
        sent = httpx.post(server.webhook("github"), content=body, headers=headers, timeout=30)
        assert sent.status_code == 202, sent.text
        event_id: str = sent.json()["id"]
        ids.append(event_id)
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as api:

        def all_dead() -> bool:
            return len(api.get("/api/dlq").json()["data"]) == len(ids)

        wait_for(all_dead, 20, interval=0.1, what="the seeded deliveries dead")
    return ids[0]


def test_the_api_keeps_to_its_openapi_document(live: Server) -> None:
    """Every operation, valid requests then invalid ones, and valid ones again on what exists
    (an event id, a destination) for the operations that take one in their path: ids drawn at
    random are all unknown. (schemathesis' pytest loader does not run on pytest 9 - it sets
    Function._nodeid, which pytest 9 dropped - so this drives its Hypothesis strategies
    directly, one operation and mode at a time.)"""
    existing = {"id": seed(live), "name": "orders", "source": "github"}
    config = schemathesis.Config.from_dict({"headers": AUTH})
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json", config=config)
    failures: list[str] = []
    calls: list[str] = []
    positive, negative = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
    for found in schema.get_all_operations():
        assert isinstance(found, result.Ok), f"the document does not load: {found}"
        operation = found.ok()
        names = {p.name for p in operation.path_parameters}
        runs: list[tuple[schemathesis.GenerationMode, dict[str, str]]] = [
            (positive, {}),
            (negative, {}),
        ]
        if names:
            runs.append((positive, {name: existing[name] for name in names}))
        for mode, path in runs:
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=path or None)

            @hypothesis.given(case=strategy)
            @hypothesis.settings(
                max_examples=EXAMPLES,
                deadline=None,
                suppress_health_check=list(hypothesis.HealthCheck),
                derandomize=True,
                database=None,
                phases=[hypothesis.Phase.generate, hypothesis.Phase.shrink],
            )
            def keeps_to_it(case: schemathesis.Case[Any]) -> None:
                calls.append(case.operation.label)
                case.call_and_validate(headers=AUTH, excluded_checks=NOT_CHECKED)

            try:
                keeps_to_it()
            except hypothesis.errors.Unsatisfiable:
                # Nothing it takes can be made invalid (no parameters, or a body of any kind).
                if mode is not negative:
                    raise
            except (Exception, BaseExceptionGroup) as exc:  # a failure, shrunk to its smallest
                failures.append(f"{operation.label} ({mode.value}, {path}): {exc}")
    assert not failures, "\n\n".join(failures)
    assert len(set(calls)) == len(list(schema.get_all_operations()))  # none left untried
