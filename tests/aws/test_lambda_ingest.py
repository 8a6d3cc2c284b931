"""The ingest function in-process against moto: API Gateway's REST proxy and HTTP API events in,
the ingest contract out (the statuses and error bodies of `whp serve`), the event in
the table with its exact bytes and its id in the ingest queue."""

from __future__ import annotations

import base64
import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.aws import lambdas_config, layout, runtime
from webhook_processor import config, errors, verify, wiring
from webhook_processor.bootstrap import aws as bootstrap_aws
from webhook_processor.entrypoints.lambdas import ingest

EVENTS = Path(__file__).parents[1] / "events"


def _sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return loaded


def _cfg(rt: runtime.Runtime) -> config.Config:
    return config.load(rt.config_file)


def _invoke(event: dict[str, Any]) -> runtime.Answer:
    got = ingest.handler(event, runtime.Context("wh-test-ingest"))
    return runtime.Answer(got["statusCode"], got["headers"], got["body"].encode())


def test_the_rest_sample_is_stored_with_its_exact_bytes_and_queued(
    rt: runtime.Runtime, aws: layout.Aws
) -> None:
    event = _sample("apiGatewayProxyEvent.json")
    answer = _invoke(event)
    assert answer.status == 202, answer.body
    assert answer.headers["content-type"] == "application/json"
    found = answer.json()
    assert found["duplicate"] is False
    stored = layout.stack(aws, rt.deployed).operations.event(found["id"])
    assert stored is not None
    assert stored.body == base64.b64decode(event["body"])  # UTF-8, not ASCII: byte for byte
    assert (stored.source, stored.event_type) == ("github", "push")
    assert stored.idempotency_key == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert stored.headers["x-github-event"] == "push"  # header names lower-cased
    queued = layout.messages(aws.sqs(), rt.deployed.ingest_queue_url)
    assert queued == [{"event_id": found["id"]}]


def test_a_duplicate_answers_200_with_the_first_id(rt: runtime.Runtime) -> None:
    event = _sample("apiGatewayProxyEvent.json")
    first = _invoke(event).json()["id"]
    again = _invoke(copy.deepcopy(event))
    assert again.status == 200
    assert again.json() == {"id": first, "duplicate": True}


def test_the_http_api_sample_is_accepted_at_its_time(rt: runtime.Runtime, aws: layout.Aws) -> None:
    event = _sample("apiGatewayProxyV2Event.json")
    rt.start(clock=lambda: event["requestContext"]["timeEpoch"] / 1000 + 1)
    answer = _invoke(event)
    assert answer.status == 202, answer.body
    stored = layout.stack(aws, rt.deployed).operations.event(answer.json()["id"])
    assert stored is not None
    assert stored.body == event["body"].encode()
    assert stored.event_type == "payment_intent.succeeded"


def test_the_http_api_sample_a_day_later_is_stale(rt: runtime.Runtime) -> None:
    event = _sample("apiGatewayProxyV2Event.json")
    rt.start(clock=lambda: event["requestContext"]["timeEpoch"] / 1000 + 86_400)
    answer = _invoke(event)
    assert answer.status == 401
    assert answer.json()["error"] == "invalid_signature"


@pytest.mark.parametrize("api", ["rest", "http"])
def test_refusals_have_designs_statuses_and_error_bodies(
    rt: runtime.Runtime, api: runtime.Api
) -> None:
    cfg = _cfg(rt)
    body = b'{"ref": "refs/heads/main"}'
    good = lambdas_config.signed(cfg, "github", body, event_type="push").headers
    cases: list[tuple[str, bytes, dict[str, str], int, str]] = [
        ("nosuch", body, good, 404, "unknown_source"),
        ("github", body, {**good, "X-Hub-Signature-256": "sha256=" + "0" * 64}, 401, "invalid"),
        ("github", b"x" * 1_048_577, good, 413, "payload_too_large"),
        ("github", b"{not json", {}, 400, "malformed_payload"),
    ]
    bad_json = lambdas_config.signed(cfg, "github", b"{not json", event_type="push").headers
    cases[-1] = ("github", b"{not json", {**bad_json, "Content-Type": "application/json"}, 400, "")
    for source, payload, headers, status, code in cases:
        answer = rt.post(source, payload, headers, api=api)
        assert answer.status == status, (source, answer.body)
        found = answer.json()
        assert set(found) == {"error", "detail"}
        assert found["error"].startswith(code)
    got = rt.post("github", body, good, api=api, method="GET")
    assert got.status == 405
    assert got.headers["allow"] == "POST"


def test_header_names_are_case_insensitive_and_repeated_ones_joined(
    rt: runtime.Runtime, aws: layout.Aws
) -> None:
    cfg = _cfg(rt)
    body = b'{"ref": "refs/heads/dev"}'
    headers = lambdas_config.signed(cfg, "github", body, event_type="push").headers
    event = runtime.rest_event("github", body, {k.upper(): v for k, v in headers.items()})
    event["multiValueHeaders"]["X-TRACE"] = ["a", "b"]
    event["headers"]["X-TRACE"] = "b"  # the REST API's `headers` keeps the last value only
    answer = _invoke(event)
    assert answer.status == 202, answer.body
    stored = layout.stack(aws, rt.deployed).operations.event(answer.json()["id"])
    assert stored is not None
    assert stored.headers["x-trace"] == "a, b"


@pytest.mark.parametrize("api", ["rest", "http"])
def test_a_url_signing_scheme_checks_public_url_with_the_query(
    rt: runtime.Runtime, api: runtime.Api
) -> None:
    # Twilio signs the URL it calls: public_url, then the request's query string
    spec = wiring.source_spec(_cfg(rt).sources["twilio"])
    sign = verify.signer(spec, lambdas_config.SECRETS["twilio"])
    body = b"CallSid=CA123&From=%2B14155550100"
    signed = sign(body, time.time(), lambdas_config.PUBLIC_TWILIO + "?account=a%20b&n=1")
    headers = {"Content-Type": "application/x-www-form-urlencoded", **signed.headers}
    assert rt.post("twilio", body, headers, api=api, query="account=a%20b&n=1").status == 202
    other = rt.post("twilio", body, headers, api=api, query="account=other&n=1")
    assert other.status == 401


def test_a_secret_rotated_by_its_operator_accepts_the_previous_value_too(
    rt: runtime.Runtime,
) -> None:
    cfg = _cfg(rt)
    body = b'{"ref": "refs/heads/main"}'
    old = lambdas_config.signed(cfg, "github", body, event_type="push").headers
    rt.put_secret("github", "the-new-github-secret")  # AWSCURRENT; the old one AWSPREVIOUS
    rt.reset()  # a new container reads them (a warm one within secrets.TTL_SECONDS)
    new = lambdas_config.signed(
        cfg, "github", body, secret="the-new-github-secret", event_type="push"
    ).headers
    assert rt.post("github", body, new).status == 202
    assert rt.post("github", body, {**old, "X-GitHub-Delivery": "another"}).status == 202
    wrong = lambdas_config.signed(cfg, "github", body, secret="never-the-secret").headers
    assert rt.post("github", body, {**wrong, "X-GitHub-Delivery": "third"}).status == 401


def test_a_missing_environment_variable_answers_503_and_is_named_in_the_log(
    rt: runtime.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WHP_TABLE")
    rt.reset()
    with runtime.logged() as records:
        answer = _invoke(_sample("apiGatewayProxyEvent.json"))
    assert answer.status == 503
    assert answer.json()["error"] == "store_unavailable"
    assert "WHP_TABLE" not in answer.body.decode()  # the sender learns nothing of the setup
    logged = "\n".join(str(r.exc_info[1]) for r in records if r.exc_info)
    assert "WHP_TABLE is not set" in logged  # the function's log does


def test_the_environment_names_every_missing_variable() -> None:
    with pytest.raises(errors.ConfigError) as caught:
        bootstrap_aws.deployment({"WHP_PREFIX": "wh-ok"})
    problems = "\n".join(caught.value.problems)
    for name in ("WHP_TABLE", "WHP_BUS", "WHP_INGEST_QUEUE_URL", "WHP_BODIES_BUCKET"):
        assert f"{name} is not set" in problems
    assert "WHP_CONFIG nor LAMBDA_TASK_ROOT" in problems
    assert "WHP_PREFIX" not in problems


def test_the_config_is_read_from_the_task_root_by_default(tmp_path: Path) -> None:
    env = dict.fromkeys(bootstrap_aws.VARIABLES, "x") | {
        "WHP_PREFIX": "wh-test",
        "LAMBDA_TASK_ROOT": str(tmp_path),
    }
    assert bootstrap_aws.deployment(env).config_file == str(tmp_path / "whp.yaml")
    with pytest.raises(errors.ConfigError) as caught:
        bootstrap_aws.Container(env)
    assert str(tmp_path / "whp.yaml") in str(caught.value)
