"""End-to-end benchmark: from the sender's 202 to the receiver's arrival, through one whp route.

Three processes on 127.0.0.1 (and phase 6's `whp worker`), all on the stack of `whp serve`
(uvicorn, uvloop, httptools):
`whp serve` with a signed-GitHub source, one destination and one route (source github -> the
destination); `bench.receiver_app`, the destination, which answers 200 and records the arrival time
(`time.time_ns()`) of every `webhook-id`; and the load generator.

Phases, in this order (each target gets the same load):

1. fixed rate, receiver directly (the floor): the fixed-rate sender below, pointed at the receiver;
   its request latency (from the due time to the answer) is what the stack costs without whp.
2. fixed rate, through whp: `--rate` signed 1 KB GitHub pushes per second for `--duration` s (plus
   `--warmup` s not counted). For each 202 the sender keeps the event id (from the answer) and the
   time the answer arrived; latency = the receiver's arrival time of that `webhook-id` - that time
   (same machine, same clock). After a bounded drain wait, every acknowledged id must have arrived.
3. saturation, receiver directly: wrk -c64 (the load script of `bench.harness`) for
   `--sat-duration` s.
4. saturation, through whp: the same wrk run against whp; the receiver's arrival times give the
   delivery rate while ingest is saturated (after `SAT_SKIP` s of ramp-up, to the end of wrk) and
   then while the backlog drains, ingest idle (bounded wait).
5. the most `whp serve` delivers: the same wrk run with the destination paused (`whp destinations
   pause`), so that the whole load waits in the store; then it is resumed, and the drain rate is
   measured, ingest idle.
6. the same as 5, with `--workers` `whp worker` processes beside `whp serve` on its store (the
   way docs/architecture.md gives to add delivery capacity; `whp serve` itself is one process).
7. part 1's ingest rate: wrk against a second `whp serve` on `bench.ingest`'s config (no routes,
   a store of its own), measured here so that both rates come from the same phase of the machine.

The delivery target compares the most whp delivers with phase 7's ingest rate: for `whp serve`,
the larger of phase 4's rate under load and phase 5's drain rate; with workers, phase 6's drain
rate. Phase 4's rate is also printed against the ingest rate of that phase.

The destination allows 256 deliveries in flight (`max_concurrency`): enough that the cap is not
what the maximum rate measures. A slot is free again once a worker step has recorded its attempt,
and two processes share the cap, so at 64 it held phase 6 to about 3,000/s here.

The fixed-rate sender is open-loop: request i is due at start + i/rate and is sent at once on a
free connection of a pool (`--connections`, 64), whatever happened to the previous ones; it is a
minimal HTTP/1.1 client on asyncio streams (uvloop), because one Python process with httpx keeps
1,000/s only with little headroom on this 2-core VM. The lag between the due time and the actual
send is reported, so that a late sender is visible.

Usage:  python -m bench.e2e [--rate 1000] [--duration 30] [--sat-duration 15]
Exit status: 0 measured (targets met or not), 1 an acknowledged event never arrived (or the
backlog stopped draining short of what whp acknowledged) or the run is invalid, 2 wrk is not
installed, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import hashlib
import hmac
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import uvloop

from bench import harness

DESCRIPTION = "End-to-end benchmark: sender's 202 to receiver arrival, through one whp route."
P99_TARGET_MS = 50.0
DELIVERY_TARGET = 0.5
DESTINATION = "receiver"
PART1_WARMUP = 2  # seconds of wrk before part 1's ingest rate is measured
SAT_SKIP = 2.0  # seconds of the saturation run left out of the delivery window (ramp-up)
STALL_SECONDS = 10.0  # no new arrival for this long: the drain is over
ANSWER_ID = re.compile(rb'"id":"([^"]+)"')


# ---------------------------------------------------------------------------------------------
# The fixed-rate sender
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Sent:
    due_ns: int  # when the request was due (wall clock)
    start_ns: int  # when it was written
    done_ns: int  # when the whole answer was read
    status: int  # -1: the connection failed
    ident: str  # the event id in a 202 answer, else the delivery id sent
    measured: bool  # False during the warm-up


class Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(harness.HOST, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, data: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        assert self.reader is not None
        assert self.writer is not None
        self.writer.write(data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        if match is not None:
            return status, await self.reader.readexactly(int(match.group(1)))
        if re.search(rb"(?i)\r\ntransfer-encoding:\s*chunked", head) is None:
            raise RuntimeError(f"an answer without a length: {head!r}")
        chunks: list[bytes] = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await self.reader.readexactly(size + 2)
            if size == 0:
                return status, b"".join(chunks)
            chunks.append(chunk[:-2])


def request_bytes(port: int, body: bytes, signature: str) -> tuple[bytes, bytes]:
    """The request before and after the delivery id (a fresh UUID goes in between)."""
    head = (
        f"POST /webhooks/{harness.SOURCE} HTTP/1.1\r\n"
        f"Host: {harness.HOST}:{port}\r\n"
        "Content-Type: application/json\r\n"
        "User-Agent: GitHub-Hookshot/bench\r\n"
        "X-GitHub-Event: push\r\n"
        "X-GitHub-Hook-ID: 460000001\r\n"
        "X-GitHub-Hook-Installation-Target-Type: repository\r\n"
        "X-GitHub-Hook-Installation-Target-ID: 186853002\r\n"
        f"X-Hub-Signature-256: {signature}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "X-GitHub-Delivery: "
    ).encode()
    return head, b"\r\n\r\n" + body


async def fixed_rate(
    port: int, body: bytes, signature: str, rate: float, warmup: float, duration: float, conns: int
) -> list[Sent]:
    head, tail = request_bytes(port, body, signature)
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    opened = [Connection(port) for _ in range(conns)]
    await asyncio.gather(*(c.open() for c in opened))
    for c in opened:
        pool.put_nowait(c)
    results: list[Sent] = []
    loop = asyncio.get_running_loop()
    count = round(rate * (warmup + duration))
    first_measured = round(rate * warmup)
    start_mono = loop.time() + 0.05
    start_wall = time.time_ns() + 50_000_000

    async def one(i: int) -> None:
        delivery = str(uuid.uuid4())
        conn = await pool.get()
        begin = time.time_ns()
        try:
            status, answer = await conn.request(head + delivery.encode() + tail)
        except (OSError, asyncio.IncompleteReadError, ValueError, RuntimeError):
            status, answer = -1, b""
            conn.close()
        done = time.time_ns()
        pool.put_nowait(conn)
        ident = delivery
        if status == 202:
            match = ANSWER_ID.search(answer)
            ident = match.group(1).decode() if match else "?"
        due = start_wall + round(i * 1e9 / rate)
        results.append(Sent(due, begin, done, status, ident, i >= first_measured))

    tasks: set[asyncio.Task[None]] = set()
    i = 0
    while i < count:
        now = loop.time()
        while i < count and start_mono + i / rate <= now:
            task = asyncio.create_task(one(i))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
        if i < count:
            await asyncio.sleep(max(0.0, start_mono + i / rate - loop.time()))
    while tasks:
        await asyncio.wait(set(tasks), timeout=60)
    for c in opened:
        c.close()
    return results


def run_fixed_rate(
    port: int, body: bytes, signature: str, args: argparse.Namespace
) -> tuple[list[Sent], float]:
    """The sends, and the sender's CPU in cores over the run."""
    cpu0 = time.process_time()
    wall0 = time.monotonic()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        sent = runner.run(
            fixed_rate(
                port, body, signature, args.rate, args.warmup, args.duration, args.connections
            )
        )
    return sent, (time.process_time() - cpu0) / (time.monotonic() - wall0)


# ---------------------------------------------------------------------------------------------
# The receiver
# ---------------------------------------------------------------------------------------------


def receiver_count(receiver: harness.Server) -> int:
    return int(httpx.get(receiver.url + "/stats", timeout=10).json()["count"])


def receiver_dump(receiver: harness.Server, path: Path) -> list[tuple[str, int]]:
    """The arrivals since the last dump (the receiver forgets them)."""
    url = receiver.url + "/dump"
    httpx.get(url, params={"path": str(path), "reset": "1"}, timeout=60).raise_for_status()
    out = []
    for line in path.read_text().splitlines():
        ident, _, at = line.partition(" ")
        out.append((ident, int(at)))
    path.unlink()
    return out


def wait_arrivals(receiver: harness.Server, expected: int, limit: float) -> tuple[int, float, bool]:
    """Poll until `expected` arrived, arrivals stalled, or `limit` s: (count, seconds, stalled)."""
    t0 = time.monotonic()
    last, last_change = -1, t0
    while True:
        now = time.monotonic()
        n = receiver_count(receiver)
        if n != last:
            last, last_change = n, now
        if n >= expected:
            return n, now - t0, False
        if now - last_change >= STALL_SECONDS:
            return n, now - t0, True
        if now - t0 >= limit:
            return n, now - t0, False
        time.sleep(0.2)


# ---------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------


def pct(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


@dataclasses.dataclass(frozen=True)
class Latency:
    n: int
    p50: float
    p99: float
    max: float
    min: float

    @classmethod
    def of(cls, ms: Sequence[float]) -> Latency:
        if not ms:
            return cls(0, *(float("nan"),) * 4)
        return cls(len(ms), pct(ms, 50), pct(ms, 99), max(ms), min(ms))

    def row(self) -> str:
        return f"{self.p50:>8.2f}  {self.p99:>8.2f}  {self.max:>8.1f}"


@dataclasses.dataclass(frozen=True)
class FixedReport:
    sent: int
    answered: int  # expected status
    failed: int
    achieved_rate: float  # measured sends / s
    lag_p99_ms: float  # send time - due time
    request: Latency  # answer time - due time
    sender_cpu: float


def fixed_report(sent: list[Sent], ok_status: int, sender_cpu: float) -> FixedReport:
    measured = [s for s in sent if s.measured]
    starts = sorted(s.start_ns for s in measured)
    span = (starts[-1] - starts[0]) / 1e9 if len(starts) > 1 else 0.0
    return FixedReport(
        sent=len(measured),
        answered=sum(1 for s in measured if s.status == ok_status),
        failed=sum(1 for s in measured if s.status != ok_status),
        achieved_rate=(len(starts) - 1) / span if span else 0.0,
        lag_p99_ms=pct([(s.start_ns - s.due_ns) / 1e6 for s in measured], 99),
        request=Latency.of([(s.done_ns - s.due_ns) / 1e6 for s in measured]),
        sender_cpu=sender_cpu,
    )


@dataclasses.dataclass(frozen=True)
class Saturation:
    wrk: harness.Run
    window: float  # seconds of the delivery window
    delivered_in_window: int
    delivered_during_load: int
    backlog_at_end: int  # whp's 2xx answers - deliveries, when wrk ended
    drain_seconds: float  # from the end of wrk to the last arrival
    drain_rate: float  # deliveries / s after wrk
    delivered: int
    stalled: bool
    per_second: list[int]
    whp_cpu: float
    waited: float  # seconds waited for the backlog after wrk

    @property
    def delivery_rate(self) -> float:
        return self.delivered_in_window / self.window if self.window else 0.0


def saturate(
    wrk: harness.Wrk,
    whp: harness.Server,
    receiver: harness.Server,
    load_script: Path,
    args: argparse.Namespace,
    dump: Path,
    hold: Callable[[str], None] | None = None,
) -> tuple[Saturation, list[str], bool]:
    """wrk against whp for --sat-duration s, then the drain of the backlog: what was delivered
    and when, the problems that make the run invalid, and whether acknowledged webhooks never
    arrived. With `hold`, the destination is paused during wrk and resumed after it (`hold` runs
    `whp destinations pause|resume`): the drain is then of the whole load, ingest idle."""
    invalid: list[str] = []
    lost = False
    if hold:
        hold("pause")
    base_count = receiver_count(receiver)  # late duplicates of an earlier phase would show here
    whp_cpu0 = harness.process_cpu_seconds(whp.pid)
    start_ns = time.time_ns()
    sat_run = wrk.run(whp, load_script, args.sat_duration)
    end_ns = time.time_ns()
    sat_whp_cpu = (harness.process_cpu_seconds(whp.pid) - whp_cpu0) / ((end_ns - start_ns) / 1e9)
    at_end = receiver_count(receiver) - base_count
    drain_start = end_ns
    if hold:
        hold("resume")
        drain_start = time.time_ns()
    _, waited, stalled = wait_arrivals(receiver, sat_run.ok + base_count, args.drain)
    times = sorted(at for _, at in receiver_dump(receiver, dump))
    if sat_run.invalid:
        invalid.append(f"saturation against whp: {sat_run.problems()}")
    wrk_start = end_ns - round(sat_run.seconds * 1e9)  # wrk's own measured interval
    window_start = wrk_start + round(SAT_SKIP * 1e9)
    in_window = sum(1 for t in times if window_start <= t < end_ns)
    after = [t for t in times if t >= drain_start]
    drain_seconds = (after[-1] - drain_start) / 1e9 if after else 0.0
    per_second: dict[int, int] = {}
    for t in times:
        sec = (t - wrk_start) // 1_000_000_000
        per_second[sec] = per_second.get(sec, 0) + 1
    seconds = range(min(per_second, default=0), max(per_second, default=-1) + 1)
    sat = Saturation(
        wrk=sat_run,
        window=(end_ns - window_start) / 1e9,
        delivered_in_window=in_window,
        delivered_during_load=at_end,
        backlog_at_end=max(0, sat_run.ok - at_end),
        drain_seconds=drain_seconds,
        drain_rate=len(after) / drain_seconds if drain_seconds else 0.0,
        delivered=len(times),
        stalled=stalled,
        per_second=[per_second.get(s, 0) for s in seconds],
        whp_cpu=sat_whp_cpu,
        waited=waited,
    )
    if len(times) < sat_run.ok:
        if stalled:
            lost = True
        else:
            invalid.append(
                f"backlog not drained after {args.drain} s (still delivering): "
                f"{sat_run.ok - len(times)} of {sat_run.ok} acknowledged not yet delivered"
            )
    return sat, invalid, lost


class Workers:
    """`whp worker` processes beside `whp serve`, on its config and store: the way to add
    delivery capacity to one machine (the README: the worker alone, on the same store)."""

    def __init__(self, config_path: Path, workdir: Path, env: dict[str, str]) -> None:
        self._command = [sys.executable, "-m", "webhook_processor", "worker", "--config"]
        self._command.append(str(config_path))
        self._workdir = workdir
        self._env = env
        self._procs: list[subprocess.Popen[bytes]] = []

    def _log(self, i: int) -> Path:
        return self._workdir / f"worker-{i + 1}.log"

    def start(self, n: int) -> None:
        """Start `n`; they are up long before the drain that measures them (wrk runs first)."""
        for i in range(n):
            self._procs.append(
                harness.start_process(self._command, self._log(i), self._env, self._workdir)
            )

    def problems_before_stop(self) -> list[str]:
        return [
            f"whp worker {i + 1} exited during the phase ({proc.returncode}):\n"
            + harness.log_tail(self._log(i))
            for i, proc in enumerate(self._procs)
            if proc.poll() is not None
        ]

    def stop(self) -> list[str]:
        """Stop them all (SIGTERM: graceful); the problems: unclean exits, errors logged."""
        problems = []
        for i, proc in enumerate(self._procs):
            status = harness.stop_process(proc)
            if status != 0:
                problems.append(
                    f"whp worker {i + 1} exited with {status}:\n{harness.log_tail(self._log(i))}"
                )
            errors = harness.logged_errors(self._log(i).read_text(errors="replace"))
            if errors:
                problems.append(f"whp worker {i + 1} logged {len(errors)} errors: {errors[0]}")
        return problems


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.e2e", description=DESCRIPTION)
    p.add_argument("--rate", type=float, default=1000, help="webhooks/s, fixed phase (1000)")
    p.add_argument("--duration", type=int, default=30, help="seconds of the fixed phase (30)")
    p.add_argument("--warmup", type=int, default=2, help="seconds not counted before it (2)")
    p.add_argument("--sat-duration", type=int, default=15, help="seconds of wrk saturation (15)")
    p.add_argument("--drain", type=int, default=120, help="max seconds to wait for a backlog")
    p.add_argument("--connections", type=int, default=64, help="sender and wrk connections (64)")
    p.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="whp's log level (info, whp.yaml's default; a delivered webhook is logged at debug)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="`whp worker` processes beside whp serve in phase 6 (1; 0 leaves phase 6 out)",
    )
    harness.add_workspace_options(p)
    args = p.parse_args(argv)
    if args.workers < 0:
        p.error("--workers must be 0 or more")
    for name in ("rate", "duration", "sat_duration", "drain", "connections"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if args.sat_duration <= SAT_SKIP + 1:
        p.error(f"--sat-duration must be more than {SAT_SKIP + 1:.0f}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return harness.run(parse_args(argv), bench)


def write_config(path: Path, db_path: Path, receiver_port: int, log_level: str) -> None:
    path.write_text(
        harness.ingest_config(db_path, log_level) + "destinations:\n"
        "  receiver:\n"
        f"    url: http://{harness.HOST}:{receiver_port}/hook\n"
        "    signing_secret: 'env:BENCH_SIGNING_SECRET'\n"
        "    timeout_seconds: 5\n"
        "    max_concurrency: 256\n"
        "    retry: {max_attempts: 5, initial_interval_seconds: 0.5, multiplier: 2,"
        " max_interval_seconds: 2}\n"
        "routes:\n"
        "  - {name: all-github, destination: receiver, "
        f"pattern: {{source: [{harness.SOURCE}]}}}}\n"
    )


def bench(args: argparse.Namespace, wrk_binary: str, workdir: Path) -> int:
    secret = secrets.token_hex(32)
    signing = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    env = dict(
        os.environ,
        BENCH_GITHUB_SECRET=secret,
        BENCH_SIGNING_SECRET=signing,
        PYTHONUNBUFFERED="1",
    )
    body = harness.push_body()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    load_script = harness.load_script(workdir, secret, body)
    db_path = workdir / "whp.db"
    config_path = workdir / "whp.yaml"
    whp_port, receiver_port = harness.free_port(), harness.free_port()
    write_config(config_path, db_path, receiver_port, args.log_level)
    whp = harness.whp_server(config_path, whp_port, workdir, env)
    receiver = harness.asgi_server(
        "receiver", "bench.receiver_app:app", receiver_port, "/stats", workdir, env
    )
    dump = workdir / "arrivals.txt"

    print("whp end-to-end benchmark")
    print(f"machine: {harness.machine()}")
    print(
        f"fixed:   {args.rate:,.0f}/s for {args.warmup} s warm-up + {args.duration} s, "
        f"open-loop, {args.connections} connections, {len(body)}-byte signed GitHub pushes"
    )
    print(f"sat.:    {wrk_binary} -t1 -c{args.connections} -d{args.sat_duration}s")

    invalid: list[str] = []
    lost = False
    part1_whp: harness.Server | None = None
    wrk_log = (workdir / "wrk.log").open("w")
    try:
        receiver.start()
        whp.start()
        wrk = harness.Wrk(wrk_binary, 1, args.connections, wrk_log)

        # 1. fixed rate, receiver directly
        print("  1/7 fixed rate -> receiver (floor)", flush=True)
        sent, cpu = run_fixed_rate(receiver_port, body, signature, args)
        floor = fixed_report(sent, 200, cpu)
        receiver_dump(receiver, dump)

        # 2. fixed rate, through whp
        print("  2/7 fixed rate -> whp -> receiver", flush=True)
        whp_cpu0, wall0 = harness.process_cpu_seconds(whp.pid), time.monotonic()
        sent, cpu = run_fixed_rate(whp_port, body, signature, args)
        fixed_whp_cpu = (harness.process_cpu_seconds(whp.pid) - whp_cpu0) / (
            time.monotonic() - wall0
        )
        through = fixed_report(sent, 202, cpu)
        acked = {s.ident: s for s in sent if s.status == 202}
        _, fixed_wait, fixed_stalled = wait_arrivals(receiver, len(acked), args.drain)
        arrivals: dict[str, int] = {}
        duplicates = 0
        for ident, at in receiver_dump(receiver, dump):
            if ident in arrivals:
                duplicates += 1
                arrivals[ident] = min(arrivals[ident], at)
            else:
                arrivals[ident] = at
        missing = [i for i in acked if i not in arrivals]
        e2e = Latency.of(
            [
                (arrivals[i] - s.done_ns) / 1e6
                for i, s in acked.items()
                if s.measured and i in arrivals
            ]
        )
        if missing and fixed_stalled:
            lost = True
        elif missing:
            invalid.append(
                f"fixed rate: {len(missing)} acknowledged not delivered after {args.drain} s "
                "(still delivering: raise --drain)"
            )
        print(f"      drain after the fixed phase: {fixed_wait:.1f} s", flush=True)

        # 3. saturation, receiver directly
        print(f"  3/7 wrk -c{args.connections} -> receiver (baseline)", flush=True)
        sat_floor = wrk.run(receiver, load_script, args.sat_duration)
        receiver_dump(receiver, dump)

        # 4. saturation, through whp serve: delivering while ingest is saturated
        print(f"  4/7 wrk -c{args.connections} -> whp -> receiver, then drain", flush=True)
        sat, problems, lost_here = saturate(wrk, whp, receiver, load_script, args, dump)
        invalid += problems
        lost |= lost_here

        # 5. the most whp serve delivers: a backlog held during wrk, then drained, ingest idle
        def hold(action: str) -> None:
            cli = [sys.executable, "-m", "webhook_processor", "destinations", action]
            cli += [DESTINATION, "--config", str(config_path)]
            subprocess.run(cli, env=env, cwd=workdir, check=True, capture_output=True)

        print("  5/7 the same, the destination paused during wrk: drain rate", flush=True)
        held, problems, lost_here = saturate(wrk, whp, receiver, load_script, args, dump, hold)
        invalid += [f"held backlog: {p}" for p in problems]
        lost |= lost_here

        # 6. the same, with `whp worker` processes beside whp serve
        scaled: Saturation | None = None
        if args.workers:
            print(f"  6/7 the same with {args.workers} `whp worker` beside whp serve", flush=True)
            workers = Workers(config_path, workdir, env)
            try:
                workers.start(args.workers)
                scaled, problems, lost_here = saturate(
                    wrk, whp, receiver, load_script, args, dump, hold
                )
                invalid += [f"with whp worker: {p}" for p in problems]
                lost |= lost_here
                invalid += workers.problems_before_stop()
            finally:
                invalid += workers.stop()
        whp_status = whp.stop()

        # 7. part 1's ingest rate, in this run: bench.ingest's whp (no routes), own store
        print(f"  7/7 wrk -c{args.connections} -> whp without routes (part 1's ingest)", flush=True)
        part1_dir = workdir / "part1"
        part1_dir.mkdir()
        part1_config = part1_dir / "whp.yaml"
        part1_config.write_text(harness.ingest_config(part1_dir / "whp.db", args.log_level))
        part1_whp = harness.whp_server(part1_config, harness.free_port(), part1_dir, env)
        part1_whp.start()
        wrk.run(part1_whp, load_script, PART1_WARMUP)
        part1 = wrk.run(part1_whp, load_script, args.sat_duration)
        if part1.invalid:
            invalid.append(f"part 1's ingest: {part1.problems()}")
        part1_whp.stop()
    finally:
        whp.stop()
        if part1_whp is not None:
            part1_whp.stop()
        receiver.stop()
        wrk_log.close()

    whp_log = whp.log.read_text(errors="replace")
    if whp_status not in (0, -signal.SIGTERM):
        invalid.append(f"whp did not shut down cleanly ({whp_status}):\n{whp.log_tail()}")
    errors = harness.logged_errors(whp_log)
    if errors:
        invalid.append(f"whp logged {len(errors)} errors, the first: {errors[0]}")

    report(
        args,
        floor,
        through,
        e2e,
        fixed_whp_cpu,
        len(acked),
        missing,
        duplicates,
        sat,
        held,
        scaled,
        sat_floor,
        part1,
    )
    if through.failed:
        invalid.append(f"fixed rate through whp: {through.failed} requests without a 202")
    if floor.failed:
        invalid.append(f"fixed rate to the receiver: {floor.failed} requests without a 200")
    for problem in invalid:
        print(f"INVALID RUN: {problem}")
    if lost:
        print("FAIL: acknowledged webhooks never arrived at the receiver")
    return 1 if lost or invalid else 0


def report(
    args: argparse.Namespace,
    floor: FixedReport,
    through: FixedReport,
    e2e: Latency,
    fixed_whp_cpu: float,
    acked: int,
    missing: list[str],
    duplicates: int,
    sat: Saturation,
    held: Saturation,
    scaled: Saturation | None,
    sat_floor: harness.Run,
    part1: harness.Run,
) -> None:
    print()
    print(f"Fixed rate: {args.rate:,.0f}/s for {args.duration} s (after {args.warmup} s warm-up)")
    print(
        f"{'':<34}  {'sent':>6}  {'ok':>6}  {'rate/s':>7}  {'lag p99':>7}  "
        f"{'p50 ms':>8}  {'p99 ms':>8}  {'max ms':>8}"
    )
    for name, r in (
        ("receiver direct: request latency", floor),
        ("whp: ingest request latency (202)", through),
    ):
        print(
            f"{name:<34}  {r.sent:>6}  {r.answered:>6}  {r.achieved_rate:>7,.0f}  "
            f"{r.lag_p99_ms:>5.1f}ms  {r.request.row()}"
        )
    print(
        f"{'whp: 202 -> arrival at receiver':<34}  {e2e.n:>6}  {'':>6}  {'':>7}  {'':>7}  "
        f"{e2e.row()}   (min {e2e.min:.2f} ms)"
    )
    print(
        f"  acknowledged (202, warm-up included) {acked}, arrived {acked - len(missing)}, "
        f"missing {len(missing)}, duplicate deliveries {duplicates}"
        + (f"; first missing: {', '.join(missing[:3])}" if missing else "")
    )
    print(
        f"  CPU (cores): whp {fixed_whp_cpu:.2f}; sender {through.sender_cpu:.2f} "
        f"(receiver direct: sender {floor.sender_cpu:.2f})"
    )
    print(
        "  request latency = answer read - due time (open loop); lag = send - due time; "
        "202 -> arrival = receiver's time_ns - sender's time_ns when the 202 was read"
    )

    print()
    print(f"Saturation: wrk -t1 -c{args.connections}, {args.sat_duration} s")
    print(f"{'':<34}  {'req/s':>8}  {'p99 ms':>7}  {'deliveries/s':>12}")
    print(f"{'receiver direct (wrk)':<34}  {sat_floor.rate:>8,.0f}  {sat_floor.p99_ms:>7.1f}")
    print_saturation("whp serve", sat)
    print_saturation("whp serve, destination paused", held)
    if scaled is not None:
        print_saturation(f"+ {args.workers} whp worker, paused", scaled)
    print(
        f"{'whp without routes (part 1)':<34}  {part1.rate:>8,.0f}  {part1.p99_ms:>7.1f}"
        "   (bench.ingest's config: the ingest rate of part 1, measured in this run)"
    )

    print()
    ok_p99 = e2e.p99 < P99_TARGET_MS
    print(
        f"{'PASS' if ok_p99 else 'FAIL'}: p99 202 -> arrival at {args.rate:,.0f}/s = "
        f"{e2e.p99:.2f} ms (target < {P99_TARGET_MS:.0f} ms)"
    )
    # The most whp delivers: under the load, or draining the held backlog (ingest idle).
    verdicts = [("whp serve", max(sat.delivery_rate, held.drain_rate))]
    if scaled is not None:
        verdicts.append((f"whp serve + {args.workers} whp worker", scaled.drain_rate))
    for label, best in verdicts:
        ratio = best / part1.rate if part1.rate else 0.0
        print(
            f"{'PASS' if ratio >= DELIVERY_TARGET else 'FAIL'}: sustained delivery ({label}) "
            f"{best:,.0f}/s = {ratio:.2f} x part 1's ingest rate ({part1.rate:,.0f} req/s) "
            f"(target >= {DELIVERY_TARGET})"
        )
    same_phase = sat.delivery_rate / sat.wrk.rate if sat.wrk.rate else 0.0
    print(
        f"  while ingest is saturated (phase 4): {sat.delivery_rate:,.0f} deliveries/s = "
        f"{same_phase:.2f} x whp's ingest in the same phase ({sat.wrk.rate:,.0f} req/s)"
    )


def print_saturation(label: str, sat: Saturation) -> None:
    print(
        f"{label + ': ingest (wrk) / delivery':<34}  {sat.wrk.rate:>8,.0f}  "
        f"{sat.wrk.p99_ms:>7.1f}  {sat.delivery_rate:>12,.0f}   (delivered {SAT_SKIP:.0f} s .. "
        f"end of wrk, {sat.window:.1f} s)"
    )
    print(
        f"  whp answered {sat.wrk.ok} 2xx; delivered by the end of wrk {sat.delivered_during_load} "
        f"(backlog {sat.backlog_at_end}); then {sat.delivered - sat.delivered_during_load} more "
        f"in {sat.drain_seconds:.1f} s ({sat.drain_rate:,.0f}/s, ingest idle); "
        f"total delivered {sat.delivered}"
        + (" - STALLED" if sat.stalled else "")
        + f"; waited {sat.waited:.1f} s"
    )
    print(f"  whp serve CPU during wrk: {sat.whp_cpu:.2f} cores")
    print("  deliveries per second, from the first: " + " ".join(map(str, sat.per_second)))


if __name__ == "__main__":
    harness.entry(main)
