"""The HTTP/1.1 protocol of `whp serve`: uvicorn's httptools protocol, with the limits and answers
whp needs, all in the API's error shape.

It reaches into uvicorn's `httptools_impl` (a private module): the attributes it uses are listed
in UVICORN_INTERNALS, which a test checks against the installed uvicorn, and pyproject.toml admits
only the uvicorn releases that were tested with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from webhook_processor import errors, services

log = logging.getLogger("whp.ingest")
MAX_HEAD_BYTES = 64 * 1024  # a request's line and headers; providers send a few KB
REQUEST_TIMEOUT_SECONDS = 60.0  # to receive a request in full (nginx's and Node.js's default)

# What HttpProtocol uses of uvicorn's HttpToolsProtocol besides asyncio.Protocol's methods: the
# methods it overrides or calls (the parser callbacks consult _should_upgrade), and the
# per-connection and per-request state it reads.
UVICORN_INTERNALS = {
    "methods": (
        "_should_upgrade",
        "_unset_keepalive_if_required",
        "on_headers_complete",
        "on_body",
        "on_message_complete",
    ),
    "state": ("cycle", "scope", "headers", "url", "parser", "transport", "loop", "server_state"),
    "cycle": ("scope", "more_body", "response_started"),
}


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with answers of its own:

    * a request it cannot parse: 400, naming what is wrong (uvicorn answers a plain-text
      "Invalid HTTP request received." for every case);
    * a request line and headers over MAX_HEAD_BYTES: 431, wherever the reads end. uvicorn's
      httptools protocol has no such limit (its h11 one has), so one connection sending headers
      without end grew the process's memory without bound;
    * a request not received in full within `request_timeout` seconds of its first byte (of the
      connection, for its first request): 408. uvicorn waits without limit for a request that
      has begun, and for a new connection's first, so a few hundred connections trickling
      bytes (or silent) could take every file descriptor. A connection closed before any byte
      of a request gets no answer;
    * an offer to switch protocols (`Upgrade: h2c` from curl --http2 and Java clients, or a
      websocket handshake) is declined, as RFC 9110 7.8 allows: the request is served as the
      HTTP/1.1 request it also is, body included. uvicorn's httptools protocol stopped parsing
      at the end of its head, so the app saw an empty body (Kludex/uvicorn#2722, open:
      https://github.com/Kludex/uvicorn/issues/2722), and it handed websocket handshakes to a
      websocket protocol, where a POST hung for a minute. CONNECT, which only ever asks for a
      tunnel, is 405.

    Each refusal is counted in `whp_webhooks_rejected_total`, under the source "(unknown)".
    Requests within the limits take uvicorn's path unchanged; one that arrives in a read of at
    most MAX_HEAD_BYTES, as webhooks mostly do, costs a few attribute checks."""

    request_timeout = REQUEST_TIMEOUT_SECONDS
    ingest: services.ingest.Ingest | None = None  # where refusals are counted (`counting_into`)
    _room = MAX_HEAD_BYTES  # how many more bytes the head being received may take
    _deadline: asyncio.TimerHandle | None = None  # set while a request is being received

    @classmethod
    def counting_into(cls, service: services.ingest.Ingest) -> type[HttpProtocol]:
        """This protocol, counting its refusals in the ingest service's metrics (uvicorn makes
        one protocol per connection from the class it is given)."""
        return type(cls.__name__, (cls,), {"ingest": service})

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline = self.loop.call_later(self.request_timeout, self._timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # uvicorn's, with the parser's refusals and upgrades answered here, and the head counted.
        if len(data) > self._room:
            self._receive_in_parts(data)
            return
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:  # it says what is wrong
            self._refuse(errors.MalformedRequest(f"malformed HTTP request: {exc}"))
            return
        except httptools.HttpParserUpgrade as exc:  # where the offered protocol would begin
            self._decline_upgrade(data[exc.args[0] :])
            return
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope:  # the head is complete
            self._room = MAX_HEAD_BYTES
            if cycle.more_body:
                self._arm()  # the body is still coming
            elif self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            return
        self._head_incomplete(data)

    def _receive_in_parts(self, data: bytes) -> None:
        """A read longer than the head being received may still take (a large body's first
        read, or a head that goes on): fed to the parser in parts no longer than that, so that
        a head is refused at MAX_HEAD_BYTES + 1 bytes exactly, wherever the reads end."""
        start = 0
        while start < len(data) and not self.transport.is_closing():
            end = start + max(self._room, 1)
            self.data_received(data[start:end])
            start = end

    def _head_incomplete(self, data: bytes) -> None:
        self._arm()
        # The head is what follows the last end of a head in this read, or all of the read: at
        # most the current head's part (more only when a pipelined body precedes it).
        end = data.rfind(b"\r\n\r\n")
        self._room -= len(data) if end < 0 else len(data) - end - 4
        if self._room <= 0:
            self._refuse(
                errors.HeadersTooLarge(
                    f"the request line and headers are over {MAX_HEAD_BYTES} bytes"
                )
            )

    def _should_upgrade(self) -> bool:
        # uvicorn's parser callbacks ask only of a request llhttp flags as switching protocols
        # (`Upgrade` with `Connection: upgrade`, or CONNECT). True keeps them from starting the
        # request on its head alone, with no body: _decline_upgrade starts it instead.
        return True

    def _decline_upgrade(self, rest: bytes) -> None:
        """Serve the request whose head was just parsed as if it offered no upgrade: a fresh
        parser reads its head without the offer, then `rest`, its body and what follows."""
        method = self.scope["method"]
        if method == "CONNECT":
            error = errors.MethodNotAllowed("CONNECT is not served: whp is not a proxy")
            self._refuse(error, b"allow: GET, HEAD, POST\r\n")
            return
        sent = self.headers
        head = [method.encode(), b" ", self.url, b" HTTP/", self.parser.get_http_version().encode()]
        for name, value in sent:
            if name == b"upgrade":
                continue
            kept = value
            if name == b"connection":
                kept = b",".join(t for t in value.split(b",") if t.strip().lower() != b"upgrade")
                if not kept.strip():
                    continue
            head += (b"\r\n", name, b": ", kept)
        self.parser = httptools.HttpRequestParser(self)
        with contextlib.suppress(AttributeError):  # as uvicorn does, from httptools 0.6.3
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self._room = MAX_HEAD_BYTES
        self.parser.feed_data(b"".join(head) + b"\r\n\r\n")  # parsed once already
        self.headers[:] = sent  # the app sees the headers as they were sent
        self.data_received(rest)

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.request_timeout, self._timed_out)

    def _timed_out(self) -> None:
        self._deadline = None
        cycle = self.cycle
        if self.transport.is_closing():
            return
        if self.scope is None or (cycle is not None and cycle.response_started):
            self.transport.close()  # no request began, or it is already being answered
            return
        self._refuse(
            errors.RequestTimeout(
                f"the request did not arrive in full within {self.request_timeout:g} s"
            )
        )

    def _refuse(self, error: errors.Rejected, headers: bytes = b"") -> None:
        """Answer `error` (and `headers`, whole header lines) and close the connection: the rest
        of its bytes cannot be read."""
        log.info("request rejected: %s", error.detail, extra={"status": error.status})
        if self.ingest is not None:
            self.ingest.reject(None, error)
        body = services.ingest.error_body(error.code, error.detail)
        content = [STATUS_LINE[error.status]]
        for name, value in self.server_state.default_headers:
            content += (name, b": ", value, b"\r\n")
        content += (
            headers,
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        )
        self.transport.write(b"".join(content))
        self.transport.close()
