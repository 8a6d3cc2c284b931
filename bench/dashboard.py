"""Dashboard benchmark: each page of /dashboard and the admin API calls behind them, timed on a
store of 100,000 events and their deliveries, against the 200 ms target.

The store is written straight into a SQLite file (bench/dashboard_store.py: the store's own SQL
and delivery-queue adapter, no HTTP), then `whp serve` opens it, with every destination paused in
its config so that nothing changes while it is timed. Then:

* **API calls**: each main call of the dashboard (stats, the event listing unfiltered and by each
  filter, one event with its deliveries and attempts, the DLQ, the destinations), `--api-repeat`
  times on one kept-alive connection, after one call not counted.
* **Pages**: each page in headless chromium (Debian's, through playwright), `--repeat` times after
  one not counted, signed in (the token in the tab's sessionStorage). Two clocks: *in page*, from
  the start of the navigation to the page's `rendered:<page>` performance mark, set when its
  first data is on screen (`main[data-rendered]`): the HTML, the scripts, every API call the page
  makes and the drawing, by the browser's own clock; and *wall*, from playwright's `goto` to its
  seeing that marker, which adds the driver's round trips to the browser. And the overview on a
  first visit, a new browser context each time: nothing cached.

Printed: median, p95 and max of each, in ms, against the target (a median over it is flagged).
The store's size on disk and the machine are printed too.

Usage:  python -m bench.dashboard [--events 100000] [--repeat 10] [--api-repeat 20]
Exit status: 0 measured (targets met or not), 2 chromium or playwright missing, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import statistics
import sys
import time
from pathlib import Path

import httpx
from playwright.sync_api import BrowserContext, Page, sync_playwright

from bench import dashboard_store, harness

TARGET_MS = 200.0
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.dashboard", description=__doc__.split("\n")[0]
    )
    p.add_argument("--events", type=int, default=100_000, help="events in the store")
    p.add_argument("--repeat", type=int, default=10, help="timed loads of each page")
    p.add_argument("--api-repeat", type=int, default=20, help="timed calls of each API call")
    harness.add_workspace_options(p)
    return p.parse_args(argv)


def summary(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    median = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    verdict = "ok" if median <= TARGET_MS else "OVER"
    return f"  {name:<44} {median:8.1f} {p95:8.1f} {ordered[-1]:8.1f}   {verdict}"


def header(title: str) -> None:
    print(f"\n{title}")
    print(f"  {'':<44} {'median':>8} {'p95':>8} {'max':>8}   target {TARGET_MS:.0f} ms")


def time_api(url: str, token: str, calls: dict[str, str], repeat: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {}
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as http:
        for name, path in calls.items():
            http.get(path).raise_for_status()  # not counted: the first reads the pages from disk
            samples = []
            for _ in range(repeat):
                started = time.perf_counter()
                http.get(path).raise_for_status()
                samples.append((time.perf_counter() - started) * 1000)
            timings[name] = samples
    return timings


RENDERED = "(m) => performance.getEntriesByName(`rendered:${m}`)[0].startTime"


def time_pages(
    url: str, token: str, pages: dict[str, tuple[str, str]], repeat: int
) -> dict[str, tuple[list[float], list[float]]]:
    """Per page: (in page: navigation start to the page's `rendered` mark, by the browser's
    clock; wall: from asking playwright for the URL to seeing main[data-rendered], which adds
    the driver's round trips). The first load of each is not counted; the cold one (an empty
    cache, a new browser context each time) is."""
    timings: dict[str, tuple[list[float], list[float]]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
        )

        def load(page: Page, path: str, marker: str) -> tuple[float, float]:
            started = time.perf_counter()
            page.goto(url + path, wait_until="commit")
            page.wait_for_selector(
                f"main[data-rendered={marker}]", state="attached", timeout=60_000
            )
            wall = (time.perf_counter() - started) * 1000
            return float(page.evaluate(RENDERED, marker)), wall

        def context() -> BrowserContext:
            made = browser.new_context(viewport={"width": 1280, "height": 800})
            # signed in as after the prompt: the token in the tab's sessionStorage
            made.add_init_script(f"sessionStorage.setItem('whp.admin-token', {token!r})")
            return made

        warm = context().new_page()
        for name, (path, marker) in pages.items():
            samples = [load(warm, path, marker) for _ in range(repeat + 1)][1:]
            timings[name] = ([s[0] for s in samples], [s[1] for s in samples])
        cold = []
        for _ in range(repeat):
            fresh = context()
            cold.append(load(fresh.new_page(), "/dashboard", "overview"))
            fresh.close()
        timings["overview, first visit (empty cache)"] = (
            [s[0] for s in cold],
            [s[1] for s in cold],
        )
        browser.close()
    return timings


def bench(args: argparse.Namespace, workdir: Path) -> int:
    db_path = workdir / "whp.db"
    print(harness.machine())
    started = time.perf_counter()
    seeded = dashboard_store.seed(db_path, args.events, int(time.time() * 1000))
    size = sum(f.stat().st_size for f in workdir.glob("whp.db*")) / 1e6
    print(
        f"store: {seeded.events:,} events, {seeded.deliveries:,} deliveries ({seeded.dead:,} dead, "
        f"{seeded.pending:,} pending), {size:.0f} MB, "
        f"written in {time.perf_counter() - started:.1f} s"
    )
    config_path = workdir / "whp.yaml"
    config_path.write_text(dashboard_store.config(db_path))
    token = secrets.token_urlsafe(24)
    env = {**os.environ, "BENCH_ADMIN_TOKEN": token}
    server = harness.whp_server(config_path, harness.free_port(), workdir, env)
    source, key = seeded.a_key
    calls = {
        "GET /api/stats": "/api/stats",
        "GET /api/events": "/api/events",
        "GET /api/events (page 2, by cursor)": "",
        f"GET /api/events?source={source}": f"/api/events?source={source}",
        "GET /api/events?type=release": "/api/events?type=release",
        "GET /api/events?key=<a delivery id>": f"/api/events?key={key}",
        "GET /api/events?status=dead": "/api/events?status=dead",
        "GET /api/events?status=unrouted": "/api/events?status=unrouted",
        "GET /api/events?status=pending (none)": "/api/events?status=pending",
        "GET /api/events?since=1h": "/api/events?since=1h",
        "GET /api/events/{id} (3 dead attempts)": f"/api/events/{seeded.a_dead_event}",
        "GET /api/dlq": "/api/dlq",
        "GET /api/destinations": "/api/destinations",
    }
    pages = {
        "overview  /dashboard": ("/dashboard", "overview"),
        "events    /dashboard/events": ("/dashboard/events", "events"),
        "search    /dashboard/events?key=...": (f"/dashboard/events?key={key}", "events"),
        "search    /dashboard/events?status=dead": ("/dashboard/events?status=dead", "events"),
        "event     /dashboard/events/{id}": (f"/dashboard/events/{seeded.a_dead_event}", "event"),
        "dlq       /dashboard/dlq": ("/dashboard/dlq", "dlq"),
        "dests     /dashboard/destinations": ("/dashboard/destinations", "destinations"),
    }
    server.start()
    try:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            cursor = http.get("/api/events").json()["next"]
        calls["GET /api/events (page 2, by cursor)"] = f"/api/events?cursor={cursor}"
        header(f"admin API ({args.api_repeat} calls each), ms")
        for name, samples in time_api(server.url, token, calls, args.api_repeat).items():
            print(summary(name, samples))
        page_timings = time_pages(server.url, token, pages, args.repeat)
        header(f"dashboard pages, in page: navigation to rendered ({args.repeat} loads), ms")
        for name, (in_page, _) in page_timings.items():
            print(summary(name, in_page))
        header("the same loads, wall: playwright's goto to the rendered marker seen, ms")
        for name, (_, wall) in page_timings.items():
            print(summary(name, wall))
    finally:
        server.stop()
    print(f"\nload average after: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    errors = harness.logged_errors(server.log.read_text(errors="replace"))
    if errors:
        print("\nwhp logged errors:\n" + "\n".join(errors[:10]))
    over = [n for n, (s, _) in page_timings.items() if statistics.median(s) > TARGET_MS]
    print(
        "\nevery page renders within the target (in page)"
        if not over
        else f"\npages over the target: {', '.join(over)}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("chromium") is None:
        print("bench: chromium is not installed; apt-get install -y chromium", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminated)  # unwind, so that the server is stopped
    with harness.workspace(harness.workdir_base(args.workdir), args.keep) as workdir:
        return bench(args, workdir)


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    harness.entry(main)
