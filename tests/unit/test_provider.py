"""`whp send` (provider.build) against the real ingest service: what a server stores when a user
sends the same file twice.

Each provider's delivery id (the idempotency key) is made fresh on every send, in the header or
in the body before it is signed, so that sending an example file again is a new event rather
than a duplicate; `keep_id` sends the file's own id, to try out deduplication.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit import specs
from webhook_processor import (
    bootstrap,
    config,
    fields,
    models,
    presets,
    provider,
    services,
    testing,
    verify,
    wiring,
)

SECRET = "s3cret-for-send-tests"
WHSEC = "whsec_" + base64.b64encode(b"k" * 32).decode()
ENV = {"S": SECRET, "W": WHSEC}
SERVER = "http://127.0.0.1:8080/webhooks"

# source config (YAML flow mapping), the body sent, where the file's own id sits (None: the
# scheme puts its delivery id in a header, which the file cannot hold)
CASES: dict[str, tuple[str, dict[str, Any], tuple[str, ...] | None]] = {
    "stripe": (
        "{verify: stripe, secret: env:S}",
        {"id": "evt_1PxAmpleStripeEvent", "type": "payment_intent.succeeded", "data": {}},
        ("id",),
    ),
    "slack": (
        "{verify: slack, secret: env:S}",
        {"type": "event_callback", "event_id": "Ev08MFMKH6", "event": {"type": "message"}},
        ("event_id",),
    ),
    "square": (
        "{verify: square, secret: env:S, public_url: 'https://example.com/sq'}",
        {"type": "payment.created", "event_id": "6a8f5f28-54a1-4eb0-a98a-3111513fd4fc"},
        ("event_id",),
    ),
    "paddle": (
        "{verify: paddle, secret: env:S}",
        {"event_type": "transaction.completed", "event_id": "evt_01h8bkrfe7w1vwf8xmytwn51e7"},
        ("event_id",),
    ),
    "custom-json": (
        "{verify: hmac, header: X-Sig, secret: env:S, idempotency_key: json:meta.delivery}",
        {"meta": {"delivery": "d-1"}, "type": "thing.done"},
        ("meta", "delivery"),
    ),
    "custom-number": (
        "{verify: hmac, header: X-Sig, secret: env:S, idempotency_key: json:seq}",
        {"seq": 42, "type": "thing.done"},
        ("seq",),
    ),
    "github": ("{verify: github, secret: env:S}", {"ref": "main"}, None),
    "shopify": ("{verify: shopify, secret: env:S}", {"id": 1}, None),
    "gitlab": ("{verify: gitlab, secret: env:S}", {"object_kind": "push"}, None),
    "twilio": (
        "{verify: twilio, secret: env:S, public_url: 'https://example.com/tw'}",
        {"CallSid": "CA1"},
        None,
    ),
    "standard-webhooks": ("{verify: standard-webhooks, secret: env:W}", {"type": "a.b"}, None),
    "custom-header": (
        "{verify: hmac, header: X-Sig, secret: env:S, idempotency_key: header:X-Acme-Delivery}",
        {"type": "thing.done"},
        None,
    ),
}


class Server:
    """The ingest service of a server configured with one source, over an in-memory store."""

    def __init__(self, tmp_path: Path, case: str) -> None:
        file = tmp_path / "whp.yaml"
        file.write_text(f"sources:\n  {case}: {CASES[case][0]}\n")
        self.name = case
        self.source = config.load(file).sources[case]
        self.store = testing.MemoryStore()
        runtimes = bootstrap.source_runtimes(config.load(file), str(file), ENV)
        self.ingest = services.ingest.Ingest(
            runtimes, self.store, testing.MemoryMetrics(), testing.FakeClock()
        )

    def send(
        self, body: bytes, *, keep_id: bool = False, headers: dict[str, str] | None = None
    ) -> models.Stored:
        """What `whp send` builds, received as the server receives it."""
        secret = WHSEC if self.source.verify == "standard-webhooks" else SECRET
        now = testing.FakeClock()()
        out = provider.build(
            wiring.source_spec(self.source),
            secret,
            body,
            f"{SERVER}/{self.name}",
            now,
            keep_id=keep_id,
            headers=headers,
        )
        runtime = self.ingest.source(self.name)
        path, _, query = out.url.partition("?")
        received = {k.lower(): v for k, v in out.headers.items()}
        assert len(received) == len(out.headers), f"a header sent twice: {out.headers}"

        async def receive() -> models.Stored:
            return await self.ingest.receive(runtime, out.body, received, runtime.url(path, query))

        return asyncio.run(receive())

    def key(self, stored: models.Stored) -> str | None:
        return self.store.events[stored.id].idempotency_key


def file_body(case: str) -> bytes:
    detail = CASES[case][1]
    if case == "twilio":
        return b"&".join(f"{k}={v}".encode() for k, v in detail.items())
    return json.dumps(detail).encode()


@pytest.mark.parametrize("case", sorted(CASES))
def test_sending_the_same_file_twice_stores_two_events(tmp_path: Path, case: str) -> None:
    server = Server(tmp_path, case)
    first = server.send(file_body(case))
    second = server.send(file_body(case))
    assert (first.duplicate, second.duplicate) == (False, False)
    assert server.key(first) is not None
    assert server.key(first) != server.key(second)


@pytest.mark.parametrize("case", sorted(c for c, (_, _, at) in CASES.items() if at is not None))
def test_the_fresh_id_replaces_the_one_in_the_body(tmp_path: Path, case: str) -> None:
    server = Server(tmp_path, case)
    original = CASES[case][1]
    stored = server.store.events[server.send(file_body(case)).id]
    sent = json.loads(stored.body)
    path = CASES[case][2]
    assert path is not None
    value = eval_path(sent, path)
    assert str(value) == stored.idempotency_key
    assert type(value) is type(eval_path(original, path))  # a number stays a number
    # The rest of the body is the file's.
    assert {k: v for k, v in sent.items() if k != path[0]} == {
        k: v for k, v in original.items() if k != path[0]
    }


def eval_path(detail: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = detail
    for key in path:
        assert isinstance(value, dict)
        value = value[key]
    return value


def test_a_fresh_id_keeps_the_providers_shape_and_the_files_bytes(tmp_path: Path) -> None:
    server = Server(tmp_path, "stripe")
    body = b'{"id": "evt_1PxAmpleStripeEvent",\n  "type": "payment_intent.succeeded"}\n'
    stored = server.store.events[server.send(body).id]
    key = stored.idempotency_key
    assert key is not None
    assert key.startswith("evt_")
    assert len(key) == len("evt_") + 24  # as Stripe's: evt_1NG8Du2eZvKYlo2CUI79vXWy
    # Only the id changed: the layout of the file is what was sent (and signed).
    assert stored.body == body.replace(b"evt_1PxAmpleStripeEvent", key.encode())


def test_an_id_that_also_appears_elsewhere_is_replaced_where_the_key_is(tmp_path: Path) -> None:
    server = Server(tmp_path, "stripe")
    body = json.dumps({"id": "evt_same", "data": {"object": {"id": "evt_same"}}}).encode()
    stored = server.store.events[server.send(body).id]
    sent = json.loads(stored.body)
    assert sent["id"] == stored.idempotency_key != "evt_same"
    assert sent["data"] == {"object": {"id": "evt_same"}}


@pytest.mark.parametrize("case", sorted(c for c, (_, _, at) in CASES.items() if at is not None))
def test_keep_id_sends_the_files_id_so_the_second_send_is_a_duplicate(
    tmp_path: Path, case: str
) -> None:
    server = Server(tmp_path, case)
    first = server.send(file_body(case), keep_id=True)
    second = server.send(file_body(case), keep_id=True)
    assert (first.duplicate, second.duplicate) == (False, True)
    assert server.store.events[first.id].body == file_body(case)


def test_a_body_without_the_id_is_sent_as_it_is(tmp_path: Path) -> None:
    server = Server(tmp_path, "stripe")
    body = b'{"type": "payment_intent.succeeded"}'
    stored = server.store.events[server.send(body).id]
    assert stored.body == body
    assert stored.idempotency_key is None  # nothing to dedupe on: every send is new


def test_a_delivery_id_given_as_a_header_is_the_one_sent(tmp_path: Path) -> None:
    server = Server(tmp_path, "github")
    first = server.send(b"{}", headers={"X-GitHub-Delivery": "mine"})
    second = server.send(b"{}", headers={"X-GitHub-Delivery": "mine"})
    assert server.key(first) == "mine"
    assert second.duplicate


NOW = 1_700_000_000.0
SIGNED_ID_SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


@pytest.mark.parametrize(
    "raw",
    [
        {"verify": "standard-webhooks", "secret": SIGNED_ID_SECRET},
        {"verify": "svix", "secret": SIGNED_ID_SECRET},
        {
            "verify": "hmac",
            "secret": "k",
            "header": "X-Sig",
            "id_header": "X-Id",
            "signed_content": "{id}.{body}",
        },
    ],
    ids=lambda raw: raw["verify"],
)
def test_a_sent_webhook_carries_one_id_the_signed_one(raw: dict[str, Any]) -> None:
    source = specs.validated(raw)
    secret = str(raw["secret"])
    out = provider.build(source, secret, b"{}", "http://127.0.0.1:9/webhooks/s", NOW)
    headers = {name.lower(): value for name, value in out.headers.items()}
    assert len(headers) == len(out.headers), out.headers
    verify.verifier(source, [secret])(verify.Request(out.body, headers, out.url), NOW)
    _, key_specs = presets.specs(source)
    key = fields.extract(key_specs, headers, {}, out.body)
    assert key is not None
    assert key.startswith("msg_")  # the signer's id, not a made-up delivery header
