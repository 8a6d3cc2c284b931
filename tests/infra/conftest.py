"""Fixtures of the infra tests: the terraform CLI with an offline provider mirror, the module
parsed as data, and moto in server mode for plans and the deploy test."""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infra import hclkit, tfkit


@pytest.fixture(scope="session")
def terraform(tmp_path_factory: pytest.TempPathFactory) -> tfkit.Terraform:
    binary = tfkit.find_terraform()
    if binary is None:
        pytest.skip("terraform CLI not found: set $TERRAFORM or put terraform on PATH")
    mirror = tfkit.find_mirror()
    if mirror is None:
        pytest.skip(
            "no offline provider mirror holding registry.terraform.io/hashicorp/aws: set "
            f"$WHP_TF_PLUGIN_MIRROR (looked in {', '.join(tfkit.MIRROR_ROOTS)})"
        )
    cli = tfkit.write_cli_config(tmp_path_factory.mktemp("tf-cli") / "terraformrc", mirror)
    return tfkit.Terraform(binary, cli)


@pytest.fixture(scope="session")
def module() -> hclkit.Module:
    return hclkit.Module.load(tfkit.MODULE)


@pytest.fixture(scope="session")
def example() -> hclkit.Module:
    return hclkit.Module.load(tfkit.EXAMPLE)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto in server mode on loopback, with IAM's managed policies and Lambda without Docker."""
    server_mod = pytest.importorskip("moto.server", reason="moto[server] is not installed")
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    moto_api(endpoint, "config", {"lambda": {"use_docker": False}})
    try:
        yield endpoint
    finally:
        server.stop()


def moto_api(endpoint: str, path: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{endpoint}/moto-api/{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # loopback only
        response.read()


@pytest.fixture(scope="session")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Lambda package of tests/infra/whp.yaml: built by `whp aws build` when this tree has
    it, else by tfkit's stand-in (a zip with what the module reads)."""
    return tfkit.whp_build(tfkit.CONFIG, tmp_path_factory.mktemp("dist") / "whp-lambda.zip")
