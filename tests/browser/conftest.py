"""The dashboard in a real browser: Debian's headless chromium, driven by Playwright's Python
package (never `playwright install`: the browser is the system's), against a real `whp serve`
started as the e2e suite starts it, delivering to a real receiver on 127.0.0.1.

Every page a test opens is watched: a request to any host but the server's fails the test (and is
aborted before it leaves), and so does a script error or a Content-Security-Policy violation.
"""

from __future__ import annotations

import json
import secrets
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Route, sync_playwright

from tests.e2e.helpers import Server, github_headers, start_server
from tests.e2e.receiver import Receiver, Reply, new_signing_secret

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 20_000  # generous: the machine is shared and slow
TOKEN = "dash-e2e-" + secrets.token_hex(16)
GH_SECRET = "dash-gh-" + secrets.token_hex(16)
SIGNING_SECRET = new_signing_secret()
ENV = {"DASH_ADMIN_TOKEN": TOKEN, "DASH_GH_SECRET": GH_SECRET, "DASH_SIGNING": SIGNING_SECRET}
DOOMED = "doomed"  # the event type routed to the destination that always fails


def config(receiver: Receiver) -> dict[str, object]:
    fast = {"initial_interval_seconds": 0.05, "multiplier": 2, "max_interval_seconds": 0.2}
    return {
        "storage": {"path": "whp.db"},
        "admin": {"token": "env:DASH_ADMIN_TOKEN"},
        "sources": {"github": {"verify": "github", "secret": "env:DASH_GH_SECRET"}},
        "destinations": {
            "orders": {
                "url": receiver.url("/orders"),
                "signing_secret": "env:DASH_SIGNING",
                "retry": {"max_attempts": 3, **fast},
            },
            "failing": {
                "url": receiver.url("/failing"),
                "signing_secret": "env:DASH_SIGNING",
                "retry": {"max_attempts": 2, **fast},
            },
        },
        "alerts": {  # no `notify`: their states show in the stats and the dashboard only
            "interval_seconds": 1,
            "rules": [
                {
                    "name": "failing-dead",
                    "metric": "dead_deliveries",
                    "destination": "failing",
                    "above": 0,
                },
                {
                    "name": "orders-waiting",
                    "metric": "oldest_pending_seconds",
                    "destination": "orders",
                    "above": 3600,
                },
            ],
        },
        "routes": [
            {
                "name": "pushes",
                "destination": "orders",
                "pattern": {"source": ["github"], "detail-type": ["push"]},
            },
            {
                "name": "doomed",
                "destination": "failing",
                "pattern": {"source": ["github"], "detail-type": [DOOMED]},
            },
        ],
    }


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    with Receiver(SIGNING_SECRET) as running:
        running.script("/failing", Reply(500))
        yield running


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("dashboard")
    path = folder / "whp.yaml"
    path.write_text(yaml.safe_dump(config(receiver), sort_keys=False))
    running = start_server(path, ENV)
    yield running
    running.stop()


# Per module, not per session: while playwright's sync API is open it keeps an asyncio loop
# running in this thread, and asyncio.run() in any later test of the session would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("chromium is not installed: apt-get install -y chromium (Debian's package)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Watch:
    """What the pages of one test did that they must not: requests to other hosts, script
    errors, CSP violations."""

    host: str
    foreign: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    api_calls: list[Request] = field(default_factory=list)

    def route(self, route: Route) -> None:
        if urlsplit(route.request.url).netloc != self.host:
            self.foreign.append(route.request.url)
            route.abort()
            return
        route.continue_()

    def request(self, request: Request) -> None:
        if urlsplit(request.url).netloc != self.host:
            self.foreign.append(request.url)  # one the route did not see (a service worker...)
        elif urlsplit(request.url).path.startswith("/api/"):
            self.api_calls.append(request)

    def console(self, message: ConsoleMessage) -> None:
        # Chromium logs every API answer that is not a 2xx (a refused token, a bad filter): the
        # tests check those answers themselves. Any other failed load (an asset) is a problem.
        api_answer = message.text.startswith("Failed to load resource") and "/api/" in str(
            message.location.get("url", "")
        )
        if message.type == "error" and not api_answer:
            self.problems.append(f"console error: {message.text}")
        if "Content Security Policy" in message.text:
            self.problems.append(f"CSP violation: {message.text}")


@pytest.fixture
def watch(server: Server) -> Watch:
    return Watch(f"127.0.0.1:{server.port}")


def open_page(browser: Browser, watch: Watch, width: int, height: int) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(TIMEOUT_MS)
    context.route("**/*", watch.route)
    page = context.new_page()
    page.on("request", watch.request)
    page.on("console", watch.console)
    page.on("pageerror", lambda error: watch.problems.append(f"script error: {error}"))
    yield page
    context.close()
    assert not watch.foreign, f"requests left for another host: {watch.foreign}"
    assert not watch.problems, "\n".join(watch.problems)


@pytest.fixture
def page(browser: Browser, watch: Watch) -> Iterator[Page]:
    yield from open_page(browser, watch, 1280, 800)


@pytest.fixture
def phone(browser: Browser, watch: Watch) -> Iterator[Page]:
    yield from open_page(browser, watch, 390, 844)


# -- what the tests do -------------------------------------------------------------------------


def sign_in(page: Page, server: Server, token: str = TOKEN) -> None:
    page.goto(f"{server.url}/dashboard")
    page.fill("#token", token)
    page.click("#login-form button[type=submit]")


def signed_in(page: Page, server: Server, path: str = "/dashboard") -> None:
    """Signed in, then at `path`, rendered."""
    sign_in(page, server)
    page.wait_for_selector("main[data-rendered=overview]")
    if path != "/dashboard":
        page.goto(f"{server.url}{path}")  # the token is in this tab's sessionStorage
    page.wait_for_selector("main[data-rendered]")


def send(server: Server, event: str = "push", **fields: object) -> tuple[str, str]:
    """A signed GitHub webhook of type `event`: (event id, its delivery id)."""
    delivery = f"dlv-{uuid.uuid4()}"
    body = json.dumps({"test": "browser", **fields}).encode()
    response = httpx.post(
        server.webhook("github"),
        content=body,
        headers=github_headers(GH_SECRET, body, event=event, delivery=delivery),
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"]), delivery


def api(server: Server, path: str, body: object = None) -> Any:
    """The admin API's answer to GET `path`, or to a POST of `body`: what the server holds."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    url = f"{server.url}/api{path}"
    if body is None:
        response = httpx.get(url, headers=headers, timeout=30)
    else:
        response = httpx.post(url, headers=headers, json=body, timeout=30)
    assert response.is_success, response.text
    return response.json()
