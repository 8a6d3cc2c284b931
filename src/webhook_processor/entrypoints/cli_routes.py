"""`whp routes test`: does an event match a pattern? Prints `match` (exit 0) or `no match`
(exit 1), like grep; an invalid pattern exits 2 with the reason."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson

from webhook_processor import config, errors, patterns

NO_MATCH = 1


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    routes = sub.add_parser("routes", help="test event patterns")
    rsub = routes.add_subparsers(required=True, metavar="ACTION")
    p = rsub.add_parser("test", parents=[common], help="does an event match a pattern or a route?")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--pattern", metavar="JSON|@FILE", help="an EventBridge event pattern")
    which.add_argument("--route", metavar="NAME", help="the pattern of a route in the config")
    p.add_argument("--event", required=True, metavar="JSON|@FILE", help="a whole event envelope")
    p.set_defaults(handler=cmd_test)


def _json(text: str, flag: str) -> Any:
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise errors.UsageError(f"{flag}: cannot read {text[1:]}: {exc.strerror}") from None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise errors.UsageError(f"{flag}: not valid JSON: {exc}") from None


def cmd_test(args: argparse.Namespace) -> int:
    if args.route is not None:
        cfg = config.load(args.config)
        route = next((r for r in cfg.routes if r.name == args.route), None)
        if route is None:
            known = ", ".join(r.name for r in cfg.routes) or "none"
            raise errors.UsageError(f"--route: no route named {args.route!r} (routes: {known})")
        pattern_doc: Any = route.pattern
    else:
        pattern_doc = _json(args.pattern, "--pattern")
    event = _json(args.event, "--event")
    if not isinstance(event, dict):
        raise errors.UsageError("--event: expected a JSON object (a whole event envelope)")
    try:
        pattern = patterns.compile(pattern_doc)
    except patterns.PatternError as exc:
        raise errors.UsageError(f"invalid pattern: {exc}") from None
    if pattern.matches(event):
        print("match")
        return 0
    print("no match")
    return NO_MATCH
