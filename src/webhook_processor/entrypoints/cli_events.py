"""`whp events list|show`: what the store holds, events with their deliveries and attempts."""

from __future__ import annotations

import argparse
import base64
import contextlib
import re
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from webhook_processor import config, errors, models, payload, ports
from webhook_processor.adapters.sqlite import queue as sqlite_queue
from webhook_processor.bootstrap import local

_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    events = sub.add_parser("events", help="list and show stored events")
    esub = events.add_subparsers(required=True, metavar="ACTION")

    p = esub.add_parser(
        "list",
        parents=[common],
        help="newest first",
        description="Events newest first, a page at a time. When more match, stderr says how "
        "to get the next page (--cursor); with --json it gets a JSON line "
        '{"next": CURSOR} instead, and stdout holds events only.',
    )
    add_filters(p)
    p.add_argument("--limit", type=positive_int, default=50, help="events per page (50)")
    p.add_argument("--cursor", help="the next page: the cursor the previous page printed")
    p.add_argument("--json", action="store_true", help="JSON lines, for scripts")
    p.set_defaults(handler=cmd_list)

    p = esub.add_parser(
        "show", parents=[common], help="one event with its headers, body, deliveries and attempts"
    )
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_show)


def add_filters(p: argparse.ArgumentParser) -> None:
    """The flags that select events: `events list` and `replay` share them."""
    p.add_argument("--source")
    p.add_argument("--type", dest="event_type")
    p.add_argument("--status", choices=["pending", "routed", "unrouted"])
    p.add_argument("--key", dest="idempotency_key", help="idempotency key")
    p.add_argument("--since", help="RFC 3339 time or a duration ago (30m, 2h, 7d)")
    p.add_argument("--until", help="RFC 3339 time or a duration ago")


def positive_int(text: str) -> int:
    """An argparse type: a whole number above 0 (a bad one exits 2 naming the flag)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number above 0") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text}: give a number above 0")
    return value


def event_filter(args: argparse.Namespace, now: float) -> ports.EventFilter:
    return ports.EventFilter(
        source=args.source,
        event_type=args.event_type,
        status=args.status,
        idempotency_key=args.idempotency_key,
        since_ms=parse_time(args.since, now, "--since"),
        until_ms=parse_time(args.until, now, "--until"),
    )


def parse_time(text: str | None, now: float, flag: str) -> int | None:
    """Unix ms from `30m`-style durations ago or an RFC 3339 time; UsageError otherwise."""
    if text is None:
        return None
    match = _RELATIVE.match(text)
    if match:
        return int((now - int(match.group(1)) * _UNITS[match.group(2)]) * 1000)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise errors.UsageError(
            f"{flag} {text!r}: expected an RFC 3339 time or a duration like 30m, 2h, 7d"
        ) from None
    if moment.tzinfo is None:
        raise errors.UsageError(f"{flag} {text!r}: give a time zone (e.g. Z or +02:00)")
    return int(moment.timestamp() * 1000)


def summary(event: models.Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "received": event.received,
        "source": event.source,
        "type": event.event_type,
        "status": event.status,
        "idempotency_key": event.idempotency_key,
    }


def cmd_list(args: argparse.Namespace) -> int:
    cfg = config.load(args.config)
    now = time.time()
    where = event_filter(args, now)
    ops = local.operations(cfg, readonly=True)
    try:
        page = ops.events(where, args.limit, args.cursor)
    except errors.UsageError:  # the cursor is all a listing can find wrong
        raise errors.UsageError(
            f"--cursor {args.cursor[:80]!r} is not a cursor whp gave: pass the one the previous "
            "page printed, as it is"
        ) from None
    found = page.items
    if args.json:
        for event in found:
            sys.stdout.write(orjson.dumps(summary(event)).decode() + "\n")
        if page.next is not None:  # stdout stays events only, for scripts reading it line by line
            print(orjson.dumps({"next": page.next}).decode(), file=sys.stderr)
        return 0
    queue = ops.queue
    print_table(
        ["ID", "RECEIVED", "SOURCE", "TYPE", "STATUS", "DELIVERIES", "IDEMPOTENCY KEY"],
        [
            [
                e.id,
                e.received,
                e.source,
                e.event_type,
                e.status,
                deliveries_cell(e, queue.deliveries_of(e.id)),
                e.idempotency_key or "-",
            ]
            for e in found
        ],
        empty="(no events)",
    )
    if page.next is not None:
        which = "the newest" if args.cursor is None else "the next"
        print(f"({which} {len(found)}; more with --cursor {page.next})", file=sys.stderr)
    return 0


# Control characters as escapes: cells hold senders' text (event types, keys), which must not
# move the cursor, retitle the terminal or start a row of its own.
_ESCAPED = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]} | {
    0x09: "\\t",
    0x0A: "\\n",
    0x0D: "\\r",
}


def print_table(header: list[str], rows: list[list[str]], empty: str) -> None:
    """Left-aligned columns two spaces apart; `empty` below the header when there are no rows."""
    table = [header, *([cell.translate(_ESCAPED) for cell in row] for row in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if not rows:
        print(empty)


def deliveries_cell(event: models.Event, found: Sequence[sqlite_queue.Delivery]) -> str:
    """`2`, `2 (1 dead)`, `3 (1 pending, 1 dead)`; `-` while the event waits to be routed."""
    if not found and event.status == "pending":
        return "-"
    open_ = [f"{n} {s}" for s in ("pending", "dead") if (n := sum(d.status == s for d in found))]
    return f"{len(found)} ({', '.join(open_)})" if open_ else str(len(found))


def delivery_json(
    delivery: sqlite_queue.Delivery, attempts: Sequence[sqlite_queue.Attempt]
) -> dict[str, Any]:
    """A delivery as `whp events show` prints it, its attempts in order."""
    return {
        "id": delivery.id,
        "route": delivery.route,
        "destination": delivery.destination,
        "webhook_id": delivery.webhook_id,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt": (
            models.rfc3339(delivery.next_attempt_ms) if delivery.status == "pending" else None
        ),
        "created": models.rfc3339(delivery.created_ms),
        "updated": models.rfc3339(delivery.updated_ms),
        "attempts_detail": [
            {
                "number": a.number,
                "started": models.rfc3339(a.started_ms),
                "duration_ms": a.duration_ms,
                "status_code": a.status_code,
                "error": a.error,
                "response_excerpt": a.response_excerpt,
            }
            for a in attempts
        ],
    }


def cmd_show(args: argparse.Namespace) -> int:
    cfg = config.load(args.config)
    event = local.event_reader(cfg).get(args.id)
    if event is None:
        raise errors.UsageError(f"no event {args.id!r} in {cfg.storage.path}")
    shown = summary(event) | {"content_type": event.content_type, "headers": event.headers}
    try:
        shown["body"] = event.body.decode("utf-8")
    except UnicodeDecodeError:
        shown["body_base64"] = base64.b64encode(event.body).decode()
    with contextlib.suppress(errors.Rejected):
        shown["detail"] = payload.parse(event.body, event.content_type)
    queue = local.delivery_queue(cfg, readonly=True)
    shown["deliveries"] = [
        delivery_json(d, queue.attempts_of(d.id)) for d in queue.deliveries_of(event.id)
    ]
    option = orjson.OPT_INDENT_2 if not args.json else 0
    print(orjson.dumps(shown, option=option).decode())
    return 0
