"""The receiver of `bench.e2e`: a raw ASGI app that answers 200 and records every arrival.

For each POST it records (id, arrival time) in memory, the id being the `webhook-id` header that
whp sets on a delivery (the event id), or else `X-GitHub-Delivery` (when the load generator hits it
directly); the time is `time.time_ns()` when the app is called (the request head is parsed). It
does nothing else, so it costs the sender (whp, or the load generator) as little as possible.

* `GET /stats` answers `{"count": <requests since the last reset>}`;
* `GET /dump?path=<file>` writes the arrivals as lines `<id> <time_ns>` to that file and answers
  `{"count": n}`; `&reset=1` also clears them (and the count).

Run on the settings of `whp serve` (as `bench.bare_app`):

    python -m uvicorn bench.receiver_app:app --loop uvloop --http httptools --no-access-log \
        --no-proxy-headers --backlog 4096 --lifespan on --log-level warning --port 8082
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import parse_qs

from starlette.types import Receive, Scope, Send

from bench import bare_app

OK = b'{"ok":true}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(OK)).encode())]
ID_HEADERS = (b"webhook-id", b"x-github-delivery")

arrivals: list[tuple[bytes, int]] = []


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await bare_app.lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    now = time.time_ns()
    if scope["method"] == "GET":
        await _control(scope, send)
        return
    ident = b"-"
    for name, value in scope["headers"]:
        if name in ID_HEADERS:
            ident = value
            break
    arrivals.append((ident, now))
    if not await bare_app.drain(receive):
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": OK})


async def _control(scope: Scope, send: Send) -> None:
    count = len(arrivals)
    status = 200
    if scope["path"] == "/dump":
        query = parse_qs(scope["query_string"].decode())
        path = query.get("path", [""])[0]
        if not path:
            status = 400
        else:
            taken = arrivals[:count]
            with Path(path).open("wb") as out:
                out.writelines(b"%s %d\n" % (ident, at) for ident, at in taken)
            if query.get("reset", ["0"])[0] == "1":
                del arrivals[:count]
    elif scope["path"] != "/stats":
        status = 404
    body = json.dumps({"count": count}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
