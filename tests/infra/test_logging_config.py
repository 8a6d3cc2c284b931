"""The functions' logging_config (infra/terraform/lambda.tf): Lambda's advanced logging controls
with the system log level of `platform_log_level`, into the module's own log groups, and an
application log level that drops nothing the functions write, whatever `log_level` is.

Terraform itself checks the variable (`terraform validate` runs a module call's validation rules
on a literal value) and evaluates the module's expression for Lambda's application level.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.infra import hclkit, tfkit

# terraform is slow on a loaded machine; the default 120 s is not enough.
pytestmark = pytest.mark.timeout(600)

# Python's levels (powertools' Logger writes these names) and Lambda's application levels.
VERBOSITY = {"TRACE": 5, "DEBUG": 10, "INFO": 20, "WARN": 30, "WARNING": 30, "ERROR": 40}


def test_every_function_logs_json_to_its_own_log_group_at_the_platform_level(
    module: hclkit.Module,
) -> None:
    resources = module.resources()
    function = resources["aws_lambda_function.this"]
    assert function["for_each"] == resources["aws_cloudwatch_log_group.function"]["for_each"]
    config = hclkit.first(function["logging_config"])
    assert config == {
        "log_format": "JSON",  # the only format that takes log levels
        "system_log_level": "${var.platform_log_level}",
        "application_log_level": "${local.application_log_level}",
        "log_group": "${aws_cloudwatch_log_group.function[each.key].name}",
    }
    # The group (7-day retention, the deployment's key) exists before Lambda writes to it.
    assert "${aws_cloudwatch_log_group.function}" in function["depends_on"]
    group = resources["aws_cloudwatch_log_group.function"]
    assert group["retention_in_days"] == "${var.log_retention_days}"
    assert module.variables()["log_retention_days"]["default"] == 7


def test_platform_log_level_defaults_to_info_as_before(module: hclkit.Module) -> None:
    """INFO is Lambda's default system level: START, END and REPORT stay."""
    variable = module.variables()["platform_log_level"]
    assert variable["type"] == "string"
    assert variable["default"] == "INFO"


@pytest.fixture(scope="module")
def example_copy(terraform: tfkit.Terraform, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/complete in a copy of the module, initialised against the offline mirror."""
    copy = tfkit.copy_module(tmp_path_factory.mktemp("logging") / "module")
    example = copy / "examples" / "complete"
    terraform.run("init", "-backend=false", "-input=false", cwd=example, timeout=300)
    return example


@pytest.mark.parametrize(
    ("value", "admitted"),
    [
        ("DEBUG", True),
        ("INFO", True),
        ("WARN", True),  # the lean profile
        ("WARNING", False),  # Python's name (log_level's), not Lambda's
        ("warn", False),
        ("ERROR", False),  # an application level only
        ("TRACE", False),
        ("", False),
    ],
)
def test_platform_log_level_admits_exactly_lambdas_system_levels(
    terraform: tfkit.Terraform, example_copy: Path, value: str, admitted: bool
) -> None:
    override = example_copy / "whp_override.tf"
    override.write_text(f'module "whp" {{\n  platform_log_level = "{value}"\n}}\n')
    try:
        result = terraform.run("validate", cwd=example_copy, check=False)
    finally:
        override.unlink()
    output = " ".join((result.stdout + result.stderr).split())
    if admitted:
        assert result.returncode == 0, output
    else:
        assert result.returncode != 0
        assert "platform_log_level must be DEBUG, INFO or WARN" in output, output


def log_levels(module: hclkit.Module) -> list[str]:
    """The values log_level's validation admits."""
    condition = hclkit.first(module.variables()["log_level"]["validation"])["condition"]
    match = re.search(r"contains\(\[(.+?)\], var\.log_level\)", condition)
    assert match, condition
    return [v.strip().strip('"') for v in match.group(1).split(",")]


def lambda_application_level(
    tf: tfkit.Terraform, module: hclkit.Module, work: Path, log_level: str
) -> str:
    """The module's local.application_log_level for `log_level`, evaluated by terraform."""
    expression = hclkit.unwrap(module.locals()["application_log_level"])
    work.mkdir(parents=True, exist_ok=True)
    (work / "main.tf").write_text(
        'variable "log_level" {\n  type = string\n}\n\n'
        f"locals {{\n  application_log_level = {expression}\n}}\n"
    )
    value = tfkit.console(tf, work, "local.application_log_level", "-var", f"log_level={log_level}")
    assert isinstance(value, str)
    return value


def test_lambdas_application_level_drops_nothing_the_functions_write(
    terraform: tfkit.Terraform, module: hclkit.Module, tmp_path: Path
) -> None:
    """Lambda drops application lines below its level and counts a line without a valid level
    and RFC 3339 timestamp as INFO: powertools' EMF metric lines (no level) and, by its
    timestamp, every Logger line. So Lambda's level is never above INFO, DEBUG when the
    functions log at DEBUG, and never more verbose than log_level otherwise (powertools prefers
    AWS_LAMBDA_LOG_LEVEL; the handlers hold it to log_level, tests/unit/test_lambda_log_levels)."""
    levels = log_levels(module)
    assert {"DEBUG", "INFO", "WARNING"} <= set(levels)
    for log_level in levels:
        level = lambda_application_level(terraform, module, tmp_path / log_level, log_level)
        assert level in ("DEBUG", "INFO"), (log_level, level)
        assert VERBOSITY[level] <= VERBOSITY[log_level], (log_level, level)
        assert (level == "DEBUG") is (log_level == "DEBUG"), (log_level, level)
