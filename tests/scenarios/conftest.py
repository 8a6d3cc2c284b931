"""Every scenario runs once per runtime: `runtime` is parametrized over local and aws (the
ingest scenarios also over aws-http: API Gateway's HTTP API, the lean profile's front door).

The receiver (tests/e2e/receiver.py) is the destinations' server on 127.0.0.1 for both: it checks
every delivery with the official Standard Webhooks library against the destinations' signing
secret, as a user's consumer would.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.aws.conftest import aws, moto_endpoint  # noqa: F401  (fixtures, used by name)
from tests.e2e import receiver as receiving
from tests.scenarios import runtimes, whp_config


@pytest.fixture
def held() -> whp_config.Secrets:
    """The config's secrets, fresh for each test."""
    return whp_config.Secrets.fresh()


@pytest.fixture
def receiver(held: whp_config.Secrets) -> Iterator[receiving.Receiver]:
    with receiving.Receiver(held.current("signing")) as running:
        yield running


@pytest.fixture(params=runtimes.RUNTIMES)
def runtime(request: pytest.FixtureRequest) -> Iterator[runtimes.Runtime]:
    yield from runtimes.started(request)
