"""Importing a Lambda handler's module is cheap and needs no AWS: pydantic, yaml, sqlite3,
starlette, uvicorn, boto3 and botocore (and powertools, which imports botocore) stay out of
`sys.modules` until the first invocation sets the container up. (The lambda part of the
integrator's architecture test, /work/pending/test_layers.py.)"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FRAMEWORKS = ("pydantic", "yaml", "sqlite3", "starlette", "uvicorn", "boto3", "botocore")
LAZY = ("aws_lambda_powertools", "httpx", "jsonschema")  # the first invocation's too
LAMBDAS = ("ingest", "router", "delivery", "rotation")


def _loaded_after_import(module: str) -> dict[str, object]:
    names = FRAMEWORKS + LAZY
    code = (
        "import importlib, json, sys\n"
        f"m = importlib.import_module({module!r})\n"
        f"loaded = sorted(n for n in {names!r} if n in sys.modules)\n"
        "print(json.dumps({'loaded': loaded, 'handler': callable(getattr(m, 'handler', None))}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    found: dict[str, object] = json.loads(out)
    return found


@pytest.mark.parametrize("handler", LAMBDAS)
def test_importing_a_lambda_handler_loads_no_framework(handler: str) -> None:
    found = _loaded_after_import(f"webhook_processor.entrypoints.lambdas.{handler}")
    assert found == {"loaded": [], "handler": True}
