"""Start-up of the `whp` command: how long `whp --help` takes, and what it imports.

Runs `python -m webhook_processor --help` `--runs` times (wall time of the whole process, the
interpreter's start included) and prints the minimum and the median, with the number of modules
it imported and which of the heavy ones (rich, httpx, starlette, uvicorn, pydantic, jsonschema)
were among them. With `--against DIR` (another checkout, e.g. /work/main), the same command of
that checkout's `src` is timed in the same run, the two interleaved, so that both see the same
load of the machine.

Usage:  python -m bench.cli_startup [--runs 15] [--against /work/main]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("rich", "httpx", "starlette", "uvicorn", "pydantic", "jsonschema", "click", "pygments")
PROBE = """
import json, sys
from webhook_processor.entrypoints import cli
try:
    cli.main(["--help"])
except SystemExit:
    pass
roots = sorted({m.split(".")[0] for m in sys.modules})
print(json.dumps({"modules": len(sys.modules), "roots": roots}), file=sys.stderr)
"""


def run(src: Path | None, command: list[str]) -> float:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def imports(src: Path | None) -> dict[str, object]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, check=True, capture_output=True, text=True
    )
    found: dict[str, object] = json.loads(done.stderr.strip().splitlines()[-1])
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--against", type=Path, help="another checkout to time in the same run")
    args = parser.parse_args(argv)
    command = [sys.executable, "-m", "webhook_processor", "--help"]
    subjects: dict[str, Path | None] = {"this checkout": None}
    if args.against is not None:
        subjects[str(args.against)] = args.against.resolve() / "src"
    times: dict[str, list[float]] = {name: [] for name in subjects}
    for src in subjects.values():
        run(src, command)  # warm the page cache and the .pyc files
    for _ in range(args.runs):
        for name, src in subjects.items():
            times[name].append(run(src, command))
    print(f"`whp --help`, {args.runs} runs each, wall time of the process")
    for name, src in subjects.items():
        found = imports(src)
        roots = found["roots"]
        assert isinstance(roots, list)
        heavy = [h for h in HEAVY if h in roots] or ["none"]
        print(
            f"  {name:<20} min {min(times[name]) * 1000:6.0f} ms  "
            f"median {statistics.median(times[name]) * 1000:6.0f} ms  "
            f"{found['modules']} modules; heavy: {', '.join(heavy)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
