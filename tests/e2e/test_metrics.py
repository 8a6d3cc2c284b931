"""/metrics of a real `whp serve` after a known sequence of requests and deliveries: each count,
each histogram's buckets, and the gauges of the store, as Prometheus would scrape them (read
with prometheus_client's own parser, which also checks the exposition format)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from .helpers import Server, github_headers, start_server
from .receiver import Receiver, Reply, new_signing_secret, wait_for

pytestmark = pytest.mark.e2e

GH_SECRET = "met-e2e-" + secrets.token_hex(16)
SIGNING_SECRET = new_signing_secret()
ENV = {"MET_GH_SECRET": GH_SECRET, "MET_SIGNING_SECRET": SIGNING_SECRET}
TIMEOUT = 20.0  # seconds: generous, for a slow 2-core machine
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(SIGNING_SECRET) as running:
        yield running


def deployment(receiver: Receiver) -> dict[str, Any]:
    """github events of type `push` go to `ok`, those of type `fail` to `failing`, which
    answers 500 and gives up after 2 attempts."""
    retry = {"initial_interval_seconds": 0.05, "max_interval_seconds": 0.1}
    return {
        "storage": {"path": "whp.db"},
        "sources": {"github": {"verify": "github", "secret": "env:MET_GH_SECRET"}},
        "destinations": {
            "ok": {"url": receiver.url("/ok"), "signing_secret": "env:MET_SIGNING_SECRET"},
            "failing": {
                "url": receiver.url("/failing"),
                "signing_secret": "env:MET_SIGNING_SECRET",
                "retry": {"max_attempts": 2, **retry},
            },
        },
        "routes": [
            {"name": "pushes", "destination": "ok", "pattern": {"detail-type": ["push"]}},
            {"name": "failures", "destination": "failing", "pattern": {"detail-type": ["fail"]}},
        ],
    }


@pytest.fixture
def server(tmp_path: Path, receiver: Receiver) -> Iterator[Server]:
    config = tmp_path / "whp.yaml"
    config.write_text(yaml.safe_dump(deployment(receiver), sort_keys=False))
    running = start_server(config, ENV)
    yield running
    running.stop()


def scrape(server: Server) -> Samples:
    with httpx.Client(timeout=10.0) as client:
        response = client.get(f"{server.url}/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain;")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def buckets(samples: Samples, name: str, **labels: str) -> list[tuple[float, float]]:
    """A histogram's (le, cumulative count) pairs, in order of le."""
    found = [
        (float(dict(key)["le"]), count)
        for (sample, key), count in samples.items()
        if sample == f"{name}_bucket" and set(labels.items()) <= set(key)
    ]
    return sorted(found)


def post(client: httpx.Client, server: Server, body: bytes, headers: dict[str, str]) -> int:
    return client.post(server.webhook("github"), content=body, headers=headers).status_code


def test_metrics_count_a_known_sequence_of_webhooks_and_deliveries(
    server: Server, receiver: Receiver
) -> None:
    receiver.script("/failing", Reply(500))
    push = json.dumps({"order": uuid.uuid4().hex}).encode()
    fail = json.dumps({"order": uuid.uuid4().hex}).encode()
    delivery = str(uuid.uuid4())
    forged = github_headers(GH_SECRET, push)
    forged["X-Hub-Signature-256"] = "sha256=" + "0" * 64
    with httpx.Client(timeout=30.0) as client:
        statuses = [
            post(client, server, push, github_headers(GH_SECRET, push, delivery=delivery)),
            post(client, server, push, github_headers(GH_SECRET, push, delivery=delivery)),
            post(client, server, push, forged),
            client.post(server.webhook("nowhere"), content=b"{}").status_code,
            post(client, server, fail, github_headers(GH_SECRET, fail, event="fail")),
        ]
    assert statuses == [202, 200, 401, 404, 202]
    receiver.wait_for_arrivals(1, TIMEOUT, path="/ok")
    receiver.wait_for_arrivals(2, TIMEOUT, path="/failing")

    # The gauges come from the store, read at most once a second: wait for the dead delivery.
    samples: Samples = {}

    def settled() -> bool:
        nonlocal samples
        samples = scrape(server)
        return value(samples, "whp_deliveries_dead", destination="failing") == 1

    wait_for(settled, TIMEOUT, interval=0.3, what="the dead delivery in whp_deliveries_dead")

    # Ingest, by source and reason; received is every answered webhook.
    assert value(samples, "whp_webhooks_received_total", source="github") == 4
    assert value(samples, "whp_webhooks_accepted_total", source="github") == 2
    assert value(samples, "whp_webhooks_duplicates_total", source="github") == 1
    rejected = "whp_webhooks_rejected_total"
    assert value(samples, rejected, source="github", reason="invalid_signature") == 1
    assert value(samples, rejected, source="(unknown)", reason="unknown_source") == 1
    assert value(samples, "whp_webhooks_received_total", source="(unknown)") == 1

    # The ingest latency: one observation per answered webhook, each well within 5 s.
    ingest = buckets(samples, "whp_ingest_duration_seconds", source="github")
    assert ingest[-1] == (float("inf"), 4)
    assert [count for _, count in ingest] == sorted(count for _, count in ingest)  # cumulative
    assert dict(ingest)[5.0] == 4
    assert value(samples, "whp_ingest_duration_seconds_count", source="github") == 4
    assert 0 < (value(samples, "whp_ingest_duration_seconds_sum", source="github") or 0) < 20
    assert buckets(samples, "whp_ingest_duration_seconds", source="(unknown)")[-1][1] == 1

    # Deliveries: one delivered; the failing one retried once, then dead.
    attempts = "whp_delivery_attempts_total"
    assert value(samples, attempts, destination="ok", outcome="delivered") == 1
    assert value(samples, attempts, destination="failing", outcome="retry") == 1
    assert value(samples, attempts, destination="failing", outcome="dead") == 1
    assert value(samples, attempts, destination="failing", outcome="delivered") is None
    duration = "whp_delivery_attempt_duration_seconds"
    assert buckets(samples, duration, destination="ok")[-1] == (float("inf"), 1)
    assert buckets(samples, duration, destination="failing")[-1] == (float("inf"), 2)
    assert dict(buckets(samples, duration, destination="failing"))[15.0] == 2
    # End to end, receipt to delivery: the delivered one only, within the machine's margins.
    latency = buckets(samples, "whp_delivery_latency_seconds", destination="ok")
    assert latency[-1] == (float("inf"), 1)
    assert dict(latency)[10.0] == 1
    assert buckets(samples, "whp_delivery_latency_seconds", destination="failing") == []

    # The store's gauges, per configured destination.
    for name, dead in (("ok", 0), ("failing", 1)):
        assert value(samples, "whp_deliveries_dead", destination=name) == dead
        assert value(samples, "whp_deliveries_pending", destination=name) == 0
        assert value(samples, "whp_deliveries_in_flight", destination=name) == 0
        assert value(samples, "whp_oldest_pending_delivery_age_seconds", destination=name) == 0


def test_a_destination_added_by_a_reload_is_counted_and_shown_under_its_name(
    server: Server, receiver: Receiver
) -> None:
    document = deployment(receiver)
    document["destinations"]["later"] = {
        "url": receiver.url("/later"),
        "signing_secret": "env:MET_SIGNING_SECRET",
    }
    document["routes"].append(
        {"name": "later", "destination": "later", "pattern": {"detail-type": ["later"]}}
    )
    server.config.write_text(yaml.safe_dump(document, sort_keys=False))
    os.kill(server.process.pid, signal.SIGHUP)
    wait_for(
        lambda: "config reloaded: 1 source, 3 destinations, 3 routes" in server.stderr(),
        TIMEOUT,
        what=f"the reload in the log:\n{server.stderr()[-3000:]}",
    )
    body = json.dumps({"order": uuid.uuid4().hex}).encode()
    with httpx.Client(timeout=30.0) as client:
        assert post(client, server, body, github_headers(GH_SECRET, body, event="later")) == 202
    receiver.wait_for_arrivals(1, TIMEOUT, path="/later")
    samples: Samples = {}

    def counted() -> bool:
        nonlocal samples
        samples = scrape(server)
        return value(samples, "whp_deliveries_pending", destination="later") == 0

    wait_for(counted, TIMEOUT, interval=0.3, what="the destination's gauges")
    attempts = "whp_delivery_attempts_total"
    wait_for(
        lambda: value(scrape(server), attempts, destination="later", outcome="delivered") == 1,
        TIMEOUT,
        interval=0.1,
        what="the attempt counted under the destination's name",
    )
    assert not any(dict(labels).get("destination") == "(unknown)" for _, labels in samples)
