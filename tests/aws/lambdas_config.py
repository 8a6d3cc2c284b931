"""The deployment the handler tests share: its config (with a loopback receiver's URLs), its
secrets, and ways to sign webhooks for its sources."""

from __future__ import annotations

import time
from collections.abc import Mapping

from tests.e2e import receiver as receivers
from webhook_processor import config, provider, wiring

SECRETS = {
    "github": "whp-test-github-secret",  # tests/events/apiGatewayProxyEvent.json's
    "stripe": "whsec_whpteststripesecret",  # tests/events/apiGatewayProxyV2Event.json's
    "twilio": "twilio-test-auth-token",
    "acme": "acme-test-secret",
}
PUBLIC_TWILIO = "https://hooks.example.com/webhooks/twilio"
CONFIG = """\
storage: {retention_days: 7}
sources:
  github: {verify: github, secret: "aws-sm:github"}
  stripe: {verify: stripe, secret: "aws-sm:stripe"}
  twilio: {verify: twilio, secret: "aws-sm:twilio", public_url: "%(twilio)s"}
  acme:
    verify: hmac
    header: X-Acme-Signature
    secret: aws-sm:acme
    event_type: json:type
    max_body_bytes: 2000000
destinations:
  orders:
    url: "%(orders)s"
    signing_secret: aws-sm:orders
    retry: {max_attempts: 3, initial_interval_seconds: 30, multiplier: 2, max_interval_seconds: 60}
  audit:
    url: "%(audit)s"
    signing_secret: aws-sm:audit
routes:
  - name: github-pushes
    destination: orders
    pattern: {source: [github], detail-type: [push]}
  - name: everything
    destination: audit
    pattern: {source: [github, stripe, acme]}
"""


def config_text(receiver: receivers.Receiver) -> str:
    return CONFIG % {
        "twilio": PUBLIC_TWILIO,
        "orders": receiver.url("/orders"),
        "audit": receiver.url("/audit"),
    }


def signed(
    cfg: config.Config,
    source: str,
    body: bytes,
    url: str = "",
    now: float | None = None,
    secret: str | None = None,
    event_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> provider.Outgoing:
    """A correctly signed webhook of `source`, as `whp send` signs it (`.headers`, and `.url`
    with any query the scheme signs)."""
    spec = wiring.source_spec(cfg.sources[source])
    return provider.build(
        spec,
        SECRETS[source] if secret is None else secret,
        body,
        url or f"https://example.com/webhooks/{source}",
        time.time() if now is None else now,
        event_type=event_type,
        headers=headers,
    )


def receiver_secrets(values: Mapping[str, str]) -> dict[str, str]:
    """The receiver's secret per path, from the destinations' signing secrets."""
    return {"/orders": values["orders"], "/audit": values["audit"]}
