"""Fixtures of the contract suites: the AWS implementations run on one moto server (a real HTTP
endpoint on 127.0.0.1) started for the session at the first test that needs it. Nothing is reset
between tests: each gets a table and queues of its own (tests/contract/aws.py), which costs a few
ms where a reset and a whole layout cost a few hundred."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.aws import layout

from . import aws

BUCKET = "whp-contract-bodies"  # large bodies, keyed by event id: one bucket serves every test


@pytest.fixture(scope="session")
def moto() -> Iterator[layout.Aws]:
    moto_server = pytest.importorskip(
        "moto.server", reason="moto[server] is not installed: pip install -e '.[test]'"
    )
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)  # moto answers the 503s we provoke
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = layout.Aws(f"http://{host}:{port}")
    endpoint.s3().create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture
def resources(moto: layout.Aws) -> Iterator[aws.Resources]:
    made = aws.create(moto, BUCKET)
    yield made
    aws.delete(made)
