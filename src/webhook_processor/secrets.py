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
    """The secret a reference names; SecretError when it cannot be read or is empty (an empty
    key verifies whatever is signed with an empty key: anyone could forge it)."""
    kind, sep, rest = ref.partition(":")
    if not sep or kind not in ("env", "file", "aws-sm"):
        value, what = ref, "the secret"
    elif kind == "env":
        found = env.get(rest)
        if found is None:
            raise errors.SecretError(f"environment variable {rest} is not set")
        value, what = found, f"environment variable {rest}"
    elif kind == "file":
        try:
            value = Path(rest).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise errors.SecretError(f"secret file {rest} does not exist") from None
        except OSError as exc:
            raise errors.SecretError(f"cannot read secret file {rest}: {exc.strerror}") from None
        what = f"secret file {rest}"
    else:
        value, what = aws(rest), f"secret aws-sm:{rest}"
    if not value.strip():
        raise errors.SecretError(f"{what} is empty")
    return value
