"""The ingest service against in-memory fakes: docs/architecture.md's statuses and check order."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import json
import re
from pathlib import Path

import pytest

from webhook_processor import bootstrap, config, errors, models, services, testing

SECRET = "s3cret"
ENV = {"GH": SECRET}


def signed(body: bytes, **extra: str) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"x-hub-signature-256": f"sha256={digest}", "content-type": "application/json"} | extra


class World:
    def __init__(self, tmp_path: Path, sources: str) -> None:
        file = tmp_path / "whp.yaml"
        file.write_text(f"sources:\n{sources}")
        self.cfg = config.load(file)
        self.clock = testing.FakeClock()
        self.store = testing.MemoryStore()
        self.metrics = testing.MemoryMetrics()
        runtimes = bootstrap.source_runtimes(self.cfg, str(file), ENV, self.clock)
        self.ingest = services.ingest.Ingest(runtimes, self.store, self.metrics, self.clock)

    def receive(self, source: str, body: bytes, headers: dict[str, str]) -> models.Stored:
        async def run() -> models.Stored:
            return await self.ingest.receive(self.ingest.source(source), body, headers)

        return asyncio.run(run())


GITHUB = "  github: {verify: github, secret: env:GH}\n"


def test_verified_webhook_is_stored_with_preset_type_and_key(tmp_path: Path) -> None:
    world = World(tmp_path, GITHUB)
    body = b'{"ref": "refs/heads/main"}'
    headers = signed(
        body, **{"x-github-event": "push", "x-github-delivery": "d-1", "cookie": "c=1"}
    )
    stored = world.receive("github", body, headers)
    assert stored.duplicate is False
    event = world.store.events[stored.id]
    assert (event.source, event.event_type, event.idempotency_key) == ("github", "push", "d-1")
    assert event.body == body
    assert event.received_ms == int(world.clock.now * 1000)
    assert "cookie" not in event.headers
    assert event.headers["x-github-event"] == "push"
    assert world.metrics.accepted_by[("github", False)] == 1


def test_repeated_idempotency_key_answers_with_the_first_id(tmp_path: Path) -> None:
    world = World(tmp_path, GITHUB)
    body = b"{}"
    first = world.receive("github", body, signed(body, **{"x-github-delivery": "same"}))
    again = world.receive("github", body, signed(body, **{"x-github-delivery": "same"}))
    assert again == models.Stored(first.id, duplicate=True)
    assert len(world.store.events) == 1


def test_events_without_a_key_are_never_deduplicated(tmp_path: Path) -> None:
    world = World(tmp_path, GITHUB)
    body = b"{}"
    world.receive("github", body, signed(body))
    world.receive("github", body, signed(body))
    assert len(world.store.events) == 2


def test_missing_event_type_is_unknown(tmp_path: Path) -> None:
    world = World(tmp_path, GITHUB)
    stored = world.receive("github", b"{}", signed(b"{}"))
    assert world.store.events[stored.id].event_type == "unknown"


def test_unknown_source_is_counted_and_refused(tmp_path: Path) -> None:
    world = World(tmp_path, GITHUB)
    with pytest.raises(errors.UnknownSource, match="no source named 'gitlab'"):
        world.ingest.source("gitlab")
    assert world.metrics.rejected_by[("(unknown)", "unknown_source")] == 1


@pytest.mark.parametrize(
    ("body", "headers", "error"),
    [
        # a bad signature wins over a bad body: unsigned requests learn nothing about parsing
        (b"{not json", {"content-type": "application/json"}, errors.SignatureInvalid),
        (b"{not json", "sign", errors.MalformedPayload),
        (b"x", "sign+gzip", errors.UnsupportedMediaType),
    ],
)
def test_check_order_signature_before_parse(
    tmp_path: Path, body: bytes, headers: dict[str, str] | str, error: type[errors.Rejected]
) -> None:
    world = World(tmp_path, GITHUB)
    if headers == "sign":
        headers = signed(body)
    elif headers == "sign+gzip":
        headers = signed(body, **{"content-encoding": "gzip"})
    assert isinstance(headers, dict)
    with pytest.raises(error):
        world.receive("github", body, headers)
    assert world.store.events == {}
    assert sum(world.metrics.rejected_by.values()) == 1


def test_rate_limit_counts_verified_requests_only(tmp_path: Path) -> None:
    world = World(
        tmp_path,
        "  github: {verify: github, secret: env:GH, rate_limit: {per_second: 1, burst: 2}}\n",
    )
    body = b"{}"
    for _ in range(10):  # an unsigned flood does not spend the provider's budget
        with pytest.raises(errors.SignatureInvalid):
            world.receive("github", body, {"content-type": "application/json"})
    world.receive("github", body, signed(body))
    world.receive("github", body, signed(body))
    with pytest.raises(errors.RateLimited) as caught:
        world.receive("github", body, signed(body))
    assert caught.value.retry_after == 1
    world.clock.now += 1.0
    world.receive("github", body, signed(body))
    assert len(world.store.events) == 3


def test_rate_limit_applies_before_parsing(tmp_path: Path) -> None:
    world = World(
        tmp_path, "  github: {verify: github, secret: env:GH, rate_limit: {per_second: 1}}\n"
    )
    world.receive("github", b"{}", signed(b"{}"))
    with pytest.raises(errors.RateLimited):
        world.receive("github", b"{bad", signed(b"{bad"))


def test_schema_violation_names_the_problem(tmp_path: Path) -> None:
    schema = {"type": "object", "required": ["type"], "properties": {"type": {"type": "string"}}}
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    world = World(tmp_path, "  github: {verify: github, secret: env:GH, schema: schema.json}\n")
    world.receive("github", b'{"type": "a"}', signed(b'{"type": "a"}'))
    missing = re.escape("'type' is a required property at $")
    with pytest.raises(errors.SchemaViolation, match=missing):
        world.receive("github", b'{"x": 1}', signed(b'{"x": 1}'))
    wrong_type = re.escape("1 is not of type 'string' at $.type")
    with pytest.raises(errors.SchemaViolation, match=wrong_type):
        world.receive("github", b'{"type": 1}', signed(b'{"type": 1}'))
    assert len(world.store.events) == 1


def test_what_an_error_quotes_of_a_request_is_cut_short(tmp_path: Path) -> None:
    """A 60 KB source name, a header or a payload value was echoed whole, in the answer and in
    the log line of every such request."""
    (tmp_path / "schema.json").write_text(json.dumps({"properties": {"n": {"type": "integer"}}}))
    world = World(tmp_path, "  github: {verify: github, secret: env:GH, schema: schema.json}\n")
    body = json.dumps({"n": "x" * 100_000}).encode()
    with pytest.raises(errors.SchemaViolation) as violation:
        world.receive("github", body, signed(body))
    with pytest.raises(errors.UnknownSource) as unknown:
        world.ingest.source("s" * 60_000)
    with pytest.raises(errors.UnsupportedMediaType) as encoding:
        world.receive("github", b"{}", {**signed(b"{}"), "content-encoding": "e" * 60_000})
    for error, quoted in [(violation, "'xxxx"), (unknown, "'ssss"), (encoding, "'eeee")]:
        assert quoted in error.value.detail
        assert len(error.value.detail) < 500, error.value.detail[:1000]
        assert "characters)" in error.value.detail


def test_a_payload_too_deep_to_check_is_a_violation_not_a_crash(tmp_path: Path) -> None:
    """jsonschema recurses along the payload, and so does the repr in its error message."""
    schema = {"type": "object", "properties": {"body": {"type": "string"}}}
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    world = World(tmp_path, "  github: {verify: github, secret: env:GH, schema: schema.json}\n")
    body = b"[" * 1_000 + b"]" * 1_000
    with pytest.raises(errors.SchemaViolation, match="nests too deeply"):
        world.receive("github", body, signed(body))
    assert world.store.events == {}


def test_numeric_keys_beyond_64_bits_keep_every_digit(tmp_path: Path) -> None:
    """orjson reads integers beyond 64 bits as floats: two such ids a unit apart would share a
    key, and the second webhook would be answered as a duplicate and not stored."""
    world = World(tmp_path, "  acme: {verify: github, secret: env:GH, idempotency_key: json:id}\n")
    first = b'{"id": 123456789012345678901234567890}'
    second = b'{"id": 123456789012345678901234567891}'
    stored = [world.receive("acme", body, signed(body)) for body in (first, second)]
    assert [s.duplicate for s in stored] == [False, False]
    keys = [world.store.events[s.id].idempotency_key for s in stored]
    assert keys == ["123456789012345678901234567890", "123456789012345678901234567891"]
    decimal = b'{"id": 1.50}'  # a key in decimal notation keeps its digits too
    assert (
        world.store.events[world.receive("acme", decimal, signed(decimal)).id].idempotency_key
        == "1.50"
    )
    deep = b'{"id": 2.5, "a": ' + b"[" * 1_000 + b"]" * 1_000 + b"}"  # too deep for json
    assert world.store.events[world.receive("acme", deep, signed(deep)).id].idempotency_key == "2.5"


def test_slack_url_verification_is_stored_and_its_challenge_returned(tmp_path: Path) -> None:
    world = World(
        tmp_path,
        "  slack: {verify: slack, secret: env:GH}\n  github: {verify: github, secret: env:GH}\n",
    )
    body = b'{"token": "t", "challenge": "c-123", "type": "url_verification"}'
    ts = str(int(world.clock.now))
    signature = hmac.new(SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256)
    headers = {
        "content-type": "application/json",
        "x-slack-request-timestamp": ts,
        "x-slack-signature": "v0=" + signature.hexdigest(),
    }
    stored = world.receive("slack", body, headers)
    assert stored.challenge == "c-123"
    assert world.store.events[stored.id].event_type == "url_verification"
    # only Slack's scheme knows the handshake
    assert world.receive("github", body, signed(body)).challenge is None


def test_store_failure_is_a_503_and_nothing_is_acknowledged(tmp_path: Path) -> None:
    world = World(tmp_path, GITHUB)
    world.store.fail = True
    with pytest.raises(errors.StoreUnavailable) as caught:
        world.receive("github", b"{}", signed(b"{}"))
    assert caught.value.status == 503
    assert world.metrics.rejected_by[("github", "store_unavailable")] == 1


def test_hmac_source_reads_type_and_key_from_a_form_body(tmp_path: Path) -> None:
    world = World(
        tmp_path,
        "  acme: {verify: hmac, header: X-Sig, secret: env:GH, event_type: json:kind,"
        " idempotency_key: json:id}\n",
    )
    body = b"kind=order.paid&id=42&tag=a&tag=b"
    sig = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    stored = world.receive(
        "acme", body, {"x-sig": sig, "content-type": "application/x-www-form-urlencoded"}
    )
    event = world.store.events[stored.id]
    assert (event.event_type, event.idempotency_key) == ("order.paid", "42")


def test_own_field_specs_replace_the_preset(tmp_path: Path) -> None:
    world = World(
        tmp_path,
        "  github: {verify: github, secret: env:GH, event_type: 'const:gh',"
        " idempotency_key: 'json:meta.id'}\n",
    )
    body = b'{"meta": {"id": 7}}'
    stored = world.receive("github", body, signed(body, **{"x-github-event": "push"}))
    event = world.store.events[stored.id]
    assert (event.event_type, event.idempotency_key) == ("gh", "7")


def test_public_url_gets_the_request_query_appended() -> None:
    runtime = services.ingest.SourceRuntime(
        name="t",
        verify=lambda request, now: None,
        max_body_bytes=1,
        type_specs=(),
        key_specs=(),
        strip_headers=frozenset(),
        public_url="https://example.com/hook",
    )
    assert runtime.url("http://internal/webhooks/t", "") == "https://example.com/hook"
    assert runtime.url("http://internal/webhooks/t", "a=1") == "https://example.com/hook?a=1"
    with_query = dataclasses.replace(runtime, public_url="https://e.com/h?x=1")
    assert with_query.url("", "a=1") == "https://e.com/h?x=1&a=1"
    as_received = dataclasses.replace(runtime, public_url=None)
    assert as_received.url("http://h/webhooks/t", "a=1") == "http://h/webhooks/t?a=1"


# --- schemes that sign an id: the idempotency key is the id that was verified -----------------

APP_KEY = b"0123456789abcdef0123456789abcdef"


def standard_headers(msg_id: str, timestamp: int, body: bytes, prefix: str) -> dict[str, str]:
    """Standard Webhooks (prefix "webhook-") or Svix ("svix-") headers, signed by hand."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(APP_KEY, signed, hashlib.sha256).digest()).decode()
    return {
        "content-type": "application/json",
        f"{prefix}id": msg_id,
        f"{prefix}timestamp": str(timestamp),
        f"{prefix}signature": f"v1,{signature}",
    }


def app_world(tmp_path: Path, scheme: str) -> World:
    secret = "whsec_" + base64.b64encode(APP_KEY).decode()
    return World(tmp_path, f"  app: {{verify: {scheme}, secret: '{secret}'}}\n")


@pytest.mark.parametrize("scheme", ["standard-webhooks", "svix"])
@pytest.mark.parametrize(("first", "then"), [("webhook-", "svix-"), ("svix-", "webhook-")])
def test_a_captured_webhook_resent_under_the_other_header_set_is_a_duplicate(
    tmp_path: Path, scheme: str, first: str, then: str
) -> None:
    world = app_world(tmp_path, scheme)
    body = b'{"type": "invoice.paid"}'
    now = int(world.clock.now)
    original = world.receive("app", body, standard_headers("msg_1", now, body, first))
    renamed = world.receive("app", body, standard_headers("msg_1", now, body, then))
    assert renamed == models.Stored(original.id, duplicate=True)
    assert world.store.events[original.id].idempotency_key == "msg_1"


@pytest.mark.parametrize("scheme", ["standard-webhooks", "svix"])
def test_an_id_header_added_beside_the_signed_set_does_not_change_the_key(
    tmp_path: Path, scheme: str
) -> None:
    """webhook-* is verified when present: a svix-id added beside it is no key of the event."""
    world = app_world(tmp_path, scheme)
    body = b"{}"
    headers = standard_headers("msg_2", int(world.clock.now), body, "webhook-")
    original = world.receive("app", body, headers)
    again = world.receive("app", body, headers | {"svix-id": "msg_forged"})
    assert again == models.Stored(original.id, duplicate=True)


def test_generic_hmac_with_a_signed_id_dedupes_on_that_id(tmp_path: Path) -> None:
    world = World(
        tmp_path,
        "  acme: {verify: hmac, header: X-Sig, id_header: X-Id, signed_content: '{id}.{body}',"
        " secret: env:GH}\n",
    )
    body = b"{}"
    sig = hmac.new(SECRET.encode(), b"d-9." + body, hashlib.sha256).hexdigest()
    headers = {"x-sig": sig, "x-id": "d-9", "content-type": "application/json"}
    original = world.receive("acme", body, headers)
    again = world.receive("acme", body, headers)
    assert again == models.Stored(original.id, duplicate=True)
    assert world.store.events[original.id].idempotency_key == "d-9"


def runtimes(tmp_path: Path, sources: str) -> dict[str, services.ingest.SourceRuntime]:
    file = tmp_path / "reloaded.yaml"
    file.write_text(f"sources:\n{sources}")
    return bootstrap.source_runtimes(config.load(file), str(file), ENV)


def test_swapped_sources_take_the_next_request(tmp_path: Path) -> None:
    world = World(tmp_path, GITHUB)
    world.ingest.swap(runtimes(tmp_path, "  other: {verify: github, secret: env:GH}\n"))
    stored = world.receive("other", b"{}", signed(b"{}"))
    assert world.store.events[stored.id].source == "other"
    with pytest.raises(errors.UnknownSource, match="no source named 'github'"):
        world.ingest.source("github")


def test_a_request_under_way_ends_with_the_source_it_began_with(tmp_path: Path) -> None:
    world = World(tmp_path, GITHUB)
    source = world.ingest.source("github")  # the request has begun: its body is on its way
    world.ingest.swap({})

    async def rest_of_the_request() -> models.Stored:
        return await world.ingest.receive(source, b"{}", signed(b"{}"))

    stored = asyncio.run(rest_of_the_request())
    assert world.store.events[stored.id].source == "github"


def test_a_swap_replaces_what_a_stored_event_wakes(tmp_path: Path) -> None:
    world = World(tmp_path, GITHUB)
    woken: list[str] = []
    world.ingest.swap(runtimes(tmp_path, GITHUB), on_stored=lambda: woken.append("worker"))
    world.receive("github", b"{}", signed(b"{}"))
    assert woken == ["worker"]


# --- the answer, the same on both runtimes (services.ingest.handle) ------------------------


def handled(
    world: World, name: str, body: bytes, headers: dict[str, str]
) -> services.ingest.Answer:
    return asyncio.run(services.ingest.handle(world.ingest, name, body, headers))


def test_handle_answers_each_case_in_the_api_shape(tmp_path: Path) -> None:
    limited = (
        "  github:\n    verify: github\n    secret: env:GH\n"
        "    rate_limit: {per_second: 1, burst: 1}\n    max_body_bytes: 64\n"
    )
    world = World(tmp_path, limited)
    body = b'{"a": 1}'
    first = handled(world, "github", body, signed(body, **{"x-github-delivery": "d-1"}))
    assert first.status == 202
    stored_id = json.loads(first.body)["id"]
    assert json.loads(first.body) == {"id": stored_id, "duplicate": False}
    world.clock.now += 5
    again = handled(world, "github", body, signed(body, **{"x-github-delivery": "d-1"}))
    assert (again.status, json.loads(again.body)) == (200, {"id": stored_id, "duplicate": True})
    unknown = handled(world, "nope", body, {})
    assert (unknown.status, json.loads(unknown.body)["error"]) == (404, "unknown_source")
    big = b'{"pad": "' + b"x" * 100 + b'"}'
    too_big = handled(world, "github", big, signed(big))
    assert (too_big.status, json.loads(too_big.body)["error"]) == (413, "payload_too_large")
    forged = handled(world, "github", body, signed(b"other"))
    assert (forged.status, json.loads(forged.body)["error"]) == (401, "invalid_signature")
    flood = handled(world, "github", body, signed(body))
    assert flood.status == 429
    assert dict(flood.headers)["retry-after"] == "1"
    assert world.metrics.rejected_by[("github", "payload_too_large")] == 1
