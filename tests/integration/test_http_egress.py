"""Deliveries through an egress proxy, to receivers on a private CA that ask for a client
certificate: whp.yaml's `delivery:` defaults and a destination's own keys, loaded as `whp serve`
loads them, through the sender the composition root builds, to real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest

from tests.e2e.pki import Pki, private_ca
from tests.e2e.proxy import ForwardProxy
from webhook_processor import config, delivery
from webhook_processor.adapters.http import http1, outbound
from webhook_processor.bootstrap import local

from .mtls import MtlsReceiver
from .test_http_delivery import (
    SECRET,
    Receiver,
    event,
    event_loop_kind,  # noqa: F401 - every test on both loops
    outgoing,
    serving,
)

ORDERS = "orders"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return private_ca(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    app = Receiver()
    with serving(app) as url:
        yield app, url


@pytest.fixture(scope="module")
def mtls(pki: Pki) -> Iterator[MtlsReceiver]:
    """Over TLS with a certificate of the private CA; refuses clients without one of its own."""
    running = MtlsReceiver(pki, SECRET)
    yield running
    running.close()


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    with ForwardProxy() as running:
        yield running


def sender(
    tmp_path: Path, text: str, env: Mapping[str, str] | None = None
) -> tuple[outbound.HttpSender, config.Config]:
    """The sender `whp serve` builds from this whp.yaml (in `tmp_path`) and environment."""
    file = tmp_path / "whp.yaml"
    file.write_text(text)
    cfg = config.load(file)
    return local.http_sender(cfg, str(file), env or {}), cfg


def deliver(made: outbound.HttpSender, *requests: tuple[str, str]) -> list[delivery.Result]:
    """POST a new event to each (destination name, URL), in order; the sender closed after."""

    async def run() -> list[delivery.Result]:
        try:
            results = []
            for name, url in requests:
                request = dataclasses.replace(outgoing(url, event()), destination=name)
                results.append(await made.send(request, 5.0, time.time))
            return results
        finally:
            await made.aclose()

    return asyncio.run(run())


def verdicts(app: Receiver, results: list[delivery.Result]) -> list[tuple[bool, int | None]]:
    assert all(r.verified for r in app.received), "a delivery arrived altered"
    return [(r.ok, r.status) for r in results]


def test_a_destination_with_a_proxy_delivers_through_it(
    tmp_path: Path, receiver: tuple[Receiver, str], proxy: ForwardProxy
) -> None:
    app, base = receiver
    made, _ = sender(
        tmp_path,
        f"destinations:\n"
        f"  {ORDERS}: {{url: {base}/hooks, proxy: {proxy.url}}}\n"
        f"  direct: {{url: {base}/hooks}}\n",
    )
    results = deliver(made, (ORDERS, f"{base}/hooks"), ("direct", f"{base}/hooks"))
    assert verdicts(app, results) == [(True, 204), (True, 204)]
    assert proxy.seen == [f"POST {base}/hooks"], "only the destination with a proxy used it"


def test_the_delivery_default_proxy_and_a_destination_that_goes_direct(
    tmp_path: Path, receiver: tuple[Receiver, str], proxy: ForwardProxy
) -> None:
    app, base = receiver
    made, _ = sender(
        tmp_path,
        f"delivery: {{proxy: {proxy.url}}}\n"
        f"destinations:\n"
        f"  {ORDERS}: {{url: {base}/hooks}}\n"
        f"  inside: {{url: '{base}/hooks?inside', proxy: none}}\n",
    )
    results = deliver(made, (ORDERS, f"{base}/hooks"), ("inside", f"{base}/hooks?inside"))
    assert verdicts(app, results) == [(True, 204), (True, 204)]
    assert proxy.seen == [f"POST {base}/hooks"]


@pytest.mark.parametrize(
    ("variables", "through_proxy"),
    [
        ({"HTTP_PROXY": "{proxy}"}, True),
        ({"http_proxy": "{proxy}", "HTTP_PROXY": "http://127.0.0.1:9"}, True),  # lower case first
        ({"ALL_PROXY": "{proxy}"}, True),
        ({"HTTPS_PROXY": "{proxy}"}, False),  # for https:// receivers only
        ({"HTTP_PROXY": "{proxy}", "NO_PROXY": "example.com,127.0.0.1"}, False),
        ({"HTTP_PROXY": "{proxy}", "no_proxy": "127.0.0.0/8"}, False),
        ({"HTTP_PROXY": "{proxy}", "NO_PROXY": "*"}, False),
        ({}, False),
    ],
    ids=[
        "http",
        "lower-case-first",
        "all",
        "https-only",
        "no-proxy",
        "no-proxy-net",
        "star",
        "none",
    ],
)
def test_proxy_env_reads_the_environment(
    tmp_path: Path,
    receiver: tuple[Receiver, str],
    proxy: ForwardProxy,
    variables: dict[str, str],
    through_proxy: bool,
) -> None:
    app, base = receiver
    env = {name: value.format(proxy=proxy.url) for name, value in variables.items()}
    made, _ = sender(
        tmp_path, f"destinations:\n  {ORDERS}: {{url: {base}/hooks, proxy: env}}\n", env
    )
    assert verdicts(app, deliver(made, (ORDERS, f"{base}/hooks"))) == [(True, 204)]
    assert proxy.seen == ([f"POST {base}/hooks"] if through_proxy else [])


def test_without_proxy_in_the_config_the_environment_is_ignored(
    tmp_path: Path, receiver: tuple[Receiver, str], proxy: ForwardProxy
) -> None:
    """And the destination stays on the fast transport, which every destination without
    settings of its own shares (its speed is bench/README.md's)."""
    app, base = receiver
    env = dict.fromkeys(("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy"), proxy.url)
    made, _ = sender(tmp_path, f"destinations:\n  {ORDERS}: {{url: {base}/hooks}}\n", env)
    default = made.transport_for("")
    assert isinstance(default, http1.Http1Transport)
    assert made.transport_for(ORDERS) is default
    assert verdicts(app, deliver(made, (ORDERS, f"{base}/hooks"))) == [(True, 204)]
    assert proxy.seen == []


def certificates(pki: Pki, *, ca: bool = True, client: str = "pair") -> str:
    """The YAML keys of a destination's TLS settings: the private CA, and the client certificate
    as a `pair` of files, a `bundle` (key in the certificate's file), or `none`."""
    keys = {"ca_file": str(pki.ca)} if ca else {}
    if client == "pair":
        keys |= {"client_cert": str(pki.client_cert), "client_key": str(pki.client_key)}
    elif client == "bundle":
        keys["client_cert"] = str(pki.client_bundle)
    return "".join(f", {name}: {value}" for name, value in keys.items())


@pytest.mark.parametrize("client", ["pair", "bundle"])
def test_a_private_ca_and_a_client_certificate_on_the_fast_transport(
    tmp_path: Path, pki: Pki, mtls: MtlsReceiver, client: str
) -> None:
    before = len(mtls.requests)
    made, _ = sender(
        tmp_path,
        f"destinations:\n  {ORDERS}: {{url: {mtls.url}{certificates(pki, client=client)}}}\n",
    )
    assert isinstance(made.transport_for(ORDERS), http1.Http1Transport)
    assert made.transport_for(ORDERS) is not made.transport_for("")
    results = deliver(made, (ORDERS, mtls.url), (ORDERS, mtls.url))
    assert [(r.ok, r.status, r.error) for r in results] == [(True, 204, None)] * 2
    first, second = mtls.requests[before:]
    assert (first.client, first.verified) == ("whp", True), "the receiver saw our certificate"
    assert first.connection == second.connection, "the TLS connection was kept alive"


def test_the_same_keys_as_delivery_defaults(tmp_path: Path, pki: Pki, mtls: MtlsReceiver) -> None:
    made, _ = sender(
        tmp_path,
        f"delivery: {{{certificates(pki).removeprefix(', ')}}}\n"
        f"destinations:\n  {ORDERS}: {{url: {mtls.url}}}\n",
    )
    (result,) = deliver(made, (ORDERS, mtls.url))
    assert (result.ok, result.status, result.error) == (True, 204, None)
    assert mtls.requests[-1].client == "whp"


@pytest.mark.parametrize(
    ("ca", "client", "error"),
    [
        (False, "pair", "connection failed: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify"),
        (True, "none", "connection error: [SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] "),
    ],
    ids=["public-cas-only", "no-client-certificate"],
)
def test_without_the_settings_the_delivery_fails_saying_why(
    tmp_path: Path, pki: Pki, mtls: MtlsReceiver, ca: bool, client: str, error: str
) -> None:
    before = len(mtls.requests)
    keys = certificates(pki, ca=ca, client=client)
    made, _ = sender(tmp_path, f"destinations:\n  {ORDERS}: {{url: {mtls.url}{keys}}}\n")
    (result,) = deliver(made, (ORDERS, mtls.url))
    assert (result.ok, result.status) == (False, None)
    assert result.error is not None
    assert result.error.startswith(error), result.error
    assert len(mtls.requests) == before, "the receiver got a delivery"


def test_https_through_the_proxy_to_a_private_ca_with_a_client_certificate(
    tmp_path: Path, pki: Pki, mtls: MtlsReceiver, proxy: ForwardProxy
) -> None:
    """The proxy tunnels (CONNECT): it sees the receiver's host and port, nothing more."""
    before = len(mtls.requests)
    made, _ = sender(
        tmp_path,
        f"destinations:\n  {ORDERS}: {{url: {mtls.url}, proxy: {proxy.url}{certificates(pki)}}}\n",
    )
    assert isinstance(made.transport_for(ORDERS), httpx.AsyncHTTPTransport)
    results = deliver(made, (ORDERS, mtls.url), (ORDERS, mtls.url))
    assert [(r.ok, r.status, r.error) for r in results] == [(True, 204, None)] * 2
    assert [(r.client, r.verified) for r in mtls.requests[before:]] == [("whp", True)] * 2
    where = mtls.url.removeprefix("https://").removesuffix("/hooks")
    assert proxy.seen == [f"CONNECT {where}"], "one tunnel, kept alive"


def test_a_proxy_that_refuses_the_tunnel_is_a_failed_attempt_naming_it(
    tmp_path: Path, pki: Pki, mtls: MtlsReceiver
) -> None:
    port = int(mtls.url.removesuffix("/hooks").rsplit(":", 1)[1])
    with ForwardProxy(refuse=frozenset({port})) as refusing:
        made, _ = sender(
            tmp_path,
            f"destinations:\n"
            f"  {ORDERS}: {{url: {mtls.url}, proxy: {refusing.url}{certificates(pki)}}}\n",
        )
        (result,) = deliver(made, (ORDERS, mtls.url))
    where = refusing.url.removeprefix("http://")
    assert (result.ok, result.status) == (False, None)
    assert result.error == f"proxy error: 403 Forbidden (through the proxy {where})"


def test_an_unreachable_proxy_is_a_failed_attempt_naming_it(
    tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    _, base = receiver
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    made, _ = sender(
        tmp_path,
        f"destinations:\n  {ORDERS}: {{url: {base}/hooks, proxy: 'http://127.0.0.1:{port}'}}\n",
    )
    (result,) = deliver(made, (ORDERS, f"{base}/hooks"))
    assert (result.ok, result.status) == (False, None)
    assert result.error == f"connection refused (through the proxy 127.0.0.1:{port})"
