"""`whp serve` that cannot start: a non-zero exit with a short cause on stderr, before it listens,
never a traceback."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from .helpers import READY_TIMEOUT, WHP, child_env, describe, free_port, run_whp

pytestmark = pytest.mark.e2e

SOURCES = """\
sources:
  github:
    verify: github
    secret: env:E2E_STARTUP_SECRET
"""


def serve(config: Path, env: dict[str, str]) -> tuple[int, str]:
    result = run_whp(
        ["serve", "--config", str(config), "--port", str(free_port())], env=env, timeout=30
    )
    assert "Traceback" not in result.stderr, describe(result)
    assert result.returncode != 0, describe(result)
    return result.returncode, result.stderr


def test_missing_secret_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "whp.yaml"
    config.write_text("storage: {path: whp.db}\n" + SOURCES)
    code, stderr = serve(config, {})
    assert code == 2
    assert "sources.github.secret" in stderr
    assert "E2E_STARTUP_SECRET" in stderr
    assert not (tmp_path / "whp.db").exists()


def test_every_problem_of_the_config_is_reported_at_once(tmp_path: Path) -> None:
    """A schema problem, a missing source secret and a destination signing secret without its
    whsec_ prefix: one run says all three, and nothing was opened."""
    config = tmp_path / "whp.yaml"
    config.write_text(
        "storage: {path: whp.db}\n"
        + SOURCES
        + "  typo: {verify: github, secret: env:E2E_STARTUP_SECRET, algoritm: sha1}\n"
        + "destinations: {d: {url: 'http://127.0.0.1:9/', signing_secret: env:E2E_SIGNING}}\n"
    )
    code, stderr = serve(config, {"E2E_SIGNING": "e2e-not-whsec"})
    assert code == 2
    assert stderr.splitlines() == [
        "whp: config error",
        f"{config}: sources.typo.algoritm: unknown key (did you mean 'algorithm'?)",
        f"{config}: sources.github.secret: environment variable E2E_STARTUP_SECRET is not set",
        f"{config}: destinations.d.signing_secret: signing_secret must have the form "
        "whsec_<base64 of the key bytes>",
    ]
    assert not (tmp_path / "whp.db").exists()


def test_store_path_that_is_a_directory_fails_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "store.db").mkdir()
    config = tmp_path / "whp.yaml"
    config.write_text("storage: {path: store.db}\n" + SOURCES)
    _, stderr = serve(config, {"E2E_STARTUP_SECRET": "s"})
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "store" in lines[0]


def test_store_under_a_regular_file_fails_with_one_line(tmp_path: Path) -> None:
    """storage.path `blocker/whp.db` where `blocker` is a file: the folder cannot be created."""
    (tmp_path / "blocker").write_text("not a folder\n")
    config = tmp_path / "whp.yaml"
    config.write_text("storage: {path: blocker/whp.db}\n" + SOURCES)
    _, stderr = serve(config, {"E2E_STARTUP_SECRET": "s"})
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "blocker" in lines[0]


def test_port_in_use_fails_and_says_so(tmp_path: Path) -> None:
    config = tmp_path / "whp.yaml"
    config.write_text("storage: {path: whp.db}\n" + SOURCES)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_whp(
            ["serve", "--config", str(config), "--port", str(port)],
            env={"E2E_STARTUP_SECRET": "s"},
            timeout=30,
        )
    assert result.returncode != 0, describe(result)
    assert "Traceback" not in result.stderr, describe(result)
    assert "address already in use" in result.stderr, describe(result)
    assert "serving on" not in result.stderr, describe(result)


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_a_port_out_of_range_is_a_usage_error(tmp_path: Path, port: str) -> None:
    """It was bound as a random port while the log said 99999."""
    config = tmp_path / "whp.yaml"
    config.write_text("storage: {path: whp.db}\n" + SOURCES)
    result = run_whp(
        ["serve", "--config", str(config), "--port", port],
        env={"E2E_STARTUP_SECRET": "s"},
        timeout=30,
    )
    assert result.returncode == 2, describe(result)
    assert "--port" in result.stderr, describe(result)
    assert "0-65535" in result.stderr, describe(result)
    assert "serving on" not in result.stderr, describe(result)
    assert not (tmp_path / "whp.db").exists()


def test_port_0_serves_on_a_free_port_and_says_which(tmp_path: Path) -> None:
    """The 'serving on' line comes once the socket is bound, with the port it is bound to."""
    config = tmp_path / "whp.yaml"
    config.write_text("storage: {path: whp.db}\n" + SOURCES)
    stderr_path = tmp_path / "serve.stderr.log"
    with stderr_path.open("wb") as err:
        process = subprocess.Popen(
            [*WHP, "serve", "--config", str(config), "--port", "0"],
            env=child_env({"E2E_STARTUP_SECRET": "s"}),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        found = None
        while found is None and time.monotonic() < deadline and process.poll() is None:
            found = re.search(r"serving on http://127\.0\.0\.1:(\d+) ", stderr_path.read_text())
            time.sleep(0.05)
        assert found is not None, stderr_path.read_text()
        port = int(found.group(1))
        assert port != 0
        response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
        assert response.status_code == 200, response.text
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    assert stderr_path.read_text().count("serving on") == 1
