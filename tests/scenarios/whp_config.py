"""The scenarios' one whp.yaml, rendered for either runtime from one template.

Only the secret references differ: `env:` locally (the values in the server's environment),
`aws-sm:NAME` on AWS (the values in Secrets Manager, `<prefix>/NAME`). A secret that has been
rotated is, locally, `secrets: [<current>, <previous>]` (several secrets during a rotation);
on AWS it stays one reference, whose AWSCURRENT and AWSPREVIOUS stages both verify.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["local", "aws"]

# Small retry intervals: a whole retry sequence takes well under a second. On AWS the backoff is
# the message's visibility timeout, which SQS counts in whole seconds (a 0.1 s wait is 0 s).
FAST_RETRY = (
    "{max_attempts: 4, initial_interval_seconds: 0.1, multiplier: 1, max_interval_seconds: 0.2}"
)
FAILING_RETRY = (
    "{max_attempts: 2, initial_interval_seconds: 0.1, multiplier: 1, max_interval_seconds: 0.2}"
)

TEMPLATE = f"""\
storage: {{path: whp.db, retention_days: 7}}
sources:
  github:
    verify: github
    secret: ${{github}}
  stripe:
    verify: stripe
    secret: ${{stripe}}
    tolerance_seconds: 300
  app:
    verify: standard-webhooks
    secret: ${{app}}
destinations:
  orders:
    url: ${{receiver}}/orders
    signing_secret: ${{signing}}
    timeout_seconds: 5
    retry: {FAST_RETRY}
  audit:
    url: ${{receiver}}/audit
    signing_secret: ${{signing}}
    timeout_seconds: 5
    retry: {FAST_RETRY}
  flaky:
    url: ${{receiver}}/flaky
    signing_secret: ${{signing}}
    timeout_seconds: 5
    retry: {FAILING_RETRY}
routes:
  - name: pushes
    destination: orders
    pattern: {{source: [github], detail-type: [push]}}
  - name: audited-pushes
    destination: audit
    pattern: {{source: [github], detail-type: [push]}}
  - name: releases
    destination: flaky
    pattern: {{source: [github], detail-type: [release]}}
  - name: payments
    destination: orders
    pattern: {{source: [stripe], detail-type: [{{prefix: "payment_intent."}}]}}
  - name: app-orders
    destination: orders
    pattern: {{source: [app]}}
"""
SECRET_NAMES = ("github", "stripe", "app", "signing")
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")
_SOURCE_SECRET = re.compile(r"^(\s+)secret: \$\{(\w+)\}$", re.MULTILINE)


def standard_secret() -> str:
    """A Standard Webhooks secret: whsec_ + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass
class Secrets:
    """Every secret of the config by name, each with its values oldest first (the last is the
    current one; a rotation appends)."""

    values: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def fresh(cls) -> Secrets:
        return cls(
            {
                "github": ["gh-scn-" + secrets.token_hex(16)],
                "stripe": ["whsec_" + secrets.token_urlsafe(24)],
                "app": [standard_secret()],
                "signing": [standard_secret()],
            }
        )

    def current(self, name: str) -> str:
        return self.values[name][-1]

    def rotate(self, name: str, new_value: str) -> None:
        self.values[name].append(new_value)


def env_name(name: str, generation: int) -> str:
    """The environment variable of a secret's value locally: WHP_SCN_GITHUB_1, _2, ..."""
    return f"WHP_SCN_{name.upper()}_{generation}"


def local_env(held: Secrets) -> dict[str, str]:
    return {
        env_name(name, i + 1): value
        for name, values in held.values.items()
        for i, value in enumerate(values)
    }


def render(kind: Kind, receiver: str, held: Secrets) -> str:
    """whp.yaml for `kind`, delivering to the receiver at base URL `receiver`."""

    def local_refs(name: str) -> Sequence[str]:
        generations = len(held.values[name])
        # the current value, then the previous one: the two a rotation accepts
        return [f"env:{env_name(name, g)}" for g in range(generations, 0, -1)][:2]

    def refs(name: str) -> Sequence[str]:
        return local_refs(name) if kind == "local" else [f"aws-sm:{name}"]

    def source_secret(match: re.Match[str]) -> str:
        indent, name = match.group(1), match.group(2)
        found = refs(name)
        if len(found) == 1:
            return f"{indent}secret: {found[0]}"
        return f"{indent}secrets: [{', '.join(found)}]"

    text = _SOURCE_SECRET.sub(source_secret, TEMPLATE)
    return _substitute(text, {"receiver": receiver}, lambda name: refs(name)[0])


def _substitute(text: str, plain: Mapping[str, str], ref: Callable[[str], str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        return plain[name] if name in plain else ref(name)

    return _PLACEHOLDER.sub(one, text)
