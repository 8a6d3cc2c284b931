"""The README's screenshots of the dashboard (docs/screenshots/), taken from a real `whp serve`
under real traffic: `python -m tests.browser.screenshots [--seconds 100] [--out DIR]`.

Signed GitHub and Stripe webhooks arrive at a rate that rises and falls for `--seconds` while the
overview is open (its chart is what the tab sampled meanwhile); the receiver on 127.0.0.1 answers
`orders` at once, `crm` with a 503 every other time (so timelines show a retry), and `warehouse`
with a 500 (so its deliveries die: the dead-letter queue). Then `crm` is paused, and each page
is taken at desktop (1280x800) and phone (390x844) width. Not a test: run it by hand when the
dashboard's look changes, and look at the pictures.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import yaml
from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser.conftest import CHROMIUM_ARGS, ENV, GH_SECRET, api, signed_in
from tests.e2e.helpers import Server, github_headers, start_server, stripe_signature
from tests.e2e.receiver import Receiver, Reply

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
STRIPE_SECRET = "whsec_" + uuid.uuid4().hex
SIZES = {"desktop": (1280, 800, 1), "phone": (390, 844, 2)}


def config(receiver: Receiver) -> dict[str, object]:
    retry = {"max_attempts": 3, "initial_interval_seconds": 0.2, "multiplier": 2}
    destination = {"signing_secret": "env:DASH_SIGNING", "retry": retry}
    return {
        "storage": {"path": "whp.db"},
        "admin": {"token": "env:DASH_ADMIN_TOKEN"},
        "sources": {
            "github": {"verify": "github", "secret": "env:DASH_GH_SECRET"},
            "stripe": {"verify": "stripe", "secret": "env:SHOT_STRIPE_SECRET"},
        },
        "destinations": {
            "orders": {"url": receiver.url("/orders"), **destination},
            "crm": {"url": receiver.url("/crm"), **destination},
            "warehouse": {"url": receiver.url("/warehouse"), **destination},
        },
        "alerts": {
            "interval_seconds": 2,
            "rules": [
                {
                    "name": "warehouse-dead",
                    "metric": "dead_deliveries",
                    "destination": "warehouse",
                    "above": 0,
                },
                {
                    "name": "orders-failing",
                    "metric": "failure_rate",
                    "destination": "orders",
                    "above": 0.2,
                    "window_seconds": 300,
                },
                {
                    "name": "crm-backlog",
                    "metric": "oldest_pending_seconds",
                    "destination": "crm",
                    "above": 600,
                },
            ],
        },
        "routes": [
            {"name": "payments", "destination": "orders", "pattern": {"source": ["stripe"]}},
            {"name": "pushes", "destination": "crm", "pattern": {"detail-type": ["push"]}},
            {
                "name": "refunds",
                "destination": "warehouse",
                "pattern": {"detail-type": ["charge.refunded"]},
            },
        ],
    }


def traffic(server: Server, seconds: float, stop: threading.Event) -> None:
    """Webhooks at 2 to 8 a second, rising and falling; a few GitHub events match no route."""
    started = time.monotonic()
    with httpx.Client(timeout=10) as http:
        n = 0
        while not stop.is_set() and (elapsed := time.monotonic() - started) < seconds:
            n += 1
            if n % 3:
                kind = "charge.refunded" if n % 11 == 0 else "payment_intent.succeeded"
                body = json.dumps(
                    {
                        "id": f"evt_{uuid.uuid4().hex[:24]}",
                        "type": kind,
                        "livemode": False,
                        "data": {"object": {"amount": 1000 + n * 7 % 9000, "currency": "eur"}},
                    }
                ).encode()
                stamp = int(time.time())
                headers = {
                    "Content-Type": "application/json",
                    "Stripe-Signature": stripe_signature(STRIPE_SECRET, body, stamp),
                }
                http.post(server.webhook("stripe"), content=body, headers=headers)
            else:
                event = "push" if n % 4 else "issues"
                body = json.dumps(
                    {
                        "ref": "refs/heads/main",
                        "repository": {"full_name": "acme/shop"},
                        "pusher": {"name": "ada"},
                        "head_commit": {"message": f"Ship #{n}"},
                    }
                ).encode()
                http.post(
                    server.webhook("github"),
                    content=body,
                    headers=github_headers(GH_SECRET, body, event=event),
                )
            rate = 5 + 3 * math.sin(elapsed / 12)
            time.sleep(1 / rate)


def shoot(page: Page, out: Path, name: str, size: str, full_page: bool = False) -> None:
    page.wait_for_timeout(400)  # fonts and the chart's first frame
    path = out / f"{size}-{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    print(f"  {path}")


def pages(browser: Browser, server: Server, samples: str, event_id: str, out: Path) -> None:
    for size, (width, height, scale) in SIZES.items():
        context = browser.new_context(
            viewport={"width": width, "height": height}, device_scale_factor=scale
        )
        # the chart's history, as the tab that watched the traffic sampled it
        context.add_init_script(f"sessionStorage.setItem('whp.samples', {samples!r})")
        page = context.new_page()
        page.goto(f"{server.url}/dashboard")
        page.wait_for_selector("#login:not([hidden])")
        shoot(page, out, "login", size)
        signed_in(page, server)
        shoot(page, out, "overview", size, full_page=size == "desktop")
        for name, path in (
            ("events", "/dashboard/events"),
            ("event", f"/dashboard/events/{event_id}"),
            ("dlq", "/dashboard/dlq"),
            ("destinations", "/dashboard/destinations"),
        ):
            page.goto(server.url + path)
            page.wait_for_selector("main[data-rendered]")
            shoot(page, out, name, size)
        context.close()


def retried_event(server: Server) -> str:
    """A push whose delivery to crm needed a second attempt: a timeline worth showing."""
    for item in api(server, "/events?type=push&limit=100")["data"]:
        detail = api(server, f"/events/{item['id']}")
        if any(len(d["attempts"]) > 1 for d in detail["deliveries"]):
            return str(item["id"])
    raise SystemExit("no push was retried: run longer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=100.0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="whp-shots-"))
    receiver = Receiver(ENV["DASH_SIGNING"]).start()
    receiver.script("/crm", *[Reply(503), Reply(200)] * 5000)
    receiver.script("/warehouse", Reply(500))
    (folder / "whp.yaml").write_text(yaml.safe_dump(config(receiver), sort_keys=False))
    server = start_server(folder / "whp.yaml", {**ENV, "SHOT_STRIPE_SECRET": STRIPE_SECRET})
    stop = threading.Event()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
            )
            watcher = browser.new_page(viewport={"width": 1280, "height": 800})
            signed_in(watcher, server)  # samples the stats while the traffic runs
            sender = threading.Thread(target=traffic, args=(server, args.seconds, stop))
            sender.start()
            sender.join()
            api(server, "/destinations/crm/pause", {})
            traffic(server, 6.0, stop)  # a backlog of pushes behind the pause
            watcher.wait_for_timeout(4000)
            samples = watcher.evaluate("() => sessionStorage.getItem('whp.samples')")
            print(f"screenshots in {args.out}:")
            pages(browser, server, samples, retried_event(server), args.out)
            browser.close()
    finally:
        stop.set()
        server.stop()
        receiver.close()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
