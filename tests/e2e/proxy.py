"""An HTTP forward proxy on 127.0.0.1, as a company's egress proxy is: requests for http:// URLs
come in absolute form (`POST http://host:port/path HTTP/1.1`) and are forwarded, https:// ones
come as `CONNECT host:port` and are tunnelled. It records what it was asked, so that a test can
prove that deliveries went through it, and refuses tunnels to the ports in `refuse` with a 403.

Small on purpose (one request per connection, closed after its answer; Content-Length bodies
only); nothing here imports webhook_processor, so the e2e suite can use it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import urllib.parse

START_TIMEOUT = 10.0


class ForwardProxy:
    def __init__(self, refuse: frozenset[int] = frozenset()) -> None:
        self.refuse = refuse
        self.seen: list[str] = []  # "POST http://...", "CONNECT 127.0.0.1:443", in order
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ForwardProxy:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise AssertionError("the forward proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=START_TIMEOUT)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            try:
                await self._one(reader, writer)
            finally:
                writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one request (or one tunnel), then the connection ends."""
        head = await reader.readuntil(b"\r\n\r\n")
        line, *fields = head[:-4].decode("latin-1").split("\r\n")
        method, target, version = line.split(" ")
        self.seen.append(f"{method} {target}")
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            if int(port) in self.refuse:
                writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            return
        url = urllib.parse.urlsplit(target)
        length = 0
        kept = []
        for field in fields:
            name, _, value = field.partition(":")
            if name.strip().lower() in ("connection", "proxy-connection", "keep-alive"):
                continue
            if name.strip().lower() == "content-length":
                length = int(value)
            kept.append(field)
        body = await reader.readexactly(length)
        path = url.path + (f"?{url.query}" if url.query else "")
        request = "\r\n".join([f"{method} {path} {version}", *kept, "Connection: close", "", ""])
        up_reader, up_writer = await asyncio.open_connection(url.hostname, url.port or 80)
        up_writer.write(request.encode("latin-1") + body)
        # The receiver closes after its answer (Connection: close): relay it all, then close.
        writer.write(await up_reader.read())
        up_writer.close()
        await writer.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(OSError):
        writer.close()
