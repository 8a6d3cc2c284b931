"""Secrets Manager: the resolver of `aws-sm:` references (docs/aws.md, "Secrets").

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

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Iterable
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
        # (ref, with AWSPREVIOUS) -> (good until, values)
        self._cache: dict[tuple[str, bool], tuple[float, tuple[str, ...]]] = {}
        self._lock = threading.Lock()

    def secret_id(self, ref: str) -> str:
        """The secret of `ref`, the text after `aws-sm:`."""
        return ref if ref.startswith("arn:") else f"{self._prefix}/{ref}"

    def current(self, ref: str) -> str:
        """AWSCURRENT: what whp signs with (one call, not two). Fits secrets.resolve's `aws`."""
        return self._get(ref, previous=False)[0]

    def values(self, ref: str) -> tuple[str, ...]:
        """AWSCURRENT, then AWSPREVIOUS if the secret has one: what a signature may use."""
        return self._get(ref, previous=True)

    def _get(self, ref: str, previous: bool) -> tuple[str, ...]:
        now = self._clock()
        key = (ref, previous)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and now < cached[0]:
            return cached[1]
        # The calls are made outside the lock, so that secrets can be read in parallel (at a
        # cold start: `prefetch`); two threads reading the same one both store what they read.
        try:
            found = self._fetch(ref, previous)
        except errors.SecretError as exc:
            if cached is None:
                raise
            log.warning("keeping the cached value of aws-sm:%s: %s", ref, exc.detail)
            with self._lock:
                self._cache[key] = (now + RETRY_SECONDS, cached[1])
            return cached[1]
        with self._lock:
            self._cache[key] = (now + self._ttl, found)
        return found

    def prefetch(self, refs: Iterable[str], previous: bool = True) -> None:
        """Read these secrets (the text after `aws-sm:`) into the cache at once, in threads;
        a failure is left for the caller's own read to report."""
        todo = list(dict.fromkeys(refs))
        if len(todo) < 2:
            return
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, len(todo))) as pool:
            for done in [pool.submit(self._get, ref, previous) for ref in todo]:
                done.exception()  # waited for; reported by the read that follows

    def _fetch(self, ref: str, with_previous: bool = True) -> tuple[str, ...]:
        secret_id = self.secret_id(ref)
        current = self._stage(ref, secret_id, "AWSCURRENT")
        if current is None:
            raise errors.SecretError(f"aws-sm:{ref}: secret {secret_id} has no AWSCURRENT value")
        if not with_previous:
            return (current,)
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
