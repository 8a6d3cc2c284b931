"""The AWS runtime in-process, for tests: the four Lambda handlers over moto in server mode, and
what API Gateway and Lambda's SQS event source mappings do around them, done here.

    rt = runtime.deploy(aws, tmp_path, CONFIG, monkeypatch, {"github": "..."})  # layout, secrets
    answer = rt.post("github", body, headers)                      # REST proxy event -> ingest
    answer = rt.post("github", body, headers, api="http")          # HTTP API payload 2.0
    rt.route()                # the ingest queue, batch by batch, through the router
    rt.deliver()              # each destination queue's visible messages through delivery
    rt.settle()               # route and deliver until nothing is visible (backoffs skipped)

The mapping's part, as Lambda does it: receive up to `batch_size` messages (with their
ApproximateReceiveCount), invoke the handler with the SQS event, then delete the messages that
are not in `batchItemFailures` (none if the handler raised). A failed message keeps the
visibility timeout the handler gave it; `skip_backoffs()` makes those visible at once (what the
passing of time would do). moto moves a message to its DLQ when a receive finds it past
maxReceiveCount, as SQS does.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from tests.aws import layout
from webhook_processor import config
from webhook_processor.bootstrap import aws as bootstrap_aws
from webhook_processor.entrypoints.lambdas import common
from webhook_processor.entrypoints.lambdas import delivery as delivery_function
from webhook_processor.entrypoints.lambdas import ingest as ingest_function
from webhook_processor.entrypoints.lambdas import rotation as rotation_function
from webhook_processor.entrypoints.lambdas import router as router_function

ACCOUNT = layout.ACCOUNT
Api = Literal["rest", "http"]  # API Gateway's REST API (payload 1.0) or HTTP API (2.0)
BATCH_SIZE = 10


class Context:
    """The parts of Lambda's context object that powertools reads."""

    def __init__(self, function: str, remaining_ms: int = 30_000) -> None:
        self.function_name = function
        self._ends = time.monotonic() + remaining_ms / 1000
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{layout.REGION}:{ACCOUNT}:function:{function}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function}"
        self.log_stream_name = "test"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends - time.monotonic()) * 1000))


@dataclass(frozen=True)
class Answer:
    """What API Gateway gives the sender."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Batch:
    """One invocation of an SQS function: the records sent and the ids it reported failed."""

    queue: str
    records: list[dict[str, Any]]
    failed: set[str]


@dataclass
class Runtime:
    aws: layout.Aws
    deployed: layout.Layout
    config_file: Path
    monkeypatch: pytest.MonkeyPatch
    batches: list[Batch] = field(default_factory=list)
    _kept: dict[str, list[str]] = field(default_factory=dict)  # queue url -> receipt handles

    def __post_init__(self) -> None:
        for name, value in self.environment().items():
            self.monkeypatch.setenv(name, value)
        self.reset()

    def environment(self) -> dict[str, str]:
        """The functions' environment, as the Terraform module sets it (docs/aws.md)."""
        d = self.deployed
        return {
            "WHP_PREFIX": d.prefix,
            "WHP_TABLE": d.table,
            "WHP_BUS": d.bus,
            "WHP_INGEST_QUEUE_URL": d.ingest_queue_url,
            "WHP_BODIES_BUCKET": d.bucket,
            "WHP_CONFIG": str(self.config_file),
            "POWERTOOLS_SERVICE_NAME": "whp",
            "POWERTOOLS_METRICS_NAMESPACE": "whp",
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }

    def reset(self) -> None:
        """New containers: the next invocations set up again (config, secrets, clients)."""
        common.reset()
        bootstrap_aws.reset()

    def start(self, clock: Any = None) -> None:
        """Set the containers up now (as a first invocation would), with `clock` (Unix
        seconds: a sample event's time) instead of the real one."""
        self.reset()
        bootstrap_aws.container(clock=clock)

    def put_secret(self, name: str, value: str) -> str:
        """A value for `aws-sm:NAME` (the module made the secret empty); its version id."""
        client = self.aws.secretsmanager()
        got = client.put_secret_value(SecretId=f"{self.deployed.prefix}/{name}", SecretString=value)
        return str(got["VersionId"])

    # -- ingest ---------------------------------------------------------------------------------

    def post(
        self,
        source: str,
        body: bytes,
        headers: Mapping[str, str],
        api: Api = "rest",
        query: str = "",
        method: str = "POST",
    ) -> Answer:
        event = (rest_event if api == "rest" else http_event)(source, body, headers, query, method)
        got = ingest_function.handler(event, Context(f"{self.deployed.prefix}-ingest"))
        return Answer(got["statusCode"], dict(got.get("headers") or {}), got["body"].encode())

    # -- the event source mappings --------------------------------------------------------------

    def route(self, max_batches: int = 50) -> int:
        """Pump the ingest queue through the router until it shows nothing; messages handled."""
        return self._pump(self.deployed.ingest_queue_url, router_function.handler, max_batches)

    def deliver(self, destination: str | None = None, max_batches: int = 50) -> int:
        """Pump each destination queue (or one) through the delivery function."""
        urls = self.deployed.destination_queue_urls
        chosen = [destination] if destination is not None else sorted(urls)
        return sum(
            self._pump(urls[name], delivery_function.handler, max_batches) for name in chosen
        )

    def settle(self, rounds: int = 20) -> None:
        """Route and deliver, skipping backoffs, until no queue has a visible message."""
        for _ in range(rounds):
            handled = self.route() + self.deliver()
            kept = self.skip_backoffs()
            if not handled and not kept:
                return
        raise AssertionError("the queues did not settle")

    def skip_backoffs(self) -> int:
        """Make the messages the handlers kept (failed attempts) visible again now."""
        client = self.aws.sqs()
        count = 0
        for url, handles in self._kept.items():
            for handle in handles:
                try:
                    client.change_message_visibility(
                        QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0
                    )
                    count += 1
                except client.exceptions.ClientError:
                    pass  # gone: deleted, or moved to the DLQ
        self._kept.clear()
        return count

    def rotate(self, name: str, token: str | None = None) -> None:
        """Invoke the rotation function's four steps, as Secrets Manager does after RotateSecret
        (tests/aws/test_rotation.py drives it through moto's RotateSecret itself)."""
        secret_id = f"{self.deployed.prefix}/{name}"
        for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
            event = {"SecretId": secret_id, "ClientRequestToken": token, "Step": step}
            rotation_function.handler(event, Context(f"{self.deployed.prefix}-rotation"))

    def _pump(self, url: str, handler: Any, max_batches: int) -> int:
        client = self.aws.sqs()
        arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        handled = 0
        for _ in range(max_batches):
            got = client.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=BATCH_SIZE,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                return handled
            records = [sqs_record(m, arn) for m in got]
            name = arn.rsplit(":", 1)[-1]
            answer = handler({"Records": records}, Context(name))
            failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
            self.batches.append(Batch(name, records, failed))
            done = [r for r in records if r["messageId"] not in failed]
            if done:
                client.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": r["receiptHandle"]}
                        for i, r in enumerate(done)
                    ],
                )
            kept = [r["receiptHandle"] for r in records if r["messageId"] in failed]
            self._kept.setdefault(url, []).extend(kept)
            handled += len(records)
        raise AssertionError(f"{url} did not empty in {max_batches} batches")


@contextlib.contextmanager
def logged(name: str = "whp") -> Iterator[list[logging.LogRecord]]:
    """The records logged to the functions' logger (powertools': `whp`, the service) meanwhile;
    the core's loggers write to it too."""

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            found.append(record)

    found: list[logging.LogRecord] = []
    handler = Keep(level=logging.DEBUG)
    target = logging.getLogger(name)
    target.addHandler(handler)
    try:
        yield found
    finally:
        target.removeHandler(handler)


@contextlib.contextmanager
def log_lines(function: common.Function) -> Iterator[list[dict[str, Any]]]:
    """The JSON lines `function` (set up by an invocation already) logs meanwhile, each formatted
    by its powertools Logger as it is logged, so with the keys of the task that logs it."""
    formatter = function.logger.registered_formatter

    class Format(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            found.append(json.loads(formatter.format(record)))

    found: list[dict[str, Any]] = []
    handler = Format(level=logging.DEBUG)
    target = logging.getLogger(function.logger.name)
    target.addHandler(handler)
    try:
        yield found
    finally:
        target.removeHandler(handler)


def deploy(
    aws: layout.Aws,
    folder: Path,
    config_text: str,
    monkeypatch: pytest.MonkeyPatch,
    secrets: Mapping[str, str] = {},
    prefix: str = "wh-test",
) -> Runtime:
    """docs/aws.md's layout for `config_text` in moto (the `aws` fixture's), the secrets' values
    put, and the functions' environment set: a deployment, ready for its first invocation."""
    file = folder / "whp.yaml"
    file.write_text(config_text, encoding="utf-8")
    deployed = layout.create_layout(prefix, config.load(file))
    rt = Runtime(aws, deployed, file, monkeypatch)
    for name, value in secrets.items():
        rt.put_secret(name, value)
    return rt


def sqs_record(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    """A received SQS message as Lambda's event source mapping puts it in the event."""
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            k: attributes[k]
            for k in (
                "ApproximateReceiveCount",
                "SentTimestamp",
                "SenderId",
                "ApproximateFirstReceiveTimestamp",
            )
            if k in attributes
        },
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": layout.REGION,
    }


def rest_event(
    source: str, body: bytes, headers: Mapping[str, str], query: str = "", method: str = "POST"
) -> dict[str, Any]:
    """API Gateway REST proxy event (payload 1.0), binary media types `*/*`: the body base64."""
    all_headers = {"Host": "abcd1234ef.execute-api.us-east-1.amazonaws.com", **headers}
    params = urllib.parse.parse_qsl(query, keep_blank_values=True)  # API Gateway decodes them
    multi: dict[str, list[str]] = {}
    for key, value in params:
        multi.setdefault(key, []).append(value)
    return {
        "resource": "/webhooks/{source}",
        "path": f"/webhooks/{source}",
        "httpMethod": method,
        "headers": dict(all_headers),
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in multi.items()} or None,
        "multiValueQueryStringParameters": multi or None,
        "pathParameters": {"source": source},
        "requestContext": {
            "resourcePath": "/webhooks/{source}",
            "httpMethod": method,
            "path": f"/live/webhooks/{source}",
            "stage": "live",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "domainName": all_headers["Host"],
            "apiId": "abcd1234ef",
        },
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


def http_event(
    source: str, body: bytes, headers: Mapping[str, str], query: str = "", method: str = "POST"
) -> dict[str, Any]:
    """HTTP API payload 2.0: lower-case headers; a UTF-8 body as text, else base64."""
    lowered = {"host": "kx9q2w3e4r.execute-api.us-east-1.amazonaws.com"}
    lowered |= {k.lower(): v for k, v in headers.items()}
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    return {
        "version": "2.0",
        "routeKey": "POST /webhooks/{source}",
        "rawPath": f"/webhooks/{source}",
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": {
            "domainName": lowered["host"],
            "http": {"method": method, "path": f"/webhooks/{source}", "protocol": "HTTP/1.1"},
            "requestId": str(uuid.uuid4()),
            "stage": "$default",
            "timeEpoch": int(time.time() * 1000),
        },
        "pathParameters": {"source": source},
        "body": text,
        "isBase64Encoded": encoded,
    }
