"""`whp events list|show`: what the store holds, events with their deliveries and attempts, from
the local store or (`--url`) a running server's admin API. `--json` prints the API's own JSON."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import orjson

from webhook_processor import errors, ports, times
from webhook_processor.entrypoints import cli_admin, cli_show

MAX_LIMIT = 500  # as the admin API's


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
    p.add_argument("--limit", type=limit, default=50, help="events per page (50, at most 500)")
    p.add_argument("--cursor", help="the next page: the cursor the previous page printed")
    p.add_argument("--json", action="store_true", help="JSON lines, for scripts")
    cli_admin.add_url(p)
    p.set_defaults(handler=cmd_list)

    p = esub.add_parser(
        "show", parents=[common], help="one event with its headers, body, deliveries and attempts"
    )
    p.add_argument("id")
    p.add_argument("--json", action="store_true", help="one line of JSON, for scripts")
    cli_admin.add_url(p)
    p.set_defaults(handler=cmd_show)


def add_filters(p: argparse.ArgumentParser) -> None:
    """The flags that select events: `events list` and `replay` share them."""
    p.add_argument("--source")
    p.add_argument("--type", dest="event_type")
    p.add_argument(
        "--status",
        choices=["pending", "routed", "unrouted", "dead"],
        help="an event status, or dead: events with a dead delivery",
    )
    p.add_argument("--key", dest="idempotency_key", help="idempotency key")
    p.add_argument("--since", help="RFC 3339 time or a duration ago (30m, 2h, 7d)")
    p.add_argument("--until", help="RFC 3339 time or a duration ago")


def event_filter(args: argparse.Namespace, now: float) -> ports.EventFilter:
    return ports.EventFilter(
        source=args.source,
        event_type=args.event_type,
        status=args.status,
        idempotency_key=args.idempotency_key,
        since_ms=times.parse_time(args.since, now, "--since"),
        until_ms=times.parse_time(args.until, now, "--until"),
    )


def limit(text: str) -> int:
    """An argparse type: a page size, 1 to MAX_LIMIT (a bad one exits 2 naming the flag)."""
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def cmd_list(args: argparse.Namespace) -> int:
    where = event_filter(args, time.time())
    admin = cli_admin.backend(args, readonly=True)
    try:
        page = admin.events(where, args.limit, args.cursor)
    except errors.UsageError as exc:
        if args.cursor is None or "cursor" not in exc.detail:
            raise
        raise errors.UsageError(
            f"--cursor {args.cursor[:80]!r} is not a cursor whp gave: pass the one the previous "
            "page printed, as it is"
        ) from None
    found = page["data"]
    if args.json:
        for item in found:
            sys.stdout.write(orjson.dumps(item).decode() + "\n")
        if page["next"] is not None:  # stdout stays events only, for scripts reading it
            print(orjson.dumps({"next": page["next"]}).decode(), file=sys.stderr)
        return 0
    cli_show.table(
        ["ID", "RECEIVED", "STATUS", "SOURCE", "TYPE", "IDEMPOTENCY KEY"],
        [
            [
                e["id"],
                e["received_at"],
                e["status"],
                e["source"],
                e["event_type"],
                e["idempotency_key"] or "-",
            ]
            for e in found
        ],
        empty="(no events)",
        whole=(0, 1),
    )
    more(page, args.cursor)
    return 0


def more(page: dict[str, Any], cursor: str | None) -> None:
    """On stderr, when there is a next page: how to get it."""
    if page["next"] is not None:
        which = "the newest" if cursor is None else "the next"
        count = len(page["data"])
        print(f"({which} {count}; more with --cursor {page['next']})", file=sys.stderr)


def cmd_show(args: argparse.Namespace) -> int:
    shown = cli_admin.backend(args, readonly=True).event(args.id)
    option = 0 if args.json else orjson.OPT_INDENT_2
    print(orjson.dumps(shown, option=option).decode())
    return 0
