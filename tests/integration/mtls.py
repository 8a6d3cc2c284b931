"""A webhook receiver on 127.0.0.1 over TLS that asks every client for a certificate of its
private CA, as an internal receiver does: Python's ssl on blocking sockets, a thread per
connection, HTTP/1.1 kept alive. It records the client certificate's name for each request, and
refuses a client without one as a careful server does: the TLS alert, then it waits for the
client to close (closing at once could reset the connection before the alert is read)."""

from __future__ import annotations

import contextlib
import itertools
import socket
import ssl
import threading
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.e2e.pki import Pki


@dataclass(frozen=True)
class Request:
    connection: int
    client: str  # the common name of the client's certificate
    verified: bool  # the Standard Webhooks signature


class MtlsReceiver:
    def __init__(self, pki: Pki, secret: str) -> None:
        self._secret = secret
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca))
        self._tls.verify_mode = ssl.CERT_REQUIRED
        self._tls.load_cert_chain(str(pki.server_cert), str(pki.server_key))
        self._numbers = itertools.count(1)
        self.requests: list[Request] = []
        self.refused: list[str] = []  # why each refused handshake failed, server side
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._sock.getsockname()[1]}/hooks"

    def close(self) -> None:
        self._sock.close()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self._sock.accept()
                threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        number = next(self._numbers)
        raw = conn.dup()  # a failed handshake closes `conn`
        tls = self._tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        with raw, tls, contextlib.suppress(OSError):
            try:
                tls.do_handshake()
            except ssl.SSLError as exc:
                self.refused.append(str(exc))
                raw.settimeout(5)
                while raw.recv(65536):
                    pass
                return
            peer = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True) or b"")
            (name,) = peer.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            self._requests(number, str(name.value), tls)

    def _requests(self, number: int, client: str, tls: ssl.SSLSocket) -> None:
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                chunk = tls.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            headers = {}
            for line in head.decode("latin-1").split("\r\n")[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            while len(buffer) < length:
                chunk = tls.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            body, buffer = buffer[:length], buffer[length:]
            try:
                Webhook(self._secret).verify(body, headers, json_parse=False)
            except WebhookVerificationError:
                verified = False
            else:
                verified = True
            self.requests.append(Request(number, client, verified))
            tls.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
