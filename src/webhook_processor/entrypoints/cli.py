"""`whp`: the command-line interface. Each command parses its arguments, calls the composition root
or a service, and prints; errors become a one-line cause and a non-zero exit status."""

from __future__ import annotations

import argparse
import base64
import os
import secrets as pysecrets
import sys
import time
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

import orjson

from webhook_processor import __version__, bootstrap, config, errors, secrets, sending
from webhook_processor.entrypoints import cli_events, cli_ops, cli_routes

Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except errors.ConfigError as exc:
        print(f"whp: config error\n{exc}", file=sys.stderr)
        return exc.exit_code
    except errors.WhpError as exc:
        print(f"whp: {exc.detail}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        default=config.DEFAULT_FILE,
        metavar="FILE",
        help="config file (default: ./whp.yaml)",
    )
    parser = argparse.ArgumentParser(
        prog="whp",
        description="webhook-processor: receive, verify, store, route and deliver webhooks.",
    )
    parser.add_argument("--version", action="version", version=f"whp {__version__}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("init", parents=[common], help="write a starter whp.yaml with fresh secrets")
    p.add_argument("--force", action="store_true", help="overwrite an existing config file")
    p.set_defaults(handler=cmd_init)

    p = sub.add_parser(
        "check", parents=[common], help="validate the config (and resolve its secrets)"
    )
    p.set_defaults(handler=cmd_check)

    logging_flags = argparse.ArgumentParser(add_help=False)
    logging_flags.add_argument(
        "--log-format", choices=["text", "json"], help="overrides logging.format"
    )
    logging_flags.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"], help="overrides logging.level"
    )

    p = sub.add_parser(
        "serve",
        parents=[common, logging_flags],
        help="run the server: ingest and the delivery worker, in the foreground",
    )
    p.add_argument("--host", help="listen address (overrides server.host)")
    p.add_argument("--port", type=int, help="listen port (overrides server.port)")
    p.set_defaults(handler=cmd_serve)

    p = sub.add_parser(
        "worker", parents=[common, logging_flags], help="run the delivery worker alone"
    )
    p.set_defaults(handler=cmd_worker)

    p = sub.add_parser(
        "send", parents=[common], help="send a correctly signed test webhook to a running server"
    )
    p.add_argument("source", help="a source name from the config")
    p.add_argument("file", help="the body to send (- for standard input)")
    p.add_argument(
        "--url", help="where to send (default: the configured server's /webhooks/SOURCE)"
    )
    p.add_argument(
        "--event-type", help="set the event-type header of the source's scheme (e.g. push)"
    )
    p.add_argument("--content-type", help="default: application/json when the file is JSON")
    p.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="an extra request header (repeatable)",
    )
    p.add_argument(
        "--secret", metavar="REF", help="sign with this secret reference instead of the source's"
    )
    p.set_defaults(handler=cmd_send)

    cli_events.add_parsers(sub, common)
    cli_routes.add_parsers(sub, common)
    cli_ops.add_parsers(sub, common)
    return parser


def cmd_init(args: argparse.Namespace) -> int:
    path = Path(args.config)
    if path.exists() and not args.force:
        print(f"{path} exists; left it as it is (--force overwrites it)")
        return 0
    secret_dir = path.parent / ".whp"
    secret_dir.mkdir(parents=True, exist_ok=True)
    (secret_dir / ".gitignore").write_text("# secrets made by `whp init`: never commit them\n*\n")
    fresh = {
        "admin.token": pysecrets.token_urlsafe(32),
        "github.secret": pysecrets.token_hex(32),
        "stripe.secret": "whsec_" + pysecrets.token_urlsafe(32),
        "app.secret": "whsec_" + base64.b64encode(pysecrets.token_bytes(32)).decode(),
    }
    for name, value in fresh.items():
        target = secret_dir / name
        if args.force or not target.exists():
            target.write_text(value + "\n")
            target.chmod(0o600)
    template = resources.files("webhook_processor") / "templates" / "whp.yaml"
    path.write_text(template.read_text(encoding="utf-8"))
    print(f"wrote {path} and fresh secrets in {secret_dir}/ (git-ignored)")
    print("next: whp check && whp serve")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    cfg = bootstrap.load(args.config, os.environ)  # what `whp serve` checks; opens nothing
    for warning in cfg.warnings():
        print(f"warning: {args.config}: {warning}", file=sys.stderr)
    print(
        f"{args.config}: ok ({len(cfg.sources)} sources, {len(cfg.destinations)} destinations, "
        f"{len(cfg.routes)} routes)"
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from webhook_processor.entrypoints import server  # noqa: PLC0415 - uvicorn only for serve

    return server.run(args)


def cmd_worker(args: argparse.Namespace) -> int:
    from webhook_processor.entrypoints import worker  # noqa: PLC0415 - only for this command

    return worker.run(args)


def cmd_send(args: argparse.Namespace) -> int:
    cfg = config.load(args.config)
    source = cfg.sources.get(args.source)
    if source is None:
        known = ", ".join(sorted(cfg.sources)) or "none"
        raise errors.UsageError(
            f"no source named {args.source!r} in {args.config} (sources: {known})"
        )
    if args.secret is not None:  # an empty one too: it is refused, not skipped
        try:
            secret = secrets.resolve(args.secret, os.environ)
        except errors.SecretError as exc:
            raise errors.UsageError(f"--secret: {exc.detail}") from None
    elif source.secret_refs:
        where = f"sources.{args.source}.secret"
        secret = bootstrap.resolve_secret(source.secret_refs[0], where, args.config, os.environ)
    else:
        secret = ""
    body = sys.stdin.buffer.read() if args.file == "-" else _read_file(args.file)
    host = "127.0.0.1" if cfg.server.host in ("0.0.0.0", "::", "") else cfg.server.host  # noqa: S104
    url = args.url or f"http://{host}:{cfg.server.port}/webhooks/{args.source}"
    extra = {}
    for item in args.header:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise errors.UsageError(f"--header {item!r}: expected 'Name: value'")
        extra[name.strip()] = value.strip()
    out = sending.build(
        source,
        secret,
        body,
        url,
        time.time(),
        event_type=args.event_type,
        content_type=args.content_type,
        headers=extra,
    )
    import httpx  # noqa: PLC0415 - for this command only (see bootstrap.processor)

    try:
        response = httpx.post(out.url, content=out.body, headers=out.headers, timeout=30)
    except httpx.HTTPError as exc:
        raise errors.WhpError(f"cannot reach {out.url}: {exc} (is `whp serve` running?)") from None
    try:
        answer = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        answer = {"detail": response.text[:200]}
    if response.is_success:
        dup = " (duplicate: already stored)" if answer.get("duplicate") else ""
        print(f"{response.status_code} {answer.get('id')}{dup}")
        return 0
    print(
        f"{response.status_code} {answer.get('error', 'error')}: {answer.get('detail', '')}",
        file=sys.stderr,
    )
    return 1


def _read_file(name: str) -> bytes:
    try:
        return Path(name).read_bytes()
    except OSError as exc:
        raise errors.UsageError(f"cannot read {name}: {exc.strerror}") from None


if __name__ == "__main__":
    sys.exit(main())
