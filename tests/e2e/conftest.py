"""Fixtures of the end-to-end suite: real `whp serve` processes on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from .helpers import Server, start_server
from .shared import ENV, write_config


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for every test that needs no config of its own (see shared.py)."""
    folder = tmp_path_factory.mktemp("shared")
    running = start_server(write_config(folder), ENV)
    yield running
    running.stop()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30.0) as http:
        yield http
