"""terraform itself on the module and the example: fmt, init against the offline provider
mirror, validate, with no warning (a deprecated attribute is a warning)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.infra import tfkit

# terraform and checkov are slow on a loaded machine; the default 120 s is not enough.
pytestmark = pytest.mark.timeout(600)


def test_fmt_check(terraform: tfkit.Terraform) -> None:
    result = terraform.run("fmt", "-check", "-recursive", "-diff", cwd=tfkit.MODULE, check=False)
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}"


@pytest.mark.parametrize("root", ["module", "example"])
def test_init_and_validate_offline_without_warnings(
    terraform: tfkit.Terraform, tmp_path: Path, root: str
) -> None:
    copy = tfkit.copy_module(tmp_path / "module")
    where = copy if root == "module" else copy / "examples" / "complete"
    init = terraform.run("init", "-backend=false", "-input=false", cwd=where)
    assert "registry.terraform.io/hashicorp/aws" not in init.stderr
    result = terraform.run("validate", "-json", cwd=where, check=False)
    report = json.loads(result.stdout)
    assert report["valid"], report["diagnostics"]
    assert report["warning_count"] == 0, report["diagnostics"]
