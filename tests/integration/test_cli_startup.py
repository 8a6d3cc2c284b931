"""`whp --help` stays fast: it imports none of what only some commands need (rich for tables and
progress, httpx for --url and `whp send`, the server's stack). bench/cli_startup.py times it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
from webhook_processor.entrypoints import cli
try:
    cli.main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})), file=sys.stderr)
"""
NOT_AT_START = {"rich", "httpx", "httpcore", "starlette", "uvicorn", "pygments", "click"}


@pytest.mark.parametrize(
    "args", [["--help"], ["events", "list", "--help"], ["dlq", "redrive", "--help"]]
)
def test_help_imports_nothing_heavy(args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True
    )
    assert "usage: whp" in done.stdout
    imported = set(json.loads(done.stderr.strip().splitlines()[-1]))
    assert imported & NOT_AT_START == set()
