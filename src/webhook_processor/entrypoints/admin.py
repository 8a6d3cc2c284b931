"""The admin API under /api/ (the README, "The admin API"): events and their deliveries, replay, the
dead-letter queue and its redrive, destinations and their pauses, stats.

Every request needs `Authorization: Bearer <admin.token>`, checked before routing: without it,
any path under /api/ answers the same 401, so nothing is learnt of the API, not even which
paths exist. The use cases are services.operations.Operator's; its calls block (SQLite), so
they run in a worker thread, never on the event loop that serves ingest. Bad input of any kind
is a 400 `invalid_request` naming what is wrong (entrypoints/admin_input.py reads it).
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from webhook_processor import errors, services
from webhook_processor.entrypoints import admin_input, views

PREFIX = "/api"
Alerts = Callable[[], Sequence[Mapping[str, Any]]]  # each {"name": ..., "state": ...}
UNAUTHORIZED = orjson.dumps(
    {
        "error": "unauthorized",
        "detail": "this needs the admin token: Authorization: Bearer <admin.token>",
    }
)


def no_alerts() -> Sequence[Mapping[str, Any]]:
    return []


def app(
    operator: services.operations.Operator,
    token: str,
    alerts: Alerts = no_alerts,
    clock: Callable[[], float] = time.time,
) -> ASGIApp:
    """The admin API, to mount at /api. `alerts` gives the alert rules' states for the stats."""
    api = Api(operator, alerts, clock)
    routes = [
        Route("/events", api.events, methods=["GET"]),
        Route("/events/{id}", api.event, methods=["GET"]),
        Route("/events/{id}/replay", api.replay_one, methods=["POST"]),
        Route("/replay", api.replay, methods=["POST"]),
        Route("/dlq", api.dead_letters, methods=["GET"]),
        Route("/dlq/redrive", api.redrive, methods=["POST"]),
        Route("/destinations", api.destinations, methods=["GET"]),
        Route("/destinations/{name}/pause", partial(api.set_paused, True), methods=["POST"]),
        Route("/destinations/{name}/resume", partial(api.set_paused, False), methods=["POST"]),
        Route("/stats", api.stats, methods=["GET"]),
    ]
    inner = Starlette(
        routes=routes,
        exception_handlers={
            errors.WhpError: _whp_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
    )
    inner.router.redirect_slashes = False  # /api/events/ is no event: 404, not a redirect
    return Guard(inner, token)


def mount(api: ASGIApp) -> Mount:
    """The route that takes every request under /api/ to `api` (web.App mounts it)."""
    return _Mount(PREFIX, app=api)


class _Mount(Mount):
    """Starlette's Mount matches its path with `.*`, which stops at a line break: a path holding
    one (%0A in an id) went past the API - and its token check - to the server's 404. Here the
    whole path after the prefix is the API's."""

    def __init__(self, path: str, app: ASGIApp) -> None:
        super().__init__(path, app=app)
        self.path_regex = re.compile(self.path_regex.pattern, re.DOTALL)


class Guard:
    """Lets a request through only with the admin token, compared in constant time."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        if not token:
            raise ValueError("the admin token is empty")
        self._app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.allows(scope["headers"]):
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(UNAUTHORIZED)).encode()),
                        (b"www-authenticate", b'Bearer realm="whp"'),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": UNAUTHORIZED})
            return
        await self._app(scope, receive, send)

    def allows(self, headers: Sequence[tuple[bytes, bytes]]) -> bool:
        presented = next((value for name, value in headers if name == b"authorization"), b"")
        scheme, _, credentials = presented.partition(b" ")
        # Compared whatever the scheme, so that a wrong scheme takes as long as a wrong token.
        matches = hmac.compare_digest(credentials.strip(b" "), self._token)
        return matches and scheme.lower() == b"bearer"


class Api:
    def __init__(
        self, operator: services.operations.Operator, alerts: Alerts, clock: Callable[[], float]
    ) -> None:
        self._op = operator
        self._alerts = alerts
        self._clock = clock

    async def events(self, request: Request) -> Response:
        query = admin_input.query(request, {*admin_input.FILTERS, "limit", "cursor"})
        where = admin_input.event_filter(query, self._clock())
        limit = admin_input.limit(query)
        page = await run_in_threadpool(self._op.events, where, limit, query.get("cursor"))
        return _json(views.page([views.event_item(e) for e in page.items], page.next))

    async def event(self, request: Request) -> Response:
        admin_input.query(request, set())
        found = await run_in_threadpool(self._op.event, request.path_params["id"])
        return _json(views.event_detail(found))

    async def replay_one(self, request: Request) -> Response:
        admin_input.query(request, set())
        body = await admin_input.body(request, {"new_id": bool}, required=False)
        replayed = await run_in_threadpool(
            self._op.replay, [request.path_params["id"]], body.get("new_id", False)
        )
        return _json({"replayed": replayed}, 202)

    async def replay(self, request: Request) -> Response:
        admin_input.query(request, set())
        fields: dict[str, type] = dict.fromkeys(admin_input.FILTERS, str)
        fields |= {"dry_run": bool, "new_id": bool, "all": bool}
        body = await admin_input.body(request, fields, required=True)
        where = admin_input.event_filter(body, self._clock())
        dry_run = body.get("dry_run", False)
        count = await run_in_threadpool(
            partial(
                self._op.replay_matching,
                where,
                body.get("new_id", False),
                everything=body.get("all", False),
                dry_run=dry_run,
            )
        )
        return _json({"matched": count}) if dry_run else _json({"replayed": count}, 202)

    async def dead_letters(self, request: Request) -> Response:
        query = admin_input.query(request, {"destination", "limit", "cursor"})
        destination = admin_input.text(query, "destination")
        limit = admin_input.limit(query)
        with admin_input.named_in_request():
            page = await run_in_threadpool(
                self._op.dead_letters, destination, limit, query.get("cursor")
            )
        return _json(views.page([views.dead_letter(d) for d in page.items], page.next))

    async def redrive(self, request: Request) -> Response:
        admin_input.query(request, set())
        body = await admin_input.body(
            request, {"ids": list, "destination": str, "all": bool}, required=True
        )
        ids, destination = admin_input.redrive_target(body)
        with admin_input.named_in_request():
            if ids is not None:
                redriven = await run_in_threadpool(self._op.redrive, ids)
            else:
                redriven = await run_in_threadpool(self._op.redrive_all, destination)
        return _json({"redriven": redriven})

    async def destinations(self, request: Request) -> Response:
        admin_input.query(request, set())
        found = await run_in_threadpool(self._op.destinations)
        return _json(views.page([views.destination(d) for d in found], None))

    async def set_paused(self, paused: bool, request: Request) -> Response:
        admin_input.query(request, set())
        change = self._op.pause if paused else self._op.resume
        view = await run_in_threadpool(change, request.path_params["name"])
        return _json(views.destination(view))

    async def stats(self, request: Request) -> Response:
        admin_input.query(request, set())

        def gather() -> dict[str, Any]:
            return views.stats(self._op.stats(), self._alerts())

        return _json(await run_in_threadpool(gather))


def _json(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status, media_type="application/json")


def _error(
    status: int, code: str, detail: str, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps({"error": code, "detail": detail}),
        status,
        headers=headers,
        media_type="application/json",
    )


async def _whp_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.WhpError)
    return _error(exc.status, exc.code, exc.detail)


_CODES = {404: "not_found", 405: "method_not_allowed"}


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's routing answers (no such path, a method the path does not take)."""
    assert isinstance(exc, HTTPException)
    path = errors.shown(request.url.path)
    detail = {
        404: f"no such admin endpoint: {request.method} {path}",
        405: f"{path} does not take {request.method}",
    }.get(exc.status_code, str(exc.detail))
    return _error(exc.status_code, _CODES.get(exc.status_code, "error"), detail, exc.headers)


async def _internal_error(request: Request, exc: Exception) -> Response:
    """A bug: answered in the API's shape (and raised on, so that the server logs it)."""
    return _error(500, "internal_error", "the server failed on this request")
