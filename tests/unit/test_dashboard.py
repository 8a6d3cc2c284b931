"""What the server answers under /dashboard, in process: the page on every client-side route, its
assets from the package, and the security headers on all of them. (The page itself runs in a real
browser in tests/browser.)"""

from __future__ import annotations

import asyncio
import re
import shutil
from importlib import resources
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.types import ASGIApp

from webhook_processor import services, testing
from webhook_processor.entrypoints import dashboard, web

STATIC = resources.files("webhook_processor.entrypoints.dashboard") / "static"
ASSETS = f"/dashboard/assets/{dashboard.version()}"


class Client:
    """httpx against an ASGI app, in process (starlette's TestClient warns); by default the
    dashboard's routes alone."""

    def __init__(self, app: ASGIApp | None = None) -> None:
        self._transport = httpx.ASGITransport(app=app or Starlette(routes=dashboard.routes()))

    def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        async def go() -> httpx.Response:
            async with httpx.AsyncClient(
                transport=self._transport, base_url="http://127.0.0.1:8080"
            ) as http:
                return await http.get(path, headers=headers)

        return asyncio.run(go())


@pytest.fixture
def client() -> Client:
    return Client()


def csp(response_headers: dict[str, str]) -> dict[str, str]:
    policy = response_headers["content-security-policy"]
    return dict(d.strip().split(" ", 1) for d in policy.split(";"))


def server(admin: ASGIApp | None) -> Client:
    """The app of `whp serve`, with the admin API or without (no `admin.token`)."""
    clock = testing.FakeClock()
    ingest = services.ingest.Ingest({}, testing.MemoryStore(), testing.MemoryMetrics(), clock)
    return Client(web.App(ingest, [], CollectorRegistry(), admin=admin))


def test_without_an_admin_token_there_is_no_dashboard() -> None:
    without = server(None)
    assert without.get("/dashboard").status_code == 404
    assert without.get(f"{ASSETS}/js/app.js").status_code == 404
    api = JSONResponse({"data": [], "next": None})
    served = server(api).get("/dashboard")
    assert served.status_code == 200
    assert "content-security-policy" in served.headers


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard",
        "/dashboard/events",
        "/dashboard/events/evt_123",
        "/dashboard/dlq",
        "/dashboard/destinations",
        "/dashboard/events?source=github&cursor=abc",
    ],
)
def test_every_page_route_serves_the_page_with_a_strict_policy(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert '<main id="main"' in response.text
    policy = csp(dict(response.headers))
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"  # no inline script, no eval
    assert policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/",
        "/dashboard/nowhere",
        "/dashboard/events/a/b",
        "/dashboard/assets/js/app.js",  # not under this version's path
        "/dashboard/assets/0123456789abcdef/js/app.js",  # another version's
        f"{ASSETS}/js/nothing.js",
    ],
)
def test_what_is_no_page_and_no_asset_is_a_404(client: Client, path: str) -> None:
    assert client.get(path).status_code == 404


def test_the_page_loads_only_its_own_assets_and_each_is_served(client: Client) -> None:
    page = client.get("/dashboard").text
    links = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert all(link.startswith("/dashboard") for link in links), links
    references = re.findall(r'<(?:script|link)[^>]* (?:src|href)="([^"]+)"', page)
    assert len(references) > 10, page  # scripts, styles, modules, the icon
    for reference in references:
        assert reference.startswith(f"{ASSETS}/"), f"{reference} is not this version's asset"
        asset = client.get(reference)
        assert asset.status_code == 200, reference
        assert "content-security-policy" in asset.headers
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_the_page_is_revalidated_and_the_assets_have_their_types(client: Client) -> None:
    assert client.get("/dashboard").headers["cache-control"] == "no-cache"
    script = client.get(f"{ASSETS}/js/app.js")
    assert script.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert client.get(f"{ASSETS}/app.css").headers["content-type"].startswith("text/css")


def test_changed_assets_get_another_path(tmp_path: Path) -> None:
    """An upgraded whp never serves its page with the old scripts a browser has cached."""
    copy = tmp_path / "static"
    shutil.copytree(str(STATIC), copy)
    assert dashboard.version(copy) == dashboard.version()
    script = copy / "js" / "app.js"
    script.write_text(script.read_text() + "\n")
    assert dashboard.version(copy) != dashboard.version()


def test_the_shipped_library_carries_its_license() -> None:
    assert (
        (STATIC / "vendor" / "uPlot.iife.min.js")
        .read_text()
        .startswith("/*! https://github.com/leeoniya/uPlot (v")
    )
    assert "MIT License" in (STATIC / "vendor" / "uPlot.LICENSE").read_text()


def test_no_script_of_the_dashboard_parses_markup() -> None:
    """Webhook payloads are attacker-controlled: the page builds text nodes only. A script that
    sets innerHTML (or the like) is one careless change from running a payload."""
    for script in (STATIC / "js").iterdir():
        text = script.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, f"{script.name} uses {sink}"
