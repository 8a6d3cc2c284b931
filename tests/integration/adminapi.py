"""The admin API in process, over a real SQLite file: the app as `whp serve` mounts it (the
Operator from bootstrap, on its own connection), a harness that puts the store in a known state
through its own write paths, and an httpx client speaking HTTP to it (Starlette's TestClient
is deprecated with httpx)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import pytest
from starlette.applications import Starlette
from starlette.types import ASGIApp

from tests.contract.harness import SqliteHarness, event
from webhook_processor import bootstrap, config, models
from webhook_processor.bootstrap import local
from webhook_processor.entrypoints import admin

TOKEN = "admin-" + "k" * 40
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONFIG = """\
storage: {path: whp.db}
admin: {token: env:TEST_ADMIN_TOKEN}
destinations:
  orders: {url: "http://127.0.0.1:9/orders"}
  audit: {url: "http://127.0.0.1:9/audit", paused: true}
"""


def now_ms() -> int:
    return int(time.time() * 1000)


class Client:
    """A blocking httpx client of an ASGI app, which runs on an event loop in a thread of its
    own (as under uvicorn: the app's worker threads are not the loop's)."""

    def __init__(self, app: ASGIApp) -> None:
        self._portal_cm = anyio.from_thread.start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://whp"
        )

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._portal.call(partial(self._client.request, method, path, **kwargs))

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def close(self) -> None:
        self._portal.call(self._client.aclose)
        self._portal_cm.__exit__(None, None, None)


@dataclass
class Admin:
    """The API (`http`, authorised) and the store behind it (`store`)."""

    http: Client
    store: SqliteHarness
    alerts: list[dict[str, Any]]

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params, headers=AUTH)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, body: Any = None, status: int = 200) -> Any:
        response = self.http.post(path, json=body, headers=AUTH)
        assert response.status_code == status, response.text
        return response.json()

    def events(
        self, *made: models.Event, routes: Sequence[tuple[str, str]] | None = None
    ) -> list[models.Event]:
        """Store `made` (routed to `routes`, when given) and return them."""
        for e in made:
            self.store.add(e)
            if routes is not None:
                self.store.route(e.id, routes, at=now_ms())
        return list(made)

    def kill(self, e: models.Event, route: str) -> None:
        """The event's delivery of `route` fails for good (one attempt, dead)."""
        self.store.attempt(e.id, route, 500, "HTTP 500", dead=True, at=now_ms())


def recent(**fields: Any) -> models.Event:
    """An event received a minute ago (or at `received_ms`)."""
    fields.setdefault("received_ms", now_ms() - 60_000)
    return event(**fields)


def build(path: Path, env: Mapping[str, str]) -> tuple[config.Config, Any]:
    (path / "whp.yaml").write_text(CONFIG)
    cfg = config.load(path / "whp.yaml")
    token = bootstrap.admin_token(cfg, str(path / "whp.yaml"), env)
    assert token is not None
    return cfg, token


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Admin]:
    cfg, token = build(tmp_path, {"TEST_ADMIN_TOKEN": TOKEN})
    harness = SqliteHarness(tmp_path / "whp.db")
    alerts: list[dict[str, Any]] = []
    app = admin.app(local.operator(cfg, create=True, in_server=True), token, alerts=lambda: alerts)
    # Mounted as web.App mounts it, so that paths are the API's own (/api/...).
    http = Client(Starlette(routes=[admin.mount(app)]))
    yield Admin(http, harness, alerts)
    http.close()
    harness.close()
