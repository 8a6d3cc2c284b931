"""Every scenario runs once per runtime: `runtime` is parametrized over local and aws.

The receiver (tests/e2e/receiver.py) is the destinations' server on 127.0.0.1 for both: it checks
every delivery with the official Standard Webhooks library against the destinations' signing
secret, as a user's consumer would.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.aws.conftest import aws, moto_endpoint  # noqa: F401  (fixtures, used by name)
from tests.e2e import receiver as receiving
from tests.scenarios import runtimes, whp_config

RUNTIMES = ("local", "aws")


@pytest.fixture
def held() -> whp_config.Secrets:
    """The config's secrets, fresh for each test."""
    return whp_config.Secrets.fresh()


@pytest.fixture
def receiver(held: whp_config.Secrets) -> Iterator[receiving.Receiver]:
    with receiving.Receiver(held.current("signing")) as running:
        yield running


@pytest.fixture(params=RUNTIMES)
def runtime(
    request: pytest.FixtureRequest,
    receiver: receiving.Receiver,
    held: whp_config.Secrets,
    tmp_path: Path,
) -> Iterator[runtimes.Runtime]:
    made: runtimes.Runtime
    if request.param == "local":
        from tests.scenarios import local  # noqa: PLC0415

        made = local.LocalRuntime(tmp_path, receiver, held)
    else:
        from tests.scenarios import aws as aws_runtime  # noqa: PLC0415

        made = aws_runtime.AwsRuntime(
            tmp_path,
            receiver,
            held,
            request.getfixturevalue("aws"),
            request.getfixturevalue("monkeypatch"),
        )
    try:
        yield made
    finally:
        made.close()
