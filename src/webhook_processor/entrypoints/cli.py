"""`whp`: the command-line interface. Each command parses its arguments, calls the composition root
or a service, and prints; errors become a one-line cause and a non-zero exit status."""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets as pysecrets
import sys
import time
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from webhook_processor import __version__, bootstrap, config, errors, provider, secrets, wiring
from webhook_processor.entrypoints import cli_aws, cli_events, cli_ops, cli_routes

if TYPE_CHECKING:  # imported by `whp send` only: see bootstrap.http_sender
    import httpx

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
    # `--config` goes before the command (`whp --config F check`) or after it. The command's
    # copy has no default of its own: argparse copies a subcommand's defaults over what the
    # top-level parser read, so a default there would undo a --config given before the command.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        default=argparse.SUPPRESS,
        metavar="FILE",
        help="config file (default: ./whp.yaml)",
    )
    parser = argparse.ArgumentParser(
        prog="whp",
        description="webhook-processor: receive, verify, store, route and deliver webhooks.",
    )
    parser.add_argument("--version", action="version", version=f"whp {__version__}")
    parser.add_argument(
        "--config",
        default=config.DEFAULT_FILE,
        metavar="FILE",
        help="config file, for every command (default: ./whp.yaml)",
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("init", parents=[common], help="write a starter whp.yaml with fresh secrets")
    p.add_argument(
        "--force", action="store_true", help="overwrite an existing config file (secrets are kept)"
    )
    p.add_argument(
        "--new-secrets",
        action="store_true",
        help="replace the secrets in .whp/ with fresh ones (senders using the old ones fail)",
    )
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
        description="Run the server: ingest and the delivery worker, in the foreground. "
        "SIGHUP reloads the config's sources, destinations and routes.",
    )
    p.add_argument("--host", help="listen address (overrides server.host)")
    p.add_argument(
        "--port", type=port_number, help="listen port, 0 for any free one (overrides server.port)"
    )
    p.set_defaults(handler=cmd_serve)

    p = sub.add_parser(
        "worker",
        parents=[common, logging_flags],
        help="run the delivery worker alone",
        description="Run the delivery worker alone, against the store of a `whp serve`. "
        "SIGHUP reloads the config's destinations and routes.",
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
    p.add_argument(
        "--content-type",
        help="default: application/json when the file is JSON (a .json file must parse)",
    )
    p.add_argument(
        "--keep-id",
        action="store_true",
        help="send the file's own delivery id (e.g. Stripe's id) instead of a fresh one, "
        "to try out deduplication",
    )
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
    cli_aws.add_parsers(sub, common)
    return parser


def port_number(text: str) -> int:
    """--port as server.port is checked in the config: a TCP port, 0 for any free one."""
    port = int(text) if text.isdigit() else -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return port


def cmd_init(args: argparse.Namespace) -> int:
    path = Path(args.config)
    keep_config = path.exists() and not args.force
    secret_dir = path.parent / ".whp"
    if keep_config and not args.new_secrets:
        print(f"{path} exists; left it as it is (--force overwrites it)")
        return 0
    secret_dir.mkdir(parents=True, exist_ok=True)
    (secret_dir / ".gitignore").write_text("# secrets made by `whp init`: never commit them\n*\n")
    fresh = {
        "admin.token": pysecrets.token_urlsafe(32),
        "github.secret": pysecrets.token_hex(32),
        "stripe.secret": "whsec_" + pysecrets.token_urlsafe(32),
        "app.secret": "whsec_" + base64.b64encode(pysecrets.token_bytes(32)).decode(),
    }
    kept = []
    for name, value in fresh.items():
        target = secret_dir / name
        if target.exists() and not args.new_secrets:
            kept.append(name)  # senders and receivers may hold it already
            continue
        target.write_text(value + "\n")
        target.chmod(0o600)
    if not keep_config:
        template = resources.files("webhook_processor") / "templates" / "whp.yaml"
        path.write_text(template.read_text(encoding="utf-8"))
    wrote = f"{path} left as it is" if keep_config else f"wrote {path}"
    if not kept:
        print(f"{wrote}; fresh secrets in {secret_dir}/ (git-ignored)")
    elif len(kept) == len(fresh):
        print(f"{wrote}; kept the secrets in {secret_dir}/ (--new-secrets replaces them)")
    else:
        print(
            f"{wrote}; fresh secrets in {secret_dir}/ (git-ignored), kept {', '.join(kept)} "
            "(--new-secrets replaces them)"
        )
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
    secret = _send_secret(args, source)
    body = sys.stdin.buffer.read() if args.file == "-" else _read_file(args.file)
    if args.content_type is None and args.file.lower().endswith(".json"):
        _check_json(args.file, body)
    host = "127.0.0.1" if cfg.server.host in ("0.0.0.0", "::", "") else cfg.server.host  # noqa: S104
    url = args.url or f"http://{host}:{cfg.server.port}/webhooks/{args.source}"
    extra = {}
    for item in args.header:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise errors.UsageError(f"--header {item!r}: expected 'Name: value'")
        extra[name.strip()] = value.strip()
    out = provider.build(
        wiring.source_spec(source),
        secret,
        body,
        url,
        time.time(),
        event_type=args.event_type,
        content_type=args.content_type,
        headers=extra,
        keep_id=args.keep_id,
    )
    import httpx  # noqa: PLC0415 - for this command only (see bootstrap.http_sender)

    try:
        response = httpx.post(out.url, content=out.body, headers=out.headers, timeout=30)
    except httpx.HTTPError as exc:
        raise errors.WhpError(f"cannot reach {out.url}: {exc} (is `whp serve` running?)") from None
    return _report(response)


def _send_secret(args: argparse.Namespace, source: config.Source) -> str:
    if args.secret is not None:  # an empty one too: it is refused, not skipped
        try:
            return secrets.resolve(args.secret, os.environ)
        except errors.SecretError as exc:
            flag = f"--secret {args.secret}" if args.secret.strip() else "--secret"
            raise errors.UsageError(f"{flag}: {exc.detail}") from None
    if not source.secret_refs:
        return ""
    where = f"sources.{args.source}.{'secrets[0]' if source.secrets else 'secret'}"
    return bootstrap.resolve_secret(source.secret_refs[0], where, args.config, os.environ)


def _check_json(name: str, body: bytes) -> None:
    """A .json file that does not parse is a mistake, not a text/plain webhook to send."""
    try:
        json.loads(body)
    except json.JSONDecodeError as exc:
        raise errors.UsageError(
            f"{name} is not valid JSON: {exc} (--content-type sends it as it is)"
        ) from None
    except ValueError:  # not UTF-8, -16 or -32 text
        raise errors.UsageError(
            f"{name} is not valid JSON: not UTF-8 text (--content-type sends it as it is)"
        ) from None


def _report(response: httpx.Response) -> int:
    """Print whp's answer: `202 evt_...`, or the error it names. Any other answer comes from
    something else listening there: said so, with the start of what it answered."""
    try:
        answer = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        answer = None
    code = response.status_code
    if response.is_success and isinstance(answer, dict) and isinstance(answer.get("id"), str):
        dup = " (duplicate: already stored)" if answer.get("duplicate") else ""
        print(f"{code} {answer['id']}{dup}")
        return 0
    if not response.is_success and isinstance(answer, dict) and "error" in answer:
        print(f"{code} {answer['error']}: {answer.get('detail', '')}", file=sys.stderr)
        return 1
    text = " ".join(response.text.split())
    excerpt = (text[:160] + "...") if len(text) > 160 else text or "(an empty body)"
    print(
        f"{code} from {response.request.url}: not an answer from whp: {excerpt}",
        file=sys.stdout if response.is_success else sys.stderr,
    )
    return 0 if response.is_success else 1


def _read_file(name: str) -> bytes:
    try:
        return Path(name).read_bytes()
    except OSError as exc:
        raise errors.UsageError(f"cannot read {name}: {exc.strerror}") from None


if __name__ == "__main__":
    sys.exit(main())
