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
synchronous=FULL (read on a connection opened as `whp serve`'s store opens its own).

Usage:  python -m bench.ingest [--rounds 3] [--duration 10] [--connections 64] [--threads 1]
Exit status: 0 measured (target met or not), 1 an acknowledged event is missing or the run is
invalid (errors, non-2xx answers, a server that failed), 2 wrk is not installed, 130 interrupted
(Ctrl-C or SIGTERM; the servers are stopped either way).

The load, the servers, wrk and the plumbing of a run are `bench/harness.py`'s, shared with
`bench/e2e.py`; this file is the ingest benchmark's own: rounds, verification, report.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import secrets
import signal
import sqlite3
import statistics
from collections.abc import Sequence
from pathlib import Path

from bench import harness
from webhook_processor import config
from webhook_processor.adapters.sqlite import db

DESCRIPTION = "Ingest load benchmark: whp serve against a bare ASGI app, same server stack."
TARGET = 0.4
GOAL = 0.5
SYNCHRONOUS_FULL = 2  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA

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
    measure = harness.load_script(workdir, secret, body)
    acks = workdir / "acked.txt"
    verify = workdir / "verify.lua"
    verify.write_text(harness.lua_load(secret, body) + LUA_VERIFY.format(out=acks))
    return measure, verify, acks


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


def check_store(db_path: Path, config_path: Path, acked: list[str]) -> StoreReport:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        journal_mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0])
        events, distinct_keys = conn.execute(
            "SELECT count(*), count(DISTINCT idempotency_key) FROM events"
        ).fetchone()
        stored = {row[0] for row in conn.execute("SELECT id FROM events")}
    finally:
        conn.close()
    # synchronous is per connection, not in the file: read it on a connection opened the way
    # `whp serve`'s store opens its own (GroupCommitStore -> db.connect, from the same config).
    storage = config.load(config_path).storage
    conn = db.connect(storage.path, storage.busy_timeout_seconds, checkpoints=False)
    try:
        synchronous = int(conn.execute("PRAGMA synchronous").fetchone()[0])
    finally:
        conn.close()
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


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def verdict(ratio: float, limit: float) -> str:
    return "PASS" if ratio >= limit else "FAIL"


def print_table(rounds: list[dict[str, harness.Run]]) -> tuple[float, float, float]:
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
            f"* other processes used more than {harness.DISTURBED} of a core during a run of "
            "that round (see the CPU table); consider running again"
        )
    return bare_rate, whp_rate, ratio


def print_cpu(rounds: list[dict[str, harness.Run]]) -> None:
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
    harness.add_workspace_options(p)
    args = p.parse_args(argv)
    for name in ("rounds", "duration", "warmup", "verify_duration", "connections", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.connections < args.threads:
        p.error("--connections must be at least --threads")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return harness.run(parse_args(argv), bench)


def bench(args: argparse.Namespace, wrk_binary: str, workdir: Path) -> int:
    secret = secrets.token_hex(32)
    env = dict(os.environ, BENCH_GITHUB_SECRET=secret, PYTHONUNBUFFERED="1")
    body = harness.push_body()
    load_script, verify_script, acks_file = lua_scripts(workdir, secret, body)
    db_path = workdir / "whp.db"
    config_path = workdir / "whp.yaml"
    config_path.write_text(harness.ingest_config(db_path))
    whp = harness.whp_server(config_path, harness.free_port(), workdir, env)
    bare = harness.asgi_server("bare", "bench.bare_app:app", harness.free_port(), "/", workdir, env)
    servers = {"bare": bare, "whp": whp}

    print("whp ingest benchmark")
    print(f"machine: {harness.machine()}")
    print(f"store:   {db_path} ({harness.filesystem(workdir)})")
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
    rounds: list[dict[str, harness.Run]] = []
    wrk_log = (workdir / "wrk.log").open("w")
    try:
        for server in servers.values():
            server.start()
        wrk = harness.Wrk(wrk_binary, args.threads, args.connections, wrk_log)
        for i in range(args.rounds):
            order = ["bare", "whp"] if i % 2 == 0 else ["whp", "bare"]
            results: dict[str, harness.Run] = {}
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
    errors = harness.logged_errors(whp_log)
    if errors:
        invalid.append(f"whp logged {len(errors)} errors, the first: {errors[0]}")
    acked, statuses = read_acks(acks_file)
    store = check_store(db_path, config_path, acked)

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
        f"  journal_mode={store.journal_mode}; synchronous={mode} on a connection opened as "
        "whp serve's store opens its own (GroupCommitStore -> db.connect)"
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
    harness.entry(main)
