"""Every name of docs/aws.md's table at the longest suffix (16) and the longest config names
(64), against the limits the same table gives; and fit() itself. test_plan.py checks the names
Terraform actually computes."""

from __future__ import annotations

import importlib
import re

import pytest

from tests.infra import tfkit
from tests.infra.names import fit

PREFIX = "wh-" + "s" * 16
ACCOUNT = "123456789012"
LONGEST = "n" * 64  # config names are [A-Za-z0-9_-]{1,64}

# docs/aws.md's rows, by their first column, as the names they produce at their longest.
NAMES: dict[str, list[str]] = {
    "Lambda functions": [f"{PREFIX}-{f}" for f in ("ingest", "router", "delivery", "rotation")],
    "IAM roles": [f"{PREFIX}-{f}" for f in ("ingest", "router", "delivery", "rotation")],
    "DynamoDB table": [f"{PREFIX}-events"],
    "S3 bucket (large bodies)": [f"{PREFIX}-bodies-{ACCOUNT}"],
    "event bus": [f"{PREFIX}-bus"],
    "archive": [f"{PREFIX}-archive"],
    "ingest queue, its DLQ": [f"{PREFIX}-ingest", f"{PREFIX}-ingest-dlq"],
    "destination queue, its DLQ": [
        f"{PREFIX}-d-{fit(LONGEST, 50)}",
        f"{PREFIX}-d-{fit(LONGEST, 50)}-dlq",
    ],
    "rule per route": [f"{PREFIX}-r-{fit(LONGEST, 40)}"],
    "Secrets Manager secret of `aws-sm:NAME`": [f"{PREFIX}/{'n' * 256}"],
    "KMS key alias": [f"alias/{PREFIX}"],
    "SNS alarm topic": [f"{PREFIX}-alarms"],
    "CloudWatch dashboard": [PREFIX],
    "log groups": [f"/aws/lambda/{PREFIX}-rotation"],
}


def documented_limits() -> dict[str, int]:
    text = (tfkit.REPO / "docs" / "aws.md").read_text(encoding="utf-8")
    section = text.split("## Names", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (.+?) \| .+? \| (\d+) \|$", section, flags=re.M)
    return {label: int(limit) for label, limit in rows}


def test_every_documented_name_fits_its_documented_limit() -> None:
    limits = documented_limits()
    assert set(limits) == set(NAMES), "docs/aws.md's table and this test list other resources"
    over = [(name, len(name), limits[row]) for row, names in NAMES.items() for name in names]
    assert [o for o in over if o[1] > o[2]] == []


@pytest.mark.parametrize(
    ("name", "n", "expected"),
    [
        ("orders", 50, "orders"),
        ("o" * 50, 50, "o" * 50),  # exactly the budget: unchanged
        # Vectors of the rule, shared by the module and the runtime: sha256 in lower-case hex.
        ("o" * 51, 50, "o" * 41 + "-00284780"),
        ("n" * 64, 40, "n" * 31 + "-ce068a19"),
    ],
)
def test_fit(name: str, n: int, expected: str) -> None:
    assert fit(name, n) == expected
    assert len(fit(name, n)) <= n


def test_fit_is_stable_and_keeps_distinct_names_distinct() -> None:
    a, b = "x" * 63 + "a", "x" * 63 + "b"
    assert fit(a, 40) == fit(a, 40)
    assert fit(a, 40) != fit(b, 40)
    assert fit(a, 40).startswith("x" * 31 + "-")


def test_python_runtime_fits_names_the_same_way() -> None:
    """webhook_processor.adapters.aws.names (the runtime's side of the rule) agrees."""
    try:
        names = importlib.import_module("webhook_processor.adapters.aws.names")
    except ModuleNotFoundError:
        pytest.skip("webhook_processor.adapters.aws.names is not in this tree yet (AWS runtime)")
    for name in ("orders", "o" * 50, "o" * 51, LONGEST, "Mixed_Case-64" + "z" * 51):
        for n in (40, 50):
            assert names.fit(name, n) == fit(name, n), (name, n)
