"""The admin API's guard and its place in the server: the token (missing, wrong, right; compared
in constant time), every path under /api/ its own, and store calls off the event loop."""

from __future__ import annotations

import asyncio
import hmac
import threading
import time
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from webhook_processor import models, ports, services
from webhook_processor.adapters.sqlite import db
from webhook_processor.adapters.sqlite import operations as sqlite_operations
from webhook_processor.entrypoints import admin

from .adminapi import AUTH, TOKEN, Admin, api

__all__ = ["api"]  # the fixture


# -- auth -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"X-Admin-Token": TOKEN},
    ],
    ids=["missing", "wrong", "longer", "shorter", "basic", "no-scheme", "other-header"],
)
def test_without_the_right_token_every_path_is_the_same_401(
    api: Admin, headers: dict[str, str]
) -> None:
    answers = [
        api.http.request(method, path, headers=headers)
        for method, path in [
            ("GET", "/api/events"),
            ("GET", "/api/events/evt_x"),
            ("POST", "/api/replay"),
            ("GET", "/api/no-such-thing"),  # nothing tells which paths exist
            ("DELETE", "/api/events"),
        ]
    ]
    assert {a.status_code for a in answers} == {401}
    assert {a.content for a in answers} == {answers[0].content}
    assert answers[0].json()["error"] == "unauthorized"
    assert TOKEN not in answers[0].text
    assert answers[0].headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", ["/api/events/%0Aevt", "/api/events/a%0D%0Ab/replay"])
def test_every_path_under_api_is_the_apis_even_with_a_line_break(api: Admin, path: str) -> None:
    """A path parameter may hold any character: still the API's answer (and its auth), not the
    server's plain-text 404 for paths it does not know."""
    assert api.http.request("POST" if path.endswith("y") else "GET", path).status_code == 401
    answer = api.http.request("POST" if path.endswith("y") else "GET", path, headers=AUTH)
    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"


def test_the_right_token_opens_the_api(api: Admin) -> None:
    assert api.http.get("/api/events", headers=AUTH).status_code == 200
    lower = {"Authorization": f"bearer {TOKEN}"}  # the scheme is case-insensitive (RFC 9110)
    assert api.http.get("/api/events", headers=lower).status_code == 200
    unknown = api.http.get("/api/no-such-thing", headers=AUTH)
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "not_found"
    wrong_method = api.http.delete("/api/events", headers=AUTH)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "method_not_allowed"
    assert set(wrong_method.headers["allow"].split(", ")) == {"GET", "HEAD"}


def test_the_token_is_compared_in_constant_time(
    api: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every check goes through hmac.compare_digest, the wrong scheme's too (so that it takes
    as long as a wrong token)."""
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)  # admin.py calls hmac.compare_digest
    assert api.http.get("/api/events", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert (
        api.http.get("/api/events", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    )
    assert api.http.get("/api/events", headers=AUTH).status_code == 200
    token = TOKEN.encode()
    assert compared == [(b"nope", token), (token, token), (token, token)]


# -- the event loop -------------------------------------------------------------------------


class SlowOperator(services.operations.Operator):
    """Its event listing takes a second, as a big store's might; it keeps the threads it ran on."""

    threads: list[int]

    def events(
        self, where: ports.EventFilter, limit: int, cursor: str | None = None
    ) -> ports.Page[models.Event]:
        self.threads.append(threading.get_ident())
        time.sleep(1.0)
        return super().events(where, limit, cursor)


def test_store_calls_run_off_the_event_loop(tmp_path: Path) -> None:
    """A slow store call holds up neither the event loop nor the other requests."""
    slow = SlowOperator(
        sqlite_operations.SqliteOperations(db.connect(str(tmp_path / "x.db"), 5)), {}
    )
    slow.threads = []
    app = Starlette(routes=[admin.mount(admin.app(slow, TOKEN))])

    async def run() -> tuple[float, float, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://whp") as client:
            started = time.monotonic()
            listing = asyncio.create_task(client.get("/api/events", headers=AUTH))
            await asyncio.sleep(0.1)
            stats = await client.get("/api/stats", headers=AUTH)
            quick = time.monotonic() - started
            assert stats.status_code == 200
            assert (await listing).status_code == 200
            return quick, time.monotonic() - started, threading.get_ident()

    quick, total, loop_thread = asyncio.run(run())
    assert total >= 1.0
    assert quick < 0.9, f"/api/stats waited {quick:.2f} s behind a slow /api/events"
    assert slow.threads
    assert loop_thread not in slow.threads
