"""`whp aws build`: the Lambda package that the Terraform module deploys (docs/aws.md)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

DEFAULT_OUTPUT = "dist/whp-lambda.zip"
TOP_WEIGHTS = 6  # how many of the heaviest parts of the zip to name


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    aws = sub.add_parser("aws", help="the AWS runtime: build the Lambda package")
    asub = aws.add_subparsers(required=True, metavar="ACTION")
    p = asub.add_parser(
        "build",
        parents=[common],
        help="build the Lambda zip: the project, its dependencies for Lambda, the config",
        description=(
            "Build the zip the Terraform module deploys: the handlers, the dependencies they "
            "import (wheels for the Lambda platform, at the versions installed here), whp.yaml "
            "and its schema files, and the config's sha256. The same inputs give the same bytes."
        ),
    )
    p.add_argument(
        "--output", default=DEFAULT_OUTPUT, metavar="ZIP", help=f"default: {DEFAULT_OUTPUT}"
    )
    p.add_argument("--arch", choices=["arm64", "x86_64"], default="arm64", help="default: arm64")
    p.add_argument("--python", choices=["3.13", "3.12"], default="3.13", help="default: 3.13")
    p.add_argument(
        "--layer",
        action="store_true",
        help="put the dependencies in a second zip, a Lambda layer (ZIP minus .zip + -layer.zip)",
    )
    p.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="where downloaded wheels are kept (default: $WHP_CACHE_DIR or ~/.cache/whp)",
    )
    p.set_defaults(handler=cmd_build)


def cmd_build(args: argparse.Namespace) -> int:
    # the builder and its imports only for this command: `whp --help` stays fast
    from webhook_processor.packaging import lambda_zip, wheels  # noqa: PLC0415

    interpreter = wheels.find_python(args.python, os.environ)
    if interpreter is None:
        print(
            f"warning: no Python {args.python} found (pyenv, python{args.python} on PATH, or "
            f"WHP_LAMBDA_PYTHON): the package has no .pyc, so each cold start compiles what "
            "it imports",
            file=sys.stderr,
        )
    cache = Path(args.cache_dir) if args.cache_dir else wheels.default_cache(os.environ)
    opts = lambda_zip.Options(
        config=Path(args.config),
        output=Path(args.output),
        cache=cache / "wheels",
        arch=args.arch,
        python=args.python,
        layer=args.layer,
        interpreter=interpreter,
    )
    result = lambda_zip.build(opts, log=print)
    print(
        f"Python {args.python} on {args.arch}: {len(result.pins)} dependencies at this "
        "environment's versions" + (f"; .pyc compiled with {interpreter}" if interpreter else "")
    )
    for archive in (result.function, result.layer):
        if archive is None:
            continue
        print(
            f"{archive.path}: {_mb(archive.size)} ({archive.size:,} bytes; "
            f"{_mb(archive.unzipped)} unzipped)\n  sha256 {archive.sha256}"
        )
        heaviest = ", ".join(f"{what} {_mb(n)}" for what, n in archive.weights[:TOP_WEIGHTS])
        print(f"  heaviest: {heaviest}")
    print(
        f"config {args.config}: sha256 {result.config_sha256} "
        f"(whp-config.sha256 in the zip, and {result.digest_file})"
    )
    return 0


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"
