"""`terraform apply` of examples/complete against moto in server mode, what it created read back
from the emulator, then `terraform destroy`, all clean.

The deployment follows the README's walkthrough: the secrets first, their values put (by the
operator, here the test), then everything. It uses deployment_strategy = "weighted" (moto cannot
update or delete CodeDeploy deployment groups) and processing_enabled = false (the mappings stay
disabled: moto cannot run Lambda code without Docker, so a test acts as the mappings itself).

Routing is checked on what Terraform created: events put on the deployed bus reach the deployed
destination queues through the deployed rules, wrapped by the input transformer.

The data path, on what Terraform created (datapath.py): each handler runs in-process
under the handler name and environment variables read back from the emulator, from the unpacked
package (its whp.yaml and whp-config.json); the test is API Gateway (moto does not invoke
integrations) and the disabled mappings: a signed webhook -> ingest -> ingest queue -> router ->
bus -> rule -> destination queue -> delivery -> a receiver on 127.0.0.1. The deployed config is
tests/infra/whp.yaml with its destinations' URLs pointed at the receivers, and its package built
from it, so the module's digest precondition holds.

Emulator notes (moto 5.2.x, hashicorp/aws 5.100.0), none of them worked around in the module:
- RotateSecret on a secret with no version crashes moto (an unbound `new_version_id`): the
  walkthrough puts the values before rotation is configured, which avoids it.
- X-Ray sampling rules are not implemented (404): tracing_sample_rate stays null (no rule).
- The input transformer's `<aws.events.event>` is unknown to moto (it knows
  `<aws.events.event.json>`): an override in the test's copy of the module swaps it
  (MOTO_TRANSFORMER).
- UpdateRestApi's `add /binaryMediaTypes/*~1*` keeps no media type in moto (it reads the
  operation's value, AWS the path): the REST API's binary_media_types is pinned by the HCL tests.
- SetQueueAttributes without `Policy` erases a queue policy: a second apply that changes a queue
  would drop its EventBridge policy in moto (AWS keeps it); moto does not enforce the policy.
- A mapping on the `live` alias is found by list_event_source_mappings only by that alias ARN,
  so the test lists every mapping and filters on FunctionArn, which moto reports as the version
  the alias pointed to when the mapping was made (AWS reports the alias ARN).
- The config's `aws-sm:arn:...` secret (the operator's own, not the module's) must exist for a
  cold start, which reads every secret: moto finds a full ARN by its last segment taken as a
  name, so the data path creates a secret of that name and deletes it after.
- CreateFunction and UpdateFunctionConfiguration accept a LoggingConfig and moto keeps none of
  it (GetFunction returns no LoggingConfig): the functions' logging_config (JSON, the system
  and application levels, the log group) is pinned by tests/infra/test_logging_config.py.
- A plan right after the apply shows drift that is moto's (MOTO_DRIFT: the redrive policy's
  whitespace, Lambda's dead_letter_config and logging_config, the mapping's alias ARN, the REST
  API's binary media types, and what follows from them); the module ignores none of it, and the
  test fails on any other change a second plan would make.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e import receiver as receivers
from tests.infra import datapath, tfkit

boto3 = pytest.importorskip("boto3", reason="boto3 is not installed (moto[server] brings it)")

pytestmark = [pytest.mark.aws_deploy, pytest.mark.timeout(1500)]

REGION = "us-east-1"
FUNCTIONS = ("ingest", "router", "delivery", "rotation")
CONFIG: dict[str, Any] = yaml.safe_load(tfkit.CONFIG.read_text(encoding="utf-8"))
LONG_DEST = next(d for d in CONFIG["destinations"] if len(d) == 64)
LONG_ROUTE = next(r["name"] for r in CONFIG["routes"] if len(r["name"]) == 64)


def fit(name: str, n: int) -> str:
    """docs/aws.md, "Names"."""
    if len(name) <= n:
        return name
    return name[: n - 9] + "-" + hashlib.sha256(name.encode()).hexdigest()[:8]


# moto's input transformer knows only <aws.events.event.json> (the whole event); the module sends
# <aws.events.event> (the event without `detail`, docs/aws.md), which moto leaves in the template
# and then fails to parse. This override, in the test's copy of the module only, swaps the one.
MOTO_TRANSFORMER = """\
resource "aws_cloudwatch_event_target" "route" {
  input_transformer {
    input_template = "{\\"route\\": ${jsonencode(each.key)}, \\"event\\": <aws.events.event.json>}"
  }
}
"""


class Aws:
    """boto3 clients on moto, and the deployment under test."""

    def __init__(self, endpoint: str, prefix: str, api_type: str) -> None:
        self.endpoint = endpoint
        self.prefix = prefix
        self.api_type = api_type

    def __call__(self, service: str) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@pytest.fixture(scope="module")
def receiver() -> Iterator[receivers.Receiver]:
    """Where the deployed destinations deliver: a loopback receiver (tests/e2e/receiver.py)."""
    with receivers.Receiver(SECRET_VALUE) as r:
        yield r


@pytest.fixture(scope="module")
def plain() -> Iterator[datapath.Plain]:
    """Where the destination that does not sign delivers."""
    with datapath.Plain() as p:
        yield p


@pytest.fixture(scope="module")
def deployed_config(
    receiver: receivers.Receiver, plain: datapath.Plain, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """tests/infra/whp.yaml with the destinations at the receivers (names and patterns as they
    are, so CONFIG still describes the deployment)."""
    text = tfkit.CONFIG.read_text(encoding="utf-8")
    urls = {9000: receiver.url("/orders"), 9001: plain.url("/long")}  # the config's ports
    for port, url in urls.items():
        text = text.replace(f"http://127.0.0.1:{port}/hooks", url)
    assert all(url in text for url in urls.values())
    file = tmp_path_factory.mktemp("config") / "whp.yaml"
    file.write_text(text, encoding="utf-8")
    return file


@pytest.fixture(scope="module")
def deployed_package(deployed_config: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tfkit.whp_build(deployed_config, tmp_path_factory.mktemp("dist") / "whp.zip")


@pytest.fixture(params=["rest", "http"])
def deployed(
    terraform: tfkit.Terraform,
    moto_endpoint: str,
    deployed_config: Path,
    deployed_package: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Any:
    """Both front doors pass the same test, each its own deployment (wh-it-rest, wh-it-http)."""
    api_type: str = request.param
    prefix = f"wh-it-{api_type}"
    example = tfkit.prepare_example(terraform, tmp_path, moto_endpoint, REGION)
    (example.parents[1] / "moto_events_override.tf").write_text(MOTO_TRANSFORMER, encoding="utf-8")
    args = tfkit.var_args(
        {
            "region": REGION,
            "environment_suffix": prefix.removeprefix("wh-"),
            "api_type": api_type,
            "config_file": str(deployed_config),
            "lambda_package": str(deployed_package),
            "deployment_strategy": "weighted",
            "processing_enabled": "false",
            "deletion_protection": "false",
        }
    )
    aws = Aws(moto_endpoint, prefix, api_type)
    # Four requests at a time, not ten: moto's backends are not thread-safe, and under load a
    # CreateFunction that failed half-way came back as "already exists" on the retry.
    apply = ("apply", "-auto-approve", "-input=false", "-parallelism=4", *args)
    try:
        # The walkthrough: the secrets, their values, then everything.
        terraform.run(*apply, "-target=module.whp.aws_secretsmanager_secret.this", cwd=example)
        put_secret_values(aws)
        started = time.monotonic()
        terraform.run(*apply, cwd=example, timeout=1200)
        seconds = time.monotonic() - started
        outputs = {
            k: v["value"]
            for k, v in json.loads(terraform.run("output", "-json", cwd=example).stdout).items()
        }
        yield aws, outputs, seconds, planned_changes(terraform, example, args), deployed_package
    finally:
        destroyed = terraform.run(
            "destroy", "-auto-approve", "-input=false", *args, cwd=example, check=False
        )
    assert destroyed.returncode == 0, destroyed.stderr[-6000:]
    assert_nothing_left(aws)


def planned_changes(tf: tfkit.Terraform, example: Path, args: list[str]) -> dict[str, list[str]]:
    """What a second plan would change right after the apply: address -> attributes."""
    tf.run("plan", "-input=false", "-out=again.tfplan", *args, cwd=example)
    shown = json.loads(tf.run("show", "-json", "again.tfplan", cwd=example).stdout)
    changes = {}
    for change in shown.get("resource_changes", []):
        if change["change"]["actions"] in (["no-op"], ["read"]):
            continue
        before, after = change["change"]["before"] or {}, change["change"]["after"] or {}
        unknown = change["change"].get("after_unknown") or {}
        changes[change["address"]] = sorted(
            k
            for k in set(before) | set(after)
            if before.get(k) != after.get(k) or unknown.get(k) is True
        )
    return changes


def put_secret_values(aws: Aws) -> None:
    sm = aws("secretsmanager")
    names = [s["Name"] for s in sm.list_secrets()["SecretList"] if s["Name"].startswith(aws.prefix)]
    assert sorted(names) == sorted(f"{aws.prefix}/{n}" for n in CREATED_SECRETS)
    for name in names:
        sm.put_secret_value(SecretId=name, SecretString=SECRET_VALUE)


SECRET_VALUE = "whsec_dGVzdC1zZWNyZXQtdmFsdWU="  # a Standard Webhooks secret: "test-secret-value"
CREATED_SECRETS = {"admin-token", "github-webhook", "orders-signing", "stripe-current"}


def test_apply_creates_what_the_config_describes_and_destroy_removes_it(
    deployed: Any,
    receiver: receivers.Receiver,
    plain: datapath.Plain,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    aws, outputs, seconds, drift, package = deployed
    assert seconds < 600, f"apply took {seconds:.0f} s"
    # A plan right after the apply changes nothing but what moto reports differently.
    unexplained = {a: attrs for a, attrs in drift.items() if not moto_drift(a, attrs)}
    assert unexplained == {}, f"a second plan would change: {unexplained}"
    check_outputs(aws, outputs)
    check_functions(aws, outputs)
    check_table(aws, outputs)
    check_queues(aws, outputs)
    check_mappings(aws, outputs)
    check_rules(aws, outputs)
    check_routing(aws, outputs)
    check_secrets(aws, outputs)
    check_api(aws, outputs)
    check_monitoring(aws, outputs)
    # Last: the routing check above drained the destination queues it filled.
    datapath.check_data_path(aws, outputs, package, receiver, plain, monkeypatch, tmp_path)


# What a second plan changes in moto, by resource type: attributes moto reports differently from
# what it was given (AWS reports them as given), then what follows from them. Anything else in
# a second plan is the module's own drift, and fails the test.
MOTO_DRIFT: dict[str, set[str]] = {
    # moto keeps no binary media type (see check_api) ...
    "aws_api_gateway_rest_api": {"binary_media_types"},
    # ... so the deployment's triggers change, a new deployment replaces it, the stage moves.
    "aws_api_gateway_deployment": {
        "id", "invoke_url", "created_date", "execution_arn", "triggers", "canary_settings",
    },
    "aws_api_gateway_stage": {"deployment_id", "access_log_settings", "canary_settings"},
    # moto returns no DeadLetterConfig and no LoggingConfig: an update, so a new version, so
    # the aliases follow.
    "aws_lambda_function": {
        "dead_letter_config", "logging_config", "version", "qualified_arn",
        "qualified_invoke_arn",
    },
    "aws_lambda_alias": {"function_version", "routing_config"},
    # moto reports the version the alias pointed to instead of the alias.
    "aws_lambda_event_source_mapping": {"function_name"},
    # moto returns the redrive policy re-serialised (", " and ": "), and the queue policies
    # that depend on the queues are recomputed.
    "aws_sqs_queue": {"redrive_policy"},
    "aws_sqs_queue_policy": {"policy"},
}  # fmt: skip


def moto_drift(address: str, attributes: list[str]) -> bool:
    kind = address.split(".")[-2].split("[", maxsplit=1)[0]
    return bool(attributes) and set(attributes) <= MOTO_DRIFT.get(kind, set())


def check_outputs(aws: Aws, outputs: dict[str, Any]) -> None:
    design = {
        "api_url", "function_names", "table_name", "event_bus_name", "ingest_queue_url",
        "destination_queue_urls", "destination_dlq_urls", "secret_ids", "alarm_topic_arn",
        "dashboard_name",
    }  # fmt: skip
    assert design <= set(outputs)
    assert outputs["function_names"] == {f: f"{aws.prefix}-{f}" for f in FUNCTIONS}
    assert outputs["table_name"] == f"{aws.prefix}-events"
    assert outputs["event_bus_name"] == f"{aws.prefix}-bus"
    assert outputs["dashboard_name"] == aws.prefix
    assert set(outputs["destination_queue_urls"]) == set(CONFIG["destinations"])
    assert set(outputs["destination_dlq_urls"]) == set(CONFIG["destinations"])
    assert set(outputs["secret_ids"]) == CREATED_SECRETS
    if aws.api_type == "rest":
        assert outputs["api_url"].endswith("/v1")


def check_functions(aws: Aws, outputs: dict[str, Any]) -> None:
    lam = aws("lambda")
    for role, name in outputs["function_names"].items():
        conf = lam.get_function_configuration(FunctionName=name)
        assert conf["Handler"] == f"webhook_processor.entrypoints.lambdas.{role}.handler"
        assert conf["Runtime"] == "python3.13"
        assert conf["Architectures"] == ["arm64"]
        assert conf["TracingConfig"]["Mode"] == "Active"
        assert conf["KMSKeyArn"] == outputs["kms_key_arn"]
        assert conf["Role"].endswith(f":role/{name}")
        # moto keeps no LoggingConfig (see the module docstring); what it may keep is the module's.
        assert conf.get("LoggingConfig") in (None, {
            "LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "INFO",
            "LogGroup": f"/aws/lambda/{name}",
        }), conf["LoggingConfig"]  # fmt: skip
        # docs/aws.md, "Environment of the functions": exactly these.
        assert conf["Environment"]["Variables"] == {
            "WHP_PREFIX": aws.prefix,
            "WHP_TABLE": outputs["table_name"],
            "WHP_BUS": outputs["event_bus_name"],
            "WHP_INGEST_QUEUE_URL": outputs["ingest_queue_url"],
            "WHP_BODIES_BUCKET": outputs["bodies_bucket_name"],
            "POWERTOOLS_SERVICE_NAME": "whp",
            "POWERTOOLS_METRICS_NAMESPACE": "whp",
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
        versions = [
            v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]
        ]
        newest = max(int(v) for v in versions if v != "$LATEST")
        alias = lam.get_alias(FunctionName=name, Name="live")
        assert alias["FunctionVersion"] == str(newest)
    assert outputs["bodies_bucket_name"] == f"{aws.prefix}-bodies-123456789012"


def check_table(aws: Aws, outputs: dict[str, Any]) -> None:
    ddb = aws("dynamodb")
    table = ddb.describe_table(TableName=outputs["table_name"])["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {
        "pk": "HASH",
        "sk": "RANGE",
    }
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table.get("GlobalSecondaryIndexes", []) == []  # no index: docs/aws.md, "The table"
    assert table["SSEDescription"]["SSEType"] == "KMS"
    ttl = ddb.describe_time_to_live(TableName=outputs["table_name"])["TimeToLiveDescription"]
    assert ttl == {"AttributeName": "expires_at", "TimeToLiveStatus": "ENABLED"}
    backups = ddb.describe_continuous_backups(TableName=outputs["table_name"])
    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"


def queue_attributes(aws: Aws, url: str) -> dict[str, str]:
    attrs: dict[str, str] = aws("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
        "Attributes"
    ]
    return attrs


def check_queues(aws: Aws, outputs: dict[str, Any]) -> None:
    fourteen_days = str(14 * 24 * 3600)
    ingest = queue_attributes(aws, outputs["ingest_queue_url"])
    assert ingest["VisibilityTimeout"] == str(6 * 30)  # 6 x the router's timeout
    assert ingest["MessageRetentionPeriod"] == fourteen_days
    assert ingest["KmsMasterKeyId"] == outputs["kms_key_arn"]
    redrive = json.loads(ingest["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == 5
    assert redrive["deadLetterTargetArn"].endswith(f":{aws.prefix}-ingest-dlq")
    dlq = queue_attributes(aws, outputs["ingest_dlq_url"])
    assert dlq["MessageRetentionPeriod"] == fourteen_days
    for dest, spec in CONFIG["destinations"].items():
        url = outputs["destination_queue_urls"][dest]
        name = f"{aws.prefix}-d-{fit(dest, 50)}"
        assert url.endswith(f"/{name}")
        assert len(name) + len("-dlq") <= 80
        attrs = queue_attributes(aws, url)
        assert attrs["VisibilityTimeout"] == str(6 * 60)  # 6 x the delivery function's timeout
        assert attrs["MessageRetentionPeriod"] == fourteen_days
        redrive = json.loads(attrs["RedrivePolicy"])
        assert int(redrive["maxReceiveCount"]) == spec.get("retry", {}).get("max_attempts", 8)
        dlq_attrs = queue_attributes(aws, outputs["destination_dlq_urls"][dest])
        assert redrive["deadLetterTargetArn"] == dlq_attrs["QueueArn"]
        assert outputs["destination_dlq_urls"][dest].endswith(f"/{name}-dlq")
        assert dlq_attrs["MessageRetentionPeriod"] == fourteen_days


def check_mappings(aws: Aws, outputs: dict[str, Any]) -> None:
    lam = aws("lambda")
    names = outputs["function_names"]
    # Listed whole: moto finds a mapping on an alias only by the alias's ARN.
    mappings = lam.list_event_source_mappings()["EventSourceMappings"]
    by_function: dict[str, list[dict[str, Any]]] = {}
    for mapping in mappings:
        name = mapping["FunctionArn"].split(":function:")[1].split(":")[0]
        by_function.setdefault(name, []).append(mapping)
    sqs_arn = {
        url: queue_attributes(aws, url)["QueueArn"]
        for url in [outputs["ingest_queue_url"], *outputs["destination_queue_urls"].values()]
    }
    router = by_function[names["router"]]
    assert [m["EventSourceArn"] for m in router] == [sqs_arn[outputs["ingest_queue_url"]]]
    delivery = by_function[names["delivery"]]
    assert {m["EventSourceArn"] for m in delivery} == {
        sqs_arn[u] for u in outputs["destination_queue_urls"].values()
    }
    for role, found in (("router", router), ("delivery", delivery)):
        alias = lam.get_alias(FunctionName=names[role], Name="live")
        # The mapping invokes the alias; moto reports the version the alias resolved to.
        live = {
            alias["AliasArn"],
            alias["AliasArn"].replace(":live", f":{alias['FunctionVersion']}"),
        }
        assert all(m["FunctionArn"] in live for m in found), found
    for mapping in router + delivery:
        assert mapping["State"] in ("Disabled", "Disabling"), mapping  # processing_enabled=false
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def check_rules(aws: Aws, outputs: dict[str, Any]) -> None:
    events = aws("events")
    bus = outputs["event_bus_name"]
    # The archive adds a managed rule of its own (Events-Archive-...), on AWS as in moto.
    listed = events.list_rules(EventBusName=bus)["Rules"]
    rules = {r["Name"]: r for r in listed if r["Name"].startswith(aws.prefix)}
    assert {r["Name"] for r in listed} - set(rules) == {f"Events-Archive-{aws.prefix}-archive"}
    expected = {f"{aws.prefix}-r-{fit(r['name'], 40)}": r for r in CONFIG["routes"]}
    assert set(rules) == set(expected)
    assert all(len(name) <= 64 for name in rules)
    for name, route in expected.items():
        assert json.loads(rules[name]["EventPattern"]) == route["pattern"]
        assert rules[name]["State"] == "ENABLED"
        (target,) = events.list_targets_by_rule(Rule=name, EventBusName=bus)["Targets"]
        queue_url = outputs["destination_queue_urls"][route["destination"]]
        assert target["Arn"] == queue_attributes(aws, queue_url)["QueueArn"]
        template = target["InputTransformer"]["InputTemplate"]
        assert json.dumps(route["name"]) in template
        assert "<aws.events.event.json>" in template
        assert target["DeadLetterConfig"]["Arn"].endswith(f":{aws.prefix}-events-dlq")
        assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0


def check_routing(aws: Aws, outputs: dict[str, Any]) -> None:
    """What the router puts on the bus reaches each matching route's queue, as docs/aws.md's
    {"route", "event"}: two routes to one destination stay two messages."""
    events = aws("events")
    sent = {
        "stripe": ("payment_intent.succeeded", {"id": "evt_1", "amount": 42}),
        "github": ("push", {"ref": "refs/heads/main"}),
        "public": ("anything", {"n": 1}),
        "nobody": ("unrouted", {"n": 2}),
    }
    entries = [
        {
            "EventBusName": outputs["event_bus_name"],
            "Source": source,
            "DetailType": detail_type,
            "Detail": json.dumps(detail),
            "Resources": [f"whp:event:evt_{source}"],
        }
        for source, (detail_type, detail) in sent.items()
    ]
    assert events.put_events(Entries=entries)["FailedEntryCount"] == 0
    got = {dest: drain(aws, url) for dest, url in outputs["destination_queue_urls"].items()}
    orders = sorted(got["orders"], key=lambda m: str(m["route"]))
    assert [m["route"] for m in orders] == ["github-pushes", "stripe-payments"]
    assert orders[1]["event"]["source"] == "stripe"
    assert orders[1]["event"]["detail"] == {"id": "evt_1", "amount": 42}
    assert orders[1]["event"]["resources"] == ["whp:event:evt_stripe"]
    assert [(m["route"], m["event"]["source"]) for m in got[LONG_DEST]] == [(LONG_ROUTE, "public")]


def drain(aws: Aws, url: str, want_quiet: float = 2.0) -> list[dict[str, Any]]:
    sqs = aws("sqs")
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    quiet_since = time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - quiet_since < want_quiet:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if messages:
            quiet_since = time.monotonic()
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def check_secrets(aws: Aws, outputs: dict[str, Any]) -> None:
    sm = aws("secretsmanager")
    rotation_alias = aws("lambda").get_alias(
        FunctionName=outputs["function_names"]["rotation"], Name="live"
    )["AliasArn"]
    for name, arn in outputs["secret_ids"].items():
        secret = sm.describe_secret(SecretId=arn)
        assert secret["Name"] == f"{aws.prefix}/{name}"
        assert secret["KmsKeyId"] == outputs["kms_key_arn"]
        # Only the destination's generated signing secret is rotated, by the rotation alias.
        assert secret.get("RotationEnabled", False) is (name == "orders-signing"), secret
        if name == "orders-signing":
            assert secret["RotationLambdaARN"] == rotation_alias
    # aws-sm:arn:... is used as it is: nothing was created for it.
    created = [
        s["Name"] for s in sm.list_secrets()["SecretList"] if s["Name"].startswith(aws.prefix)
    ]
    assert len(created) == len(CREATED_SECRETS)


def check_api(aws: Aws, outputs: dict[str, Any]) -> None:
    ingest_live = f":function:{aws.prefix}-ingest:live"
    if aws.api_type == "http":
        v2 = aws("apigatewayv2")
        (api,) = [a for a in v2.get_apis()["Items"] if a["Name"] == f"{aws.prefix}-api"]
        assert api["ProtocolType"] == "HTTP"
        assert outputs["api_url"].startswith(f"https://{api['ApiId']}.execute-api.")
        (route,) = v2.get_routes(ApiId=api["ApiId"])["Items"]
        assert route["RouteKey"] == "POST /webhooks/{source}"
        (integration,) = v2.get_integrations(ApiId=api["ApiId"])["Items"]
        assert integration["IntegrationType"] == "AWS_PROXY"
        assert integration["PayloadFormatVersion"] == "2.0"
        assert ingest_live in integration["IntegrationUri"]
        assert route["Target"] == f"integrations/{integration['IntegrationId']}"
        return
    api = aws("apigateway")
    (rest,) = [a for a in api.get_rest_apis()["items"] if a["name"] == f"{aws.prefix}-api"]
    # binary_media_types = ["*/*"] is not checked here: moto reads a media type from the patch
    # operation's value, the provider (like AWS) puts it in the path, so moto keeps none.
    assert outputs["api_url"].startswith(f"https://{rest['id']}.execute-api.")
    resources = {r["path"]: r for r in api.get_resources(restApiId=rest["id"])["items"]}
    method = resources["/webhooks/{source}"]["resourceMethods"]["POST"]
    assert method["authorizationType"] == "NONE"
    integration = api.get_integration(
        restApiId=rest["id"], resourceId=resources["/webhooks/{source}"]["id"], httpMethod="POST"
    )
    assert integration["type"] == "AWS_PROXY"
    assert f"{ingest_live}/invocations" in integration["uri"]
    stage = api.get_stage(restApiId=rest["id"], stageName="v1")
    assert stage["tracingEnabled"] is True
    assert "accessLogSettings" in stage


def check_monitoring(aws: Aws, outputs: dict[str, Any]) -> None:
    cw = aws("cloudwatch")
    alarms = cw.describe_alarms(AlarmNamePrefix=aws.prefix)["MetricAlarms"]
    names = {a["AlarmName"] for a in alarms}
    for dest in CONFIG["destinations"]:
        assert f"{aws.prefix}-dlq-d-{fit(dest, 50)}" in names
        assert f"{aws.prefix}-age-d-{fit(dest, 50)}" in names
    for name in outputs["function_names"].values():
        assert {f"{name}-errors", f"{name}-throttles"} <= names
    assert {f"{aws.prefix}-api-5xx", f"{aws.prefix}-api-p99", f"{aws.prefix}-dlq-ingest"} <= names
    assert all(a["AlarmActions"] == [outputs["alarm_topic_arn"]] for a in alarms)
    dashboard = cw.get_dashboard(DashboardName=outputs["dashboard_name"])
    assert json.loads(dashboard["DashboardBody"])["widgets"]


def assert_nothing_left(aws: Aws) -> None:
    functions = [f["FunctionName"] for f in aws("lambda").list_functions()["Functions"]]
    assert [f for f in functions if f.startswith(aws.prefix)] == []
    assert aws("sqs").list_queues(QueueNamePrefix=aws.prefix).get("QueueUrls", []) == []
    tables = aws("dynamodb").list_tables()["TableNames"]
    assert [t for t in tables if t.startswith(aws.prefix)] == []
    buses = [b["Name"] for b in aws("events").list_event_buses()["EventBuses"]]
    assert [b for b in buses if b.startswith(aws.prefix)] == []
    roles = [r["RoleName"] for r in aws("iam").list_roles()["Roles"]]
    assert [r for r in roles if r.startswith(aws.prefix)] == []
    alarms = aws("cloudwatch").describe_alarms(AlarmNamePrefix=aws.prefix)["MetricAlarms"]
    assert alarms == []
