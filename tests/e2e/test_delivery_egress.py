"""Deliveries through an egress proxy, end to end: `whp serve` sends the deliveries of a
destination with a `proxy` through it, and the others straight to their receivers: the proxy
variables of its environment are ignored unless the config says `proxy: env`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from .helpers import start_server
from .proxy import ForwardProxy
from .receiver import Receiver
from .test_delivery import ENV, SIGNING_SECRET, Whp, destination, route, send

pytestmark = pytest.mark.e2e
ARRIVAL_TIMEOUT = 15.0


def test_deliveries_go_through_the_configured_proxy(tmp_path: Path) -> None:
    with Receiver(SIGNING_SECRET) as receiver, ForwardProxy() as proxy:
        document = {
            "storage": {"path": "whp.db"},
            "sources": {"github": {"verify": "github", "secret": "env:DLV_GH_SECRET"}},
            "destinations": {
                "outside": destination(receiver.url("/outside"), proxy=proxy.url),
                "inside": destination(receiver.url("/inside")),
                "from-env": destination(receiver.url("/from-env"), proxy="env"),
            },
            "routes": [route("out", "outside"), route("in", "inside"), route("env", "from-env")],
        }
        config = tmp_path / "whp.yaml"
        config.write_text(yaml.safe_dump(document, sort_keys=False))
        # Set for whp serve, and honoured only by the destination that says `proxy: env`.
        whp = Whp(config)
        whp.servers.append(
            start_server(config, ENV | {"HTTP_PROXY": proxy.url, "NO_PROXY": "localhost"})
        )
        try:
            event_id = send(whp.server)
            for path in ("/outside", "/inside", "/from-env"):
                (arrival,) = receiver.wait_for_arrivals(1, ARRIVAL_TIMEOUT, path=path)
                assert arrival.verified, arrival.error
                assert arrival.webhook_id == event_id
            settled = whp.wait_settled(event_id, count=3)
        finally:
            whp.stop()
    assert {d["destination"]: d["status"] for d in settled} == dict.fromkeys(
        ("outside", "inside", "from-env"), "delivered"
    )
    assert sorted(proxy.seen) == [
        f"POST {receiver.url('/from-env')}",
        f"POST {receiver.url('/outside')}",
    ], "the destination without a proxy went straight to the receiver"
