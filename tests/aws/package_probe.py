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

# What the handlers import (docs/aws.md, "Handlers"): the core they run over and its dependencies.
MODULES = [
    "webhook_processor.config",
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
]
LOCAL_ONLY = ["uvicorn", "starlette", "prometheus_client", "uvloop"]


def main(handlers: list[str]) -> None:
    started = time.perf_counter()
    for name in [*MODULES, *handlers]:
        importlib.import_module(name)
    from aws_lambda_powertools import Logger, Metrics  # noqa: PLC0415
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: PLC0415

    from webhook_processor import config, verify, wiring  # noqa: PLC0415

    cfg = config.load(Path.cwd() / "whp.yaml")
    import jsonschema  # noqa: PLC0415

    for src in cfg.sources.values():
        if src.schema_ is not None:
            jsonschema.Draft202012Validator.check_schema(json.loads(Path(src.schema_).read_text()))
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
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
