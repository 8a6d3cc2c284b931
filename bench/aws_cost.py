"""Dollars per million webhooks for the AWS deployment (infra/terraform) at list prices.

    python -m bench.aws_cost              # prices, sizes, per-service table, totals
    python -m bench.aws_cost --markdown   # the table of infra/terraform/README.md, exactly
    python -m bench.aws_cost --floors     # the README's table of the fewest writes, exactly
    python -m bench.aws_cost --json       # {profile: {service: $, "total": $}, "floors": ...}

A model, not a measurement: every price and every size it assumes is printed. Two profiles:
`default` (the module's defaults) and `lean` (variables only: api_type = "http", larger batches
and windows, log_level WARNING, platform_log_level WARN, tracing_mode PassThrough, the same
7-day retention). One
webhook: one route matches, the first delivery attempt succeeds, bodies fit in the item.

Prices: us-east-1 list prices (2026), arm64 Lambda, from each service's pricing page on
aws.amazon.com (the tiers a million webhooks a month falls in; free tiers ignored).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, replace

# (dollars, per how many units, what a unit is)
PRICES: dict[str, tuple[float, float, str]] = {
    "lambda_request": (0.20, 1e6, "Lambda requests"),
    "lambda_gb_second": (0.0000133334, 1, "Lambda arm64 GB-second (INIT billed too)"),
    "api_rest": (3.50, 1e6, "API Gateway REST requests"),
    "api_http": (1.00, 1e6, "API Gateway HTTP API requests (per 512 KB)"),
    "sqs_request": (0.40, 1e6, "SQS standard requests (per 64 KB chunk)"),
    "dynamodb_wru": (0.625, 1e6, "DynamoDB on-demand write request units (1 KB)"),
    "dynamodb_rru": (0.125, 1e6, "DynamoDB on-demand read request units (4 KB, strong)"),
    "eventbridge_event": (1.00, 1e6, "EventBridge custom events (per 64 KB)"),
    "eventbridge_archive_gb": (0.10, 1, "EventBridge archive, GB archived"),
    "logs_ingest_gb": (0.50, 1, "CloudWatch Logs ingestion, GB"),
    "xray_trace": (5.00, 1e6, "X-Ray traces recorded"),
    "kms_request": (0.03, 1e4, "KMS requests"),
    "secrets_api": (0.05, 1e4, "Secrets Manager API calls"),
}

# The table writes of one webhook, as docs/aws.md ("Items", "Who writes what") has the adapter
# do them: (step, what, item KB, write units per KB (2 in a transaction), index writes). The
# table has no index and the steps no transaction. The payload: 2 KB of headers and body
# compress to about 0.9 KB (GitHub's payload examples, octokit/webhooks: 4.8x at the median of
# 8.4 KB, 1.8-2.5x for the 1.5-2.5 KB ones, whose signature and id headers do not compress),
# over 1 KB with the event's fields: 2 units. The state item stays under 1 KB.
WRITE_PLAN: tuple[tuple[str, str, int, int, int], ...] = (
    (
        "ingest",
        "PutItem payload item, conditional (the dedupe): fields + zlib(headers, body)",
        2,
        1,
        0,
    ),
    ("ingest", "PutItem state item (the listing): pending", 1, 1, 0),
    ("router", "UpdateItem state item: routed, the round's targets", 1, 1, 0),
    ("delivery", "UpdateItem state item: the delivery's entry, with its first attempt", 1, 1, 0),
)
# router and delivery: the state item (strongly consistent: 1) and the payload (it never
# changes: eventually consistent, 0.5).
READS = 3


# The fewest table writes one webhook can cost under each reading of the contract, in no index
# and in no transaction, every item but the payload under 1 KB: what the table could come to at
# best, printed beside today's plan so that the choice is made with figures. DynamoDB makes an
# item unique on its own key only, so dedupe and a time-ordered listing are two items (two
# writes) unless the event's own key is its idempotency key.
def listed_once_routed(payload_kb: int) -> tuple[tuple[str, str, int, int, int], ...]:
    return (
        ("ingest", "PutItem payload keyed by its idempotency key, conditional", payload_kb, 1, 0),
        ("router", "PutItem state item in a time-ordered partition (the listing)", 1, 1, 0),
        ("delivery", "UpdateItem state item: the delivery and its attempt", 1, 1, 0),
    )


FLOOR_PLANS: dict[str, tuple[tuple[str, str, int, int, int], ...]] = {
    "listed once routed": listed_once_routed(2),
    "listed once routed, 1 KB webhooks": listed_once_routed(1),
}
FLOOR_READS = 2  # router: the payload; delivery: the state (strong) and the payload


@dataclass(frozen=True)
class Profile:
    name: str
    api: str  # "rest" | "http"
    router_batch: int
    delivery_batch: int
    app_log_bytes: int  # what the functions log per webhook at this level
    tracing: str  # "Active" | "PassThrough"
    memory_gb: float = 0.25
    ingest_ms: float = 50.0  # verify + conditional writes + SendMessage, warm
    router_batch_ms: float = 150.0  # a batch: reads, writes, PutEvents
    delivery_ms: float = 300.0  # a delivery: the receiver's answer dominates
    max_concurrency: int = 10  # the destination's (config default): max(1, N // 2) at once
    cold_start_share: float = 0.01  # invocations that pay INIT
    init_ms: float = 900.0  # boto3 + the handler's imports
    platform_log_bytes: int = 600  # platform.start and platform.report (JSON) of an invocation
    access_log_bytes: int = 350  # one JSON line per API request
    event_bytes: int = 1500  # the EventBridge event as archived


DEFAULT = Profile(
    name="default",
    api="rest",
    router_batch=10,
    delivery_batch=5,
    app_log_bytes=3 * 400,  # INFO: a line per webhook in ingest, router and delivery
    tracing="Active",
)
LEAN = replace(
    DEFAULT,
    name="lean",
    api="http",
    router_batch=100,  # batching.router_window_seconds = 5
    delivery_batch=10,  # batching.delivery_window_seconds = 2
    app_log_bytes=0,  # WARNING: nothing on the happy path
    platform_log_bytes=0,  # platform_log_level = "WARN": no START or REPORT
    tracing="PassThrough",  # nothing upstream samples: no traces
)
PROFILES = (DEFAULT, LEAN)
XRAY_SAMPLED = 0.05  # Lambda active tracing: 1 request a second, then 5 %
TARGETS = {"default": 10.0, "lean": 6.0}


def price(key: str, units: float) -> float:
    dollars, per, _ = PRICES[key]
    return dollars * units / per


def estimate(
    p: Profile,
    n: float = 1e6,
    plan: tuple[tuple[str, str, int, int, int], ...] = WRITE_PLAN,
    reads: float = READS,
) -> dict[str, float]:
    """Dollars for n webhooks, by service, with the table's writes and reads of `plan`."""
    invocations = {"ingest": 1.0, "router": 1 / p.router_batch, "delivery": 1 / p.delivery_batch}
    busy_s = p.ingest_ms / 1000 + p.router_batch_ms / 1000 / p.router_batch
    # A batch's deliveries are in flight together, max(1, N // 2) at a time
    # (adapters/aws/deliverer.py): each waits for its receiver, side by side.
    together = max(1, p.max_concurrency // 2)
    busy_s += p.delivery_ms / 1000 * math.ceil(p.delivery_batch / together) / p.delivery_batch
    init_s = p.cold_start_share * sum(invocations.values()) * p.init_ms / 1000
    lambda_cost = price("lambda_request", n * sum(invocations.values()))
    lambda_cost += price("lambda_gb_second", n * p.memory_gb * (busy_s + init_s))
    # SQS: ingest sends; EventBridge sends to the destination queue; each mapping batch is one
    # ReceiveMessage and one DeleteMessageBatch.
    sqs = 2 + 2 * (invocations["router"] + invocations["delivery"])
    wru = write_units(plan)
    log_bytes = p.app_log_bytes + p.platform_log_bytes * sum(invocations.values())
    log_bytes += p.access_log_bytes
    traces = XRAY_SAMPLED * sum(invocations.values()) if p.tracing == "Active" else 0.0
    # KMS: SQS and DynamoDB reuse data keys (5 min); decrypts at cold starts (environment,
    # secrets) are what is left. Secrets Manager: one GetSecretValue per container.
    cold = p.cold_start_share * sum(invocations.values())
    return {
        "API Gateway": price("api_rest" if p.api == "rest" else "api_http", n),
        "Lambda": lambda_cost,
        "SQS": price("sqs_request", n * sqs),
        "DynamoDB": price("dynamodb_wru", n * wru) + price("dynamodb_rru", n * reads),
        "EventBridge": price("eventbridge_event", n)
        + price("eventbridge_archive_gb", n * p.event_bytes / 1e9),
        "CloudWatch Logs": price("logs_ingest_gb", n * log_bytes / 1e9),
        "X-Ray": price("xray_trace", n * traces),
        "KMS": price("kms_request", n * cold * 2),
        "Secrets Manager": price("secrets_api", n * cold),
    }


def write_units(plan: tuple[tuple[str, str, int, int, int], ...]) -> int:
    return sum(kb * per_kb + index_writes for _, _, kb, per_kb, index_writes in plan)


def floors() -> dict[str, dict[str, float]]:
    """{write plan: {profile: total dollars}} for the plans of FLOOR_PLANS."""
    return {
        name: {
            p.name: round(sum(estimate(p, plan=plan, reads=FLOOR_READS).values()), 2)
            for p in PROFILES
        }
        for name, plan in FLOOR_PLANS.items()
    }


def floors_markdown() -> str:
    """The table of the fewest writes each reading of the contract allows (README, "Cost")."""
    lines = [
        "| the table's writes | write units | default ($/M) | lean ($/M) |",
        "|---|---:|---:|---:|",
        f"| listed at ingest: today's (docs/aws.md) | {write_units(WRITE_PLAN)} |"
        f" {totals()['default']['total']:.2f} | {totals()['lean']['total']:.2f} |",
    ]
    for name, figures in floors().items():
        units = write_units(FLOOR_PLANS[name])
        lines.append(f"| {name} | {units} | {figures['default']:.2f} | {figures['lean']:.2f} |")
    return "\n".join(lines)


def totals() -> dict[str, dict[str, float]]:
    out = {}
    for p in PROFILES:
        costs = estimate(p)
        out[p.name] = {**{k: round(v, 2) for k, v in costs.items()}, "total": sum(costs.values())}
        out[p.name]["total"] = round(out[p.name]["total"], 2)
    return out


def markdown() -> str:
    """The cost table of infra/terraform/README.md."""
    data = totals()
    services = [k for k in data["default"] if k != "total"]
    lines = ["| service | default ($/M) | lean ($/M) |", "|---|---:|---:|"]
    lines += [f"| {s} | {data['default'][s]:.2f} | {data['lean'][s]:.2f} |" for s in services]
    lines.append(
        f"| **total** | **{data['default']['total']:.2f}** | **{data['lean']['total']:.2f}** |"
    )
    return "\n".join(lines)


def report() -> str:
    lines = ["Prices (us-east-1, 2026 list):"]
    lines += [f"  {what}: ${d:g} per {per:g}" for d, per, what in PRICES.values()]
    lines.append("Sizes and counts per webhook (one route, delivered at the first attempt):")
    for p in PROFILES:
        lines.append(
            f"  {p.name}: api {p.api}, router batch {p.router_batch}, delivery batch "
            f"{p.delivery_batch}, {p.memory_gb * 1024:.0f} MB, ingest {p.ingest_ms:g} ms, "
            f"router {p.router_batch_ms:g} ms a batch, delivery {p.delivery_ms:g} ms, "
            f"{p.cold_start_share:.0%} cold starts of {p.init_ms:g} ms, logs "
            f"{p.app_log_bytes} B app + {p.platform_log_bytes} B platform a call + "
            f"{p.access_log_bytes} B access, tracing {p.tracing}"
        )
    lines.append("DynamoDB writes (item KB x write units per KB + index writes):")
    lines += [
        f"  {step}: {what}: {kb} x {per_kb} + {ix}" for step, what, kb, per_kb, ix in WRITE_PLAN
    ]
    lines.append(f"DynamoDB reads: {READS} strongly consistent reads of up to 4 KB")
    lines += ["", markdown(), ""]
    lines.append(
        f"The fewest writes with events listed only once routed (no index, no transaction; "
        f"{FLOOR_READS} read units):"
    )
    for name, plan in FLOOR_PLANS.items():
        lines.append(f"  {name}:")
        lines += [f"    {step}: {what}" for step, what, *_ in plan]
    lines += ["", floors_markdown()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="only the README's table")
    parser.add_argument("--json", action="store_true", help="the figures as JSON")
    parser.add_argument(
        "--floors", action="store_true", help="only the README's table of the fewest writes"
    )
    args = parser.parse_args(argv)
    if args.json:
        print(json.dumps({**totals(), "floors": floors()}, indent=2))
    elif args.floors:
        print(floors_markdown())
    elif args.markdown:
        print(markdown())
    else:
        print(report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
