"""`whp events|replay|dlq|destinations ... --backend aws --outputs FILE` against a deployment in
moto, the functions run in-process (tests/aws/runtime.py) between the commands."""

from __future__ import annotations

import io
import json
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.aws import lambdas_config, layout, runtime
from tests.e2e import receiver as receivers
from webhook_processor import config
from webhook_processor.entrypoints import cli


def _outputs(rt: runtime.Runtime, folder: Path, delivery_function: str = "wh-test-delivery") -> str:
    """What `terraform output -json` prints for the deployment (the outputs the CLI reads)."""
    d = rt.deployed
    values: dict[str, Any] = {
        "table_name": d.table,
        "event_bus_name": d.bus,
        "ingest_queue_url": d.ingest_queue_url,
        "destination_queue_urls": d.destination_queue_urls,
        "destination_dlq_urls": d.destination_dlq_urls,
        "bodies_bucket_name": d.bucket,
        "function_names": {
            "ingest": "wh-test-ingest",
            "router": "wh-test-router",
            "delivery": delivery_function,
            "rotation": "wh-test-rotation",
        },
    }
    doc = {k: {"sensitive": False, "type": "string", "value": v} for k, v in values.items()}
    path = folder / "outputs.json"
    path.write_text(json.dumps(doc))
    return str(path)


def _whp(
    capsys: pytest.CaptureFixture[str], rt: runtime.Runtime, outputs: str, *args: str
) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(
        [*args, "--config", str(rt.config_file), "--backend", "aws", "--outputs", outputs]
    )
    out, err = capsys.readouterr()
    return code, out, err


def _push(rt: runtime.Runtime) -> str:
    body = b'{"ref": "refs/heads/main"}'
    out = lambdas_config.signed(config.load(rt.config_file), "github", body, event_type="push")
    answer = rt.post("github", out.body, out.headers)
    assert answer.status == 202
    event_id: str = answer.json()["id"]
    return event_id


def test_events_replay_and_the_dlq_on_aws(
    rt: runtime.Runtime,
    aws: layout.Aws,
    receiver: receivers.Receiver,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    outputs = _outputs(rt, tmp_path)
    receiver.script("/orders", receivers.Reply(500))
    event_id = _push(rt)
    rt.settle()  # orders: dead after 3 attempts; audit: delivered
    code, out, _ = _whp(capsys, rt, outputs, "events", "list", "--json")
    assert code == 0
    assert [json.loads(line)["id"] for line in out.splitlines()] == [event_id]
    code, out, _ = _whp(capsys, rt, outputs, "events", "show", event_id, "--json")
    shown = json.loads(out)
    assert code == 0
    assert shown["body"] == '{"ref": "refs/heads/main"}'
    by_route = {d["route"]: d for d in shown["deliveries"]}
    assert by_route["github-pushes"]["status"] == "dead"
    assert [a["status_code"] for a in by_route["github-pushes"]["attempts"]] == [500] * 3
    code, out, _ = _whp(capsys, rt, outputs, "dlq", "list", "--json")
    (letter,) = [json.loads(line) for line in out.splitlines()]
    assert (code, letter["event_id"], letter["destination"]) == (0, event_id, "orders")

    receiver.script("/orders", receivers.Reply(200))
    code, out, _ = _whp(capsys, rt, outputs, "dlq", "redrive", "--destination", "orders")
    assert code == 0
    assert "redrove 1 delivery" in out  # the DLQ's message back to its queue (moto: the loop)
    rt.settle()
    assert layout.messages(aws.sqs(), rt.deployed.destination_dlq_urls["orders"]) == []
    code, out, _ = _whp(capsys, rt, outputs, "dlq", "list", "--json")
    assert (code, out) == (0, "")
    assert [a.attempt for a in receiver.arrivals("/orders")] == [1, 2, 3, 1]

    code, out, _ = _whp(capsys, rt, outputs, "replay", event_id, "--new-id")
    assert (code, "replayed 1 event with new webhook-ids" in out) == (0, True)
    rt.settle()
    fresh = receiver.arrivals("/orders")[-1]
    assert fresh.verified
    assert fresh.webhook_id.startswith("msg_")
    code, _, err = _whp(capsys, rt, outputs, "dlq", "redrive", letter["delivery_id"])
    assert code == 2  # delivered now: not in the dead-letter queue
    assert "not in the dead-letter queue" in err


def test_without_outputs_the_aws_backend_is_a_usage_error(
    rt: runtime.Runtime, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = cli.main(["events", "list", "--config", str(rt.config_file), "--backend", "aws"])
    assert code == 2
    assert "--backend aws needs --outputs FILE" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text('{"table_name": {"value": "t"}}')
    code = cli.main(
        ["events", "list", "--config", str(rt.config_file), "--backend", "aws", "--outputs",
         str(tmp_path / "bad.json")]
    )  # fmt: skip
    assert code == 2
    assert "no ingest_queue_url, destination_queue_urls, function_names" in capsys.readouterr().err


def _moto_lambda(aws: layout.Aws, use_docker: bool) -> None:
    body = json.dumps({"lambda": {"use_docker": use_docker}}).encode()
    request = urllib.request.Request(f"{aws.endpoint}/moto-api/config", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:  # loopback
        assert answer.status in (200, 201)


def test_pause_and_resume_disable_and_enable_the_event_source_mapping_on_live(
    rt: runtime.Runtime, aws: layout.Aws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _moto_lambda(aws, use_docker=False)
    try:
        lam = boto3.client("lambda", **aws.kwargs())
        role = boto3.client("iam", **aws.kwargs()).create_role(
            RoleName="wh-test-delivery", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        package = io.BytesIO()
        with zipfile.ZipFile(package, "w") as zf:
            zf.writestr("placeholder.py", "")
        lam.create_function(
            FunctionName="wh-test-delivery",
            Runtime="python3.13",
            Role=role,
            Handler="webhook_processor.entrypoints.lambdas.delivery.handler",
            Code={"ZipFile": package.getvalue()},
            Publish=True,
        )
        alias = lam.create_alias(FunctionName="wh-test-delivery", Name="live", FunctionVersion="1")[
            "AliasArn"
        ]
        mappings = {}
        for name, url in rt.deployed.destination_queue_urls.items():
            arn = aws.sqs().get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            mappings[name] = lam.create_event_source_mapping(
                EventSourceArn=arn["Attributes"]["QueueArn"], FunctionName=alias, Enabled=False
            )["UUID"]
        lam.update_event_source_mapping(UUID=mappings["orders"], Enabled=True)
        lam.update_event_source_mapping(UUID=mappings["audit"], Enabled=True)
        outputs = _outputs(rt, tmp_path)

        def state(name: str) -> str:
            return str(lam.get_event_source_mapping(UUID=mappings[name])["State"])

        code, out, _ = _whp(capsys, rt, outputs, "destinations", "pause", "orders")
        assert (code, state("orders"), state("audit")) == (0, "Disabled", "Enabled")
        assert "paused orders" in out
        code, out, _ = _whp(capsys, rt, outputs, "destinations", "resume", "orders")
        assert (code, state("orders")) == (0, "Enabled")
        code, _, err = _whp(capsys, rt, outputs, "destinations", "pause", "nosuch")
        assert code == 2
        assert "no destination named 'nosuch'" in err
    finally:
        _moto_lambda(aws, use_docker=True)
