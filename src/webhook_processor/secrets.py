"""Resolve secret references: `env:NAME`, `file:PATH`, `aws-sm:NAME_OR_ARN`, or a literal value.

Only the commands that need a secret resolve it (a replay needs no provider secret). Error messages
name the reference, never a value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from webhook_processor import errors

AwsResolver = Callable[[str], str]


def _no_aws(name: str) -> str:
    raise errors.SecretError(
        f"aws-sm:{name} is resolved by the AWS runtime only; locally use env: or file:"
    )


def resolve(ref: str, env: Mapping[str, str], aws: AwsResolver = _no_aws) -> str:
    kind, sep, rest = ref.partition(":")
    if not sep or kind not in ("env", "file", "aws-sm"):
        return ref
    if kind == "env":
        value = env.get(rest)
        if value is None:
            raise errors.SecretError(f"environment variable {rest} is not set")
        if not value.strip():
            raise errors.SecretError(f"environment variable {rest} is empty")
        return value
    if kind == "file":
        try:
            value = Path(rest).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise errors.SecretError(f"secret file {rest} does not exist") from None
        except OSError as exc:
            raise errors.SecretError(f"cannot read secret file {rest}: {exc.strerror}") from None
        if not value:
            raise errors.SecretError(f"secret file {rest} is empty")
        return value
    return aws(rest)
