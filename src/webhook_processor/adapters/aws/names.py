"""Every AWS resource name whp uses, derived from one prefix (docs/aws.md, "Names").

Pure: no boto3, no environment. The Terraform module derives the same names with the same rule
(`fit()` is `substr` + `sha256` there), so a handler finds a destination's queue from the prefix
and the destination's name alone.

Each name fits its AWS limit for the longest suffix `prefix()` admits (16 characters) and the
longest config name (64): tests/unit/test_aws_names.py checks that against AWS's own limits.
"""

from __future__ import annotations

import hashlib
import re

SUFFIX_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,14}[a-z0-9])?$")
PREFIX_RE = re.compile(r"^wh-[a-z0-9](?:[a-z0-9-]{0,14}[a-z0-9])?$")
MAX_SUFFIX = 16
# Secrets Manager's characters for a secret name (its CreateSecret API reference).
SECRET_NAME_RE = re.compile(r"^[A-Za-z0-9/_+=.@-]+$")
MAX_SECRET_ID = 512
FUNCTIONS = ("ingest", "router", "delivery", "rotation")
# The budgets of docs/aws.md: at the longest prefix, `<prefix>-d-` + 50 + `-dlq` is 76 of SQS's
# 80, `<prefix>-r-` + 40 is 62 of EventBridge's 64 for a rule.
DESTINATION_BUDGET = 50
ROUTE_BUDGET = 40
_HASH_LEN = 8


def prefix(suffix: str) -> str:
    """`wh-<suffix>`; the suffix is 1-16 of `[a-z0-9-]`, starting and ending alphanumeric (lower
    case only: it is part of the S3 bucket's name)."""
    if not SUFFIX_RE.match(suffix):
        raise ValueError(
            f"environment suffix {suffix!r} must be 1-{MAX_SUFFIX} characters of lower-case "
            "letters, digits and '-', starting and ending with a letter or digit"
        )
    return f"wh-{suffix}"


def check_prefix(value: str) -> str:
    """A prefix read back (e.g. from `WHP_PREFIX`): the same rule as `prefix()` makes."""
    if not PREFIX_RE.match(value):
        raise ValueError(
            f"resource prefix {value!r} is not of the form wh-<suffix> (the suffix 1-{MAX_SUFFIX} "
            "lower-case letters, digits and '-', starting and ending with a letter or digit)"
        )
    return value


def fit(name: str, n: int) -> str:
    """`name` if it has at most `n` characters, else its first `n - 9` characters, '-' and the
    first 8 hex digits of its sha256: stable, and two long names that share a start differ."""
    if n <= _HASH_LEN + 1:
        raise ValueError(f"a budget of {n} characters leaves no room for a name and its hash")
    if len(name) <= n:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:_HASH_LEN]
    return f"{name[: n - _HASH_LEN - 1]}-{digest}"


def function(prefix: str, which: str) -> str:
    """A Lambda function: `<prefix>-ingest`, `-router`, `-delivery` or `-rotation`."""
    if which not in FUNCTIONS:
        raise ValueError(f"no function {which!r} (functions: {', '.join(FUNCTIONS)})")
    return f"{prefix}-{which}"


def role(prefix: str, which: str) -> str:
    """A function's IAM role: named as the function."""
    return function(prefix, which)


def log_group(prefix: str, which: str) -> str:
    return f"/aws/lambda/{function(prefix, which)}"


def table(prefix: str) -> str:
    return f"{prefix}-events"


def bucket(prefix: str, account_id: str) -> str:
    """The bucket for bodies too large for an item; bucket names are global, hence the account."""
    if not re.fullmatch(r"[0-9]{12}", account_id):
        raise ValueError(f"account id {account_id!r} is not 12 digits")
    return f"{prefix}-bodies-{account_id}"


def bus(prefix: str) -> str:
    return f"{prefix}-bus"


def archive(prefix: str) -> str:
    return f"{prefix}-archive"


def ingest_queue(prefix: str) -> str:
    return f"{prefix}-ingest"


def ingest_dlq(prefix: str) -> str:
    return f"{ingest_queue(prefix)}-dlq"


def destination_queue(prefix: str, destination: str) -> str:
    return f"{prefix}-d-{fit(destination, DESTINATION_BUDGET)}"


def destination_dlq(prefix: str, destination: str) -> str:
    return f"{destination_queue(prefix, destination)}-dlq"


def rule(prefix: str, route: str) -> str:
    """The EventBridge rule of a route."""
    return f"{prefix}-r-{fit(route, ROUTE_BUDGET)}"


def secret_id(prefix: str, name: str) -> str:
    """The secret of `aws-sm:<name>`: `<prefix>/<name>`, or `name` itself when it is an ARN."""
    if name.startswith("arn:"):
        if ":secretsmanager:" not in name or ":secret:" not in name:
            raise ValueError(f"{name!r} is not the ARN of a Secrets Manager secret")
        return name
    if not SECRET_NAME_RE.match(name):
        raise ValueError(
            f"secret name {name!r} may hold only letters, digits and /_+=.@- (Secrets Manager)"
        )
    full = f"{prefix}/{name}"
    if len(full) > MAX_SECRET_ID:
        raise ValueError(
            f"secret name {name!r} is too long: {full!r} would have {len(full)} characters, "
            f"over Secrets Manager's {MAX_SECRET_ID}"
        )
    return full


def kms_alias(prefix: str) -> str:
    return f"alias/{prefix}"


def alarm_topic(prefix: str) -> str:
    return f"{prefix}-alarms"


def dashboard(prefix: str) -> str:
    return prefix
