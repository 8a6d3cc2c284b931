"""docs/aws.md's layout, created with boto3 in moto: what the Terraform module creates, for tests.

`create_layout(prefix, config)` makes the table (keys, the five indexes, TTL), the bucket of large
bodies, the bus, the ingest queue and its DLQ, one queue and DLQ per destination (maxReceiveCount
= the destination's max_attempts), one rule per route targeting its destination's queue through
the route wrapper, and an empty secret per `aws-sm:NAME`. It returns the names and URLs the module
outputs. It uses boto3 as the environment configures it: the `aws` fixture points it at moto.
"""

from __future__ import annotations

import importlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from webhook_processor import config as config_module
from webhook_processor import models, ports
from webhook_processor.adapters.aws import dynamodb, operations, records, sqs

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's
ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # moto's fake credentials
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
}
INGEST_MAX_RECEIVES = 5
QUEUE_VISIBILITY = 30  # s; the module sets 6 x the function's timeout
# The route wrapper of docs/aws.md is `{"route": <name>, "event": <aws.events.event>}`. moto's
# input transformer knows only `<aws.events.event.json>` (the event with its detail) and leaves
# `<aws.events.event>` unreplaced, which makes the target fail: test_layout.py asserts that.
MOTO_EVENT_VARIABLE = "<aws.events.event.json>"


@dataclass(frozen=True)
class Aws:
    """moto's endpoint, and clients for it (fake credentials, us-east-1)."""

    endpoint: str

    def kwargs(self) -> dict[str, Any]:
        return {
            "endpoint_url": self.endpoint,
            "region_name": REGION,
            "aws_access_key_id": ENV["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": ENV["AWS_SECRET_ACCESS_KEY"],
        }

    def dynamodb(self) -> DynamoDBClient:
        return boto3.client("dynamodb", **self.kwargs())

    def sqs(self) -> SQSClient:
        return boto3.client("sqs", **self.kwargs())

    def s3(self) -> S3Client:
        return boto3.client("s3", **self.kwargs())

    def events(self) -> EventBridgeClient:
        return boto3.client("events", **self.kwargs())

    def secretsmanager(self) -> SecretsManagerClient:
        return boto3.client("secretsmanager", **self.kwargs())


@dataclass(frozen=True)
class Layout:
    """What the Terraform module outputs (docs/aws.md), plus the DLQ of the ingest queue."""

    prefix: str
    table: str
    bucket: str
    bus: str
    ingest_queue_url: str
    ingest_dlq_url: str
    destination_queue_urls: dict[str, str] = field(default_factory=dict)
    destination_dlq_urls: dict[str, str] = field(default_factory=dict)
    secret_ids: dict[str, str] = field(default_factory=dict)
    rules: dict[str, str] = field(default_factory=dict)  # route -> rule name


def config_from(text: str, folder: Path) -> config_module.Config:
    path = folder / "whp.yaml"
    path.write_text(text, encoding="utf-8")
    return config_module.load(path)


def fit(name: str, budget: int) -> str:
    """docs/aws.md's fit(): adapters/aws/names.py once merged (imported by name, so this file
    type-checks with or without it); until then only names that fit as they are (which the rule
    leaves unchanged) are accepted here."""
    try:
        names = importlib.import_module("webhook_processor.adapters.aws.names")
    except ImportError:
        if len(name) > budget:
            raise AssertionError(
                f"{name!r} needs fit(), from adapters/aws/names.py, which is not merged yet"
            ) from None
        return name
    return str(names.fit(name, budget))


def create_layout(prefix: str, config: config_module.Config) -> Layout:
    ddb: DynamoDBClient = boto3.client("dynamodb")
    queues: SQSClient = boto3.client("sqs")
    events: EventBridgeClient = boto3.client("events")
    table = f"{prefix}-events"
    create_table(ddb, table)
    bucket = f"{prefix}-bodies-{ACCOUNT}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    bus = f"{prefix}-bus"
    events.create_event_bus(Name=bus)
    ingest, ingest_dlq = _queue_with_dlq(queues, f"{prefix}-ingest", INGEST_MAX_RECEIVES)
    urls: dict[str, str] = {}
    dlqs: dict[str, str] = {}
    for name, destination in config.destinations.items():
        queue_name = f"{prefix}-d-{fit(name, 50)}"
        urls[name], dlqs[name] = _queue_with_dlq(queues, queue_name, destination.retry.max_attempts)
        _let_events_send(queues, urls[name])
    rules = {}
    for route in config.routes:
        rule = f"{prefix}-r-{fit(route.name, 40)}"
        events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(route.pattern))
        arn = queues.get_queue_attributes(
            QueueUrl=urls[route.destination], AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        template = '{"route": ' + json.dumps(route.name) + ', "event": ' + MOTO_EVENT_VARIABLE + "}"
        events.put_targets(
            Rule=rule,
            EventBusName=bus,
            Targets=[{"Id": "queue", "Arn": arn, "InputTransformer": {"InputTemplate": template}}],
        )
        rules[route.name] = rule
    return Layout(
        prefix,
        table,
        bucket,
        bus,
        ingest,
        ingest_dlq,
        urls,
        dlqs,
        _create_secrets(prefix, config),
        rules,
    )


def create_table(dynamodb: DynamoDBClient, name: str) -> None:
    """The events table: its keys (no index: items.py), TTL on `expires_at`."""
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk")],
    )
    dynamodb.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
    )


def _queue_with_dlq(sqs: SQSClient, name: str, max_receives: int) -> tuple[str, str]:
    fourteen_days = str(14 * 86_400)
    dlq = sqs.create_queue(
        QueueName=f"{name}-dlq", Attributes={"MessageRetentionPeriod": fourteen_days}
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue = sqs.create_queue(
        QueueName=name,
        Attributes={
            "MessageRetentionPeriod": fourteen_days,
            "VisibilityTimeout": str(QUEUE_VISIBILITY),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives}
            ),
        },
    )["QueueUrl"]
    return queue, dlq


def _let_events_send(sqs: SQSClient, url: str) -> None:
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": arn,
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})


def _create_secrets(prefix: str, config: config_module.Config) -> dict[str, str]:
    """An empty secret per `aws-sm:NAME` (the module creates none for an ARN), as the module
    does: the operator puts the value."""
    client: SecretsManagerClient = boto3.client("secretsmanager")
    refs = [config.admin.token]
    refs += [ref for source in config.sources.values() for ref in source.secret_refs]
    refs += [d.signing_secret for d in config.destinations.values()]
    out = {}
    for ref in dict.fromkeys(refs):  # one secret per name, however many keys refer to it
        if ref is None or not ref.startswith("aws-sm:") or ref.startswith("aws-sm:arn:"):
            continue
        name = ref.removeprefix("aws-sm:")
        out[name] = client.create_secret(Name=f"{prefix}/{name}")["ARN"]
    return out


def messages(client: SQSClient, url: str) -> list[dict[str, Any]]:
    """Every message of a (small) queue, received and deleted, bodies parsed."""
    return [json.loads(body) for body in raw_messages(client, url)]


@dataclass
class Stack:
    """The adapters over a layout, each with its own clients, as a Lambda container holds them."""

    table: dynamodb.Table
    ingest: sqs.Queue
    store: dynamodb.EventStore
    records: records.Records
    operations: operations.Operations
    dynamodb_client: DynamoDBClient
    sqs_client: SQSClient


def stack(aws: Aws, deployed: Layout, retention_days: int = 7) -> Stack:
    ddb, queues = aws.dynamodb(), aws.sqs()
    table = dynamodb.Table(deployed.table, deployed.bucket, ddb, aws.s3())
    ingest = sqs.Queue(deployed.ingest_queue_url, queues, sleep=lambda _: None)
    ops = operations.Operations(
        table,
        retention_days,
        destinations=sorted(deployed.destination_queue_urls),
        ingest=ingest,
        queue_for=lambda name: sqs.Queue(deployed.destination_queue_urls[name], queues),
    )
    return Stack(
        table,
        ingest,
        dynamodb.EventStore(table, ingest, retention_days),
        records.Records(table),
        ops,
        ddb,
        queues,
    )


def event(
    source: str = "github",
    key: str | None = None,
    body: bytes = b'{"action": "opened"}',
    event_type: str = "push",
    received_ms: int | None = None,
    headers: dict[str, str] | None = None,
) -> models.Event:
    """A new event as ingest makes one."""
    now = time.time() if received_ms is None else received_ms / 1000
    return models.Event(
        id=models.new_event_id(now),
        source=source,
        event_type=event_type,
        idempotency_key=key,
        received_ms=int(now * 1000),
        content_type="application/json",
        headers={"x-github-event": event_type} if headers is None else headers,
        body=body,
    )


def ports_filter(**kwargs: Any) -> ports.EventFilter:
    return ports.EventFilter(**kwargs)


def raw_messages(client: SQSClient, url: str) -> list[str]:
    """Every message body of a (small) queue, received and deleted, as sent."""
    out: list[str] = []
    for _ in range(100):
        got = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return out
        for m in got:
            out.append(m["Body"])
            client.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    raise AssertionError(f"{url} does not empty")
