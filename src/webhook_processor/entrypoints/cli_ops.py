"""The operator's commands on the delivery queue: `whp replay`, `whp dlq list|redrive`, `whp purge`
and `whp destinations list|pause|resume`.

They change the store only; the running `whp serve` worker acts on what they leave there: it
routes replayed events again, delivers redriven deliveries, holds those of paused destinations.
Bulk work runs in batches, each its own short write transaction, with a pause as long as the
batch took between them, so the ingest writer always gets the lock in time (SQLite's busy handler
polls; a writer that let go for no time at all could starve it).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO, TypedDict

import orjson

from webhook_processor import config, errors, models, ports
from webhook_processor.adapters.sqlite import queue as sqlite_queue
from webhook_processor.bootstrap import local
from webhook_processor.entrypoints import cli_events

BATCH = 500
MAX_PAUSE = 0.1  # seconds between two batches, at most
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
    p.add_argument("--dry-run", action="store_true", help="only count the events")
    p.add_argument(
        "--new-id", action="store_true", help="fresh webhook-ids, so receivers process them again"
    )
    p.add_argument("--yes", action="store_true", help="replay by filter without asking")
    p.set_defaults(handler=cmd_replay)

    dlq = sub.add_parser("dlq", help="the dead-letter queue: list and redrive dead deliveries")
    dsub = dlq.add_subparsers(required=True, metavar="ACTION")
    p = dsub.add_parser("list", parents=[common], help="dead deliveries, newest first")
    p.add_argument("--destination")
    p.add_argument("--limit", type=cli_events.positive_int, default=50)
    p.add_argument("--before", type=int, metavar="ID", help="only ids below this one (paging)")
    p.add_argument("--json", action="store_true", help="JSON lines, for scripts")
    p.set_defaults(handler=cmd_dlq_list)
    p = dsub.add_parser(
        "redrive", parents=[common], help="retry dead deliveries, attempts starting again at 1"
    )
    p.add_argument("ids", nargs="*", type=int, metavar="ID", help="delivery ids")
    p.add_argument("--all", action="store_true", help="every dead delivery")
    p.add_argument("--destination", help="every dead delivery of this destination")
    p.set_defaults(handler=cmd_dlq_redrive)

    p = sub.add_parser(
        "purge",
        parents=[common],
        help="delete old events with their deliveries and attempts",
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
    p.set_defaults(handler=cmd_destinations_list)
    p = tsub.add_parser("pause", parents=[common], help="hold its deliveries, queued")
    p.add_argument("name")
    p.set_defaults(handler=cmd_destinations_pause)
    p = tsub.add_parser("resume", parents=[common], help="deliver again after a pause")
    p.add_argument("name")
    p.set_defaults(handler=cmd_destinations_resume)


# -- replay ---------------------------------------------------------------------------------


def cmd_replay(args: argparse.Namespace) -> int:
    cfg = config.load(args.config)
    where = _filter(args)
    if args.ids and where is not None:
        raise errors.UsageError("give event ids or filters, not both")
    if not args.ids and where is None:
        raise errors.UsageError(
            "give event ids, or filters (--source, --type, --status, --key, --since, --until)"
        )
    queue = _queue(cfg)
    if args.ids:
        ids = list(dict.fromkeys(args.ids))
        reader = local.event_reader(cfg)
        unknown = [i for i in ids if reader.get(i) is None]
        if unknown:
            raise errors.UsageError(
                f"unknown event {'id' if len(unknown) == 1 else 'ids'} {', '.join(unknown)} "
                f"(not in {cfg.storage.path}); nothing replayed"
            )
    else:
        assert where is not None
        ids = queue.replay_filter(where)
    if args.dry_run:
        print(f"{_plural(len(ids), 'event')} would be replayed")
        return 0
    if not ids:
        print("no events match; nothing replayed")
        return 0
    if where is not None and not args.yes:
        _confirm(f"replay {_plural(len(ids), 'event')}?", "--yes")
    now_ms = int(time.time() * 1000)
    replayed = 0
    with Progress("replaying", len(ids)) as progress:
        for chunk in _paced(ids):
            replayed += queue.replay(chunk, now_ms, new_id=args.new_id, batch=BATCH)
            progress.advance(len(chunk))
    ids_note = " with new webhook-ids" if args.new_id else ""
    print(
        f"replayed {_plural(replayed, 'event')}{ids_note}; the running `whp serve` routes them "
        "again with the routes it has loaded (edited whp.yaml? kill -HUP <its pid> reloads it)"
    )
    return 0


def _filter(args: argparse.Namespace) -> ports.EventFilter | None:
    where = cli_events.event_filter(args, time.time())
    return where if where != ports.EventFilter() else None


# -- dead-letter queue ----------------------------------------------------------------------


def cmd_dlq_list(args: argparse.Namespace) -> int:
    cfg = config.load(args.config)
    dead = _queue(cfg, readonly=True).dead(args.destination, args.limit, args.before)
    if args.json:
        for d in dead:
            row = asdict(d) | {"died": models.rfc3339(d.died_ms)}
            sys.stdout.write(orjson.dumps(row).decode() + "\n")
        return 0
    cli_events.print_table(
        ["ID", "EVENT", "DESTINATION", "ROUTE", "ATTEMPTS", "LAST OUTCOME", "DEAD SINCE"],
        [
            [
                str(d.id),
                d.event_id,
                d.destination,
                d.route,
                str(d.attempts),
                _last_outcome(d),
                models.rfc3339(d.died_ms),
            ]
            for d in dead
        ],
        empty="(the dead-letter queue is empty)",
    )
    if len(dead) == args.limit:
        print(f"(the newest {args.limit}; more with --before {dead[-1].id})", file=sys.stderr)
    return 0


def _last_outcome(d: sqlite_queue.DeadLetter, width: int = 60) -> str:
    parts = [str(d.last_status_code)] if d.last_status_code is not None else []
    if d.last_error:
        parts.append(" ".join(d.last_error.split()))
    text = " ".join(parts) or "-"
    return text if len(text) <= width else text[: width - 3] + "..."


def cmd_dlq_redrive(args: argparse.Namespace) -> int:
    cfg = config.load(args.config)
    if sum((bool(args.ids), args.all, args.destination is not None)) != 1:
        raise errors.UsageError("give delivery ids, --all or --destination NAME (one of them)")
    if args.destination is not None:
        _check_destination(cfg, args.destination, "--destination")
    queue = _queue(cfg)
    now_ms = int(time.time() * 1000)
    if args.ids:
        ids = list(dict.fromkeys(args.ids))
        missed = [i for i in ids if not queue.redrive([i], now_ms=now_ms)]
        redriven = len(ids) - len(missed)
    else:
        redriven = _redrive_all(queue, args.destination, now_ms)
    print(f"redrove {_plural(redriven, 'delivery', 'deliveries')}")
    if args.ids and missed:
        raise errors.UsageError(
            f"not in the dead-letter queue (unknown, pending or delivered): "
            f"{', '.join(map(str, missed))}"
        )
    return 0


def _redrive_all(queue: sqlite_queue.DeliveryQueue, destination: str | None, now_ms: int) -> int:
    """Page down the dead-letter queue by id, redriving each page: progress, and an end even
    when deliveries die again meanwhile (they keep their ids, above the pages still to come)."""
    if destination is None:
        total = queue.counts()["deliveries"]["dead"]
    else:
        total = queue.destination_counts().get(destination, {}).get("dead", 0)
    redriven, before = 0, None
    with Progress("redriving", total) as progress:
        while page := queue.dead(destination, BATCH, before):
            started = time.monotonic()
            redriven += queue.redrive([d.id for d in page], now_ms=now_ms, batch=BATCH)
            progress.advance(len(page))
            before = page[-1].id
            _pause(time.monotonic() - started)
    return redriven


# -- retention ------------------------------------------------------------------------------


def cmd_purge(args: argparse.Namespace) -> int:
    cfg = config.load(args.config)
    days: float = args.older_than or cfg.storage.retention_days
    queue = _queue(cfg)
    cutoff_ms = int(time.time() * 1000 - days * DAY_MS)
    purged = kept = 0
    after: ports.PurgePosition | None = ports.START
    with Progress("purging", None) as progress:
        while after is not None:
            started = time.monotonic()
            deleted, looked_at, after = queue.purge(cutoff_ms, after, BATCH)
            purged += deleted
            kept += looked_at - deleted
            progress.advance(deleted)
            if after is not None:
                _pause(time.monotonic() - started)
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
    """Without a store yet, the config's view: counts unknown (`-`), no runtime pauses."""
    cfg = config.load(args.config)
    runtime: set[str] = set()
    counts: dict[str, dict[str, int]] | None = None
    if Path(cfg.storage.path).exists():
        queue = _queue(cfg)
        runtime, counts = queue.paused_destinations(), queue.destination_counts()
    rows = [
        _DestinationRow(
            name=name,
            url=dest.url,
            paused=_paused_by(dest.paused, name in runtime),
            pending=None if counts is None else counts.get(name, {}).get("pending", 0),
            dead=None if counts is None else counts.get(name, {}).get("dead", 0),
        )
        for name, dest in cfg.destinations.items()
    ]
    if args.json:
        for row in rows:
            sys.stdout.write(orjson.dumps(row).decode() + "\n")
        return 0
    cli_events.print_table(
        ["NAME", "URL", "PAUSED", "PENDING", "DEAD"],
        [
            [r["name"], r["url"], r["paused"] or "no", _count(r["pending"]), _count(r["dead"])]
            for r in rows
        ],
        empty="(no destinations configured)",
    )
    return 0


class _DestinationRow(TypedDict):
    name: str
    url: str
    paused: str | None  # config | runtime | config+runtime
    pending: int | None  # None: no store yet
    dead: int | None


def _paused_by(in_config: bool, at_runtime: bool) -> str | None:
    """Who holds a destination: `config`, `runtime` (whp destinations pause), both, or None."""
    by = [w for w, on in (("config", in_config), ("runtime", at_runtime)) if on]
    return "+".join(by) or None


def _count(n: int | None) -> str:
    return "-" if n is None else str(n)


def cmd_destinations_pause(args: argparse.Namespace) -> int:
    cfg = config.load(args.config)
    dest = _check_destination(cfg, args.name, "NAME")
    queue = _queue(cfg, create=True)
    if args.name in queue.paused_destinations():
        print(f"{args.name} is paused already")
        return 0
    queue.set_paused(args.name, True, int(time.time() * 1000))
    note = " (its config says paused: true too)" if dest.paused else ""
    print(
        f"paused {args.name}{note}: its deliveries stay queued until "
        f"`whp destinations resume {args.name}`"
    )
    return 0


def cmd_destinations_resume(args: argparse.Namespace) -> int:
    cfg = config.load(args.config)
    dest = _check_destination(cfg, args.name, "NAME")
    queue = _queue(cfg, create=True)
    if args.name in queue.paused_destinations():
        queue.set_paused(args.name, False, int(time.time() * 1000))
        print(f"resumed {args.name}")
    else:
        print(f"{args.name} was not paused by `whp destinations pause`")
    if dest.paused:
        print(
            f"whp: {args.name} stays paused: {args.config} says "
            f"destinations.{args.name}.paused: true",
            file=sys.stderr,
        )
        return 1
    return 0


def _check_destination(cfg: config.Config, name: str, flag: str) -> config.Destination:
    dest = cfg.destinations.get(name)
    if dest is None:
        known = ", ".join(sorted(cfg.destinations)) or "none"
        raise errors.UsageError(f"{flag}: no destination named {name!r} (destinations: {known})")
    return dest


# -- plumbing -------------------------------------------------------------------------------


def _queue(
    cfg: config.Config, *, readonly: bool = False, create: bool = False
) -> sqlite_queue.DeliveryQueue:
    """The queue of an existing store (StoreUnavailable, exit 3, when there is none yet), or of
    a new one with `create`."""
    if not create and not Path(cfg.storage.path).exists():
        raise errors.StoreUnavailable(f"no store at {cfg.storage.path} (has `whp serve` run yet?)")
    return local.delivery_queue(cfg, readonly=readonly)


def _paced(items: Sequence[str]) -> Iterator[Sequence[str]]:
    """`items` in batches, pausing after each as long as the caller took over it."""
    for start in range(0, len(items), BATCH):
        began = time.monotonic()
        yield items[start : start + BATCH]
        _pause(time.monotonic() - began)


def _pause(batch_seconds: float) -> None:
    time.sleep(min(batch_seconds, MAX_PAUSE))


def _confirm(question: str, flag: str) -> None:
    """Ask on a terminal; elsewhere (scripts, cron) the flag must say yes."""
    if not sys.stdin.isatty():
        raise errors.UsageError(f"{question} add {flag} to confirm (no terminal to ask on)")
    if input(f"{question} [y/N] ").strip().lower() not in ("y", "yes"):
        raise errors.WhpError("cancelled; nothing done")


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text}: give a number above 0")
    return value


class Progress:
    """`\\r[######........] 1200/5000` on stderr while it is a terminal, nothing elsewhere (the
    caller prints the summary, always). Without a total, a running count."""

    WIDTH = 30

    def __init__(self, label: str, total: int | None, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._live = self._stream.isatty()
        self._drawn = False

    def advance(self, n: int) -> None:
        self.done += n
        if self._live:
            self._stream.write("\r" + self.line())
            self._stream.flush()
            self._drawn = True

    def line(self) -> str:
        if self.total is None:
            return f"{self.label} {self.done}"
        filled = (
            self.WIDTH if self.total <= 0 else min(self.WIDTH, self.WIDTH * self.done // self.total)
        )
        bar = "#" * filled + "." * (self.WIDTH - filled)
        return f"{self.label} [{bar}] {self.done}/{self.total}"

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
