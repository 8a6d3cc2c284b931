"""The config of the server most e2e tests share, and its secrets.

Every test that uses the shared server works on its own sources or its own idempotency keys, so
that the tests do not depend on each other's order.
"""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

GH_SECRET = "gh-e2e-" + secrets.token_hex(16)
STRIPE_SECRET = "whsec_" + secrets.token_urlsafe(24)
APP_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
FORM_SECRET = "form-e2e-" + secrets.token_hex(16)
GH_NEXT_SECRET = "gh-next-e2e-" + secrets.token_hex(16)  # the second secret of a rotation
API_KEY = "key-e2e-" + secrets.token_hex(16)
SLACK_SECRET = "slack-e2e-" + secrets.token_hex(16)
GITLAB_TOKEN = "glt-e2e-" + secrets.token_hex(16)

# Secrets reach the server through env: references, and through file: references relative to the
# config file (Stripe's, GitLab's, and the new secret of the rotating source).
ENV = {
    "GH_SECRET": GH_SECRET,
    "APP_SECRET": APP_SECRET,
    "FORM_SECRET": FORM_SECRET,
    "API_KEY": API_KEY,
    "SLACK_SECRET": SLACK_SECRET,
}

# Every secret value, by name: none of them may ever appear in a log or a reply.
ALL_SECRETS = {
    "GH_SECRET": GH_SECRET,
    "GH_NEXT_SECRET": GH_NEXT_SECRET,
    "STRIPE_SECRET": STRIPE_SECRET,
    "APP_SECRET": APP_SECRET,
    "FORM_SECRET": FORM_SECRET,
    "API_KEY": API_KEY,
    "GITLAB_TOKEN": GITLAB_TOKEN,
    "SLACK_SECRET": SLACK_SECRET,
}

SMALL_LIMIT = 1024

CONFIG = f"""\
storage:
  path: whp.db
  busy_timeout_seconds: 0.3
server: {{host: 127.0.0.1, port: 8080}}
sources:
  github:
    verify: github
    secret: env:GH_SECRET
  stripe:
    verify: stripe
    secret: file:secrets/stripe.secret
    tolerance_seconds: 300
  app:
    verify: standard-webhooks
    secret: env:APP_SECRET
  form:
    verify: hmac
    header: X-Form-Signature
    algorithm: sha256
    encoding: hex
    prefix: "sha256="
    secret: env:FORM_SECRET
    event_type: json:type
  orders:
    verify: github
    secret: env:GH_SECRET
    schema: schema.json
  small:
    verify: github
    secret: env:GH_SECRET
    max_body_bytes: {SMALL_LIMIT}
  limited:
    verify: github
    secret: env:GH_SECRET
    rate_limit: {{per_second: 1, burst: 2}}
  flooded:
    verify: github
    secret: env:GH_SECRET
    rate_limit: {{per_second: 1, burst: 2}}
  rotating:
    verify: github
    secrets: [env:GH_SECRET, file:secrets/github-next.secret]
  keyed:
    verify: api-key
    header: X-Api-Key
    secret: env:API_KEY
  gitlab:
    verify: gitlab
    secret: file:secrets/gitlab.token
  slack:
    verify: slack
    secret: env:SLACK_SECRET
    schema: schema.json
  slow:
    verify: github
    secret: env:GH_SECRET
    rate_limit: {{per_second: 0.1, burst: 1}}
"""

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["order_id", "amount"],
    "properties": {
        "order_id": {"type": "string"},
        "amount": {"type": "integer", "minimum": 0},
    },
}


def write_config(folder: Path) -> Path:
    """Write whp.yaml, its schema and its secret files into `folder`; return the config."""
    (folder / "secrets").mkdir(parents=True, exist_ok=True)
    (folder / "secrets" / "stripe.secret").write_text(STRIPE_SECRET + "\n")
    (folder / "secrets" / "github-next.secret").write_text(GH_NEXT_SECRET + "\n")
    (folder / "secrets" / "gitlab.token").write_text(GITLAB_TOKEN + "\n")
    (folder / "schema.json").write_text(json.dumps(SCHEMA))
    config = folder / "whp.yaml"
    config.write_text(CONFIG)
    return config
