"""POST /webhooks/{source} against a real `whp serve`: every row of the README's status table and
the order of its checks, as a provider (or an attacker) sees them over HTTP, and what the store
holds afterwards."""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from standardwebhooks import Webhook

from .helpers import (
    Server,
    count_events,
    event_by_id,
    events_with_key,
    github_headers,
    github_signature,
    hmac_hex,
    json_body,
    metric_total,
    read_response,
    stripe_signature,
)
from .shared import (
    API_KEY,
    APP_SECRET,
    FORM_SECRET,
    GH_NEXT_SECRET,
    GH_SECRET,
    GITLAB_TOKEN,
    SLACK_SECRET,
    SMALL_LIMIT,
    STRIPE_SECRET,
)

pytestmark = pytest.mark.e2e


def error_of(response: httpx.Response, status: int, code: str) -> str:
    """Assert `response` is the JSON error {"error": code, "detail": ...}; return the detail."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    answer = response.json()
    assert set(answer) == {"error", "detail"}, answer
    assert answer["error"] == code, answer
    assert isinstance(answer["detail"], str)
    assert answer["detail"], answer
    detail: str = answer["detail"]
    return detail


def send_github(
    client: httpx.Client,
    server: Server,
    body: bytes,
    *,
    source: str = "github",
    delivery: str | None = None,
    event: str = "push",
    content_type: str = "application/json",
    extra: dict[str, str] | None = None,
) -> httpx.Response:
    headers = github_headers(
        GH_SECRET, body, event=event, delivery=delivery, content_type=content_type
    )
    headers.update(extra or {})
    return client.post(server.webhook(source), content=body, headers=headers)


# --- 202 / 200 ---------------------------------------------------------------------------------


def test_verified_webhook_is_stored_raw_without_credentials(
    server: Server, client: httpx.Client
) -> None:
    delivery = str(uuid.uuid4())
    # Odd spacing, a non-ASCII character and a trailing newline: bytes must survive unchanged.
    body = b'{ "zen":  "caf\xc3\xa9 \\u00e9",\n  "hook_id": 42 }\n'
    headers = github_headers(GH_SECRET, body, event="push", delivery=delivery)
    headers["Authorization"] = "Bearer e2e-do-not-store-me"
    headers["Cookie"] = "session=e2e-do-not-store-me-either"

    response = client.post(server.webhook("github"), content=body, headers=headers)

    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer == {"id": answer["id"], "duplicate": False}
    assert answer["id"].startswith("evt_")
    stored = event_by_id(server.db, answer["id"])
    assert stored is not None, "a 202 was answered but the event is not in the store"
    assert stored.body == body
    assert stored.source == "github"
    assert stored.event_type == "push"
    assert stored.idempotency_key == delivery
    assert stored.content_type == "application/json"
    names = {name.lower() for name in stored.headers}
    assert "x-github-event" in names
    assert "x-github-delivery" in names
    assert "authorization" not in names
    assert "cookie" not in names
    assert "e2e-do-not-store-me" not in str(stored.headers)


def test_duplicate_delivery_answers_first_id_and_stores_once(
    server: Server, client: httpx.Client
) -> None:
    delivery = str(uuid.uuid4())
    body = json_body(action="opened", number=7)

    first = send_github(client, server, body, delivery=delivery)
    again = send_github(client, server, body, delivery=delivery)

    assert first.status_code == 202, first.text
    assert again.status_code == 200, again.text
    first_id = first.json()["id"]
    assert again.json() == {"id": first_id, "duplicate": True}
    stored = events_with_key(server.db, "github", delivery)
    assert [e.id for e in stored] == [first_id]


# --- 404 / 401 --------------------------------------------------------------------------------


def test_unknown_source_is_404(server: Server, client: httpx.Client) -> None:
    before = count_events(server.db)
    body = json_body(hello="world")
    response = send_github(client, server, body, source="no-such-source")
    detail = error_of(response, 404, "unknown_source")
    assert "no-such-source" in detail
    assert count_events(server.db) == before


CASES = {
    "missing": None,
    "wrong": "sha256=" + "0" * 64,
    "other-secret": None,
    "no-prefix": "deadbeef",
    "not-hex": "sha256=not-hex-at-all",
    "sha1": "sha1=" + "a" * 40,
}


@pytest.mark.parametrize(("case", "signature"), CASES.items(), ids=list(CASES))
def test_bad_github_signature_is_401_and_not_stored(
    server: Server, client: httpx.Client, case: str, signature: str | None
) -> None:
    delivery = str(uuid.uuid4())
    body = json_body(case=case)
    headers = github_headers(GH_SECRET, body, delivery=delivery)
    if case == "other-secret":
        headers["X-Hub-Signature-256"] = github_signature("not-the-secret", body)
    elif signature is None:
        del headers["X-Hub-Signature-256"]
    else:
        headers["X-Hub-Signature-256"] = signature

    response = client.post(server.webhook("github"), content=body, headers=headers)

    error_of(response, 401, "invalid_signature")
    assert events_with_key(server.db, "github", delivery) == []


def test_tampered_body_is_401(server: Server, client: httpx.Client) -> None:
    delivery = str(uuid.uuid4())
    signed = json_body(amount=1)
    headers = github_headers(GH_SECRET, signed, delivery=delivery)
    response = client.post(
        server.webhook("github"), content=json_body(amount=1000), headers=headers
    )
    error_of(response, 401, "invalid_signature")
    assert events_with_key(server.db, "github", delivery) == []


@pytest.mark.parametrize(
    ("case", "offset"), [("fresh", 0), ("stale", -1000), ("future", 1000), ("edge", -250)]
)
def test_stripe_timestamp_tolerance(
    server: Server, client: httpx.Client, case: str, offset: int
) -> None:
    event_id = f"evt_e2e_{uuid.uuid4().hex}"
    body = json_body(id=event_id, type="payment_intent.succeeded", data={"object": {}})
    timestamp = int(time.time()) + offset
    headers = {
        "Content-Type": "application/json",
        "Stripe-Signature": stripe_signature(STRIPE_SECRET, body, timestamp),
    }

    response = client.post(server.webhook("stripe"), content=body, headers=headers)

    stored = events_with_key(server.db, "stripe", event_id)
    if case in ("fresh", "edge"):
        assert response.status_code == 202, response.text
        assert [e.id for e in stored] == [response.json()["id"]]
        assert stored[0].event_type == "payment_intent.succeeded"
    else:
        detail = error_of(response, 401, "invalid_signature")
        assert "timestamp" in detail
        assert stored == []


@pytest.mark.parametrize(
    "header",
    ["", "v1=abc", "t=notanumber,v1=" + "0" * 64, "garbage", "t=123"],
    ids=["missing", "no-timestamp", "bad-timestamp", "garbage", "no-v1"],
)
def test_malformed_stripe_signature_is_401(
    server: Server, client: httpx.Client, header: str
) -> None:
    event_id = f"evt_e2e_{uuid.uuid4().hex}"
    body = json_body(id=event_id, type="charge.succeeded")
    headers = {"Content-Type": "application/json"}
    if header:
        headers["Stripe-Signature"] = header
    response = client.post(server.webhook("stripe"), content=body, headers=headers)
    error_of(response, 401, "invalid_signature")
    assert events_with_key(server.db, "stripe", event_id) == []


# --- 413 ----------------------------------------------------------------------------------------


def padded_json(size: int) -> bytes:
    """A JSON object of exactly `size` bytes."""
    head = b'{"pad":"'
    tail = b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def test_body_at_the_limit_is_accepted(server: Server, client: httpx.Client) -> None:
    body = padded_json(SMALL_LIMIT)
    assert len(body) == SMALL_LIMIT
    response = send_github(client, server, body, source="small")
    assert response.status_code == 202, response.text
    stored = event_by_id(server.db, response.json()["id"])
    assert stored is not None
    assert stored.body == body


DEFAULT_LIMIT = 1024 * 1024  # max_body_bytes when a source sets none (docs/architecture.md)


def test_default_limit_is_one_mebibyte(server: Server, client: httpx.Client) -> None:
    at_limit = padded_json(DEFAULT_LIMIT)
    accepted = send_github(client, server, at_limit)
    assert accepted.status_code == 202, accepted.text
    delivery = str(uuid.uuid4())
    over = send_github(client, server, padded_json(DEFAULT_LIMIT + 1), delivery=delivery)
    error_of(over, 413, "payload_too_large")
    assert events_with_key(server.db, "github", delivery) == []


def test_content_length_over_limit_is_413(server: Server, client: httpx.Client) -> None:
    delivery = str(uuid.uuid4())
    body = padded_json(SMALL_LIMIT + 1)
    response = send_github(client, server, body, source="small", delivery=delivery)
    detail = error_of(response, 413, "payload_too_large")
    assert str(SMALL_LIMIT) in detail
    assert events_with_key(server.db, "small", delivery) == []


def test_declared_huge_body_is_refused_before_it_is_sent(server: Server) -> None:
    """Content-Length of 1 GB with `Expect: 100-continue`, as curl sends it: the server answers 413
    at once, without inviting the body (no 100 Continue) and without waiting for it."""
    request = (
        b"POST /webhooks/small HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: 1000000000\r\n"
        b"Expect: 100-continue\r\n"
        b"\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        sock.sendall(request)
        response = read_response(sock)
    assert response.status == 413, response
    assert response.json()["error"] == "payload_too_large"
    assert response.interim == (), "the server invited a body it was going to refuse"


def chunks(total: int, size: int = 256) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size


def test_chunked_body_over_limit_is_413(server: Server, client: httpx.Client) -> None:
    """No Content-Length: the limit holds while the body streams in."""
    delivery = str(uuid.uuid4())
    body = b"".join(chunks(SMALL_LIMIT * 4))
    headers = github_headers(GH_SECRET, body, delivery=delivery)
    response = client.post(
        server.webhook("small"), content=chunks(SMALL_LIMIT * 4), headers=headers
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    error_of(response, 413, "payload_too_large")
    assert events_with_key(server.db, "small", delivery) == []


def test_chunked_body_over_limit_is_refused_while_still_streaming(server: Server) -> None:
    """The sender has sent a little over the limit and then stalls, the body unfinished (no final
    zero-length chunk): the 413 arrives anyway, so the server did not wait for the whole body."""
    # The signature is wrong too: size is checked first, while the body is still arriving.
    head = (
        b"POST /webhooks/small HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n"
        b"X-GitHub-Event: push\r\n"
        b"X-Hub-Signature-256: sha256=" + b"0" * 64 + b"\r\n"
        b"\r\n"
    )
    piece = b"x" * 512
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        sock.sendall(head)
        for _ in range(3):  # 1536 bytes: over the 1024-byte limit, and then nothing more
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        response = read_response(sock, timeout=15)
    assert response.status == 413, response
    assert response.json()["error"] == "payload_too_large"


# --- 400 / 415 / 422 --------------------------------------------------------------------------


def test_invalid_json_is_400(server: Server, client: httpx.Client) -> None:
    delivery = str(uuid.uuid4())
    response = send_github(client, server, b'{"action": "opened",', delivery=delivery)
    detail = error_of(response, 400, "malformed_payload")
    assert "JSON" in detail
    assert events_with_key(server.db, "github", delivery) == []


GITHUB_HEAD = b"POST /webhooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def rejected_total(server: Server, client: httpx.Client, **labels: str) -> float:
    """whp_webhooks_rejected_total, summed over the samples that carry `labels`."""
    text = client.get(f"{server.url}/metrics").text
    return metric_total(text, "whp_webhooks_rejected_total", **labels) or 0.0


def refused_by_server(server: Server, client: httpx.Client, reason: str) -> float:
    """Refusals of the HTTP server's own, which no source is known for."""
    return rejected_total(server, client, source="(unknown)", reason=reason)


@pytest.mark.parametrize(
    ("request_bytes", "reason"),
    [
        (GITHUB_HEAD + b"X-Note: a\x01b\r\nContent-Length: 2\r\n\r\n{}", "header value"),
        (GITHUB_HEAD + b"X Note: a\r\nContent-Length: 2\r\n\r\n{}", "header token"),
        (GITHUB_HEAD + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", "Content-Length"),
        (GITHUB_HEAD + b"Content-Length: two\r\n\r\n{}", "Content-Length"),
        (GITHUB_HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n", "chunk size"),
        (b"P@ST /webhooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "method"),
    ],
)
def test_request_that_is_not_valid_http_is_400_naming_what_is_wrong(
    server: Server, client: httpx.Client, request_bytes: bytes, reason: str
) -> None:
    """Requests the HTTP parser refuses never reach the app, but their answer is the API's JSON
    error all the same (uvicorn's own is a plain-text "Invalid HTTP request received."), and it
    says what is wrong, and it is counted. The server goes on serving."""
    before = count_events(server.db)
    counted = refused_by_server(server, client, "malformed_request")
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        sock.sendall(request_bytes)
        raw = read_response(sock)
    assert raw.status == 400, raw
    assert raw.headers["content-type"] == "application/json"
    assert raw.headers["connection"] == "close"
    answer = raw.json()
    assert answer["error"] == "malformed_request"
    assert answer["detail"].startswith("malformed HTTP request: ")
    assert reason.lower() in answer["detail"].lower(), answer
    assert count_events(server.db) == before
    assert refused_by_server(server, client, "malformed_request") == counted + 1
    response = send_github(client, server, json_body())
    assert response.status_code == 202, response.text


def test_headers_over_64_kib_are_431_while_they_are_still_coming(
    server: Server, client: httpx.Client
) -> None:
    """A sender that sends headers without end is cut off at 64 KiB of request head, with the
    API's JSON error, instead of being buffered for as long as it goes on. The server goes on
    serving."""
    line = b"X-Pad: " + b"a" * 1000 + b"\r\n"
    counted = refused_by_server(server, client, "headers_too_large")
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        sock.sendall(GITHUB_HEAD)
        sent = 0
        with contextlib.suppress(ConnectionError):  # closed by the server, as it should be
            while sent < 4 * 1024 * 1024:  # 4 MiB unless refused first
                sock.sendall(line * 16)
                sent += len(line) * 16
        raw = read_response(sock)
    assert raw.status == 431, raw
    assert raw.headers["connection"] == "close"
    answer = raw.json()
    assert answer["error"] == "headers_too_large"
    assert "65536 bytes" in answer["detail"]
    assert refused_by_server(server, client, "headers_too_large") == counted + 1
    response = send_github(client, server, json_body())
    assert response.status_code == 202, response.text


def test_headers_just_under_64_kib_are_accepted(server: Server, client: httpx.Client) -> None:
    padding = {f"x-pad-{i}": "a" * 1000 for i in range(60)}
    response = send_github(client, server, json_body(n=1), extra=padding)
    assert response.status_code == 202, response.text


def test_compressed_body_is_415(server: Server, client: httpx.Client) -> None:
    delivery = str(uuid.uuid4())
    body = gzip.compress(json_body(action="opened"))
    response = send_github(
        client, server, body, delivery=delivery, extra={"Content-Encoding": "gzip"}
    )
    detail = error_of(response, 415, "unsupported_media_type")
    assert "gzip" in detail
    assert events_with_key(server.db, "github", delivery) == []


def test_schema_valid_payload_is_202(server: Server, client: httpx.Client) -> None:
    delivery = str(uuid.uuid4())
    body = json_body(order_id="A-1", amount=1200)
    response = send_github(client, server, body, source="orders", delivery=delivery)
    assert response.status_code == 202, response.text
    assert [e.id for e in events_with_key(server.db, "orders", delivery)] == [response.json()["id"]]


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ({"order_id": "A-2"}, "amount"),
        ({"order_id": "A-3", "amount": "twelve"}, "amount"),
        ({"order_id": 3, "amount": 5}, "order_id"),
        ({"order_id": "A-4", "amount": -1}, "amount"),
    ],
    ids=["missing-amount", "amount-not-integer", "order-id-not-string", "negative-amount"],
)
def test_schema_violation_is_422_naming_the_problem(
    server: Server, client: httpx.Client, payload: dict[str, object], named: str
) -> None:
    delivery = str(uuid.uuid4())
    response = send_github(client, server, json_body(**payload), source="orders", delivery=delivery)
    detail = error_of(response, 422, "schema_violation")
    assert named in detail
    assert events_with_key(server.db, "orders", delivery) == []


def test_form_encoded_body_takes_event_type_from_its_field(
    server: Server, client: httpx.Client
) -> None:
    body = b"type=invoice.paid&amount=1200&item=a&item=b"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Form-Signature": "sha256=" + hmac_hex(FORM_SECRET, body),
    }
    response = client.post(server.webhook("form"), content=body, headers=headers)
    assert response.status_code == 202, response.text
    stored = event_by_id(server.db, response.json()["id"])
    assert stored is not None
    assert stored.event_type == "invoice.paid"
    assert stored.body == body
    assert stored.content_type == "application/x-www-form-urlencoded"


def test_form_encoded_body_with_wrong_signature_is_401(
    server: Server, client: httpx.Client
) -> None:
    before = count_events(server.db, "form")
    body = b"type=invoice.paid"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Form-Signature": "sha256=" + hmac_hex("wrong", body),
    }
    response = client.post(server.webhook("form"), content=body, headers=headers)
    error_of(response, 401, "invalid_signature")
    assert count_events(server.db, "form") == before


# --- 429 ------------------------------------------------------------------------------------------


def retry_after(response: httpx.Response) -> int:
    value = response.headers.get("retry-after")
    assert value is not None, f"429 without Retry-After: {response.headers}"
    assert value.isdigit(), f"Retry-After {value!r} is not whole seconds"
    assert int(value) >= 1
    return int(value)


def test_third_request_within_a_second_is_429(server: Server, client: httpx.Client) -> None:
    """rate_limit {per_second: 1, burst: 2}: two go through, the third waits."""
    deliveries = [str(uuid.uuid4()) for _ in range(3)]
    responses = [
        send_github(client, server, json_body(n=i), source="limited", delivery=d)
        for i, d in enumerate(deliveries)
    ]
    assert [r.status_code for r in responses] == [202, 202, 429], [r.text for r in responses]
    error_of(responses[2], 429, "rate_limited")
    assert retry_after(responses[2]) <= 2
    assert events_with_key(server.db, "limited", deliveries[2]) == []


def test_unsigned_flood_does_not_consume_the_budget(server: Server, client: httpx.Client) -> None:
    """Requests that fail verification are not counted: a flood of them cannot starve the real
    provider of its rate-limit budget."""
    for i in range(40):
        body = json_body(flood=i)
        headers = {"Content-Type": "application/json", "X-GitHub-Event": "push"}
        if i % 2:
            headers["X-Hub-Signature-256"] = github_signature("attacker-guess", body)
        response = client.post(server.webhook("flooded"), content=body, headers=headers)
        error_of(response, 401, "invalid_signature")

    first = send_github(client, server, json_body(real=1), source="flooded")
    second = send_github(client, server, json_body(real=2), source="flooded")
    third = send_github(client, server, json_body(real=3), source="flooded")
    assert first.status_code == 202, first.text
    assert second.status_code == 202, second.text
    # ... and the limit is real on this source: the budget of 2 is now spent.
    error_of(third, 429, "rate_limited")


# --- check order ----------------------------------------------------------------------------------


def test_unknown_source_comes_before_size(server: Server, client: httpx.Client) -> None:
    body = padded_json(SMALL_LIMIT * 3000)  # 3 MB: over every source's limit
    response = send_github(client, server, body, source="nope")
    error_of(response, 404, "unknown_source")


def test_size_comes_before_signature(server: Server, client: httpx.Client) -> None:
    body = padded_json(SMALL_LIMIT + 100)
    response = client.post(
        server.webhook("small"), content=body, headers={"Content-Type": "application/json"}
    )
    error_of(response, 413, "payload_too_large")


def test_signature_comes_before_parsing(server: Server, client: httpx.Client) -> None:
    body = b"{this is not json"
    response = client.post(
        server.webhook("github"),
        content=body,
        headers={"Content-Type": "application/json", "X-GitHub-Event": "push"},
    )
    error_of(response, 401, "invalid_signature")


def test_signature_comes_before_schema(server: Server, client: httpx.Client) -> None:
    body = json_body(nothing="valid")
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": "sha256=" + "1" * 64}
    response = client.post(server.webhook("orders"), content=body, headers=headers)
    error_of(response, 401, "invalid_signature")


def test_rate_limit_comes_before_parsing(server: Server, client: httpx.Client) -> None:
    """rate_limit {per_second: 0.1, burst: 1}: a verified request spends the only token; the next
    verified one is 429 although its body is not even JSON."""
    first = send_github(client, server, json_body(ok=True), source="slow")
    assert first.status_code == 202, first.text
    delivery = str(uuid.uuid4())
    second = send_github(client, server, b"{not json", source="slow", delivery=delivery)
    error_of(second, 429, "rate_limited")
    retry_after(second)
    assert events_with_key(server.db, "slow", delivery) == []


# --- 503 ------------------------------------------------------------------------------------------


def post_while_locked(
    server: Server, client: httpx.Client, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    """POST to the github source while another process holds SQLite's write lock."""
    with closing(sqlite3.connect(server.db, isolation_level=None, timeout=10)) as lock:
        lock.execute("BEGIN IMMEDIATE")
        try:
            return client.post(server.webhook("github"), content=body, headers=headers)
        finally:
            lock.execute("ROLLBACK")


def test_store_locked_is_503_then_202_once_free(server: Server, client: httpx.Client) -> None:
    """Another process holds SQLite's write lock past busy_timeout_seconds (0.3 s): the webhook is
    refused with 503 (never a 2xx for what is not stored), and the provider's retry succeeds once
    the lock is gone."""
    delivery = str(uuid.uuid4())
    body = json_body(action="locked-out")
    headers = github_headers(GH_SECRET, body, delivery=delivery)
    refused = post_while_locked(server, client, body, headers)
    error_of(refused, 503, "store_unavailable")
    assert events_with_key(server.db, "github", delivery) == []

    retried = client.post(server.webhook("github"), content=body, headers=headers)
    assert retried.status_code == 202, retried.text
    assert retried.json()["duplicate"] is False
    assert [e.id for e in events_with_key(server.db, "github", delivery)] == [retried.json()["id"]]


def test_store_unavailable_is_counted_as_a_rejection(server: Server, client: httpx.Client) -> None:
    """A 503 refuses a webhook like any other error row of the ingest table: an operator watching
    whp_webhooks_rejected_total must see a store outage."""
    before = rejected_total(server, client, reason="store_unavailable")
    body = json_body(action="counted")
    headers = github_headers(GH_SECRET, body)
    refused = post_while_locked(server, client, body, headers)
    error_of(refused, 503, "store_unavailable")
    assert rejected_total(server, client, reason="store_unavailable") == before + 1


# --- more of the contract: rotation, presets, credentials, concurrency -----------------------


@pytest.mark.parametrize("secret", [GH_SECRET, GH_NEXT_SECRET], ids=["current", "next"])
def test_every_configured_secret_verifies_during_rotation(
    server: Server, client: httpx.Client, secret: str
) -> None:
    body = json_body(rotation=secret[:6])
    headers = github_headers(secret, body)
    response = client.post(server.webhook("rotating"), content=body, headers=headers)
    assert response.status_code == 202, response.text


def test_rotation_still_rejects_other_secrets(server: Server, client: httpx.Client) -> None:
    body = json_body(rotation="neither")
    headers = github_headers("neither-old-nor-new", body)
    response = client.post(server.webhook("rotating"), content=body, headers=headers)
    error_of(response, 401, "invalid_signature")


def test_missing_event_header_stores_type_unknown(server: Server, client: httpx.Client) -> None:
    body = json_body(no="event header")
    headers = github_headers(GH_SECRET, body)
    del headers["X-GitHub-Event"]
    response = client.post(server.webhook("github"), content=body, headers=headers)
    assert response.status_code == 202, response.text
    stored = event_by_id(server.db, response.json()["id"])
    assert stored is not None
    assert stored.event_type == "unknown"


def test_idempotency_keys_are_per_source(server: Server, client: httpx.Client) -> None:
    delivery = str(uuid.uuid4())
    body = json_body(order_id="K-1", amount=1)
    one = send_github(client, server, body, source="github", delivery=delivery)
    other = send_github(client, server, body, source="orders", delivery=delivery)
    assert one.status_code == 202, one.text
    assert other.status_code == 202, other.text
    assert one.json()["id"] != other.json()["id"]


def test_concurrent_duplicates_store_one_event(server: Server) -> None:
    """A provider's retries racing each other: one 202, every other answer a 200 with its id."""
    delivery = str(uuid.uuid4())
    body = json_body(action="raced")
    headers = github_headers(GH_SECRET, body, delivery=delivery)

    def post(_: int) -> httpx.Response:
        with httpx.Client(timeout=30.0) as own:
            return own.post(server.webhook("github"), content=body, headers=headers)

    with ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(post, range(12)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 11 + [202], [r.text for r in responses]
    first = next(r.json()["id"] for r in responses if r.status_code == 202)
    assert {r.json()["id"] for r in responses} == {first}
    assert all(r.json()["duplicate"] is (r.status_code == 200) for r in responses)
    assert [e.id for e in events_with_key(server.db, "github", delivery)] == [first]


def test_standard_webhooks_signed_by_the_official_library(
    server: Server, client: httpx.Client
) -> None:
    msg_id = f"msg_{uuid.uuid4().hex}"
    body = json_body(type="user.created", data={"id": 7})
    now = datetime.now(UTC)
    headers = {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(APP_SECRET).sign(msg_id, now, body.decode()),
    }
    response = client.post(server.webhook("app"), content=body, headers=headers)
    assert response.status_code == 202, response.text
    stored = events_with_key(server.db, "app", msg_id)
    assert [e.id for e in stored] == [response.json()["id"]]
    assert stored[0].event_type == "user.created"


def test_a_standard_webhook_resent_under_svix_headers_is_a_duplicate(
    server: Server, client: httpx.Client
) -> None:
    """The same captured request, its webhook-* headers renamed svix-* (which the scheme also
    accepts): still the id the signature covers, so still the same event."""
    msg_id = f"msg_{uuid.uuid4().hex}"
    body = json_body(type="invoice.paid", data={"id": 9})
    now = datetime.now(UTC)
    headers = {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(APP_SECRET).sign(msg_id, now, body.decode()),
    }
    first = client.post(server.webhook("app"), content=body, headers=headers)
    assert first.status_code == 202, first.text
    renamed = {name.replace("webhook-", "svix-"): value for name, value in headers.items()}
    again = client.post(server.webhook("app"), content=body, headers=renamed)
    assert again.status_code == 200, again.text
    assert again.json() == {"id": first.json()["id"], "duplicate": True}
    assert [e.id for e in events_with_key(server.db, "app", msg_id)] == [first.json()["id"]]


def test_standard_webhooks_stale_timestamp_is_401(server: Server, client: httpx.Client) -> None:
    msg_id = f"msg_{uuid.uuid4().hex}"
    body = json_body(type="user.deleted")
    then = datetime.now(UTC) - timedelta(seconds=1000)
    headers = {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(then.timestamp())),
        "webhook-signature": Webhook(APP_SECRET).sign(msg_id, then, body.decode()),
    }
    response = client.post(server.webhook("app"), content=body, headers=headers)
    error_of(response, 401, "invalid_signature")
    assert events_with_key(server.db, "app", msg_id) == []


@pytest.mark.parametrize(
    ("source", "header", "value"),
    [("keyed", "X-Api-Key", API_KEY), ("gitlab", "X-Gitlab-Token", GITLAB_TOKEN)],
    ids=["api-key", "gitlab"],
)
def test_key_and_token_headers_are_not_stored(
    server: Server, client: httpx.Client, source: str, header: str, value: str
) -> None:
    body = json_body(object_kind="push")
    headers = {"Content-Type": "application/json", header: value, "X-Gitlab-Event": "Push Hook"}
    response = client.post(server.webhook(source), content=body, headers=headers)
    assert response.status_code == 202, response.text
    stored = event_by_id(server.db, response.json()["id"])
    assert stored is not None
    assert header.lower() not in {name.lower() for name in stored.headers}
    assert value not in json.dumps(stored.headers)

    wrong = dict(headers, **{header: value + "x"})
    refused = client.post(server.webhook(source), content=body, headers=wrong)
    error_of(refused, 401, "invalid_signature")


def slack_post(
    client: httpx.Client, server: Server, body: bytes, secret: str = SLACK_SECRET
) -> httpx.Response:
    ts = str(int(time.time()))
    signature = "v0=" + hmac_hex(secret, f"v0:{ts}:".encode() + body)
    headers = {
        "content-type": "application/json",
        "x-slack-request-timestamp": ts,
        "x-slack-signature": signature,
    }
    return client.post(server.webhook("slack"), content=body, headers=headers)


def test_slack_url_verification_is_answered_with_its_challenge(
    server: Server, client: httpx.Client
) -> None:
    """Slack accepts a Request URL only if a 200 carries the challenge back. The handshake is
    verified like any request, stored, and not held to the source's schema (it describes
    events; this source's requires order_id)."""
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P-" + uuid.uuid4().hex
    body = json.dumps(
        {"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "challenge": challenge, "type": "url_verification"}
    ).encode()
    before = count_events(server.db, "slack")
    answer = slack_post(client, server, body)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"challenge": challenge}
    assert count_events(server.db, "slack") == before + 1
    assert slack_post(client, server, body, secret="not-the-secret").status_code == 401
    event = json.dumps({"type": "event_callback", "event_id": "Ev" + uuid.uuid4().hex}).encode()
    assert error_of(slack_post(client, server, event), 422, "schema_violation")
