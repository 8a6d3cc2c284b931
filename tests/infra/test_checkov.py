"""checkov over infra/terraform: no failed check; a check that does not fit this module is
skipped inline (#checkov:skip=ID:reason) where it applies, with its reason."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.infra import tfkit

# terraform and checkov are slow on a loaded machine; the default 120 s is not enough.
pytestmark = pytest.mark.timeout(600)

VENV_CHECKOV = Path("/work/checkov-venv/bin/checkov")


def find_checkov() -> str | None:
    if os.environ.get("CHECKOV"):
        return os.environ["CHECKOV"]
    if VENV_CHECKOV.exists():
        return str(VENV_CHECKOV)
    return shutil.which("checkov")


def test_no_failed_check() -> None:
    checkov = find_checkov()
    if checkov is None:
        pytest.skip(f"checkov not found: set $CHECKOV, install it at {VENV_CHECKOV} or on PATH")
    result = subprocess.run(
        [
            *(checkov, "-d", str(tfkit.MODULE), "--framework", "terraform", "--skip-download"),
            *("-o", "json", "--quiet", "--compact"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for report in reports
        for c in report.get("results", {}).get("failed_checks", [])
    ]
    assert failed == []
    assert sum(r["summary"]["passed"] for r in reports) > 100, "checkov checked next to nothing"
    assert result.returncode == 0, result.stderr[-2000:]


def test_every_skip_says_why() -> None:
    skips = [
        line.strip()
        for path in tfkit.MODULE.rglob("*.tf")
        for line in path.read_text(encoding="utf-8").splitlines()
        if "checkov:skip" in line
    ]
    assert skips
    for skip in skips:
        assert re.fullmatch(r"#checkov:skip=CKV2?_AWS_\d+:.{20,}", skip), skip
