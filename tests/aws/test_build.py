"""`whp aws build`: what it refuses before building (each problem named by its key path), and
which dependencies it packs. Fast: every refusal comes before any download."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import pytest
from packaging import markers

from webhook_processor.entrypoints import cli
from webhook_processor.packaging import wheels


def build(tmp_path: Path, config: str, *extra: str) -> int:
    (tmp_path / "whp.yaml").write_text(config)
    output = tmp_path / "dist" / "whp-lambda.zip"
    args = ["aws", "build", "--config", str(tmp_path / "whp.yaml"), "--output", str(output)]
    return cli.main([*args, "--cache-dir", str(tmp_path / "cache"), *extra])


def test_secrets_other_than_aws_sm_are_refused_each_by_its_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = """\
admin: {token: "env:WHP_ADMIN_TOKEN"}
sources:
  github: {verify: github, secret: "env:GITHUB_SECRET"}
  app: {verify: standard-webhooks, secrets: ["aws-sm:app", "file:app.key"]}
  shop: {verify: shopify, secret: "hunter2-not-a-reference"}
  fine: {verify: stripe, secret: "aws-sm:stripe"}
destinations:
  orders: {url: "https://example.com/hooks", signing_secret: "aws-sm:bad name"}
"""
    assert build(tmp_path, config) == 2
    err = capsys.readouterr().err
    assert "admin.token: env: is resolved on the local runtime only" in err
    assert "sources.github.secret: env: is resolved" in err
    assert "sources.app.secrets[1]: file: is resolved" in err
    assert "sources.app.secrets[0]" not in err
    assert "sources.shop.secret: a secret written inline" in err
    assert "hunter2" not in err  # a literal secret is never printed
    assert "sources.fine" not in err
    assert "destinations.orders.signing_secret: secret name 'bad name' may hold only" in err
    assert "on AWS a secret must be aws-sm:NAME" in err
    assert not (tmp_path / "dist").exists()
    assert not (tmp_path / "cache").exists()  # refused before any download


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ("/etc/schemas/acme.json", "sources.acme.schema: /etc/schemas/acme.json is an absolute"),
        ("../acme.json", "sources.acme.schema: ../acme.json is outside the config file's folder"),
        ("schemas/missing.json", "sources.acme.schema: schemas/missing.json: file not found"),
    ],
)
def test_schema_paths_must_resolve_inside_the_package(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], schema: str, expected: str
) -> None:
    config = f"""\
sources:
  acme: {{verify: hmac, header: X-Sig, secret: "aws-sm:acme", schema: "{schema}"}}
"""
    assert build(tmp_path, config) == 2
    assert expected in capsys.readouterr().err


def test_a_config_error_stops_the_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert build(tmp_path, "sources:\n  github: {verify: githbu}\n") == 2
    err = capsys.readouterr().err
    assert "config error" in err
    assert "sources.github.verify" in err


def test_a_lambda_python_of_the_wrong_version_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHP_LAMBDA_PYTHON", sys.executable)  # this Python is 3.11
    assert build(tmp_path, "sources: {}\n", "--python", "3.12") == 2
    err = capsys.readouterr().err
    assert f"WHP_LAMBDA_PYTHON={sys.executable} is Python 3.11" in err
    assert "the package is for Python 3.12" in err


@pytest.mark.parametrize(("python", "arch"), [("3.13", "arm64"), ("3.12", "x86_64")])
def test_the_closure_holds_what_the_handlers_import_and_not_the_local_server(
    python: str, arch: str
) -> None:
    pins = {pin.name: pin.version for pin in wheels.closure(python, arch)}
    # what the handlers import, and what those need (jsonschema's rpds, ...)
    for name in (
        "aws-lambda-powertools",
        "cryptography",
        "cffi",
        "httptools",
        "httpx",
        "httpcore",
        "jmespath",
        "jsonschema",
        "rpds-py",
        "orjson",
        "pyyaml",
        "typing-extensions",
    ):
        assert name in pins, name
    for name in ("uvicorn", "starlette", "prometheus-client", "uvloop", "boto3", "botocore"):
        assert name not in pins, name
    # the config is validated at build time (whp-config.json): pydantic stays out, with its core
    for name in ("pydantic", "pydantic-core", "annotated-types", "typing-inspection"):
        assert name not in pins, name
    assert "s3transfer" not in pins
    assert "packaging" not in pins  # the builder's own
    assert "pytest" not in pins  # the test extra is not the aws one
    assert pins["orjson"] == importlib.metadata.version("orjson")


def test_requirement_markers_are_read_for_the_lambda_runtime() -> None:
    lambda_313 = wheels.marker_environment("3.13", "arm64")
    here = markers.Marker('python_version < "3.13"')
    assert not wheels.applies(here, lambda_313, frozenset())
    assert wheels.applies(here, wheels.marker_environment("3.12", "arm64"), frozenset())
    machine = markers.Marker('platform_machine == "aarch64"')
    assert wheels.applies(machine, lambda_313, frozenset())
    assert not wheels.applies(machine, wheels.marker_environment("3.13", "x86_64"), frozenset())
    extra = markers.Marker('extra == "aws"')
    assert wheels.applies(extra, lambda_313, frozenset({"aws"}))
    assert not wheels.applies(extra, lambda_313, frozenset())
