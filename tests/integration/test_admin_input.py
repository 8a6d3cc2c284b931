"""Bad input to the admin API: each is a 400 in the API's error shape that names the problem, and
changes nothing."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from .adminapi import AUTH, Admin, api, recent

__all__ = ["api"]  # the fixture


def forged(position: Any) -> str:
    """A cursor of our encoding that holds what no page of ours handed out."""
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/api/events", {"sorce": "github"}, "unknown query parameter 'sorce'"),
        ("/api/events", {"status": "delivered"}, "status 'delivered': expected one of pending"),
        ("/api/events", {"status": ""}, "status is empty"),
        ("/api/events", {"since": "yesterday"}, "since 'yesterday': expected an RFC 3339 time"),
        ("/api/events", {"until": "2026-11-30T10:00:00"}, "until '2026-11-30T10:00:00': give a"),
        ("/api/events", {"since": "2026-02-30T10:00:00Z"}, "since '2026-02-30T10:00:00Z'"),
        ("/api/events", {"since": "9999999999d"}, "before the year 1"),
        ("/api/events", {"limit": "0"}, "limit '0': give a whole number from 1 to 500"),
        ("/api/events", {"limit": "501"}, "limit '501'"),
        ("/api/events", {"limit": "ten"}, "limit 'ten'"),
        ("/api/events", {"limit": "-1"}, "limit '-1'"),
        ("/api/events", {"limit": "9" * 40}, "limit '999"),
        ("/api/events", {"cursor": "not a cursor"}, "invalid cursor"),
        ("/api/events", {"cursor": forged({"seq": "x"})}, "invalid cursor"),
        ("/api/events", {"cursor": forged({"seq": 2**70})}, "invalid cursor"),
        ("/api/events", {"cursor": forged([1])}, "invalid cursor"),
        ("/api/events", {"source": "x" * 2000}, "source is over 1024 characters"),
        ("/api/dlq", {"cursor": forged({"id": {"a": 1}})}, "invalid cursor"),
        ("/api/dlq", {"type": "push"}, "unknown query parameter 'type'"),
        ("/api/events/evt_x", {"limit": "5"}, "unknown query parameter 'limit'"),
        ("/api/destinations", {"limit": "5"}, "unknown query parameter 'limit'"),
        ("/api/stats", {"x": "1"}, "unknown query parameter 'x'"),
    ],
)
def test_bad_query_parameters_are_400_naming_the_problem(
    api: Admin, path: str, params: dict[str, str], named: str
) -> None:
    api.events(recent())
    answer = api.http.get(path, params=params, headers=AUTH)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_request"
    assert named in answer.json()["detail"]
    assert set(answer.json()) == {"error", "detail"}


def test_a_repeated_query_parameter_is_400(api: Admin) -> None:
    answer = api.http.get("/api/events?source=a&source=b", headers=AUTH)
    assert answer.status_code == 400
    assert answer.json()["detail"] == "query parameter 'source' is given more than once"


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("/api/replay", b"{not json", "the body is not valid JSON"),
        ("/api/replay", b"[1, 2]", "the body must be a JSON object"),
        ("/api/replay", b"", "give a JSON object body"),
        ("/api/replay", b'{"source": 1}', "source must be a string"),
        ("/api/replay", b'{"source": null}', "source must be a string"),
        ("/api/replay", b'{"source": "x", "dry_run": "yes"}', "dry_run must be true or false"),
        ("/api/replay", b'{"source": "x", "limit": 5}', "unknown key 'limit' in the body"),
        ("/api/replay", b'{"sorce": "x"}', "unknown key 'sorce'"),
        ("/api/replay", b'{"status": "gone"}', "status 'gone': expected one of"),
        ("/api/replay", b'{"since": "soon"}', "since 'soon'"),
        ("/api/replay", b"{}", "an empty filter replays every stored event"),
        ("/api/replay", b'{"all": false}', "an empty filter"),
        ("/api/events/evt_x/replay", b'{"new_id": 1}', "new_id must be true or false"),
        ("/api/events/evt_x/replay", b'{"newid": true}', "unknown key 'newid'"),
        ("/api/events/evt_x/replay", b'"new_id"', "the body must be a JSON object"),
        ("/api/dlq/redrive", b"{}", 'give one of {"ids": [delivery ids]}'),
        ("/api/dlq/redrive", b'{"all": false}', "give one of"),
        ("/api/dlq/redrive", b'{"all": true, "destination": "orders"}', "give one of"),
        ("/api/dlq/redrive", b'{"ids": []}', "ids: give 1 to 10000 delivery ids"),
        ("/api/dlq/redrive", b'{"ids": [1, 2]}', "ids must be delivery ids as strings"),
        ("/api/dlq/redrive", b'{"ids": "1"}', "ids must be a list"),
        ("/api/dlq/redrive", b'{"destination": ""}', "destination is empty"),
        ("/api/dlq/redrive", b'{"destination": "nope"}', "no destination named 'nope'"),
        ("/api/dlq/redrive", b"\xff\xfe", "the body is not valid JSON"),
    ],
)
def test_bad_bodies_are_400_naming_the_problem(
    api: Admin, path: str, body: bytes, named: str
) -> None:
    api.events(recent(), routes=[("payments", "orders")])
    answer = api.http.post(path, content=body, headers=AUTH | {"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_request"
    assert named in answer.json()["detail"]
    assert api.get("/api/events")["data"][0]["status"] == "routed"  # nothing replayed


def test_a_body_over_a_mebibyte_is_413(api: Admin) -> None:
    body = b'{"source": "' + b"x" * (1024 * 1024) + b'"}'
    answer = api.http.post("/api/replay", content=body, headers=AUTH)
    assert answer.status_code == 413
    assert answer.json()["error"] == "payload_too_large"


def test_replay_of_one_event_takes_no_body_or_an_empty_one(api: Admin) -> None:
    (e,) = api.events(recent(), routes=[("payments", "orders")])
    for body in (b"", b"  ", b"{}"):
        answer = api.http.post(f"/api/events/{e.id}/replay", content=body, headers=AUTH)
        assert answer.status_code == 202, answer.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/events/" + "x" * 5000),
        ("POST", "/api/events/" + "x" * 5000 + "/replay"),
        ("POST", "/api/destinations/" + "x" * 5000 + "/pause"),
        ("GET", "/api/events?" + "x" * 5000 + "=1"),
        ("GET", "/api/events?" + "x" * 5000 + "=1&" + "x" * 5000 + "=2"),
        ("GET", "/api/dlq?destination=" + "x" * 1000),
        ("GET", "/api/" + "x" * 5000),
    ],
    ids=["event", "replay", "pause", "parameter", "repeated", "destination", "path"],
)
def test_what_a_client_sent_is_quoted_short(api: Admin, method: str, path: str) -> None:
    """An id, a name or a path can be as long as the request allows: the answer quotes its
    start only (as ingest's answers do)."""
    answer = api.http.request(method, path, headers=AUTH)
    assert answer.status_code in (400, 404), answer.text[:200]
    assert len(answer.json()["detail"]) < 300, answer.json()["detail"][:400]
