"""The rotation function against moto's own RotateSecret: moto makes the AWSPENDING version and
invokes the function for each step; its Lambda runs nothing without Docker, so the invocation
is routed to the handler, in-process (moto's server runs in this process)."""

from __future__ import annotations

import io
import json
import urllib.request
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.awslambda_simple import models as moto_lambda

from tests.aws import lambdas_config, layout, runtime
from tests.e2e import receiver as receivers
from webhook_processor import config, delivery
from webhook_processor.adapters.aws import rotation as rotation_adapter
from webhook_processor.entrypoints.lambdas import rotation

FUNCTION = "wh-test-rotation"


def _moto_config(endpoint: str, use_docker: bool) -> None:
    body = json.dumps({"lambda": {"use_docker": use_docker}}).encode()
    request = urllib.request.Request(f"{endpoint}/moto-api/config", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:  # loopback
        assert answer.status in (200, 201)


@pytest.fixture
def rotation_function(
    aws: layout.Aws, rt: runtime.Runtime, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, list[str]]]:
    """The rotation function in moto (its ARN), invoked in-process; the steps it ran."""
    _moto_config(aws.endpoint, use_docker=False)
    steps: list[str] = []

    def invoke(self: Any, function_name: str, qualifier: Any, body: Any, **kwargs: Any) -> bytes:
        event = json.loads(body)
        steps.append(event["Step"])
        rotation.handler(event, runtime.Context(FUNCTION))
        return b""

    monkeypatch.setattr(moto_lambda.LambdaSimpleBackend, "invoke", invoke)
    iam = boto3.client("iam", **aws.kwargs())
    role = iam.create_role(
        RoleName=FUNCTION,
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as zf:
        zf.writestr("placeholder.py", "")
    fn = boto3.client("lambda", **aws.kwargs()).create_function(
        FunctionName=FUNCTION,
        Runtime="python3.13",
        Role=role,
        Handler="webhook_processor.entrypoints.lambdas.rotation.handler",
        Code={"ZipFile": code.getvalue()},
    )
    try:
        yield fn["FunctionArn"], steps
    finally:
        _moto_config(aws.endpoint, use_docker=True)


def _stages(aws: layout.Aws, secret_id: str) -> dict[str, str]:
    client = aws.secretsmanager()
    out = {}
    for stage in ("AWSCURRENT", "AWSPREVIOUS"):
        out[stage] = client.get_secret_value(SecretId=secret_id, VersionStage=stage)["SecretString"]
    return out


def test_rotate_secret_makes_a_new_signing_secret_current_and_keeps_the_old_previous(
    aws: layout.Aws,
    rt: runtime.Runtime,
    rotation_function: tuple[str, list[str]],
    receiver: receivers.Receiver,
) -> None:
    arn, steps = rotation_function
    secret_id = "wh-test/orders"
    old = aws.secretsmanager().get_secret_value(SecretId=secret_id)["SecretString"]
    aws.secretsmanager().rotate_secret(
        SecretId=secret_id, RotationLambdaARN=arn, RotationRules={"AutomaticallyAfterDays": 30}
    )
    assert steps == ["createSecret", "setSecret", "testSecret", "finishSecret"]
    stages = _stages(aws, secret_id)
    assert stages["AWSPREVIOUS"] == old
    assert stages["AWSCURRENT"] != old
    assert len(delivery.signing_key(stages["AWSCURRENT"])) == rotation_adapter.KEY_BYTES
    # and the next delivery is signed with it, verified by the official library
    with receivers.Receiver(stages["AWSCURRENT"]) as rotated:  # a receiver given the new one
        text = rt.config_file.read_text()
        rt.config_file.write_text(text.replace(receiver.url("/orders"), rotated.url("/orders")))
        rt.reset()
        body = b'{"ref": "refs/heads/main"}'
        out = lambdas_config.signed(config.load(rt.config_file), "github", body, event_type="push")
        assert rt.post("github", out.body, out.headers).status == 202
        rt.settle()
        (arrival,) = rotated.arrivals("/orders")
        assert arrival.verified, arrival.error


def test_a_retried_step_keeps_the_value_it_made(
    aws: layout.Aws, rt: runtime.Runtime, rotation_function: tuple[str, list[str]]
) -> None:
    arn, _ = rotation_function
    secret_id = "wh-test/orders"
    client = aws.secretsmanager()
    client.rotate_secret(
        SecretId=secret_id, RotationLambdaARN=arn, RotationRules={"AutomaticallyAfterDays": 30}
    )
    made = _stages(aws, secret_id)["AWSCURRENT"]
    token = client.describe_secret(SecretId=secret_id)["VersionIdsToStages"]
    current = next(v for v, s in token.items() if "AWSCURRENT" in s)
    for step in ("createSecret", "finishSecret"):  # Secrets Manager retries a step
        event = {"SecretId": secret_id, "ClientRequestToken": current, "Step": step}
        rotation.handler(event, runtime.Context(FUNCTION))
    assert _stages(aws, secret_id)["AWSCURRENT"] == made


def test_a_provider_secret_is_not_rotated(
    aws: layout.Aws, rt: runtime.Runtime, rotation_function: tuple[str, list[str]]
) -> None:
    arn, steps = rotation_function
    secret_id = "wh-test/github"  # the provider holds it: whp cannot change it
    client = aws.secretsmanager()
    with pytest.raises(client.exceptions.ClientError):
        client.rotate_secret(
            SecretId=secret_id, RotationLambdaARN=arn, RotationRules={"AutomaticallyAfterDays": 1}
        )
    assert set(steps) == {"createSecret"}  # refused at the first step (botocore retried the 500)
    assert client.get_secret_value(SecretId=secret_id)["SecretString"] == "whp-test-github-secret"


def test_a_step_for_a_version_not_pending_is_refused(aws: layout.Aws, rt: runtime.Runtime) -> None:
    client = aws.secretsmanager()
    client.rotate_secret(SecretId="wh-test/orders", RotationRules={"AutomaticallyAfterDays": 30})
    versions = client.describe_secret(SecretId="wh-test/orders")["VersionIdsToStages"]
    previous = next(v for v, s in versions.items() if "AWSPREVIOUS" in s)
    event = {"SecretId": "wh-test/orders", "ClientRequestToken": previous, "Step": "createSecret"}
    with pytest.raises(ValueError, match="is not AWSPENDING"):
        rotation.handler(event, runtime.Context(FUNCTION))
