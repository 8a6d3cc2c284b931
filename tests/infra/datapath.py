"""The deploy test's data path, on what Terraform created (issue 17): a signed webhook through the
deployed functions' handlers, run in-process, to a receiver on 127.0.0.1.

Each handler is imported by the Handler that Terraform gave its function and runs under that
function's Environment.Variables, both read back from moto (get_function_configuration), with
LAMBDA_TASK_ROOT at the unpacked package (its whp.yaml and whp-config.json, as in Lambda), and a
fresh container per invocation (a cold start each: nothing carried from one function to the
next). The rest is what AWS would do around them and moto does not: API Gateway's proxy event
(moto does not invoke integrations) and the event source mappings (disabled: processing_enabled
= false), as tests/aws/runtime.py does them. EventBridge is moto's: the router's put_events reach
the destination queue through the deployed rule.
"""

from __future__ import annotations

import http.server
import importlib
import json
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from tests.aws import layout, runtime
from tests.e2e import receiver as receivers
from webhook_processor import config, provider, wiring
from webhook_processor.bootstrap import aws as bootstrap_aws
from webhook_processor.entrypoints.lambdas import common

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class Plain:
    """A receiver that checks nothing, for the destination that does not sign: the e2e receiver
    verifies every request with standardwebhooks, as a consumer would, and answers 400 without a
    signature. Records (path, lower-cased headers, body); answers 200."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[str, dict[str, str], bytes]] = []
        arrivals = self.arrivals

        class Handle(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                arrivals.append((self.path, headers, body))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass  # quiet

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handle)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> Plain:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


PUSH = b'{"ref": "refs/heads/main", "note": "caf\xc3\xa9"}'  # UTF-8, not ASCII: byte-exact
PUBLIC = b'{"n": 1}'
# The config's one `aws-sm:arn:...` secret is the operator's own, outside the module: on AWS it
# exists already. moto finds a full ARN by its last segment as a name (secretsmanager/utils.py,
# get_secret_name_from_partial_arn), so a secret of that name stands for it.
LEGACY_STRIPE = "stripe-legacy-AbCdEf"


class Deployment:
    """The deployed functions, invoked in-process as Lambda would invoke them."""

    def __init__(
        self, aws: Any, outputs: dict[str, Any], task_root: Path, mp: pytest.MonkeyPatch
    ) -> None:
        self.aws = aws
        self.outputs = outputs
        self.task_root = task_root
        self.monkeypatch = mp
        lam = aws("lambda")
        self.functions = {
            role: lam.get_function_configuration(FunctionName=name)
            for role, name in outputs["function_names"].items()
        }

    def invoke(self, role: str, event: dict[str, Any]) -> dict[str, Any]:
        conf = self.functions[role]
        module, _, attribute = conf["Handler"].rpartition(".")
        handler: Handler = getattr(importlib.import_module(module), attribute)
        mp = self.monkeypatch
        for name in ("WHP_CONFIG", "WHP_PREFIX", "WHP_TABLE", "WHP_BUS", "WHP_INGEST_QUEUE_URL"):
            mp.delenv(name, raising=False)  # only what Terraform set
        for name, value in conf["Environment"]["Variables"].items():
            mp.setenv(name, value)
        # What Lambda adds to every function's environment, moto's endpoint and credentials.
        mp.setenv("LAMBDA_TASK_ROOT", str(self.task_root))
        mp.setenv("AWS_REGION", layout.REGION)
        mp.setenv("AWS_ENDPOINT_URL", self.aws.endpoint)
        for name, value in layout.ENV.items():
            mp.setenv(name, value)
        common.reset()
        bootstrap_aws.reset()
        return handler(event, runtime.Context(conf["FunctionName"]))

    def queue_arn(self, url: str) -> str:
        got = self.aws("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(got["Attributes"]["QueueArn"])

    def pump(self, role: str, url: str, want: int) -> list[dict[str, Any]]:
        """The disabled mapping's part: receive `want` messages (waiting for them), invoke the
        function with them as one SQS event, delete those it did not report failed."""
        sqs = self.aws("sqs")
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        while len(got) < want and time.monotonic() < deadline:
            got += sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]
            ).get("Messages", [])
        assert len(got) == want, f"{url}: {len(got)} messages, want {want}"
        records = [runtime.sqs_record(m, self.queue_arn(url)) for m in got]
        assert all(r["attributes"]["ApproximateReceiveCount"] == "1" for r in records)
        answer = self.invoke(role, {"Records": records})
        assert answer == {"batchItemFailures": []}, answer
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(records)
            ],
        )
        return [json.loads(r["body"]) for r in records]


def check_data_path(
    aws: Any,
    outputs: dict[str, Any],
    package: Path,
    receiver: receivers.Receiver,
    plain: Plain,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    task_root = tmp_path / "task"
    with zipfile.ZipFile(package) as zipped:
        zipped.extractall(task_root)
    sm = aws("secretsmanager")
    legacy = sm.create_secret(Name=LEGACY_STRIPE, SecretString="whsec_bGVnYWN5")
    try:
        deployed = Deployment(aws, outputs, task_root, monkeypatch)
        _through(deployed, receiver, plain)
    finally:
        sm.delete_secret(SecretId=legacy["ARN"], ForceDeleteWithoutRecovery=True)


def _through(deployed: Deployment, receiver: receivers.Receiver, plain: Plain) -> None:
    aws, outputs = deployed.aws, deployed.outputs
    prefix = aws.prefix
    sm = aws("secretsmanager")
    # Signed as GitHub signs, with the value the operator put in the module's secret.
    cfg = config.load(deployed.task_root / "whp.yaml")
    github_secret = sm.get_secret_value(SecretId=f"{prefix}/github-webhook")["SecretString"]
    push = provider.build(
        wiring.source_spec(cfg.sources["github"]),
        github_secret,
        PUSH,
        f"{outputs['api_url']}/webhooks/github",
        time.time(),
        event_type="push",
    )
    event = runtime.rest_event if aws.api_type == "rest" else runtime.http_event
    ids = {}
    for source, body, headers in (("github", PUSH, push.headers), ("public", PUBLIC, {})):
        answer = deployed.invoke("ingest", event(source, body, headers))
        assert answer["statusCode"] == 202, answer
        ids[source] = json.loads(answer["body"])["id"]

    routed = deployed.pump("router", outputs["ingest_queue_url"], want=2)
    assert sorted(m["event_id"] for m in routed) == sorted(ids.values()), routed
    queues = outputs["destination_queue_urls"]
    long_dest = next(d for d in queues if d != "orders")
    (orders,) = deployed.pump("delivery", queues["orders"], want=1)
    assert orders["route"] == "github-pushes"
    deployed.pump("delivery", queues[long_dest], want=1)

    (arrival,) = receiver.wait_for_arrivals(1, 30, path="/orders", webhook_id=ids["github"])
    assert arrival.body == PUSH  # the original bytes, from the table
    assert arrival.attempt == 1
    # Signed with the destination's secret as Secrets Manager holds it now (AWSCURRENT).
    signing = sm.get_secret_value(SecretId=f"{prefix}/orders-signing")["SecretString"]
    Webhook(signing).verify(arrival.body, arrival.headers)
    (public,) = [a for a in plain.arrivals if a[1].get("webhook-id") == ids["public"]]
    assert (public[0], public[2]) == ("/long", PUBLIC)
    assert "webhook-signature" not in public[1]  # that destination does not sign

    # And the table says so, read through the operator's view of the deployment.
    outputs_file = deployed.task_root.parent / "outputs.json"
    outputs_file.write_text(json.dumps(outputs), encoding="utf-8")
    operator = bootstrap_aws.operator(cfg, str(outputs_file))
    for source, dest in (("github", "orders"), ("public", long_dest)):
        (delivery,) = operator.event(ids[source]).deliveries
        assert (delivery.destination, delivery.status, delivery.attempts) == (dest, "delivered", 1)
