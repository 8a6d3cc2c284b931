"""A cold start reads every secret of the config at once (adapters/aws/secrets.Resolver.prefetch),
then verifies and signs from the cache; signing reads AWSCURRENT alone."""

from __future__ import annotations

import threading
import time
from typing import Any

from webhook_processor.adapters.aws import secrets


class SlowSecretsManager:
    """get_secret_value as Secrets Manager answers it, each call taking `delay` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def get_secret_value(self, SecretId: str, VersionStage: str) -> dict[str, Any]:
        with self._lock:
            self.calls.append((SecretId, VersionStage))
        time.sleep(self.delay)
        return {"SecretString": f"{SecretId}@{VersionStage}"}


def test_prefetch_reads_the_secrets_in_parallel_and_later_reads_hit_the_cache() -> None:
    client = SlowSecretsManager(delay=0.3)
    resolver = secrets.Resolver("wh-x", client=client)  # type: ignore[arg-type]
    names = ["a", "b", "c", "d", "e", "f"]
    started = time.monotonic()
    resolver.prefetch(names)
    took = time.monotonic() - started
    assert len(client.calls) == 12  # AWSCURRENT and AWSPREVIOUS of each
    assert took < 0.3 * 12 / 2  # one after the other: 3.6 s; in parallel: about 0.6 s
    assert resolver.values("c") == ("wh-x/c@AWSCURRENT", "wh-x/c@AWSPREVIOUS")
    assert len(client.calls) == 12  # from the cache


def test_signing_reads_only_awscurrent() -> None:
    client = SlowSecretsManager(delay=0)
    resolver = secrets.Resolver("wh-x", client=client)  # type: ignore[arg-type]
    assert resolver.current("orders") == "wh-x/orders@AWSCURRENT"
    assert client.calls == [("wh-x/orders", "AWSCURRENT")]
