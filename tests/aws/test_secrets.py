"""The `aws-sm:` resolver: <prefix>/NAME or an ARN, AWSCURRENT then AWSPREVIOUS, cached."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from tests.aws import faults, layout
from webhook_processor import errors
from webhook_processor.adapters.aws import secrets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _resolver(aws: layout.Aws, clock: Clock) -> secrets.Resolver:
    return secrets.Resolver("wh-test", aws.secretsmanager(), ttl_seconds=300, clock=clock)


def test_a_rotation_is_picked_up_after_the_ttl_and_the_previous_value_still_verifies(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    clock = Clock()
    resolver = _resolver(aws, clock)
    sm = aws.secretsmanager()
    sm.put_secret_value(SecretId="wh-test/github-secret", SecretString="old-secret\n")
    assert resolver.values("github-secret") == ("old-secret",)  # never rotated: no previous
    sm.put_secret_value(SecretId="wh-test/github-secret", SecretString="new-secret")
    clock.now += 299
    assert resolver.values("github-secret") == ("old-secret",)  # cached
    clock.now += 2
    assert resolver.values("github-secret") == ("new-secret", "old-secret")
    assert resolver.current("github-secret") == "new-secret"  # what whp signs with
    # A provider that still signs with the old secret is accepted during the rotation:
    body = b'{"action": "opened"}'
    signature = hmac.new(b"old-secret", body, hashlib.sha256).digest()
    assert any(
        hmac.compare_digest(hmac.new(v.encode(), body, hashlib.sha256).digest(), signature)
        for v in resolver.values("github-secret")
    )


def test_an_arn_is_used_as_it_is(aws: layout.Aws, deployed: layout.Layout) -> None:
    sm = aws.secretsmanager()
    arn = sm.create_secret(Name="shared/acme", SecretString="acme-secret")["ARN"]
    resolver = _resolver(aws, Clock())
    assert resolver.secret_id(f"{arn}") == arn
    assert resolver.values(arn) == ("acme-secret",)
    assert resolver.secret_id("github-secret") == "wh-test/github-secret"


def test_a_secret_without_a_value_names_the_reference_and_how_to_put_one(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    resolver = _resolver(aws, Clock())
    with pytest.raises(errors.SecretError) as missing:
        resolver.values("orders-signing")  # created by the layout, as the module does: empty
    assert "aws-sm:orders-signing: secret wh-test/orders-signing" in missing.value.detail
    assert "put-secret-value --secret-id wh-test/orders-signing" in missing.value.detail
    with pytest.raises(errors.SecretError, match="aws-sm:nope: secret wh-test/nope does not exist"):
        resolver.values("nope")


def test_an_outage_keeps_the_cached_values_and_never_shows_a_value(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    clock = Clock()
    client = aws.secretsmanager()
    resolver = secrets.Resolver("wh-test", client, ttl_seconds=300, clock=clock)
    aws.secretsmanager().put_secret_value(SecretId="wh-test/github-secret", SecretString="s3cr3t")
    assert resolver.values("github-secret") == ("s3cr3t",)
    outage = faults.fail(client, "GetSecretValue", times=None)
    clock.now += 301
    assert resolver.values("github-secret") == ("s3cr3t",)  # stale beats rejecting webhooks
    clock.now += secrets.RETRY_SECONDS - 1
    assert resolver.values("github-secret") == ("s3cr3t",)
    assert outage.hits == 1  # not asked again before RETRY_SECONDS
    cold = secrets.Resolver("wh-test", client, clock=clock)
    with pytest.raises(errors.SecretError) as failed:
        cold.values("github-secret")
    assert "aws-sm:github-secret: secret wh-test/github-secret could not be read" in str(
        failed.value
    )
    assert "s3cr3t" not in str(failed.value)
