"""Fixtures of the AWS suite: one moto server (a real HTTP endpoint on 127.0.0.1) for the session,
reset before every test, and the layout of docs/aws.md created in it."""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.aws import layout

moto_server = pytest.importorskip(
    "moto.server", reason="moto[server] is not installed: pip install -e '.[test]'"
)

CONFIG = """
storage: {retention_days: 7}
sources:
  github: {verify: github, secret: aws-sm:github-secret}
  acme:
    verify: hmac
    header: X-Acme-Signature
    secret: aws-sm:arn:aws:secretsmanager:us-east-1:123456789012:secret:acme-AbCdEf
destinations:
  orders:
    url: http://127.0.0.1:9/orders
    signing_secret: aws-sm:orders-signing
    retry: {max_attempts: 3}
  audit: {url: http://127.0.0.1:9/audit}
routes:
  - name: github-pushes
    destination: orders
    pattern: {source: [github], detail-type: [push]}
  - name: everything
    destination: audit
    pattern: {source: [{prefix: ""}]}
"""


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)  # moto answers 500s we provoke
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> layout.Aws:
    """A clean moto; the environment points boto3 at it too, for clients an adapter makes."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:  # loopback
        assert answer.status == 200
    for name, value in layout.ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return layout.Aws(moto_endpoint)


@pytest.fixture
def deployed(aws: layout.Aws, tmp_path: Path) -> layout.Layout:
    """docs/aws.md's resources for CONFIG, under the prefix wh-test."""
    return layout.create_layout("wh-test", layout.config_from(CONFIG, tmp_path))
