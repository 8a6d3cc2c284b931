"""`--backend aws --outputs FILE`: the operator's commands on an AWS deployment.

`whp events list|show`, `whp replay`, `whp dlq list|redrive` and `whp destinations pause|resume`
take `--backend local|aws` (default local) and, for aws, `--outputs FILE`: the JSON of
`terraform output -json` of the whp module (table_name, ingest_queue_url,
destination_queue_urls, destination_dlq_urls, function_names). `operator(args)` is where the
backend is resolved, once: None for the local store (the command goes on as before), else
services.operations.Operator over the deployment, from bootstrap/aws.py. The commands below print
what their local versions print, from the Operator.

On AWS the commands change the table and the queues; the functions act on what they leave
there: the router routes replayed events, the delivery function delivers redriven deliveries, a
paused destination's event source mapping is disabled (its messages wait in its queue).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import sys
import time
from typing import Any

import orjson

from webhook_processor import config, errors, models, payload, ports, services
from webhook_processor.entrypoints import cli_events

OUTPUTS_HELP = "the JSON of `terraform output -json` of the deployment (--backend aws)"


def add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        choices=["local", "aws"],
        default="local",
        help="the local store (default) or an AWS deployment (with --outputs)",
    )
    p.add_argument("--outputs", metavar="FILE", help=OUTPUTS_HELP)


def operator(args: argparse.Namespace) -> services.operations.Operator | None:
    """The Operator of `--backend aws`, or None for the local store."""
    if getattr(args, "backend", "local") != "aws":
        if getattr(args, "outputs", None) is not None:
            raise errors.UsageError("--outputs is for --backend aws")
        return None
    if not args.outputs:
        raise errors.UsageError(f"--backend aws needs --outputs FILE ({OUTPUTS_HELP})")
    from webhook_processor.bootstrap import aws  # noqa: PLC0415 - boto3 for this backend only

    return aws.operator(config.load(args.config), args.outputs)


# -- events ---------------------------------------------------------------------------------


def events_list(op: services.operations.Operator, args: argparse.Namespace) -> int:
    where = cli_events.event_filter(args, time.time())
    try:
        page = op.events(where, args.limit, args.cursor)
    except errors.UsageError:
        raise errors.UsageError(
            f"--cursor {args.cursor[:80]!r} is not a cursor whp gave: pass the one the previous "
            "page printed, as it is"
        ) from None
    if args.json:
        for event in page.items:
            sys.stdout.write(orjson.dumps(cli_events.summary(event)).decode() + "\n")
        if page.next is not None:
            print(orjson.dumps({"next": page.next}).decode(), file=sys.stderr)
        return 0
    cli_events.print_table(
        ["ID", "RECEIVED", "SOURCE", "TYPE", "STATUS", "IDEMPOTENCY KEY"],
        [
            [e.id, e.received, e.source, e.event_type, e.status, e.idempotency_key or "-"]
            for e in page.items
        ],
        empty="(no events)",
    )
    if page.next is not None:
        which = "the newest" if args.cursor is None else "the next"
        print(f"({which} {len(page.items)}; more with --cursor {page.next})", file=sys.stderr)
    return 0


def events_show(op: services.operations.Operator, args: argparse.Namespace) -> int:
    found = op.event(args.id)
    event = found.event
    shown: dict[str, Any] = cli_events.summary(event) | {
        "content_type": event.content_type,
        "headers": event.headers,
    }
    try:
        shown["body"] = event.body.decode("utf-8")
    except UnicodeDecodeError:
        shown["body_base64"] = base64.b64encode(event.body).decode()
    with contextlib.suppress(errors.Rejected):
        shown["detail"] = payload.parse(event.body, event.content_type)
    shown["deliveries"] = [_delivery(d) for d in found.deliveries]
    option = orjson.OPT_INDENT_2 if not args.json else 0
    print(orjson.dumps(shown, option=option).decode())
    return 0


def _delivery(d: models.Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "route": d.route,
        "destination": d.destination,
        "webhook_id": d.webhook_id,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt": (
            models.rfc3339(d.next_attempt_ms)
            if d.status == "pending" and d.next_attempt_ms is not None
            else None
        ),
        "created": models.rfc3339(d.created_ms),
        "updated": models.rfc3339(d.updated_ms),
        "attempts_detail": [
            {
                "number": a.attempt,
                "started": models.rfc3339(a.started_ms),
                "duration_ms": a.duration_ms,
                "status_code": a.status_code,
                "error": a.error,
                "response_excerpt": a.excerpt,
            }
            for a in d.history
        ],
    }


# -- replay, the dead-letter queue, destinations ---------------------------------------------


def replay(op: services.operations.Operator, args: argparse.Namespace, confirm: Any) -> int:
    where = cli_events.event_filter(args, time.time())
    filtered = where != ports.EventFilter()
    if args.ids and filtered:
        raise errors.UsageError("give event ids or filters, not both")
    if not args.ids and not filtered:
        raise errors.UsageError(
            "give event ids, or filters (--source, --type, --status, --key, --since, --until)"
        )
    if args.ids:
        count = len(dict.fromkeys(args.ids))
        if args.dry_run:
            print(f"{_plural(count, 'event')} would be replayed")
            return 0
        replayed = op.replay(args.ids, args.new_id)
    else:
        count = op.replay_matching(where, args.new_id, dry_run=True)
        if args.dry_run or not count:
            print(f"{_plural(count, 'event')} would be replayed" if count else "no events match")
            return 0
        if not args.yes:
            confirm(f"replay {_plural(count, 'event')}?", "--yes")
        replayed = op.replay_matching(where, args.new_id)
    ids_note = " with new webhook-ids" if args.new_id else ""
    print(
        f"replayed {_plural(replayed, 'event')}{ids_note}: queued for the router, which routes "
        "them with the routes of the deployed whp.yaml"
    )
    return 0


def dlq_list(op: services.operations.Operator, args: argparse.Namespace) -> int:
    if args.before is not None:
        raise errors.UsageError("--before pages the local store; on AWS the newest --limit show")
    page = op.dead_letters(args.destination, args.limit)
    if args.json:
        for d in page.items:
            row = {
                "id": d.delivery_id,
                "event_id": d.event_id,
                "route": d.route,
                "destination": d.destination,
                "webhook_id": d.webhook_id,
                "attempts": d.attempts,
                "last_status_code": d.last_status_code,
                "last_error": d.last_error,
                "died": models.rfc3339(d.dead_ms),
            }
            sys.stdout.write(orjson.dumps(row).decode() + "\n")
        return 0
    cli_events.print_table(
        ["ID", "EVENT", "DESTINATION", "ROUTE", "ATTEMPTS", "LAST OUTCOME", "DEAD SINCE"],
        [
            [
                d.delivery_id,
                d.event_id,
                d.destination,
                d.route,
                str(d.attempts),
                " ".join(p for p in (str(d.last_status_code or ""), d.last_error or "") if p)[:60]
                or "-",
                models.rfc3339(d.dead_ms),
            ]
            for d in page.items
        ],
        empty="(the dead-letter queue is empty)",
    )
    if page.next is not None:
        print(f"(the newest {len(page.items)})", file=sys.stderr)
    return 0


def dlq_redrive(op: services.operations.Operator, args: argparse.Namespace) -> int:
    """Ids: each delivery gets a new message (services.operations); --all or --destination:
    the whole DLQ goes back to its queue (an SQS message move task, or a bounded loop where
    there is none), and the delivery function revives what is dead as its messages come."""
    if sum((bool(args.ids), args.all, args.destination is not None)) != 1:
        raise errors.UsageError("give delivery ids, --all or --destination NAME (one of them)")
    if args.ids:
        ids = list(dict.fromkeys(args.ids))
        redriven = op.redrive(ids)
        print(f"redrove {_plural(redriven, 'delivery', 'deliveries')}")
        if redriven < len(ids):
            raise errors.UsageError(
                f"{len(ids) - redriven} of {len(ids)} not in the dead-letter queue (unknown, "
                "pending or delivered)"
            )
        return 0
    from webhook_processor.bootstrap import aws  # noqa: PLC0415

    if args.destination is not None:
        op.destination(args.destination)  # NotFound names the known ones
    moved = aws.redrive_queues(config.load(args.config), args.outputs, args.destination)
    for name, done in moved.items():
        how = f"message move task {done.task}" if done.task else "moved one by one"
        print(f"{name}: {_plural(done.moved, 'message')} back to its queue ({how})")
    return 0


def set_paused(op: services.operations.Operator, name: str, paused: bool) -> int:
    if not paused and "config" in op.destination(name).paused_by:
        # the module keeps its mapping disabled: enabling it here would undo the config
        print(f"whp: {name} stays paused: its config says paused: true", file=sys.stderr)
        return 1
    if paused:
        op.pause(name)
        print(
            f"paused {name}: its event source mapping is disabled; its deliveries wait in its "
            f"queue until `whp destinations resume {name} --backend aws`"
        )
        return 0
    op.resume(name)
    print(f"resumed {name}")
    return 0


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"
