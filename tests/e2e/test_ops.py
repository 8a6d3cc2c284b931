"""The open operational endpoints of `whp serve`: health, readiness, metrics, OpenAPI, and what a
wrong method on the ingest path gets."""

from __future__ import annotations

import uuid

import httpx
import pytest

from .helpers import Server, github_headers, json_body, metric_total
from .shared import GH_SECRET

pytestmark = pytest.mark.e2e


def test_healthz_and_readyz(server: Server, client: httpx.Client) -> None:
    health = client.get(f"{server.url}/healthz")
    ready = client.get(f"{server.url}/readyz")
    assert health.status_code == 200, health.text
    assert ready.status_code == 200, ready.text
    assert health.headers["content-type"].startswith("application/json")
    assert ready.headers["content-type"].startswith("application/json")


def test_metrics_count_accepted_and_rejected_by_reason(
    server: Server, client: httpx.Client
) -> None:
    def scrape() -> str:
        response = client.get(f"{server.url}/metrics")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain")
        return response.text

    before = scrape()
    body = json_body(metrics="accepted")
    accepted = client.post(
        server.webhook("github"),
        content=body,
        headers=github_headers(GH_SECRET, body, delivery=str(uuid.uuid4())),
    )
    assert accepted.status_code == 202, accepted.text
    bad = github_headers(GH_SECRET, body)
    bad["X-Hub-Signature-256"] = "sha256=" + "0" * 64
    rejected = client.post(server.webhook("github"), content=body, headers=bad)
    assert rejected.status_code == 401, rejected.text
    missing = client.post(server.webhook("nowhere"), content=body)
    assert missing.status_code == 404, missing.text
    after = scrape()

    assert "whp_webhooks_accepted_total" in after
    assert "whp_webhooks_rejected_total" in after

    def grew(name: str, **labels: str) -> float:
        old = metric_total(before, name, **labels) or 0.0
        new = metric_total(after, name, **labels)
        assert new is not None, f"no {name}{labels} sample in:\n{after}"
        return new - old

    assert grew("whp_webhooks_accepted_total", source="github") == 1
    assert grew("whp_webhooks_rejected_total", source="github", reason="invalid_signature") == 1
    assert grew("whp_webhooks_rejected_total", reason="unknown_source") >= 1


def test_openapi_document_describes_ingest(server: Server, client: httpx.Client) -> None:
    response = client.get(f"{server.url}/openapi.json")
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["openapi"].startswith("3.")
    ingest = document["paths"]["/webhooks/{source}"]
    assert "post" in ingest
    for status in ("200", "202", "401", "404", "413", "429", "503"):
        assert status in ingest["post"]["responses"], status


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_on_ingest_are_405(server: Server, client: httpx.Client, method: str) -> None:
    response = client.request(method, server.webhook("github"))
    assert response.status_code == 405, response.text
    assert response.headers.get("allow") == "POST"
    assert response.json()["error"] == "method_not_allowed"


def test_unknown_source_names_do_not_grow_metrics_without_bound(
    server: Server, client: httpx.Client
) -> None:
    """The ingest path is open to anyone: requests to made-up source names must be counted, but
    must not each create a new time series, or a scan of random paths grows the server's memory
    and /metrics (and the Prometheus behind it) without bound."""

    def series() -> set[str]:
        text = client.get(f"{server.url}/metrics").text
        return {
            line.rpartition(" ")[0]
            for line in text.splitlines()
            if line.startswith("whp_webhooks_rejected_total{")
        }

    before = series()
    for _ in range(50):
        response = client.post(server.webhook(f"scan-{uuid.uuid4().hex}"), content=b"{}")
        assert response.status_code == 404, response.text
    grown = series() - before
    assert len(grown) <= 1, (
        f"{len(grown)} new whp_webhooks_rejected_total series from 50 unknown source names, "
        f"e.g. {sorted(grown)[:3]}"
    )
