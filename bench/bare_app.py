"""The baseline of `bench.ingest`: a raw ASGI app that drains the body and answers 202.

It does nothing else (no verification, no parsing, no storage), so its rate is the ceiling that the
server stack (uvicorn + httptools + uvloop, one process) allows on this machine. Its answer has the
same shape and size as whp's: `{"id":"evt_<32 hex>","duplicate":false}`.

Run it on the settings of `whp serve` (see entrypoints/server.py):

    python -m uvicorn bench.bare_app:app --loop uvloop --http httptools --ws none --no-access-log \
        --no-proxy-headers --backlog 4096 --lifespan on --log-level warning --port 8081
"""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

BODY = b'{"id":"evt_%s","duplicate":false}' % (b"0" * 32)
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    if not await drain(receive):
        return
    await send({"type": "http.response.start", "status": 202, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


async def drain(receive: Receive) -> bool:
    """Read the request body to its end; False when the client went away."""
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return False
        more = message.get("more_body", False)
    return True


async def lifespan(receive: Receive, send: Send) -> None:
    """Start and stop at once: there is nothing to set up."""
    while True:
        message: Message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
