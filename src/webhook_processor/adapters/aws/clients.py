"""boto3 clients, made in one place with one botocore configuration.

An adapter takes its client as an argument or makes one here, once, when it is constructed (never
at import: a handler module imports without credentials or network). `AWS_ENDPOINT_URL` and the
region come from the environment, as boto3 reads them (the tests point them at moto).

Timeouts are short and retries few: ingest answers a provider within API Gateway's 29 s, and a
handler that cannot reach a service should fail its invocation (SQS redelivers) rather than wait.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
import botocore.config
import botocore.exceptions

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

CONFIG = botocore.config.Config(
    connect_timeout=3,
    read_timeout=10,
    retries={"mode": "standard", "max_attempts": 3},  # botocore's count includes the first call
)
# What a call that did not go through raises: the service said no, or it could not be reached.
FAILURES: tuple[type[Exception], ...] = (
    botocore.exceptions.ClientError,
    botocore.exceptions.BotoCoreError,
)


def dynamodb(**kwargs: Any) -> DynamoDBClient:
    return boto3.client("dynamodb", config=CONFIG, **kwargs)


def s3(**kwargs: Any) -> S3Client:
    return boto3.client("s3", config=CONFIG, **kwargs)


def sqs(**kwargs: Any) -> SQSClient:
    return boto3.client("sqs", config=CONFIG, **kwargs)


def events(**kwargs: Any) -> EventBridgeClient:
    return boto3.client("events", config=CONFIG, **kwargs)


def secretsmanager(**kwargs: Any) -> SecretsManagerClient:
    return boto3.client("secretsmanager", config=CONFIG, **kwargs)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a failed call ('' when it never got an answer)."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def describe(exc: BaseException) -> str:
    """A one-line cause for an error message (AWS error messages carry no secret values)."""
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', '?')}: {error.get('Message', '')}".strip()
    return str(exc) or type(exc).__name__
