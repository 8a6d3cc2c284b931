"""`whp events list|show`: look at what the store holds."""

from __future__ import annotations

import argparse
import base64
import contextlib
import re
import sys
import time
from datetime import datetime
from typing import Any

import orjson

from webhook_processor import bootstrap, config, errors, models, payload, ports

_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    events = sub.add_parser("events", help="list and show stored events")
    esub = events.add_subparsers(required=True, metavar="ACTION")

    p = esub.add_parser("list", parents=[common], help="newest first")
    p.add_argument("--source")
    p.add_argument("--type", dest="event_type")
    p.add_argument("--status", choices=["pending", "routed", "unrouted"])
    p.add_argument("--key", dest="idempotency_key", help="idempotency key")
    p.add_argument("--since", help="RFC 3339 time or a duration ago (30m, 2h, 7d)")
    p.add_argument("--until", help="RFC 3339 time or a duration ago")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="JSON lines, for scripts")
    p.set_defaults(handler=cmd_list)

    p = esub.add_parser("show", parents=[common], help="one event with its headers and body")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_show)


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
    where = ports.EventFilter(
        source=args.source,
        event_type=args.event_type,
        status=args.status,
        idempotency_key=args.idempotency_key,
        since_ms=parse_time(args.since, now, "--since"),
        until_ms=parse_time(args.until, now, "--until"),
    )
    found = bootstrap.event_reader(cfg).list(where, args.limit)
    if args.json:
        for event in found:
            sys.stdout.write(orjson.dumps(summary(event)).decode() + "\n")
        return 0
    rows = [["ID", "RECEIVED", "SOURCE", "TYPE", "STATUS", "IDEMPOTENCY KEY"]]
    rows += [
        [e.id, e.received, e.source, e.event_type, e.status, e.idempotency_key or "-"]
        for e in found
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if not found:
        print("(no events)")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    cfg = config.load(args.config)
    event = bootstrap.event_reader(cfg).get(args.id)
    if event is None:
        raise errors.UsageError(f"no event {args.id!r} in {cfg.storage.path}")
    shown = summary(event) | {"content_type": event.content_type, "headers": event.headers}
    try:
        shown["body"] = event.body.decode("utf-8")
    except UnicodeDecodeError:
        shown["body_base64"] = base64.b64encode(event.body).decode()
    with contextlib.suppress(errors.Rejected):
        shown["detail"] = payload.parse(event.body, event.content_type)
    option = orjson.OPT_INDENT_2 if not args.json else 0
    print(orjson.dumps(shown, option=option).decode())
    return 0
