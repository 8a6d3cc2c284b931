"""Ingest load benchmark: `whp serve` (durable, group commit) against a bare ASGI app.

Starts two servers on the same stack and settings (uvicorn, uvloop, httptools, one process, no
access log, no proxy headers, backlog 4096): `whp serve` with a signed-GitHub source and
`bench.bare_app`, which drains the body and answers 202. `wrk` (another process) drives both with
the same Lua script: POST of a 1 KB GitHub-push-like JSON body, a correct X-Hub-Signature-256,
X-GitHub-Event: push and a fresh random X-GitHub-Delivery (a UUID) per request, so that every
request is a new event and whp's dedupe index sees realistic random keys.

The machine is noisy, so the two are measured in interleaved rounds (the order alternates each
round: bare/whp, whp/bare, ...), each run after a short warm-up; the report gives per-round rates,
p99 latencies and ratios, the medians and the ratio of the medians.

Then a short verification phase drives whp with a script whose `response()` collects the id of
every 202; whp is stopped with SIGTERM, and the store must hold every acknowledged id, at least as
many events as whp answered 2xx in all runs, journal_mode=wal, and whp's connections must run with
synchronous=FULL (read on a store opened by the code path of `whp serve`).

Usage:  python -m bench.ingest [--rounds 3] [--duration 10] [--connections 64] [--threads 1]
Exit status: 0 measured (target met or not), 1 an acknowledged event is missing or the run is
invalid (errors, non-2xx answers, a server that failed), 2 wrk is not installed, 130 interrupted
(Ctrl-C or SIGTERM; the servers are stopped either way).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import hmac
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import httpx

from webhook_processor import bootstrap, config

DESCRIPTION = "Ingest load benchmark: whp serve against a bare ASGI app, same server stack."
ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
SOURCE = "github"
BODY_BYTES = 1024
TARGET = 0.4
GOAL = 0.5
SYNCHRONOUS_FULL = 2  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA
READY_TIMEOUT = 30.0
# The settings of `whp serve` (entrypoints/server.py), as uvicorn's command-line flags. (whp's
# protocol is uvicorn's httptools one; it differs only in its answer to a request it cannot parse.)
BARE_FLAGS = (
    "--loop uvloop --http httptools --no-access-log --no-proxy-headers --backlog 4096 "
    "--lifespan on --timeout-graceful-shutdown 10 --log-level warning"
)
STOP_TIMEOUT = 30.0
DISTURBED = 0.25  # cores used by other processes during a run above which it is flagged

# ---------------------------------------------------------------------------------------------
# The load: one request body, one Lua script for both servers
# ---------------------------------------------------------------------------------------------


def push_body(size: int = BODY_BYTES) -> bytes:
    """A GitHub push event, as compact JSON, padded (in the commit message) to exactly `size`."""
    sha_before = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    sha_after = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
    person = {
        "name": "Octo Cat",
        "email": "octocat@users.noreply.github.com",
        "username": "octocat",
    }
    event: dict[str, Any] = {
        "ref": "refs/heads/main",
        "before": sha_before,
        "after": sha_after,
        "repository": {
            "id": 186853002,
            "name": "Hello-World",
            "full_name": "octocat/Hello-World",
            "private": False,
            "owner": {"login": "octocat", "id": 21031067, "type": "User"},
            "default_branch": "main",
        },
        "pusher": {"name": "octocat", "email": "octocat@users.noreply.github.com"},
        "sender": {"login": "octocat", "id": 21031067, "type": "User"},
        "created": False,
        "deleted": False,
        "forced": False,
        "head_commit": {
            "id": sha_after,
            "message": "",
            "timestamp": "2026-11-28T17:00:00Z",
            "url": f"https://github.com/octocat/Hello-World/commit/{sha_after}",
            "author": person,
            "committer": person,
            "added": [],
            "removed": [],
            "modified": ["README.md"],
        },
    }

    def dump() -> bytes:
        return json.dumps(event, separators=(",", ":")).encode()

    missing = size - len(dump())
    if missing < 0:
        raise ValueError(f"the unpadded push body is already {len(dump())} bytes")
    words = "Update README.md: a padding line for the ingest benchmark. "
    event["head_commit"]["message"] = (words * (missing // len(words) + 1))[:missing]
    body = dump()
    assert len(body) == size, len(body)
    return body


LUA_LOAD = """\
-- Generated by bench/ingest.py: the load for both servers (same headers, same body).
local body = [==[{body}]==]
local path = "{path}"
local headers = {{
  ["Content-Type"] = "application/json",
  ["User-Agent"] = "GitHub-Hookshot/bench",
  ["X-GitHub-Event"] = "push",
  ["X-GitHub-Hook-ID"] = "460000001",
  ["X-GitHub-Hook-Installation-Target-Type"] = "repository",
  ["X-GitHub-Hook-Installation-Target-ID"] = "186853002",
  ["X-Hub-Signature-256"] = "{signature}",
}}
local random = math.random
local format = string.format

threads = {{}}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  -- a fresh seed per wrk run (from bench/ingest.py) and per thread: new delivery ids every run
  math.randomseed(tonumber(args[1]) + tid * 1000003)
end

-- a random (version 4) UUID, as GitHub's delivery ids look
local function delivery()
  return format("%04x%04x-%04x-4%03x-%04x-%04x%04x%04x",
    random(0, 65535), random(0, 65535), random(0, 65535), random(0, 4095),
    random(0, 16383) + 32768, random(0, 65535), random(0, 65535), random(0, 65535))
end

function request()
  headers["X-GitHub-Delivery"] = delivery()
  return wrk.format("POST", path, headers, body)
end

local function report(summary, latency)
  local e = summary.errors
  io.write(format('BENCH {{"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,"connect":%.0f,' ..
    '"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f,"p50_us":%.0f,"p99_us":%.0f,' ..
    '"max_us":%.0f}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
"""

LUA_MEASURE = """
function done(summary, latency, requests)
  report(summary, latency)
end
"""

LUA_VERIFY = """
-- Verification only: remember the id of every 202 (a thread's state; gathered in done()).
acked = {{}}
statuses = {{}}

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 202 then
    acked[#acked + 1] = string.match(body, '"id":"([^"]+)"') or "?"
  end
end

function done(summary, latency, requests)
  report(summary, latency)
  local out = assert(io.open("{out}", "w"))
  for _, thread in ipairs(threads) do
    for _, id in ipairs(thread:get("acked")) do
      out:write("ack ", id, "\\n")
    end
    for status, n in pairs(thread:get("statuses")) do
      out:write("status ", status, " ", n, "\\n")
    end
  end
  out:close()
end
"""


def lua_scripts(workdir: Path, secret: str, body: bytes) -> tuple[Path, Path, Path]:
    """(measurement script, verification script, where the verification writes the ids)."""
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    text = body.decode()
    assert "]==]" not in text
    load = LUA_LOAD.format(body=text, path=f"/webhooks/{SOURCE}", signature=signature)
    measure = workdir / "load.lua"
    measure.write_text(load + LUA_MEASURE)
    acks = workdir / "acked.txt"
    verify = workdir / "verify.lua"
    verify.write_text(load + LUA_VERIFY.format(out=acks))
    return measure, verify, acks


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------


def ingest_config(db_path: Path, log_level: str = "info") -> str:
    """The whp.yaml of this benchmark: one signed GitHub source, no destinations, no routes."""
    return (
        f"storage: {{path: {json.dumps(str(db_path))}}}\n"
        f"server: {{host: {HOST}, port: 8080}}\n"
        f"logging: {{level: {log_level}, format: text}}\n"
        "sources:\n"
        f"  {SOURCE}: {{verify: github, secret: 'env:BENCH_GITHUB_SECRET'}}\n"
    )


def whp_server(config_path: Path, port: int, workdir: Path, env: dict[str, str]) -> Server:
    """`whp serve` on `config_path`, logging to workdir/whp.log."""
    return Server(
        name="whp",
        command=[
            sys.executable,
            *f"-m webhook_processor serve --host {HOST} --port {port} --config".split(),
            str(config_path),
        ],
        port=port,
        ready_path="/readyz",
        log=workdir / "whp.log",
        env=env,
        cwd=workdir,
    )


def asgi_server(
    name: str, app: str, port: int, ready_path: str, workdir: Path, env: dict[str, str]
) -> Server:
    """An ASGI app of bench/ on uvicorn with the same settings `whp serve` uses."""
    return Server(
        name=name,
        command=[
            sys.executable,
            *f"-m uvicorn {app} --host {HOST} --port {port}".split(),
            *BARE_FLAGS.split(),
        ],
        port=port,
        ready_path=ready_path,
        log=workdir / f"{name}.log",
        env=env,
        cwd=ROOT,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a running process (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass
class Server:
    name: str
    command: list[str]
    port: int
    ready_path: str
    log: Path
    env: dict[str, str]
    cwd: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        self.proc = start_process(self.command, self.log, self.env, self.cwd)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start-up:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + self.ready_path, timeout=1.0).status_code < 300:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {READY_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def stop(self) -> int | None:
        """SIGTERM (uvicorn's graceful shutdown); SIGKILL if it does not end. Its exit status."""
        return None if self.proc is None else stop_process(self.proc)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log_tail(self, lines: int = 20) -> str:
        return log_tail(self.log, lines)


def start_process(
    command: list[str], log: Path, env: dict[str, str], cwd: Path
) -> subprocess.Popen[bytes]:
    """`command` with its output in `log`, in a process group of its own (signals reach only it)."""
    with log.open("wb") as out:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )


def stop_process(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM to its process group; SIGKILL if it does not end. Its exit status."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    return proc.returncode


def logged_errors(log: str) -> list[str]:
    """The ERROR lines of a whp log (text format)."""
    return [line for line in log.splitlines() if " ERROR " in line]


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


# ---------------------------------------------------------------------------------------------
# wrk runs
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Run:
    server: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]  # connect, read, write, status (non-2xx/3xx answers), timeout
    server_cpu: float  # cores used by the server process during the run
    wrk_cpu: float  # cores used by wrk
    other_cpu: float  # cores used by everything else on the machine (user + system)
    steal: float  # fraction of CPU time the hypervisor took

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> int:
        """Answers with a 2xx/3xx status (wrk counts the others as status errors)."""
        return self.requests - self.errors["status"]

    @property
    def invalid(self) -> bool:
        """Non-2xx answers, connection failures or time-outs: the run does not count."""
        return bool(self.errors["status"] or self.errors["connect"] or self.errors["timeout"])

    @property
    def disturbed(self) -> bool:
        return self.other_cpu > DISTURBED

    def problems(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self.errors.items() if v)


def cpu_times() -> list[int]:
    """The machine's `cpu` line of /proc/stat: user nice system idle iowait irq softirq steal."""
    line = Path("/proc/stat").read_text().splitlines()[0].split()
    return [int(x) for x in line[1:9]]


class Wrk:
    def __init__(self, binary: str, threads: int, connections: int, log: TextIO) -> None:
        self.binary = binary
        self.threads = threads
        self.connections = connections
        self.log = log

    def run(self, server: Server, script: Path, seconds: int) -> Run:
        seed = secrets.randbelow(2**31)
        cmd = [
            self.binary,
            f"-t{self.threads}",
            f"-c{self.connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(script),
            f"{server.url}/webhooks/{SOURCE}",
            "--",
            str(seed),
        ]
        tick = os.sysconf("SC_CLK_TCK")
        stat0, cpu0 = cpu_times(), process_cpu_seconds(server.pid)
        kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall0 = time.monotonic()
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
        wall = time.monotonic() - wall0
        kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        stat1, cpu1 = cpu_times(), process_cpu_seconds(server.pid)
        self.log.write(f"$ {' '.join(cmd)}\n{done.stdout}{done.stderr}\n")
        self.log.flush()
        if done.returncode != 0:
            raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
        line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
        if line is None:
            raise RuntimeError(f"no BENCH line in wrk's output:\n{done.stdout}{done.stderr}")
        data = json.loads(line[6:])
        delta = [b - a for a, b in zip(stat0, stat1, strict=True)]
        total = sum(delta) or 1
        server_cpu = cpu1 - cpu0
        wrk_cpu = (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime)
        busy = (delta[0] + delta[1] + delta[2]) / tick  # user, nice, system: all processes
        return Run(
            server=server.name,
            requests=int(data["requests"]),
            seconds=data["duration_us"] / 1e6,
            p50_ms=data["p50_us"] / 1e3,
            p99_ms=data["p99_us"] / 1e3,
            max_ms=data["max_us"] / 1e3,
            errors={k: int(data[k]) for k in ("connect", "read", "write", "status", "timeout")},
            server_cpu=server_cpu / wall,
            wrk_cpu=wrk_cpu / wall,
            other_cpu=max(0.0, busy - server_cpu - wrk_cpu) / wall,
            steal=delta[7] / total,
        )


# ---------------------------------------------------------------------------------------------
# Store checks
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class StoreReport:
    events: int
    distinct_keys: int
    journal_mode: str
    synchronous: int
    missing: list[str]


def check_store(
    db_path: Path, config_path: Path, env: dict[str, str], acked: list[str]
) -> StoreReport:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        journal_mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0])
        events, distinct_keys = conn.execute(
            "SELECT count(*), count(DISTINCT idempotency_key) FROM events"
        ).fetchone()
        stored = {row[0] for row in conn.execute("SELECT id FROM events")}
    finally:
        conn.close()
    # synchronous is per connection, not in the file: read it on the connection that the code
    # path of `whp serve` opens (bootstrap.ingestion -> GroupCommitStore -> db.connect).
    parts = bootstrap.ingestion(config.load(config_path), str(config_path), env)
    try:
        synchronous = int(parts.store._conn.execute("PRAGMA synchronous").fetchone()[0])
    finally:
        parts.store._conn.close()
    return StoreReport(
        events=int(events),
        distinct_keys=int(distinct_keys),
        journal_mode=journal_mode,
        synchronous=synchronous,
        missing=[i for i in acked if i not in stored],
    )


def read_acks(path: Path) -> tuple[list[str], dict[int, int]]:
    acked: list[str] = []
    statuses: dict[int, int] = {}
    for line in path.read_text().splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "ack":
            acked.append(rest)
        elif kind == "status":
            code, _, n = rest.partition(" ")
            statuses[int(code)] = statuses.get(int(code), 0) + int(n)
    return acked, statuses


# ---------------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------------


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return (
        f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}, "
        f"Python {platform.python_version()}, load average {load}"
    )


def filesystem(path: Path) -> str:
    """The type of the filesystem that holds `path` (the longest matching mount point)."""
    best, kind = "", "unknown"
    real = str(path.resolve())
    for line in Path("/proc/mounts").read_text().splitlines():
        parts = line.split()
        mount = parts[1]
        inside = real == mount or real.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):
            best, kind = mount, parts[2]
    return kind


def workdir_base(requested: str | None) -> Path:
    if requested:
        return Path(requested)
    tmp = Path(tempfile.gettempdir())
    if filesystem(tmp) in ("tmpfs", "ramfs"):
        return Path.cwd()  # fsync on tmpfs costs nothing: that would not measure durability
    return tmp


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def verdict(ratio: float, limit: float) -> str:
    return "PASS" if ratio >= limit else "FAIL"


def print_table(rounds: list[dict[str, Run]]) -> tuple[float, float, float]:
    print()
    print(
        f"{'round':>5}  {'order':<9}  {'bare req/s':>10}  {'bare p99':>9}  "
        f"{'whp req/s':>9}  {'whp p99':>9}  {'ratio':>5}"
    )
    for i, r in enumerate(rounds, 1):
        bare, whp = r["bare"], r["whp"]
        order = ",".join(r)
        print(
            f"{i:>5}  {order:<9}  {bare.rate:>10,.0f}  {bare.p99_ms:>6.1f} ms  "
            f"{whp.rate:>9,.0f}  {whp.p99_ms:>6.1f} ms  {whp.rate / bare.rate:>5.2f}"
            + ("  * disturbed" if bare.disturbed or whp.disturbed else "")
        )
    bare_rate = median([r["bare"].rate for r in rounds])
    whp_rate = median([r["whp"].rate for r in rounds])
    bare_p99 = median([r["bare"].p99_ms for r in rounds])
    whp_p99 = median([r["whp"].p99_ms for r in rounds])
    ratio = whp_rate / bare_rate if bare_rate else 0.0
    print(
        f"{'median':>5}  {'':<9}  {bare_rate:>10,.0f}  {bare_p99:>6.1f} ms  "
        f"{whp_rate:>9,.0f}  {whp_p99:>6.1f} ms  {ratio:>5.2f}  (ratio of medians)"
    )
    ratios = [r["whp"].rate / r["bare"].rate for r in rounds]
    print(
        f"per-round ratios: {', '.join(f'{x:.2f}' for x in ratios)} "
        f"(min {min(ratios):.2f}, median {median(ratios):.2f}, max {max(ratios):.2f})"
    )
    if any(run.disturbed for r in rounds for run in r.values()):
        print(
            f"* other processes used more than {DISTURBED} of a core during a run of that round "
            "(see the CPU table); consider running again"
        )
    return bare_rate, whp_rate, ratio


def print_cpu(rounds: list[dict[str, Run]]) -> None:
    print("\nCPU during each measured run, in cores (2 = both cores busy):")
    heads = ("server", "wrk", "others", "steal")
    print(f"{'round':>5}  {'run':<6}  " + "  ".join(f"{h:>6}" for h in heads) + "  p50 / max")
    for i, r in enumerate(rounds, 1):
        for name, run in r.items():
            print(
                f"{i:>5}  {name:<6}  {run.server_cpu:>6.2f}  {run.wrk_cpu:>6.2f}  "
                f"{run.other_cpu:>6.2f}  {run.steal:>6.1%}  "
                f"{run.p50_ms:.1f} / {run.max_ms:.0f} ms"
            )


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.ingest", description=DESCRIPTION)
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--duration", type=int, default=10, help="seconds per measured run (10)")
    p.add_argument("--warmup", type=int, default=2, help="seconds of warm-up before each run (2)")
    p.add_argument("--verify-duration", type=int, default=3, help="seconds of verification (3)")
    p.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    add_workspace_options(p)
    args = p.parse_args(argv)
    for name in ("rounds", "duration", "warmup", "verify_duration", "connections", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.connections < args.threads:
        p.error("--connections must be at least --threads")
    return args


def add_workspace_options(p: argparse.ArgumentParser) -> None:
    """--workdir and --keep, which `workspace` (through `run`) reads."""
    p.add_argument(
        "--workdir", help="where the temporary store goes (default: $TMPDIR unless tmpfs)"
    )
    p.add_argument("--keep", action="store_true", help="keep the work directory (store, logs)")


@contextlib.contextmanager
def workspace(base: Path, keep: bool) -> Iterator[Path]:
    base.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="whp-bench-", dir=base))
    try:
        yield path
    finally:
        if keep:
            print(f"\nwork directory kept: {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    return run(parse_args(argv), bench)


def run(args: argparse.Namespace, body: Callable[[argparse.Namespace, str, Path], int]) -> int:
    """A benchmark's `main`: wrk found (else exit 2), SIGTERM handled, a work directory."""
    wrk_binary = shutil.which("wrk")
    if wrk_binary is None:
        print(
            "bench: wrk is not installed (it is the load generator); "
            "install it with: apt-get install wrk",
            file=sys.stderr,
        )
        return 2
    # The servers run in their own sessions (a Ctrl-C does not reach them): on SIGTERM, unwind
    # like on Ctrl-C so that the `finally` blocks stop them.
    signal.signal(signal.SIGTERM, _terminated)
    with workspace(workdir_base(args.workdir), args.keep) as workdir:
        return body(args, wrk_binary, workdir)


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def entry(main: Callable[[], int]) -> None:
    """`if __name__ == "__main__"` of a benchmark: Ctrl-C stops the servers and exits 130."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("bench: interrupted; servers stopped", file=sys.stderr)
        sys.exit(130)


def bench(args: argparse.Namespace, wrk_binary: str, workdir: Path) -> int:
    secret = secrets.token_hex(32)
    env = dict(os.environ, BENCH_GITHUB_SECRET=secret, PYTHONUNBUFFERED="1")
    body = push_body()
    load_script, verify_script, acks_file = lua_scripts(workdir, secret, body)
    db_path = workdir / "whp.db"
    config_path = workdir / "whp.yaml"
    config_path.write_text(ingest_config(db_path))
    whp = whp_server(config_path, free_port(), workdir, env)
    bare = asgi_server("bare", "bench.bare_app:app", free_port(), "/", workdir, env)
    servers = {"bare": bare, "whp": whp}

    print("whp ingest benchmark")
    print(f"machine: {machine()}")
    print(f"store:   {db_path} ({filesystem(workdir)})")
    print(
        f"load:    {wrk_binary} -t{args.threads} -c{args.connections}, "
        f"{len(body)}-byte signed GitHub push bodies, a new X-GitHub-Delivery per request"
    )
    print(
        f"method:  {args.rounds} interleaved rounds of {args.warmup} s warm-up + "
        f"{args.duration} s measured per server; then {args.verify_duration} s of verification"
    )

    invalid: list[str] = []
    whp_ok = 0  # 2xx answers whp gave over every run: the store must hold at least that many
    rounds: list[dict[str, Run]] = []
    wrk_log = (workdir / "wrk.log").open("w")
    try:
        for server in servers.values():
            server.start()
        wrk = Wrk(wrk_binary, args.threads, args.connections, wrk_log)
        for i in range(args.rounds):
            order = ["bare", "whp"] if i % 2 == 0 else ["whp", "bare"]
            results: dict[str, Run] = {}
            for name in order:
                warm = wrk.run(servers[name], load_script, args.warmup)
                run = wrk.run(servers[name], load_script, args.duration)
                results[name] = run
                for r in (warm, run):
                    if name == "whp":
                        whp_ok += r.ok
                    if r.invalid:
                        invalid.append(f"round {i + 1} {name}: {r.problems()}")
                print(
                    f"  round {i + 1} {name:<4}: {run.rate:>8,.0f} req/s  p99 {run.p99_ms:6.1f} ms"
                    + (f"  ({run.problems()})" if run.problems() else ""),
                    flush=True,
                )
            rounds.append(results)

        print(
            f"  verification: {args.verify_duration} s against whp, collecting 202 ids", flush=True
        )
        check = wrk.run(whp, verify_script, args.verify_duration)
        whp_ok += check.ok
        if check.errors["status"]:
            invalid.append(f"verification: {check.problems()}")
        whp_status = whp.stop()
    finally:
        for server in servers.values():
            server.stop()
        wrk_log.close()

    # uvicorn re-raises the SIGTERM it caught once it has shut down, hence -SIGTERM.
    whp_log = whp.log.read_text(errors="replace")
    if whp_status not in (0, -signal.SIGTERM) or "Application shutdown complete" not in whp_log:
        invalid.append(f"whp did not shut down cleanly ({whp_status}):\n{whp.log_tail()}")
    errors = logged_errors(whp_log)
    if errors:
        invalid.append(f"whp logged {len(errors)} errors, the first: {errors[0]}")
    acked, statuses = read_acks(acks_file)
    store = check_store(db_path, config_path, env, acked)

    bare_rate, whp_rate, ratio = print_table(rounds)
    print(
        f"target whp/bare >= {TARGET}: {verdict(ratio, TARGET)}   "
        f"goal >= {GOAL}: {verdict(ratio, GOAL)}   (ratio of medians {ratio:.2f}: "
        f"{whp_rate:,.0f} / {bare_rate:,.0f} req/s)"
    )
    print_cpu(rounds)

    print("\nIntegrity (after SIGTERM of whp):")
    print(
        f"  verification phase: {len(acked)} acknowledged (202), "
        f"{len(acked) - len(store.missing)} found in store, {len(store.missing)} missing"
        f"   (answers: {', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))})"
    )
    print(
        f"  all runs: whp answered {whp_ok} 2xx; the store holds {store.events} events "
        f"({store.distinct_keys} distinct delivery ids)"
        f" -> {'ok' if store.events >= whp_ok else 'FEWER EVENTS THAN 2xx ANSWERS'}"
    )
    mode = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(store.synchronous, "?")
    print(
        f"  journal_mode={store.journal_mode}; synchronous={mode} on the connection opened by "
        "whp serve's code path (bootstrap.ingestion -> GroupCommitStore -> db.connect)"
    )
    failed = bool(store.missing) or store.events < whp_ok
    if store.journal_mode != "wal" or store.synchronous != SYNCHRONOUS_FULL:
        failed = True
        print("  FAIL: the store is not WAL with synchronous=FULL")
    duplicates = statuses.get(200, 0)
    if duplicates or store.distinct_keys != store.events:
        print(f"  note: {duplicates} duplicate answers; delivery ids were not all unique")
    if store.missing:
        print(f"  FAIL: missing ids, first ones: {', '.join(store.missing[:5])}")
    for problem in invalid:
        print(f"  INVALID RUN: {problem}")
    return 1 if failed or invalid else 0


if __name__ == "__main__":
    entry(main)
