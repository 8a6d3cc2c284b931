"""Run by test_package.py (and bench/lambda_cold_start.py) with the Lambda runtime's Python, in a
venv that holds only boto3, from the unpacked package's root: the current directory, first on
sys.path as /var/task is on Lambda. Not a test module: it imports nothing from the repository.

argv: the handler modules to import (`webhook_processor.entrypoints.lambdas.ingest`, ...). Before
the handlers are all written it also imports what they will import and does what their first
invocation will do without AWS: load the embedded whp.yaml, compile its schemas, sign and verify
an ed25519 (Standard Webhooks v1a) webhook, make a powertools Logger and Metrics. A dependency
missing from the package fails here. Prints one JSON line.
"""

from __future__ import annotations

import base64
import importlib
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

# What the handlers import (docs/aws.md, "Handlers"): the core they run over and its dependencies.
MODULES = [
    "webhook_processor.bootstrap.aws",  # the composition root, at the first invocation
    "webhook_processor.config_snapshot",
    "webhook_processor.services.ingest",
    "webhook_processor.services.operations",
    "webhook_processor.verify",
    "webhook_processor.payload",
    "webhook_processor.delivery",
    "webhook_processor.routing",
    "webhook_processor.retry",
    "webhook_processor.patterns",
    "webhook_processor.services",
    "webhook_processor.services.worker",
    "webhook_processor.adapters.http.outbound",  # httpx + httptools: the delivery transport
    "webhook_processor.adapters.aws.names",
    "jsonschema",
    "orjson",
    "aws_lambda_powertools",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.utilities.data_classes.sqs_event",
]
LOCAL_ONLY = ["uvicorn", "starlette", "prometheus_client", "uvloop"]


def main(handlers: list[str]) -> None:
    started = time.perf_counter()
    for name in [*MODULES, *handlers]:
        importlib.import_module(name)
    from aws_lambda_powertools import Logger, Metrics  # noqa: PLC0415
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: PLC0415

    from webhook_processor import bootstrap, verify, wiring  # noqa: PLC0415
    from webhook_processor.bootstrap import aws  # noqa: PLC0415

    cfg = aws.load_config(str(Path.cwd() / "whp.yaml"))  # whp-config.json: no pydantic
    for src in cfg.sources.values():
        if src.schema_ is not None:
            bootstrap.schema_check(src.schema_)({"type": "x"})  # jsonschema and its parts
    key = ed25519.Ed25519PrivateKey.generate()
    raw = serialization.Encoding.Raw
    seed = key.private_bytes(raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    public = key.public_key().public_bytes(raw, serialization.PublicFormat.Raw)
    source = wiring.source_spec(
        next(s for s in cfg.sources.values() if s.verify == "standard-webhooks")
    )
    body = b'{"type": "invoice.paid"}'
    signed = verify.signer(source, "whsk_" + base64.b64encode(seed).decode())(body, time.time(), "")
    check = verify.verifier(source, ["whpk_" + base64.b64encode(public).decode()])
    check(verify.Request(body, signed.headers), time.time())
    Logger(service="whp")
    Metrics(namespace="whp", service="whp")
    powertools_around_a_batch()
    import yaml  # noqa: PLC0415

    tops = sorted({name.split(".")[0] for name in sys.modules})
    print(
        json.dumps(
            {
                "python": f"{sys.version_info[0]}.{sys.version_info[1]}",
                "seconds": time.perf_counter() - started,
                "handlers": handlers,
                "origins": {t: getattr(sys.modules[t], "__file__", None) for t in tops},
                "local_only_found": [m for m in LOCAL_ONLY if importlib.util.find_spec(m)],
                "libyaml": yaml.__with_libyaml__,
                "validated_now": "pydantic" in sys.modules,
            }
        )
    )


class Context:
    function_name = "probe"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:probe"
    memory_limit_in_mb = 512
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/probe"
    log_stream_name = "probe"


def powertools_around_a_batch() -> None:
    """What the SQS handlers run through at their first invocation, without AWS: Logger with a
    correlation id (jmespath), Metrics with the cold start, BatchProcessor and its data classes."""
    import os  # noqa: PLC0415

    from aws_lambda_powertools import Metrics  # noqa: PLC0415
    from aws_lambda_powertools.utilities import batch  # noqa: PLC0415

    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "whp")  # as the module sets them
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "whp")

    from webhook_processor.entrypoints.lambdas import common  # noqa: PLC0415

    processor = batch.BatchProcessor(
        event_type=batch.EventType.SQS, raise_on_entire_batch_failure=False
    )

    def body(record: Any) -> str:  # powertools passes it by this name
        return str(record.body)

    def build() -> common.Handler:
        def run(event: common.Event, context: Any) -> object:
            Metrics().add_metric(name="Probe", unit="Count", value=1)
            return batch.process_partial_response(event, body, processor, context)

        return run

    record = {"messageId": "m1", "receiptHandle": "r", "body": "{}", "attributes": {}}
    event = {"Records": [record], "requestContext": {"requestId": "probe"}}
    answer = common.Function(build, correlation_id_path="requestContext.requestId")(
        event, Context()
    )
    assert answer == {"batchItemFailures": []}, answer


if __name__ == "__main__":
    main(sys.argv[1:])
