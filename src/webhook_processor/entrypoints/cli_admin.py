"""Where the operator's commands act: the local store (`Local`, services.operations.Operator
from the composition root), or with `--url` a running server's admin API (`Remote`, token from
$WHP_ADMIN_TOKEN). Both answer with the admin API's JSON views (entrypoints/views.py), so that a
command prints the same whichever it talks to, and each error is the errors tree's: a 400 of the
API is a UsageError (exit 2), a 404 a NotFound, a 503 StoreUnavailable (exit 3).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

import orjson

from webhook_processor import config, errors, models, ports, services
from webhook_processor.bootstrap import local
from webhook_processor.entrypoints import views

if TYPE_CHECKING:  # imported when used: see bootstrap.processor
    import httpx

JSON = dict[str, Any]
Progress = services.operations.Progress
_nothing = services.operations.nothing
TOKEN_VARIABLE = "WHP_ADMIN_TOKEN"  # noqa: S105 - the name of the variable, not a token
TIMEOUT_SECONDS = 600.0  # a bulk replay or redrive is done in the request, paced


class Backend(Protocol):
    def events(self, where: ports.EventFilter, limit: int, cursor: str | None) -> JSON: ...

    def event(self, event_id: str) -> JSON: ...

    def missing(self, event_ids: Sequence[str]) -> list[str]:
        """Those of `event_ids` that are not stored."""
        ...

    def replay(self, event_ids: Sequence[str], new_id: bool, progress: Progress) -> int:
        """Replay these events (every one must exist: else NotFound, and nothing replayed)."""
        ...

    def replay_matching(
        self,
        where: ports.EventFilter,
        new_id: bool,
        *,
        everything: bool = False,
        dry_run: bool = False,
        progress: Progress = _nothing,
    ) -> int: ...

    def dead_letters(self, destination: str | None, limit: int, cursor: str | None) -> JSON: ...

    def redrive(self, delivery_ids: Sequence[str]) -> int: ...

    def redrive_all(self, destination: str | None, progress: Progress) -> int: ...

    def dead_count(self, destination: str | None) -> int: ...

    def destinations(self) -> list[JSON]: ...

    def destination(self, name: str) -> JSON: ...

    def set_paused(self, name: str, paused: bool) -> JSON: ...


def add_url(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--url",
        help="act through a running server's admin API (e.g. http://127.0.0.1:8080) instead "
        f"of the local store; the token is read from ${TOKEN_VARIABLE}",
    )


def backend(args: argparse.Namespace, *, readonly: bool = False, create: bool = False) -> Backend:
    """The server at `--url`, or the store of `--config` (which must exist unless `create`)."""
    if args.url is not None:
        return Remote.at(args.url, os.environ.get(TOKEN_VARIABLE, ""))
    cfg = config.load(args.config)
    return Local(local.operator(cfg, readonly=readonly, create=create))


class Local:
    def __init__(self, operator: services.operations.Operator) -> None:
        self._op = operator

    def events(self, where: ports.EventFilter, limit: int, cursor: str | None) -> JSON:
        page = self._op.events(where, limit, cursor)
        return views.page([views.event_item(e) for e in page.items], page.next)

    def event(self, event_id: str) -> JSON:
        return views.event_detail(self._op.event(event_id))

    def missing(self, event_ids: Sequence[str]) -> list[str]:
        return self._op.missing(event_ids)

    def replay(self, event_ids: Sequence[str], new_id: bool, progress: Progress) -> int:
        return self._op.replay(event_ids, new_id, progress)

    def replay_matching(
        self,
        where: ports.EventFilter,
        new_id: bool,
        *,
        everything: bool = False,
        dry_run: bool = False,
        progress: Progress = _nothing,
    ) -> int:
        return self._op.replay_matching(
            where, new_id, everything=everything, dry_run=dry_run, progress=progress
        )

    def dead_letters(self, destination: str | None, limit: int, cursor: str | None) -> JSON:
        page = self._op.dead_letters(destination, limit, cursor)
        return views.page([views.dead_letter(d) for d in page.items], page.next)

    def redrive(self, delivery_ids: Sequence[str]) -> int:
        return self._op.redrive(delivery_ids)

    def redrive_all(self, destination: str | None, progress: Progress) -> int:
        return self._op.redrive_all(destination, progress)

    def dead_count(self, destination: str | None) -> int:
        return self._op.dead_count(destination)

    def destinations(self) -> list[JSON]:
        return [views.destination(d) for d in self._op.destinations()]

    def destination(self, name: str) -> JSON:
        return views.destination(self._op.destination(name))

    def set_paused(self, name: str, paused: bool) -> JSON:
        return views.destination(self._op.pause(name) if paused else self._op.resume(name))


class Remote:
    """The admin API of the server at `url`, with `token`."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    @classmethod
    def at(cls, url: str, token: str) -> Remote:
        if not url.startswith(("http://", "https://")):
            raise errors.UsageError(
                f"--url {url!r}: give the server's base URL, e.g. http://127.0.0.1:8080"
            )
        if not token.strip():
            raise errors.UsageError(f"--url needs the server's admin token in ${TOKEN_VARIABLE}")
        import httpx  # noqa: PLC0415 - see bootstrap.processor

        client = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {token.strip()}"},
            timeout=httpx.Timeout(TIMEOUT_SECONDS, connect=10.0),
        )
        return cls(client)

    def events(self, where: ports.EventFilter, limit: int, cursor: str | None) -> JSON:
        params = _filter(where) | {"limit": limit} | ({"cursor": cursor} if cursor else {})
        found: JSON = self._call("GET", "/api/events", params=params)
        return found

    def event(self, event_id: str) -> JSON:
        found: JSON = self._call("GET", f"/api/events/{_segment(event_id)}")
        return found

    def missing(self, event_ids: Sequence[str]) -> list[str]:
        gone = []
        for event_id in dict.fromkeys(event_ids):
            try:
                self.event(event_id)
            except errors.NotFound:
                gone.append(event_id)
        return gone

    def replay(self, event_ids: Sequence[str], new_id: bool, progress: Progress) -> int:
        ids = list(dict.fromkeys(event_ids))
        unknown = self.missing(ids)
        if unknown:
            raise errors.NotFound(services.operations.unknown_events(unknown))
        replayed = 0
        for event_id in ids:
            path = f"/api/events/{_segment(event_id)}/replay"
            replayed += self._call("POST", path, body={"new_id": new_id})["replayed"]
            progress(1)
        return replayed

    def replay_matching(
        self,
        where: ports.EventFilter,
        new_id: bool,
        *,
        everything: bool = False,
        dry_run: bool = False,
        progress: Progress = _nothing,
    ) -> int:
        body = _filter(where) | {"new_id": new_id, "dry_run": dry_run}
        if everything:
            body["all"] = True
        answer = self._call("POST", "/api/replay", body=body)
        count: int = answer["matched"] if dry_run else answer["replayed"]
        progress(count)
        return count

    def dead_letters(self, destination: str | None, limit: int, cursor: str | None) -> JSON:
        params: JSON = {"limit": limit}
        if destination is not None:
            params["destination"] = destination
        if cursor:
            params["cursor"] = cursor
        found: JSON = self._call("GET", "/api/dlq", params=params)
        return found

    def redrive(self, delivery_ids: Sequence[str]) -> int:
        redriven: int = self._call("POST", "/api/dlq/redrive", body={"ids": list(delivery_ids)})[
            "redriven"
        ]
        return redriven

    def redrive_all(self, destination: str | None, progress: Progress) -> int:
        body: JSON = {"all": True} if destination is None else {"destination": destination}
        redriven: int = self._call("POST", "/api/dlq/redrive", body=body)["redriven"]
        progress(redriven)
        return redriven

    def dead_count(self, destination: str | None) -> int:
        return sum(d["dead"] for d in self.destinations() if destination in (None, d["name"]))

    def destinations(self) -> list[JSON]:
        found: list[JSON] = self._call("GET", "/api/destinations")["data"]
        return found

    def destination(self, name: str) -> JSON:
        every = self.destinations()
        found = next((d for d in every if d["name"] == name), None)
        if found is None:
            raise errors.NotFound(
                services.operations.unknown_destination(name, [d["name"] for d in every])
            )
        return found

    def set_paused(self, name: str, paused: bool) -> JSON:
        action = "pause" if paused else "resume"
        found: JSON = self._call("POST", f"/api/destinations/{_segment(name)}/{action}")
        return found

    def _call(
        self, method: str, path: str, *, params: JSON | None = None, body: JSON | None = None
    ) -> Any:
        import httpx  # noqa: PLC0415 - imported by `at` already

        try:
            response = self._client.request(
                method, path, params=params, content=None if body is None else orjson.dumps(body)
            )
        except httpx.HTTPError as exc:
            raise errors.WhpError(
                f"cannot reach {self._client.base_url}: {exc} (is `whp serve` running there?)"
            ) from None
        if response.is_success:
            return response.json()
        raise _problem(response, str(self._client.base_url))


def _problem(response: httpx.Response, url: str) -> errors.WhpError:
    """The error a refusal of the API stands for, with the API's own words."""
    try:
        answer = orjson.loads(response.content)
        code, detail = str(answer["error"]), str(answer["detail"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        code, detail = "", ""
    status = response.status_code
    if status == 401:
        return errors.WhpError(f"{url} refused the admin token in ${TOKEN_VARIABLE} (401)")
    if not code:
        hint = " (is admin.token set in the server's config?)" if status == 404 else ""
        return errors.WhpError(f"{url} has no admin API here: HTTP {status}{hint}")
    by_status: dict[int, type[errors.WhpError]] = {
        400: errors.UsageError,
        404: errors.NotFound,
        503: errors.StoreUnavailable,
    }
    kind = by_status.get(status)
    return kind(detail) if kind is not None else errors.WhpError(f"{status} {code}: {detail}")


def _segment(value: str) -> str:
    return quote(value, safe="")


def _filter(where: ports.EventFilter) -> JSON:
    """An EventFilter in the API's names; times as RFC 3339 to the millisecond, read back
    exactly (a duration the operator typed is taken from this machine's clock, as locally)."""
    found: JSON = {}
    for name, value in (
        ("source", where.source),
        ("type", where.event_type),
        ("status", where.status),
        ("key", where.idempotency_key),
        ("since", None if where.since_ms is None else models.rfc3339(where.since_ms)),
        ("until", None if where.until_ms is None else models.rfc3339(where.until_ms)),
    ):
        if value is not None:
            found[name] = value
    return found
