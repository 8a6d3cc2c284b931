"""What the issue asks of the module beyond its known failures, read from the HCL: every input
typed, described and validated; docs/aws.md's inputs and outputs on the module and the example;
least-privilege roles; the timeouts the queues derive from."""

from __future__ import annotations

import ast
import re

import pytest

from tests.infra import hclkit, tfkit

DESIGN_INPUTS = [
    "environment_suffix", "config_file", "lambda_package", "lambda_architecture",
    "processing_enabled", "deployment_strategy",
]  # fmt: skip
DESIGN_OUTPUTS = [
    "api_url", "function_names", "table_name", "event_bus_name", "ingest_queue_url",
    "destination_queue_urls", "destination_dlq_urls", "secret_ids", "alarm_topic_arn",
    "dashboard_name",
]  # fmt: skip


@pytest.mark.parametrize("root", ["module", "example"])
def test_every_variable_is_typed_described_and_validated(
    root: str, request: pytest.FixtureRequest
) -> None:
    mod: hclkit.Module = request.getfixturevalue(root)
    for name, variable in mod.variables().items():
        assert variable.get("type"), f"{name} has no type"
        assert len(variable.get("description", "")) > 20, f"{name} has no description"
        validation = hclkit.first(variable.get("validation", []))
        assert validation["condition"], name
        assert len(validation["error_message"]) > 20, name


def test_design_inputs_and_outputs_on_the_module_and_the_example(
    module: hclkit.Module, example: hclkit.Module
) -> None:
    for mod in (module, example):
        assert set(DESIGN_INPUTS) <= set(mod.variables())
        assert set(DESIGN_OUTPUTS) <= set(mod.outputs())
    (block,) = [b["whp"] for _, b in example.blocks("module")]
    assert block["source"] == "../.."
    for name in example.variables():
        if name != "region":  # the provider's
            assert block[name] == f"${{var.{name}}}", f"the example does not pass {name} on"
    assert example.variables()["processing_enabled"]["default"] is True


def test_defaults_the_issue_names(module: hclkit.Module) -> None:
    variables = module.variables()
    assert variables["processing_enabled"]["default"] is True
    assert variables["lambda_architecture"]["default"] == "arm64"
    assert variables["python_version"]["default"] == "3.13"
    assert variables["snapstart"]["default"] is False
    assert variables["log_retention_days"]["default"] == 7
    assert variables["reserved_concurrency"]["default"] == {}
    assert variables["powertools_layer_arn"]["default"] is None
    assert variables["backup_plan"]["default"] is None


def policy_statements(module: hclkit.Module, document: str) -> list[dict[str, object]]:
    body = module.resources("data")[f"aws_iam_policy_document.{document}"]
    statements = list(body.get("statement", []))
    for dynamic in body.get("dynamic", []):
        statements += [{"dynamic": dynamic["statement"]}]
    return statements


@pytest.mark.parametrize("document", ["function", "codedeploy"])
def test_roles_have_no_wildcard_actions(module: hclkit.Module, document: str) -> None:
    text = str(policy_statements(module, document))
    actions = re.findall(r"'[a-z0-9-]+:[A-Za-z*]+'", text)
    assert actions
    assert [a for a in actions if "*" in a] == []
    assert "function_statements" in module.text()
    for statements in module.locals()["function_statements"].values():
        for statement in statements:
            assert all("*" not in action for action in statement["actions"]), statement


def _calls(client: str) -> set[str]:
    """The API operations the AWS adapters call on a client attribute (`.dynamodb.put_item(`
    -> PutItem), read from their source."""
    found: set[str] = set()
    for path in (tfkit.REPO / "src/webhook_processor/adapters/aws").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Attribute)
                and node.func.value.attr == client
            ):
                found.add("".join(part.title() for part in node.func.attr.split("_")))
    return found


def test_the_functions_may_make_exactly_the_table_calls_the_adapters_make(
    module: hclkit.Module,
) -> None:
    """A call the role does not grant fails only on AWS (moto does not enforce IAM): the
    leases' and an unacknowledged event's DeleteItem once did."""
    granted = set(module.locals()["table_rw"])
    assert granted == {f"dynamodb:{op}" for op in _calls("dynamodb")}
    s3 = {a for s in module.locals()["function_statements"]["ingest"] for a in s["actions"]}
    assert {"s3:PutObject", "s3:DeleteObject"} <= s3  # a large body, and its undoing


def test_only_xray_takes_every_resource(module: hclkit.Module) -> None:
    wildcard = [
        s["sid"]
        for s in policy_statements(module, "function")
        if "resources" in s and s["resources"] == ["*"]
    ]
    assert wildcard == ["Tracing"]


def test_visibility_timeouts_derive_from_the_function_timeouts(module: hclkit.Module) -> None:
    locals_ = module.locals()
    assert locals_["timeouts"] == "${var.timeouts}"
    assert locals_["ingest_visibility"] == "${6 * local.timeouts.router}"
    assert locals_["destination_visibility"] == "${6 * local.timeouts.delivery}"
    resources = module.resources()
    ingest = resources["aws_sqs_queue.ingest"]
    assert ingest["visibility_timeout_seconds"] == "${local.ingest_visibility}"
    destination = resources["aws_sqs_queue.destination"]
    assert destination["visibility_timeout_seconds"] == "${local.destination_visibility}"
    assert resources["aws_lambda_function.this"]["timeout"] == "${local.timeouts[each.key]}"


def test_mappings_invoke_the_live_alias_and_pause_together(module: hclkit.Module) -> None:
    resources = module.resources()
    for name in ("router", "delivery"):
        mapping = resources[f"aws_lambda_event_source_mapping.{name}"]
        assert mapping["function_name"] == f'${{local.live["{name}"].arn}}'
        assert "var.processing_enabled" in mapping["enabled"]
        assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
        assert "maximum_batching_window_in_seconds" in mapping
        assert hclkit.first(mapping["scaling_config"])["maximum_concurrency"]


def test_one_rule_per_route_with_the_routes_pattern(module: hclkit.Module) -> None:
    locals_ = module.locals()
    assert "jsonencode(r.pattern)" in locals_["route_pattern"]
    rule = module.resources()["aws_cloudwatch_event_rule.route"]
    assert rule["for_each"] == "${local.route_pattern}"
    assert rule["event_pattern"] == "${each.value}"


def test_no_secret_value_reaches_the_state(module: hclkit.Module) -> None:
    """Secrets are created empty: the operator (or the rotation function) puts the values."""
    assert not [a for a in module.resources() if a.startswith("aws_secretsmanager_secret_version")]
    secret = module.resources()["aws_secretsmanager_secret.this"]
    assert secret["for_each"] == "${local.created_secrets}"
    assert secret["kms_key_id"] == "${aws_kms_key.this.arn}"
    assert "secret_string" not in module.text()


def test_rule_targets_send_the_route_and_the_event_without_its_detail(
    module: hclkit.Module,
) -> None:
    """docs/aws.md, "Queues": {"route", "event"}, the event by <aws.events.event> (no `detail`:
    a 1 MB payload never makes a message over SQS's 1 MB)."""
    target = module.resources()["aws_cloudwatch_event_target.route"]
    template = hclkit.first(target["input_transformer"])["input_template"]
    assert template == '{"route": ${jsonencode(each.key)}, "event": <aws.events.event>}'
    assert hclkit.first(target["dead_letter_config"])["arn"] == "${aws_sqs_queue.events_dlq.arn}"
    assert hclkit.first(target["retry_policy"])["maximum_retry_attempts"] > 0
