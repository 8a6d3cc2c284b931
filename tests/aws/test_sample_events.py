"""The sample Lambda events of tests/events are what the handlers will be given: consistent,
signed for real, and in the shapes API Gateway, SQS and EventBridge use."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from webhook_processor import patterns
from webhook_processor.adapters.aws import sqs

EVENTS = Path(__file__).parents[1] / "events"


def _load(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def test_the_rest_event_carries_the_exact_body_base64_with_a_valid_github_signature() -> None:
    event = _load("apiGatewayProxyEvent.json")
    assert event["isBase64Encoded"] is True
    body = base64.b64decode(event["body"])
    assert not body.isascii()  # as sent: UTF-8, never re-encoded by API Gateway
    expected = hmac.new(b"whp-test-github-secret", body, hashlib.sha256).hexdigest()
    assert event["headers"]["X-Hub-Signature-256"] == f"sha256={expected}"
    assert {k: [v] for k, v in event["headers"].items()} == event["multiValueHeaders"]
    assert event["pathParameters"] == {"source": "github"}
    assert event["resource"] == "/webhooks/{source}"


def test_the_http_api_event_has_lower_case_headers_and_a_valid_stripe_signature() -> None:
    event = _load("apiGatewayProxyV2Event.json")
    assert event["version"] == "2.0"
    assert all(name == name.lower() for name in event["headers"])
    assert event["isBase64Encoded"] is False
    body = event["body"].encode("utf-8")
    assert event["headers"]["content-length"] == str(len(body))
    parts = dict(p.split("=", 1) for p in event["headers"]["stripe-signature"].split(","))
    assert int(parts["t"]) == event["requestContext"]["timeEpoch"] // 1000
    signed = parts["t"].encode() + b"." + body
    expected = hmac.new(b"whsec_whpteststripesecret", signed, hashlib.sha256).hexdigest()
    assert parts["v1"] == expected
    assert event["pathParameters"] == {"source": "stripe"}


def test_the_ingest_batch_holds_event_ids_and_a_replay_round() -> None:
    records = _load("sqsIngestQueueEvent.json")["Records"]
    bodies = [json.loads(r["body"]) for r in records]
    assert [sorted(b) for b in bodies] == [["event_id"], ["event_id", "round", "webhook_id"]]
    assert {r["eventSourceARN"].rsplit(":", 1)[1] for r in records} == {"wh-test-ingest"}
    assert [sqs.receive_count(r) for r in records] == [1, 1]


def test_the_destination_batch_wraps_eventbridges_event_without_its_detail() -> None:
    records = _load("sqsDestinationQueueEvent.json")["Records"]
    for record in records:
        message = json.loads(record["body"])
        assert set(message) == {"route", "event"}
        assert "detail" not in message["event"]  # `<aws.events.event>`
        (resource,) = message["event"]["resources"]
        assert resource.startswith("whp:event:evt_")
        assert record["eventSourceARN"].endswith(":wh-test-d-orders")
    assert sqs.receive_count(records[1]) == 3


def test_the_bus_event_is_designs_envelope_and_the_shared_patterns_match_it() -> None:
    event = _load("eventBridgeEvent.json")
    assert set(event) == {
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    }
    pattern = patterns.compile({"source": ["github"], "detail-type": ["push"]})
    assert pattern.matches(event)
    wrapped = json.loads(_load("sqsDestinationQueueEvent.json")["Records"][0]["body"])
    assert wrapped["event"]["resources"] == event["resources"]
