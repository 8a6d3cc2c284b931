"""The operator's commands: `whp replay`, `whp dlq list|redrive`, `whp destinations
list|pause|resume` (on the local store, or with `--url` through a running server's admin API),
and `whp purge` (local only).

They change the store only; the running `whp serve` worker acts on what they leave there: it
routes replayed events again, delivers redriven deliveries, holds those of paused destinations.
Bulk work is services.operations.Operator's, in batches paced so that ingest always gets the
store in time; here it shows progress.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from webhook_processor import config, errors, models, ports, services
from webhook_processor.bootstrap import local
from webhook_processor.entrypoints import cli_admin, cli_events, cli_show

DAY_MS = 86_400_000


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "replay",
        parents=[common],
        help="route stored events again (by id, or every event matching filters)",
        description="Make events pending again: the running `whp serve` (or `whp worker`) "
        "routes them with the routes it has loaded; after editing whp.yaml, reload it first "
        "(kill -HUP <its pid>). Deliveries keep the event's webhook-id unless --new-id.",
    )
    p.add_argument("ids", nargs="*", metavar="ID", help="event ids (or use the filters)")
    cli_events.add_filters(p)
    p.add_argument("--all", action="store_true", help="every stored event")
    p.add_argument("--dry-run", action="store_true", help="only count the events")
    p.add_argument(
        "--new-id", action="store_true", help="fresh webhook-ids, so receivers process them again"
    )
    p.add_argument("--yes", action="store_true", help="replay by filter without asking")
    cli_admin.add_url(p)
    p.set_defaults(handler=cmd_replay)

    dlq = sub.add_parser("dlq", help="the dead-letter queue: list and redrive dead deliveries")
    dsub = dlq.add_subparsers(required=True, metavar="ACTION")
    p = dsub.add_parser("list", parents=[common], help="dead deliveries, newest first")
    p.add_argument("--destination")
    p.add_argument("--limit", type=cli_events.limit, default=50, help="per page (50)")
    p.add_argument("--cursor", help="the next page: the cursor the previous page printed")
    p.add_argument("--json", action="store_true", help="JSON lines, for scripts")
    cli_admin.add_url(p)
    p.set_defaults(handler=cmd_dlq_list)
    p = dsub.add_parser(
        "redrive", parents=[common], help="retry dead deliveries, attempts starting again at 1"
    )
    p.add_argument("ids", nargs="*", metavar="ID", help="delivery ids")
    p.add_argument("--all", action="store_true", help="every dead delivery")
    p.add_argument("--destination", help="every dead delivery of this destination")
    cli_admin.add_url(p)
    p.set_defaults(handler=cmd_dlq_redrive)

    p = sub.add_parser(
        "purge",
        parents=[common],
        help="delete old events with their deliveries and attempts (local store)",
    )
    p.add_argument(
        "--older-than",
        type=_positive_float,
        metavar="DAYS",
        help="default: storage.retention_days",
    )
    p.set_defaults(handler=cmd_purge)

    dest = sub.add_parser("destinations", help="list, pause and resume destinations")
    tsub = dest.add_subparsers(required=True, metavar="ACTION")
    p = tsub.add_parser("list", parents=[common], help="destinations with their state")
    p.add_argument("--json", action="store_true", help="JSON lines, for scripts")
    cli_admin.add_url(p)
    p.set_defaults(handler=cmd_destinations_list)
    for action, text in (
        ("pause", "hold its deliveries, queued"),
        ("resume", "deliver again after a pause"),
    ):
        p = tsub.add_parser(action, parents=[common], help=text)
        p.add_argument("name")
        cli_admin.add_url(p)
        p.set_defaults(handler=cmd_destinations_pause if action == "pause" else cmd_resume)


# -- replay ---------------------------------------------------------------------------------


def cmd_replay(args: argparse.Namespace) -> int:
    where = cli_events.event_filter(args, time.time())
    filtered = where != ports.EventFilter() or args.all
    if args.ids and filtered:
        raise errors.UsageError("give event ids or filters, not both")
    if not args.ids and not filtered:
        raise errors.UsageError(
            "give event ids, or filters (--source, --type, --status, --key, --since, --until)"
            ", or --all"
        )
    admin = cli_admin.backend(args)
    if args.ids:
        unknown = admin.missing(args.ids)
        if unknown:
            raise errors.NotFound(services.operations.unknown_events(unknown))
        count = len(dict.fromkeys(args.ids))
    else:
        count = admin.replay_matching(where, args.new_id, everything=args.all, dry_run=True)
    if args.dry_run:
        print(f"{_plural(count, 'event')} would be replayed")
        return 0
    if not count:
        print("no events match; nothing replayed")
        return 0
    if filtered and not args.yes:
        _confirm(f"replay {_plural(count, 'event')}?", "--yes")
    with cli_show.progress("replaying", count) as advance:
        if args.ids:
            replayed = admin.replay(args.ids, args.new_id, advance)
        else:
            replayed = admin.replay_matching(
                where, args.new_id, everything=args.all, progress=advance
            )
    ids_note = " with new webhook-ids" if args.new_id else ""
    print(
        f"replayed {_plural(replayed, 'event')}{ids_note}; the running `whp serve` routes them "
        "again with the routes it has loaded (edited whp.yaml? kill -HUP <its pid> reloads it)"
    )
    return 0


# -- dead-letter queue ----------------------------------------------------------------------


def cmd_dlq_list(args: argparse.Namespace) -> int:
    admin = cli_admin.backend(args, readonly=True)
    page = admin.dead_letters(args.destination, args.limit, args.cursor)
    if args.json:
        for d in page["data"]:
            sys.stdout.write(orjson.dumps(d).decode() + "\n")
        if page["next"] is not None:
            print(orjson.dumps({"next": page["next"]}).decode(), file=sys.stderr)
        return 0
    cli_show.table(
        ["ID", "EVENT", "DESTINATION", "ROUTE", "ATTEMPTS", "LAST OUTCOME", "DEAD SINCE"],
        [
            [
                d["delivery_id"],
                d["event_id"],
                d["destination"],
                d["route"],
                str(d["attempts"]),
                _last_outcome(d),
                d["dead_at"],
            ]
            for d in page["data"]
        ],
        empty="(the dead-letter queue is empty)",
        whole=(0, 1, 6),
    )
    cli_events.more(page, args.cursor)
    return 0


def _last_outcome(d: dict[str, Any], width: int = 60) -> str:
    parts = [str(d["last_status_code"])] if d["last_status_code"] is not None else []
    if d["last_error"]:
        parts.append(" ".join(d["last_error"].split()))
    text = " ".join(parts) or "-"
    return text if len(text) <= width else text[: width - 3] + "..."


def cmd_dlq_redrive(args: argparse.Namespace) -> int:
    if sum((bool(args.ids), args.all, args.destination is not None)) != 1:
        raise errors.UsageError("give delivery ids, --all or --destination NAME (one of them)")
    admin = cli_admin.backend(args)
    missed: list[str] = []
    if args.ids:
        ids = list(dict.fromkeys(args.ids))
        with cli_show.progress("redriving", len(ids)) as advance:
            for delivery_id in ids:  # one by one, to name those that were not dead
                if not admin.redrive([delivery_id]):
                    missed.append(delivery_id)
                advance(1)
        redriven = len(ids) - len(missed)
    else:
        total = admin.dead_count(args.destination)
        with cli_show.progress("redriving", total) as advance:
            redriven = admin.redrive_all(args.destination, advance)
    print(f"redrove {_plural(redriven, 'delivery', 'deliveries')}")
    if missed:
        raise errors.UsageError(
            f"not in the dead-letter queue (unknown, pending or delivered): {', '.join(missed)}"
        )
    return 0


# -- retention (local) ----------------------------------------------------------------------


def cmd_purge(args: argparse.Namespace) -> int:
    cfg = config.load(args.config)
    days: float = args.older_than or cfg.storage.retention_days
    operator = local.operator(cfg)
    cutoff_ms = int(time.time() * 1000 - days * DAY_MS)
    with cli_show.progress("purging", None) as advance:
        purged, kept = operator.purge(cutoff_ms, advance)
    print(
        f"purged {_plural(purged, 'event')} received before {models.rfc3339(cutoff_ms)} "
        f"(older than {days:g} days), with their deliveries and attempts"
    )
    if kept:
        print(
            f"kept {_plural(kept, 'older event')} not delivered yet (a delivery pending, a paused"
            " destination's included, or not routed yet): purged once done"
        )
    return 0


# -- destinations ---------------------------------------------------------------------------


def cmd_destinations_list(args: argparse.Namespace) -> int:
    """Without a store yet, the config's view: counts unknown (`-`, null), no runtime pauses."""
    cfg = None if args.url is not None else config.load(args.config)
    if cfg is not None and not Path(cfg.storage.path).exists():
        rows = _from_config(cfg)
    else:
        rows = cli_admin.backend(args, readonly=True).destinations()
    if args.json:
        for row in rows:
            sys.stdout.write(orjson.dumps(row).decode() + "\n")
        return 0
    cli_show.table(
        ["NAME", "URL", "PAUSED", "PENDING", "IN FLIGHT", "DEAD", "OLDEST PENDING"],
        [
            [
                r["name"],
                r["url"],
                "+".join(r["paused_by"]) or "no",
                _count(r["pending"]),
                _count(r["in_flight"]),
                _count(r["dead"]),
                _age(r["oldest_pending_seconds"]),
            ]
            for r in rows
        ],
        empty="(no destinations configured)",
    )
    return 0


def _from_config(cfg: config.Config) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "url": dest.url,
            "paused": dest.paused,
            "paused_by": ["config"] if dest.paused else [],
            "pending": None,
            "dead": None,
            "in_flight": None,
            "oldest_pending_seconds": None,
        }
        for name, dest in cfg.destinations.items()
    ]


def _count(n: int | None) -> str:
    return "-" if n is None else str(n)


def _age(seconds: float | None) -> str:
    """`-`, `42s`, `3m 20s`, `5h 02m`, `2d 03h`."""
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"


def cmd_destinations_pause(args: argparse.Namespace) -> int:
    admin = cli_admin.backend(args, create=True)
    if "runtime" in admin.destination(args.name)["paused_by"]:
        print(f"{args.name} is paused already")
        return 0
    after = admin.set_paused(args.name, True)
    note = " (its config says paused: true too)" if "config" in after["paused_by"] else ""
    print(
        f"paused {args.name}{note}: its deliveries stay queued until "
        f"`whp destinations resume {args.name}`"
    )
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    admin = cli_admin.backend(args, create=True)
    after = admin.destination(args.name)
    if "runtime" in after["paused_by"]:
        after = admin.set_paused(args.name, False)
        print(f"resumed {args.name}")
    else:
        print(f"{args.name} was not paused by `whp destinations pause`")
    if "config" in after["paused_by"]:
        print(
            f"whp: {args.name} stays paused: its config says destinations.{args.name}.paused: true",
            file=sys.stderr,
        )
        return 1
    return 0


# -- plumbing -------------------------------------------------------------------------------


def _confirm(question: str, flag: str) -> None:
    """Ask on a terminal; elsewhere (scripts, cron) the flag must say yes."""
    if not sys.stdin.isatty():
        raise errors.UsageError(f"{question} add {flag} to confirm (no terminal to ask on)")
    if input(f"{question} [y/N] ").strip().lower() not in ("y", "yes"):
        raise errors.WhpError("cancelled; nothing done")


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number above 0") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text}: give a number above 0")
    return value
