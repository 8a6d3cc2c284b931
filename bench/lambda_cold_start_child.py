"""One cold start, in a fresh process: run by bench/lambda_cold_start.py with the Lambda Python,
in a venv holding only boto3, from the unpacked package (the current directory, first on sys.path
as /var/task is on Lambda). Imports nothing from the repository. Prints one JSON line, last:
{"import": seconds, "invoke": seconds}.

argv: `baseline` | `handler NAME` | `standin NAME`.
- baseline: import boto3, make one client, make one call (SQS ListQueues).
- handler: import webhook_processor.entrypoints.lambdas.NAME, then call its handler once with
  the event in $BENCH_EVENT (JSON).
- standin: until the handler exists: import what it will import, then do what its first
  invocation will do (load the embedded config, make its clients, resolve a secret, its calls).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from typing import Any

# What the handlers import (the modules of tests/aws/package_probe.py, and boto3).
STANDIN_MODULES = [
    "boto3",
    "webhook_processor.config",
    "webhook_processor.verify",
    "webhook_processor.payload",
    "webhook_processor.delivery",
    "webhook_processor.routing",
    "webhook_processor.retry",
    "webhook_processor.patterns",
    "webhook_processor.services",
    "webhook_processor.services.worker",
    "webhook_processor.adapters.http.outbound",
    "webhook_processor.adapters.aws.names",
    "jsonschema",
    "orjson",
    "aws_lambda_powertools",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.utilities.batch",
]


class Context:
    """The parts of Lambda's context object that powertools reads."""

    function_name = "bench"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    memory_limit_in_mb = 512
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def standin(name: str, event: dict[str, Any]) -> None:
    import boto3  # noqa: PLC0415
    import httpx  # noqa: PLC0415
    from aws_lambda_powertools import Logger, Metrics  # noqa: PLC0415

    from webhook_processor import config, delivery, patterns, signing, verify, wiring  # noqa: PLC0415
    from webhook_processor.adapters.aws import names  # noqa: PLC0415

    env = os.environ
    cfg = config.load(env.get("WHP_CONFIG") or f"{env['LAMBDA_TASK_ROOT']}/whp.yaml")
    prefix = names.check_prefix(env["WHP_PREFIX"])
    logger = Logger()
    metrics = Metrics()
    ddb = boto3.client("dynamodb")
    table = env["WHP_TABLE"]
    if name == "ingest":
        sm = boto3.client("secretsmanager")
        secret = sm.get_secret_value(SecretId=names.secret_id(prefix, "github"))["SecretString"]
        check = verify.verifier(wiring.source_spec(cfg.sources["github"]), [secret])
        body = event["body"].encode()
        headers = {k.lower(): v for k, v in event["headers"].items()}
        check(verify.Request(body, headers), time.time())
        item = {"pk": {"S": f"EVT#{headers['x-github-delivery']}"}, "sk": {"S": "EVT"}}
        ddb.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        sqs = boto3.client("sqs")
        sqs.send_message(QueueUrl=env["WHP_INGEST_QUEUE_URL"], MessageBody='{"event_id": "x"}')
    elif name == "router":
        ddb.get_item(TableName=table, Key={"pk": {"S": "EVT#seed"}, "sk": {"S": "EVT"}})
        routed = [r for r in cfg.routes if patterns.compile(r.pattern).matches(event)]
        entries: list[Any] = [
            {
                "Source": "github",
                "DetailType": "push",
                "Detail": "{}",
                "EventBusName": env["WHP_BUS"],
            }
            for _ in routed
        ]
        boto3.client("events").put_events(Entries=entries)
    elif name == "delivery":
        ddb.get_item(TableName=table, Key={"pk": {"S": "EVT#seed"}, "sk": {"S": "EVT"}})
        sm = boto3.client("secretsmanager")
        ref = cfg.destinations["orders"].signing_secret or ""
        secret_id = names.secret_id(prefix, ref.removeprefix("aws-sm:"))
        key = delivery.signing_key(sm.get_secret_value(SecretId=secret_id)["SecretString"])
        stamp = str(int(time.time()))
        body = b'{"ref": "refs/heads/main"}'
        signature = signing.v1(key, "evt_seed", stamp, body)
        with httpx.Client() as client:
            url = cfg.destinations["orders"].url
            client.post(
                url, content=body, headers={"webhook-signature": signature}
            ).raise_for_status()
        ddb.put_item(TableName=table, Item={"pk": {"S": "EVT#seed"}, "sk": {"S": f"ATT#{stamp}"}})
    elif name == "rotation":
        sm = boto3.client("secretsmanager")
        secret_id = names.secret_id(prefix, "orders")
        sm.describe_secret(SecretId=secret_id)
        sm.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")
        sm.put_secret_value(
            SecretId=secret_id,
            ClientRequestToken=event["ClientRequestToken"],
            SecretString="whsec_" + os.urandom(32).hex(),
            VersionStages=["AWSPENDING"],
        )
    metrics.add_metric(name="Bench", unit="Count", value=1)
    metrics.flush_metrics()
    logger.info("done", extra={"handler": name})


def main(argv: list[str]) -> None:
    mode = argv[0]
    event = json.loads(os.environ.get("BENCH_EVENT") or "{}")
    started = time.perf_counter()
    if mode == "baseline":
        import boto3  # noqa: PLC0415

        imported = time.perf_counter()
        boto3.client("sqs").list_queues()
    elif mode == "handler":
        module = importlib.import_module(f"webhook_processor.entrypoints.lambdas.{argv[1]}")
        imported = time.perf_counter()
        module.handler(event, Context())
    else:
        for name in STANDIN_MODULES:
            importlib.import_module(name)
        imported = time.perf_counter()
        standin(argv[1], event)
    done = time.perf_counter()
    sys.stdout.write(
        "\n" + json.dumps({"import": imported - started, "invoke": done - imported}) + "\n"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
