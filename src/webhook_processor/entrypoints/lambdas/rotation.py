"""The rotation function: Secrets Manager's createSecret, setSecret, testSecret and finishSecret
steps for the destination signing secrets whp makes (`whsec_...`): adapters/aws/rotation.py.
A step that fails raises, and Secrets Manager retries the rotation."""

from __future__ import annotations

from typing import Any

from webhook_processor.entrypoints.lambdas import common


def _build() -> common.Handler:
    from webhook_processor.bootstrap import aws  # noqa: PLC0415 - the first invocation's setup

    rotation, metrics = aws.rotator()

    def rotate(event: common.Event, context: Any) -> None:
        metrics.rotation_step(str(event.get("Step")))
        done = rotation.step(event)
        _function.logger.info(done, extra={"step": event.get("Step")})

    return rotate


_function = common.Function(_build, correlation_id_path="ClientRequestToken")


def handler(event: common.Event, context: Any) -> None:
    """{"SecretId", "ClientRequestToken", "Step"} in; nothing out (a failure raises)."""
    _function(event, context)
