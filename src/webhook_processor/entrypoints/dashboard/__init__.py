"""The web dashboard at /dashboard: a page of plain JavaScript over the admin API (/api/*).

Everything it loads is served from here, out of the package's `static/` folder: the page, its
scripts and styles, and the one library it ships (uPlot, for the throughput chart; its license
beside it). Nothing comes from another host, and no build step is needed: the files are the ones
the browser runs. The pages are client-side routes, so every one of them answers the same HTML;
the token the page asks for lives in the browser's sessionStorage and goes only in the
Authorization header of its API calls, never in a URL or a cookie.

Every response carries a strict Content-Security-Policy: scripts, styles, images and fetches
from this origin only, no inline script or style, no framing. Webhook payloads shown on the page
come from anyone who can reach the ingest endpoint; the page only ever puts them in text nodes,
and the policy is the second wall should a bug let one through as markup.

The assets live under a path named after their content (/dashboard/assets/<digest>/...), which
the page is rewritten to use: they are cached for good (`immutable`), so moving between pages
costs no request but the API's, and an upgraded whp, whose files differ, has another path. The
page itself is revalidated at each load. The files (about 100 KB) are read once, at start: the
bytes served under a digest are the bytes it was computed from, and serving them takes no file
read, nor the thread a file read would take.

The routes are mounted next to the admin API (entrypoints/web.py), so with no `admin.token`
configured /dashboard is a 404 like /api/*.
"""

from __future__ import annotations

import hashlib
import mimetypes
from importlib import resources
from importlib.resources.abc import Traversable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PREFIX = "/dashboard"
# The client-side routes (static/js/app.js): each serves the page, which renders the route.
PAGES = ("", "/events", "/events/{id}", "/dlq", "/destinations")
POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HEADERS = [
    (b"content-security-policy", POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
REVALIDATE = [(b"cache-control", b"no-cache")]  # the page: a reload sees a new version
FOREVER = [(b"cache-control", b"public, max-age=31536000, immutable")]  # named by content
STATIC = resources.files(__package__) / "static"


def _files(folder: Traversable, prefix: str = "") -> list[tuple[str, bytes]]:
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            found += _files(entry, f"{prefix}{entry.name}/")
        else:
            found.append((prefix + entry.name, entry.read_bytes()))
    return found


def version(folder: Traversable = STATIC) -> str:
    """A digest of every asset: the path segment that names this set of them."""
    return _digest(_files(folder))


def _digest(files: list[tuple[str, bytes]]) -> str:
    digest = hashlib.sha256()
    for name, content in files:
        digest.update(b"%d:%s:%d:" % (len(name), name.encode(), len(content)) + content)
    return digest.hexdigest()[:16]


def _media_type(name: str) -> str:
    guessed = mimetypes.guess_type(name)[0] or "text/plain"  # uPlot.LICENSE
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


class Secured:
    """Adds the dashboard's security headers, and `cache` ones, to every response of `app`."""

    def __init__(self, app: ASGIApp, cache: list[tuple[bytes, bytes]]) -> None:
        self._app = app
        self._headers = HEADERS + cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in self._headers if n not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self._app(scope, receive, send_secured)


def app() -> ASGIApp:
    """The dashboard, answering paths under /dashboard (full paths: mount it with `routes`)."""
    files = _files(STATIC)
    assets = f"{PREFIX}/assets/{_digest(files)}"
    served = {name: (content, _media_type(name)) for name, content in files}
    index = served.pop("index.html")[0].replace(b"/dashboard/assets/", f"{assets}/".encode())

    async def page(request: Request) -> Response:
        return Response(index, media_type="text/html; charset=utf-8")

    async def asset(request: Request) -> Response:
        found = served.get(request.path_params["name"])
        if found is None:
            return Response("Not Found", 404, media_type="text/plain")
        return Response(found[0], media_type=found[1])

    routes: list[BaseRoute] = [Route(PREFIX + path, page, methods=["GET"]) for path in PAGES]
    pages = Starlette(routes=routes)
    pages.router.redirect_slashes = False  # /dashboard/ is no page of the dashboard: 404
    files_app = Starlette(routes=[Route("/{name:path}", asset, methods=["GET"])])
    inner = Starlette(
        routes=[
            Mount(assets, app=Secured(files_app, FOREVER)),
            Mount("", app=Secured(pages, REVALIDATE)),
        ]
    )
    inner.router.redirect_slashes = False
    return inner


def routes() -> list[BaseRoute]:
    """Routes for the server's app: /dashboard and every path under it."""
    dashboard = app()
    return [Route(PREFIX, dashboard), Route(PREFIX + "/{path:path}", dashboard)]
