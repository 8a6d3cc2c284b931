"""Secrets Manager: the resolver of `aws-sm:` references (DESIGN.md, docs/aws.md "Secrets").

`aws-sm:NAME` is the secret `<prefix>/NAME`; `aws-sm:arn:...` is that secret as it is. A secret's
value is a plain string (the operator puts it). Verification accepts every value a provider may
sign with during a rotation: AWSCURRENT, then AWSPREVIOUS when there is one (`values`); outbound
signing uses AWSCURRENT (`current`).

Values are cached per container for `ttl_seconds`, so a rotation is picked up within that time
without a call per webhook. When a refresh fails, the values already cached are kept and the
refresh is tried again after RETRY_SECONDS: a short Secrets Manager outage never rejects
webhooks that verified a minute before. Errors name the reference and the secret id, never a
value.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from webhook_processor import errors
from webhook_processor.adapters.aws import clients

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

log = logging.getLogger(__name__)

TTL_SECONDS = 300.0
RETRY_SECONDS = 30.0
_WHY = {
    "ResourceNotFoundException": "does not exist or has no value yet (put one with "
    "`aws secretsmanager put-secret-value --secret-id {id} --secret-string ...`)",
    "AccessDeniedException": "cannot be read by this function's role",
    "DecryptionFailure": "cannot be decrypted with its KMS key",
}


class Resolver:
    def __init__(
        self,
        prefix: str,
        client: SecretsManagerClient | None = None,
        ttl_seconds: float = TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._prefix = prefix
        self._client = client if client is not None else clients.secretsmanager()
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, tuple[str, ...]]] = {}  # ref -> (good until, values)
        self._lock = threading.Lock()

    def secret_id(self, ref: str) -> str:
        """The secret of `ref`, the text after `aws-sm:`."""
        return ref if ref.startswith("arn:") else f"{self._prefix}/{ref}"

    def current(self, ref: str) -> str:
        """AWSCURRENT: what whp signs with. Fits secrets.resolve's `aws` argument."""
        return self.values(ref)[0]

    def values(self, ref: str) -> tuple[str, ...]:
        """AWSCURRENT, then AWSPREVIOUS if the secret has one: what a signature may use."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(ref)
            if cached is not None and now < cached[0]:
                return cached[1]
            try:
                found = self._fetch(ref)
            except errors.SecretError as exc:
                if cached is None:
                    raise
                log.warning("keeping the cached value of aws-sm:%s: %s", ref, exc.detail)
                self._cache[ref] = (now + RETRY_SECONDS, cached[1])
                return cached[1]
            self._cache[ref] = (now + self._ttl, found)
            return found

    def _fetch(self, ref: str) -> tuple[str, ...]:
        secret_id = self.secret_id(ref)
        current = self._stage(ref, secret_id, "AWSCURRENT")
        if current is None:
            raise errors.SecretError(f"aws-sm:{ref}: secret {secret_id} has no AWSCURRENT value")
        try:
            previous = self._stage(ref, secret_id, "AWSPREVIOUS")
        except errors.SecretError as exc:  # verification still works with the current one
            log.warning("aws-sm:%s: AWSPREVIOUS not read: %s", ref, exc.detail)
            previous = None
        return (current,) if previous is None or previous == current else (current, previous)

    def _stage(self, ref: str, secret_id: str, stage: str) -> str | None:
        try:
            got = self._client.get_secret_value(SecretId=secret_id, VersionStage=stage)
        except clients.FAILURES as exc:
            code = clients.error_code(exc)
            if stage == "AWSPREVIOUS" and code == "ResourceNotFoundException":
                return None  # never rotated: there is no previous value
            why = _WHY.get(code, "could not be read").format(id=secret_id)
            raise errors.SecretError(
                f"aws-sm:{ref}: secret {secret_id} {why} ({code or clients.describe(exc)})"
            ) from None
        if "SecretString" in got:
            value = got["SecretString"]
        else:
            try:
                value = got.get("SecretBinary", b"").decode("utf-8")
            except UnicodeDecodeError:
                raise errors.SecretError(
                    f"aws-sm:{ref}: secret {secret_id} ({stage}) is binary, not text"
                ) from None
        value = value.strip()
        if not value:
            raise errors.SecretError(f"aws-sm:{ref}: secret {secret_id} ({stage}) is empty")
        return value
