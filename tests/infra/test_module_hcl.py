"""The module read as data: one test per row of issue 17's table of known failures (earlier
attempts at this module failed in these ways), plus the provider constraint.

| known failure                                  | test                                     |
|------------------------------------------------|------------------------------------------|
| names over AWS limits                          | test_names.py                            |
| no environment_suffix, deployments collide     | test_suffix_*                            |
| provider configured twice                      | test_no_provider_block_in_module, ...    |
| archive provider used but not declared         | test_every_provider_used_is_declared     |
| Lambda creation hung 5+ minutes                | test_functions_wait_for_their_policies   |
| stage_name on aws_api_gateway_deployment       | test_api_deployment_*                    |
| deprecated data.aws_region.current.name        | test_nothing_deprecated_*                |
| a backend block made init prompt               | test_no_backend_block, ...               |
"""

from __future__ import annotations

import re

import pytest

from tests.infra import hclkit, tfkit

NAME_ATTRIBUTES = (
    "name", "function_name", "bucket", "alarm_name", "dashboard_name", "rule_name",
    "deployment_group_name", "deployment_config_name",
)  # fmt: skip
# Where a resource's name may come from: the one prefix, the name maps derived from it, or the
# name of another resource of the module (a permission names its function).
PREFIXED = re.compile(
    r"local\.(prefix|names\.|function_names|dest_queue_names|rule_names|live\[)|each\.value"
    r"|^\$\{aws_[a-z0-9_]+\.[a-z0-9_]+(\[[^]]+\])?\.(name|function_name|id|arn)\}$"
)
# Resources whose `name` is not a deployment-wide name (scoped inside a prefixed parent).
SCOPED_NAMES = {
    "aws_lambda_alias.weighted", "aws_lambda_alias.codedeploy",
    "aws_api_gateway_request_validator.this", "aws_apigatewayv2_stage.this",
}  # fmt: skip


def suffix_regex(module: hclkit.Module) -> re.Pattern[str]:
    validation = hclkit.first(module.variables()["environment_suffix"]["validation"])
    match = re.search(r'regex\("(.+?)", var\.environment_suffix\)', validation["condition"])
    assert match, validation["condition"]
    return re.compile(match.group(1).replace("\\\\", "\\"))


# --- no environment_suffix, so deployments collide ---------------------------------------------
@pytest.mark.parametrize(
    ("suffix", "admitted"),
    [
        ("a", True),
        ("prod", True),
        ("pr-142", True),
        ("a" * 16, True),  # the longest: every name is computed at this length (test_names)
        ("a" * 17, False),
        ("", False),
        ("-prod", False),
        ("prod-", False),
        ("Prod", False),  # upper case cannot go into the bucket's name
        ("pr_1", False),
        ("pr.1", False),
    ],
)
def test_suffix_validation_admits_exactly_the_documented_form(
    module: hclkit.Module, suffix: str, admitted: bool
) -> None:
    assert bool(suffix_regex(module).fullmatch(suffix)) is admitted


def test_suffix_is_required_and_typed(module: hclkit.Module) -> None:
    variable = module.variables()["environment_suffix"]
    assert variable["type"] == "string"
    assert "default" not in variable, "a default suffix would let two deployments collide"
    assert module.locals()["prefix"] == "wh-${var.environment_suffix}"


def test_every_resource_name_starts_with_the_prefix(module: hclkit.Module) -> None:
    unprefixed = []
    for address, body in module.resources().items():
        if address in SCOPED_NAMES:
            continue
        for attribute in NAME_ATTRIBUTES:
            value = body.get(attribute)
            if isinstance(value, str) and not PREFIXED.search(value):
                unprefixed.append(f"{address}.{attribute} = {value}")
    assert unprefixed == []


def test_names_map_entries_all_derive_from_the_prefix(module: hclkit.Module) -> None:
    names = module.locals()["names"]
    assert names, "local.names is empty"
    for key, value in names.items():
        assert "${local.prefix}" in value, f"local.names.{key} = {value}"


# --- provider configured twice -----------------------------------------------------------------
def test_no_provider_block_in_module(module: hclkit.Module) -> None:
    assert module.blocks("provider") == []


def test_exactly_one_provider_block_in_the_example(example: hclkit.Module) -> None:
    providers = [b for _, block in example.blocks("provider") for b in block]
    assert providers == ["aws"]


# --- archive provider used but not declared ------------------------------------------------------
@pytest.mark.parametrize("root", ["module", "example"])
def test_every_provider_used_is_declared(root: str, request: pytest.FixtureRequest) -> None:
    mod: hclkit.Module = request.getfixturevalue(root)
    required = {
        name
        for _, block in mod.blocks("terraform")
        for providers in block.get("required_providers", [])
        for name in providers
    }
    assert required == {"aws"}
    used = {address.split("_")[0] for address in mod.resources()} | {
        address.split("_")[0] for address in mod.resources("data")
    }
    # terraform_data is built into Terraform; everything else is hashicorp/aws.
    assert used <= {"aws", "terraform"}, used
    assert "archive_file" not in mod.text()


def test_provider_constraint_admits_the_offline_mirror_and_6x(module: hclkit.Module) -> None:
    constraints = [
        p["aws"]["version"]
        for _, block in module.blocks("terraform")
        for p in block["required_providers"]
    ]
    assert len(constraints) == 1
    constraint = constraints[0]
    for version in ("5.100.0", "6.0.0", "6.28.1"):
        assert admits(constraint, version), f"{constraint} refuses {version}"
    for version in ("5.99.1", "7.0.0"):
        assert not admits(constraint, version), f"{constraint} admits {version}"


def admits(constraint: str, version: str) -> bool:
    """Terraform's version constraints (the operators this module may use)."""

    def parts(text: str) -> tuple[int, ...]:
        numbers = [int(x) for x in text.strip().split(".")]
        return tuple(numbers + [0] * (3 - len(numbers)))

    have = parts(version)
    for clause in constraint.split(","):
        match = re.fullmatch(r"\s*(>=|<=|>|<|=|!=|~>)?\s*([\d.]+)\s*", clause)
        assert match, f"cannot read constraint {clause!r}"
        op, want = match.group(1) or "=", parts(match.group(2))
        ok = {
            ">=": have >= want,
            "<=": have <= want,
            ">": have > want,
            "<": have < want,
            "=": have == want,
            "!=": have != want,
            "~>": have >= want and have[:1] == want[:1],
        }[op]
        if not ok:
            return False
    return True


# --- Lambda creation hung 5+ minutes -------------------------------------------------------------
def test_functions_wait_for_their_policies(module: hclkit.Module) -> None:
    function = module.resources()["aws_lambda_function.this"]
    assert "${aws_iam_role_policy_attachment.function}" in function["depends_on"]
    assert "${aws_cloudwatch_log_group.function}" in function["depends_on"]
    attachment = module.resources()["aws_iam_role_policy_attachment.function"]
    assert attachment["for_each"] == function["for_each"] == "${local.function_names}"


def test_function_policy_grants_what_creation_needs(module: hclkit.Module) -> None:
    """DLQ send, X-Ray, the key and logs: what Lambda checks while it creates the function."""
    document = module.resources("data")["aws_iam_policy_document.function"]
    actions = {a for s in document["statement"] for a in s["actions"]}
    assert {
        "sqs:SendMessage",
        "xray:PutTraceSegments",
        "kms:Decrypt",
        "logs:PutLogEvents",
    } <= actions


def test_function_create_timeout_is_short(module: hclkit.Module) -> None:
    timeouts = hclkit.first(module.resources()["aws_lambda_function.this"]["timeouts"])
    match = re.fullmatch(r"(\d+)m", timeouts["create"])
    assert match, timeouts
    assert int(match.group(1)) <= 5, timeouts


def test_reserved_concurrency_defaults_to_none(module: hclkit.Module) -> None:
    variable = module.variables()["reserved_concurrency"]
    assert variable["default"] == {}
    # optional(number) without a default: null, the unreserved pool.
    assert re.search(r"ingest\s*=\s*optional\(number\)", variable["type"]), variable["type"]
    function = module.resources()["aws_lambda_function.this"]
    assert function["reserved_concurrent_executions"] == "${var.reserved_concurrency[each.key]}"


# --- stage_name on aws_api_gateway_deployment ----------------------------------------------------
def test_api_deployment_has_no_stage_and_is_replaced_first(module: hclkit.Module) -> None:
    deployment = module.resources()["aws_api_gateway_deployment.this"]
    assert "stage_name" not in deployment
    assert "stage_description" not in deployment
    assert "canary_settings" not in deployment
    assert "redeployment" in hclkit.first([deployment["triggers"]])
    assert hclkit.first(deployment["lifecycle"])["create_before_destroy"] is True
    stage = module.resources()["aws_api_gateway_stage.this"]
    assert stage["deployment_id"] == "${aws_api_gateway_deployment.this[0].id}"
    assert stage["stage_name"] == "${var.stage_name}"


# --- deprecated data.aws_region.current.name (and the rest of what 6.0 removed) -----------------
def test_nothing_deprecated_region_name(module: hclkit.Module) -> None:
    text = module.text()
    assert not re.search(r"data\.aws_region\.\w+\.name\b", text)
    assert "data.aws_region.current.id" in text


def test_nothing_deprecated_rules_use_state(module: hclkit.Module) -> None:
    rule = module.resources()["aws_cloudwatch_event_rule.route"]
    assert "is_enabled" not in rule
    assert rule["state"] == "ENABLED"


def test_nothing_deprecated_no_inline_role_policies(module: hclkit.Module) -> None:
    for address, body in module.resources().items():
        assert not address.startswith("aws_iam_role_policy."), address
        if address.startswith("aws_iam_role."):
            assert "inline_policy" not in body, address
            assert "managed_policy_arns" not in body, address


# --- a backend block made init prompt ------------------------------------------------------------
@pytest.mark.parametrize("root", ["module", "example"])
def test_no_backend_block(root: str, request: pytest.FixtureRequest) -> None:
    mod: hclkit.Module = request.getfixturevalue(root)
    for _, block in mod.blocks("terraform"):
        assert "backend" not in block
        assert "cloud" not in block


def test_partial_backend_config_is_documented() -> None:
    example = tfkit.MODULE / "backend.hcl.example"
    text = example.read_text(encoding="utf-8")
    assert re.search(r"^bucket\s*=", text, flags=re.M)
    assert re.search(r"^key\s*=", text, flags=re.M)
    assert "backend.hcl.example" in (tfkit.MODULE / "README.md").read_text(encoding="utf-8")
