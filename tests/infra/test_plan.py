"""Plans of examples/complete against moto: what terraform refuses before anything is created,
and every name it computes at the longest suffix and config names, against AWS's limits."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.infra import tfkit
from tests.infra.names import fit

# terraform and checkov are slow on a loaded machine; the default 120 s is not enough.
pytestmark = pytest.mark.timeout(600)

REGION = "us-east-1"
LONGEST_SUFFIX = "s234567890123456"  # 16: the longest environment_suffix admits
LONG_DEST = "d234567890123456789012345678901234567890123456789012345678901234"  # 64, in whp.yaml
LONG_ROUTE = "r234567890123456789012345678901234567890123456789012345678901234"

# The name attributes of each resource type and AWS's limit on them.
LIMITS: dict[str, dict[str, int]] = {
    "aws_lambda_function": {"function_name": 64},
    "aws_iam_role": {"name": 64},
    "aws_iam_policy": {"name": 128},
    "aws_dynamodb_table": {"name": 255},
    "aws_s3_bucket": {"bucket": 63},
    "aws_cloudwatch_event_bus": {"name": 256},
    "aws_cloudwatch_event_archive": {"name": 48},
    "aws_sqs_queue": {"name": 80},
    "aws_cloudwatch_event_rule": {"name": 64},
    "aws_secretsmanager_secret": {"name": 512},
    "aws_kms_alias": {"name": 256},
    "aws_sns_topic": {"name": 256},
    "aws_cloudwatch_dashboard": {"dashboard_name": 255},
    "aws_cloudwatch_log_group": {"name": 512},
    "aws_cloudwatch_metric_alarm": {"alarm_name": 255},
    "aws_api_gateway_rest_api": {"name": 1024},
    "aws_apigatewayv2_api": {"name": 128},
    "aws_api_gateway_usage_plan": {"name": 1024},
    "aws_codedeploy_app": {"name": 100},
    "aws_codedeploy_deployment_group": {"deployment_group_name": 100},
    "aws_codedeploy_deployment_config": {"deployment_config_name": 100},
    "aws_xray_sampling_rule": {"rule_name": 32},
    "aws_backup_vault": {"name": 50},
    "aws_backup_plan": {"name": 50},
    "aws_backup_selection": {"name": 50},
    "aws_lambda_permission": {"statement_id": 100},
}


@pytest.fixture(scope="module")
def example_dir(
    terraform: tfkit.Terraform, moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    return tfkit.prepare_example(terraform, tmp_path_factory.mktemp("plan"), moto_endpoint, REGION)


def plan(
    tf: tfkit.Terraform, example: Path, package: Path, **overrides: str
) -> tuple[int, str, dict[str, Any] | None]:
    values = {
        "region": REGION,
        "environment_suffix": LONGEST_SUFFIX,
        "config_file": str(tfkit.CONFIG),
        "lambda_package": str(package),
        **overrides,
    }
    out = example / "test.tfplan"
    result = tf.run(
        "plan", "-input=false", f"-out={out}", *tfkit.var_args(values), cwd=example, check=False
    )
    if result.returncode != 0:
        return result.returncode, result.stdout + result.stderr, None
    shown = tf.run("show", "-json", str(out), cwd=example)
    return 0, result.stdout, json.loads(shown.stdout)


def test_a_package_built_from_another_config_is_refused_at_plan(
    terraform: tfkit.Terraform, example_dir: Path, tmp_path: Path
) -> None:
    stale = tfkit.build_package(tfkit.CONFIG, tmp_path / "stale.zip", digest="0" * 64)
    code, output, _ = plan(terraform, example_dir, stale)
    assert code != 0
    flat = " ".join(output.split())
    assert "was not built from" in flat, output
    assert "0" * 64 in flat, output
    assert "whp aws build --config" in flat, output


def test_a_zip_without_the_digest_is_refused_at_plan(
    terraform: tfkit.Terraform, example_dir: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "bare.zip"
    with zipfile.ZipFile(bare, "w") as zf:
        zf.writestr("whp.yaml", tfkit.CONFIG.read_bytes())
    code, output, _ = plan(terraform, example_dir, bare)
    assert code != 0
    assert "missing (not a `whp aws build` zip?)" in " ".join(output.split()), output


@pytest.mark.parametrize("suffix", ["s2345678901234567", "Prod", "prod-"])
def test_a_suffix_outside_the_documented_form_is_refused(
    terraform: tfkit.Terraform, example_dir: Path, package: Path, suffix: str
) -> None:
    code, output, _ = plan(terraform, example_dir, package, environment_suffix=suffix)
    assert code != 0
    assert "environment_suffix must be 1-16 characters" in " ".join(output.split()), output


def planned_names(plan_json: dict[str, Any]) -> list[tuple[str, str, str, int]]:
    """(address, attribute, value, limit) of every name the plan computes."""
    found = []
    for change in plan_json["resource_changes"]:
        limits = LIMITS.get(change["type"], {})
        after = change["change"]["after"] or {}
        for attribute, limit in limits.items():
            value = after.get(attribute)
            if isinstance(value, str):
                found.append((change["address"], attribute, value, limit))
    return found


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"api_type": "http", "deployment_strategy": "weighted"},
    ],
    ids=["rest-codedeploy", "http-weighted"],
)
def test_every_name_fits_at_the_longest_suffix_and_config_names(
    terraform: tfkit.Terraform, example_dir: Path, package: Path, overrides: dict[str, str]
) -> None:
    code, output, plan_json = plan(terraform, example_dir, package, **overrides)
    assert code == 0, output
    assert plan_json is not None
    names = planned_names(plan_json)
    too_long = [(a, attr, v, len(v), lim) for a, attr, v, lim in names if len(v) > lim]
    assert too_long == []
    planned_types = {c["type"] for c in plan_json["resource_changes"] if c["mode"] == "managed"}
    assert planned_types - set(LIMITS) - UNNAMED == set(), "a named resource type has no limit"
    # The config's 64-character names were fitted by docs/aws.md's rule (written in Python from
    # the page: Terraform's fit and the rule agree), and the prefix is in every name.
    values = {v for _, _, v, _ in names}
    prefix = f"wh-{LONGEST_SUFFIX}"
    assert f"{prefix}-d-{fit(LONG_DEST, 50)}" in values
    assert f"{prefix}-d-{fit(LONG_DEST, 50)}-dlq" in values
    assert f"{prefix}-r-{fit(LONG_ROUTE, 40)}" in values
    assert f"{prefix}-d-orders" in values
    assert f"{prefix}-r-stripe-payments" in values
    assert all(LONGEST_SUFFIX in v for _, attr, v, _ in names if attr != "statement_id")


# Resource types that carry no name of their own (or only one scoped inside a named parent).
UNNAMED = {
    "terraform_data", "aws_kms_key", "aws_iam_role_policy_attachment", "aws_lambda_alias",
    "aws_lambda_event_source_mapping", "aws_sqs_queue_policy", "aws_cloudwatch_event_target",
    "aws_secretsmanager_secret_rotation", "aws_s3_bucket_public_access_block",
    "aws_s3_bucket_ownership_controls", "aws_s3_bucket_server_side_encryption_configuration",
    "aws_s3_bucket_versioning", "aws_s3_bucket_lifecycle_configuration", "aws_s3_bucket_policy",
    "aws_api_gateway_resource", "aws_api_gateway_method", "aws_api_gateway_integration",
    "aws_api_gateway_deployment", "aws_api_gateway_stage", "aws_api_gateway_method_settings",
    "aws_api_gateway_request_validator", "aws_apigatewayv2_integration", "aws_apigatewayv2_route",
    "aws_apigatewayv2_stage", "aws_sns_topic_subscription",
}  # fmt: skip


def test_terraform_computes_the_names_the_runtime_derives(
    terraform: tfkit.Terraform, example_dir: Path, package: Path
) -> None:
    """The handlers derive per-destination names from WHP_PREFIX (docs/aws.md): Terraform's
    names, at the longest suffix and config names, are webhook_processor.adapters.aws.names'."""
    names = pytest.importorskip("webhook_processor.adapters.aws.names")
    code, output, plan_json = plan(terraform, example_dir, package)
    assert code == 0, output
    assert plan_json is not None
    planned = {v for _, _, v, _ in planned_names(plan_json)}
    p = names.prefix(LONGEST_SUFFIX)
    expected = {names.table(p), names.bus(p), names.archive(p), names.ingest_queue(p)}
    expected |= {names.ingest_dlq(p), names.kms_alias(p), names.alarm_topic(p), names.dashboard(p)}
    expected.add(names.bucket(p, "123456789012"))  # moto's account
    for which in names.FUNCTIONS:
        expected |= {names.function(p, which), names.role(p, which), names.log_group(p, which)}
    for dest in ("orders", LONG_DEST):
        expected |= {names.destination_queue(p, dest), names.destination_dlq(p, dest)}
    for route in ("stripe-payments", "github-pushes", LONG_ROUTE):
        expected.add(names.rule(p, route))
    for secret in ("admin-token", "github-webhook", "orders-signing", "stripe-current"):
        expected.add(names.secret_id(p, secret))
    assert expected - planned == set()
