"""Resource names (docs/aws.md, "Names"): each fits AWS's own limits at the longest suffix and the
longest config names, and long names are shortened the same way every time."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from webhook_processor.adapters.aws import names

LONGEST = names.prefix("a" * 16)
SHORTEST = names.prefix("a")
LONG_NAME = "N" * 64  # config names are [A-Za-z0-9_-]{1,64}
ACCOUNT = "123456789012"

# AWS's limits and characters, from each service's API reference (CreateFunction, CreateRole,
# CreateTable, CreateBucket naming rules, CreateEventBus, CreateArchive, CreateQueue, PutRule,
# CreateSecret, CreateAlias, CreateTopic, PutDashboard, CreateLogGroup): written out here, not
# taken from the module, so that a name the module gets wrong fails.
LAMBDA = (64, r"[A-Za-z0-9_-]+")
IAM_ROLE = (64, r"[\w+=,.@-]+")
SQS = (80, r"[A-Za-z0-9_-]+")
RULE = (64, r"[.\-_A-Za-z0-9]+")
CASES = [
    ("function ingest", lambda p: names.function(p, "ingest"), LAMBDA),
    ("function router", lambda p: names.function(p, "router"), LAMBDA),
    ("function delivery", lambda p: names.function(p, "delivery"), LAMBDA),
    ("function rotation", lambda p: names.function(p, "rotation"), LAMBDA),
    ("role rotation", lambda p: names.role(p, "rotation"), IAM_ROLE),
    ("table", names.table, (255, r"[A-Za-z0-9_.-]{3,}")),
    (
        "bucket",
        lambda p: names.bucket(p, ACCOUNT),
        (63, r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"),
    ),
    ("bus", names.bus, (256, r"[/.\-_A-Za-z0-9]+")),
    ("archive", names.archive, (48, r"[.\-_A-Za-z0-9]+")),
    ("ingest queue", names.ingest_queue, SQS),
    ("ingest dlq", names.ingest_dlq, SQS),
    ("destination queue", lambda p: names.destination_queue(p, LONG_NAME), SQS),
    ("destination dlq", lambda p: names.destination_dlq(p, LONG_NAME), SQS),
    ("destination queue of a long name", lambda p: names.destination_queue(p, "a_-" * 21), SQS),
    ("rule", lambda p: names.rule(p, LONG_NAME), RULE),
    ("secret", lambda p: names.secret_id(p, "github/webhook_secret"), (512, r"[\w/+=.@-]+")),
    ("kms alias", names.kms_alias, (256, r"alias/[A-Za-z0-9/_-]+")),
    ("alarm topic", names.alarm_topic, (256, r"[A-Za-z0-9_-]+")),
    ("dashboard", names.dashboard, (255, r"[A-Za-z0-9_-]+")),
    ("log group", lambda p: names.log_group(p, "delivery"), (512, r"[.\-_/#A-Za-z0-9]+")),
]


@pytest.mark.parametrize(("what", "make", "rule"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("prefix", [LONGEST, SHORTEST], ids=["longest suffix", "shortest"])
def test_every_name_fits_its_aws_limit(
    what: str, make: Callable[[str], str], rule: tuple[int, str], prefix: str
) -> None:
    limit, chars = rule
    name = make(prefix)
    assert len(name) <= limit, f"{what}: {name!r} has {len(name)} characters, over {limit}"
    assert re.fullmatch(chars, name), f"{what}: {name!r} has characters AWS refuses"
    assert prefix in name


def test_names_at_the_longest_inputs() -> None:
    # the longest of each, written out (docs/aws.md has the first): the Terraform module must
    # derive the very same strings; 502ef126 is the start of sha256("N" * 64)
    digest = "502ef126"
    p = LONGEST
    assert names.destination_queue(p, LONG_NAME) == f"{p}-d-{'N' * 41}-{digest}"
    assert len(names.destination_dlq(p, LONG_NAME)) == 76
    assert names.rule(p, LONG_NAME) == f"{p}-r-{'N' * 31}-{digest}"
    assert len(names.rule(p, LONG_NAME)) == 62
    assert names.bucket(p, ACCOUNT) == f"{p}-bodies-{ACCOUNT}"
    assert names.archive(p) == "wh-aaaaaaaaaaaaaaaa-archive"


def test_short_names_are_kept_as_they_are() -> None:
    assert names.destination_queue("wh-prod", "orders") == "wh-prod-d-orders"
    assert names.destination_dlq("wh-prod", "orders") == "wh-prod-d-orders-dlq"
    assert names.rule("wh-prod", "stripe-payments") == "wh-prod-r-stripe-payments"
    assert names.secret_id("wh-prod", "github") == "wh-prod/github"
    assert names.function("wh-prod", "ingest") == "wh-prod-ingest"
    assert names.role("wh-prod", "ingest") == "wh-prod-ingest"
    assert names.table("wh-prod") == "wh-prod-events"
    assert names.kms_alias("wh-prod") == "alias/wh-prod"


def test_fit_is_stable_and_keeps_long_names_apart() -> None:
    # the digests written out (sha256 of the whole name, first 8 hex digits), as Terraform's
    # sha256() gives them: a change of the rule breaks the module's and the runtime's agreement
    name = "a" * 41 + "x"
    assert names.fit(name, 40) == "a" * 31 + "-7fed952d"
    assert names.fit(name, 40) == names.fit(name, 40)
    assert names.fit("orders-" * 9, 50) == ("orders-" * 9)[:41] + "-49bdf3c0"
    assert names.fit("a" * 40, 40) == "a" * 40  # at the budget: unchanged
    assert names.fit("a" * 41, 40) != names.fit("a" * 40 + "b", 40)  # same start, told apart
    assert len(names.fit("z" * 64, 40)) == 40


def test_fit_refuses_a_budget_with_no_room() -> None:
    with pytest.raises(ValueError, match="no room"):
        names.fit("abcdefghijk", 9)


@pytest.mark.parametrize(
    "suffix", ["", "a" * 17, "Prod", "-prod", "prod-", "pr_od", "pr.od", "prød"]
)
def test_a_bad_suffix_is_refused_naming_it(suffix: str) -> None:
    with pytest.raises(ValueError, match="environment suffix"):
        names.prefix(suffix)


@pytest.mark.parametrize("suffix", ["a", "0", "prod", "eu-west-1-stage", "a" * 16, "a-b"])
def test_good_suffixes(suffix: str) -> None:
    assert names.prefix(suffix) == f"wh-{suffix}"
    assert names.check_prefix(f"wh-{suffix}") == f"wh-{suffix}"


@pytest.mark.parametrize("value", ["", "wh-", "whp-prod", "wh-Prod", "wh-" + "a" * 17, "prod"])
def test_check_prefix_refuses_what_prefix_cannot_make(value: str) -> None:
    with pytest.raises(ValueError, match="resource prefix"):
        names.check_prefix(value)


def test_secret_ids() -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:github-AbCdEf"
    assert names.secret_id("wh-prod", arn) == arn  # an ARN is used as it is
    with pytest.raises(ValueError, match="ARN of a Secrets Manager secret"):
        names.secret_id("wh-prod", "arn:aws:ssm:eu-west-1:123456789012:parameter/x")
    with pytest.raises(ValueError, match="may hold only"):
        names.secret_id("wh-prod", "git hub")
    with pytest.raises(ValueError, match="too long"):
        names.secret_id(LONGEST, "s" * 493)  # 20 + 493 = 513
    assert len(names.secret_id(LONGEST, "s" * 492)) == 512


def test_unknown_function_and_bad_account() -> None:
    with pytest.raises(ValueError, match="functions: ingest, router, delivery, rotation"):
        names.function("wh-prod", "worker")
    with pytest.raises(ValueError, match="12 digits"):
        names.bucket("wh-prod", "12345")
