"""Secrets Manager rotation of the secrets whp makes itself: destination signing secrets.

Secrets Manager's contract for a rotation function ("Lambda rotation functions", and its
SecretsManagerRotationTemplate): RotateSecret makes a new version, id = ClientRequestToken,
staged AWSPENDING, and invokes the function once per step with {SecretId, ClientRequestToken,
Step}. Each step may be invoked again (a retry), so each is idempotent:

    createSecret   a fresh `whsec_<base64 of 32 random bytes>` as the AWSPENDING version's value
                   (unless it has one: a retried step keeps it)
    setSecret      nothing: whp itself is the service that uses the secret. Receivers verify
                   with it: they read it from the secret (or are given it) after finishSecret
    testSecret     the pending value is a signing secret whp can sign with
    finishSecret   AWSCURRENT moves to the new version; Secrets Manager moves AWSPREVIOUS to the
                   old one. Deliveries sign with AWSCURRENT from the next refresh of the
                   functions' secret cache on (adapters/aws/secrets.py: TTL_SECONDS)

Only a secret whose current value is a `whsec_` secret is rotated: a provider's secret (the
provider holds it) or an unknown one is refused with a ValueError naming it, and nothing changes.
"""

from __future__ import annotations

import base64
import logging
import secrets as pysecrets
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from webhook_processor import delivery, signing
from webhook_processor.adapters.aws import clients

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

log = logging.getLogger(__name__)
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
KEY_BYTES = 32


def new_signing_secret() -> str:
    return signing.SECRET_PREFIX + base64.b64encode(pysecrets.token_bytes(KEY_BYTES)).decode()


class Rotation:
    def __init__(
        self,
        client: SecretsManagerClient | None = None,
        generate: Callable[[], str] = new_signing_secret,
    ) -> None:
        self._client = client if client is not None else clients.secretsmanager()
        self._generate = generate

    def step(self, event: Mapping[str, Any]) -> str:
        """Run one step of a rotation event; what it did, for the log."""
        try:
            secret_id, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
        except KeyError as exc:
            raise ValueError(f"not a Secrets Manager rotation event: no {exc.args[0]}") from None
        if step not in STEPS:
            raise ValueError(f"unknown rotation step {step!r} (steps: {', '.join(STEPS)})")
        metadata = self._client.describe_secret(SecretId=secret_id)
        if not metadata.get("RotationEnabled"):
            raise ValueError(f"secret {secret_id} does not have rotation enabled")
        stages = metadata.get("VersionIdsToStages", {})
        if token not in stages:
            raise ValueError(f"secret {secret_id} has no version {token} to rotate to")
        if "AWSCURRENT" in stages[token]:
            return f"version {token} of {secret_id} is AWSCURRENT already"
        if "AWSPENDING" not in stages[token]:
            raise ValueError(f"version {token} of secret {secret_id} is not AWSPENDING")
        if step == "createSecret":
            return self._create(secret_id, token)
        if step == "setSecret":
            return "nothing to set: whp signs with the secret itself"
        if step == "testSecret":
            return self._test(secret_id, token)
        return self._finish(secret_id, token, stages)

    def _create(self, secret_id: str, token: str) -> str:
        current = self._value(secret_id, stage="AWSCURRENT")
        try:
            delivery.signing_key(current)
        except ValueError:
            raise ValueError(
                f"secret {secret_id} is not a whsec_ signing secret: whp rotates only the "
                "destination signing secrets it makes (a provider's secret is the provider's)"
            ) from None
        try:
            self._value(secret_id, stage="AWSPENDING", version=token)
        except clients.FAILURES as exc:
            if clients.error_code(exc) != "ResourceNotFoundException":
                raise
        else:
            return f"version {token} of {secret_id} has its value already"
        self._client.put_secret_value(
            SecretId=secret_id,
            ClientRequestToken=token,
            SecretString=self._generate(),
            VersionStages=["AWSPENDING"],
        )
        return f"made a new signing secret as version {token} (AWSPENDING) of {secret_id}"

    def _test(self, secret_id: str, token: str) -> str:
        value = self._value(secret_id, stage="AWSPENDING", version=token)
        try:
            key = delivery.signing_key(value)
        except ValueError as exc:
            raise ValueError(f"version {token} of secret {secret_id}: {exc}") from None
        signing.v1(key, "msg_rotation_test", "0", b"{}")  # it signs
        return f"version {token} of {secret_id} signs"

    def _finish(self, secret_id: str, token: str, stages: Mapping[str, Any]) -> str:
        current = next((v for v, s in stages.items() if "AWSCURRENT" in s), None)
        self._client.update_secret_version_stage(
            SecretId=secret_id,
            VersionStage="AWSCURRENT",
            MoveToVersionId=token,
            **({"RemoveFromVersionId": current} if current is not None else {}),
        )
        return f"version {token} of {secret_id} is AWSCURRENT (it was {current})"

    def _value(self, secret_id: str, stage: str, version: str | None = None) -> str:
        kwargs: dict[str, str] = {"SecretId": secret_id, "VersionStage": stage}
        if version is not None:
            kwargs["VersionId"] = version
        got = self._client.get_secret_value(**kwargs)
        return str(got.get("SecretString", "")).strip()
