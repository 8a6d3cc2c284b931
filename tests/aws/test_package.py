"""The built Lambda zip itself, run as Lambda would run it: on the runtime's Python version, in an
environment that holds only boto3 (what the runtime provides), from the unpacked package. A
dependency missing from the package fails here; so does one built for the wrong Python."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from webhook_processor.entrypoints import cli
from webhook_processor.packaging import wheels

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("package_probe.py").read_text(encoding="utf-8")
# The handlers of docs/aws.md: each is imported from the package as soon as its module exists in
# the source tree (and then it must be in the package too).
HANDLERS = ("ingest", "router", "delivery", "rotation")
LAMBDAS = REPO / "src" / "webhook_processor" / "entrypoints" / "lambdas"
CONFIG = """\
storage: {retention_days: 7}
sources:
  github: {verify: github, secret: "aws-sm:github"}
  app:
    verify: standard-webhooks
    secrets: ["aws-sm:app", "aws-sm:app-next"]
  acme:
    verify: hmac
    header: X-Acme-Signature
    secret: aws-sm:arn:aws:secretsmanager:eu-west-1:123456789012:secret:acme-AbCdEf
    schema: schemas/acme.json
destinations:
  orders: {url: "https://example.com/hooks", signing_secret: "aws-sm:orders"}
routes:
  - {name: all, destination: orders, pattern: {source: [github, app, acme]}}
"""


def handler_modules() -> list[str]:
    return [
        f"webhook_processor.entrypoints.lambdas.{name}"
        for name in HANDLERS
        if (LAMBDAS / f"{name}.py").exists()
    ]


def lambda_python(version: str) -> str:
    found = wheels.find_python(version, os.environ)
    if found is None:
        pytest.skip(f"no Python {version} here (pyenv or WHP_LAMBDA_PYTHON): cannot run the zip")
    return found


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    (root / "schemas").mkdir()
    (root / "schemas" / "acme.json").write_text('{"type": "object", "required": ["type"]}')
    (root / "whp.yaml").write_text(CONFIG)
    return root


def build(project: Path, python: str, *extra: str, name: str = "whp-lambda.zip") -> Path:
    output = project / "dist" / python / name
    args = ["aws", "build", "--config", str(project / "whp.yaml"), "--output", str(output)]
    assert cli.main([*args, "--arch", "x86_64", "--python", python, *extra]) == 0
    return output


def boto3_only_venv(where: Path, python: str) -> Path:
    """A venv of the Lambda Python holding boto3 (at the version the tests run against) and
    nothing else that could stand in for a dependency missing from the package."""
    subprocess.run([python, "-m", "venv", str(where)], check=True)
    pip = [str(where / "bin" / "python"), "-m", "pip", "install", "-q"]
    boto3 = f"boto3=={importlib.metadata.version('boto3')}"
    subprocess.run([*pip, "--disable-pip-version-check", boto3], check=True, capture_output=True)
    return where / "bin" / "python"


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """The boto3-only venv of a Lambda Python version, made once per module."""
    made: dict[str, Path] = {}

    def get(version: str) -> Path:
        if version not in made:
            where = tmp_path_factory.mktemp(f"venv-{version}")
            made[version] = boto3_only_venv(where, lambda_python(version))
        return made[version]

    return get


@pytest.fixture(scope="module")
def built(project: Path) -> Callable[[str], Path]:
    """The default build for a Python version, made once per module."""
    made: dict[str, Path] = {}

    def get(version: str) -> Path:
        if version not in made:
            lambda_python(version)
            made[version] = build(project, version)
        return made[version]

    return get


def unpack(archive: Path, where: Path) -> Path:
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(where)
    return where


def probe(python: Path, root: Path, handlers: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [str(python), "-s", "-c", PROBE, *handlers],
        cwd=root,
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


@pytest.mark.parametrize("python", ["3.13", "3.12"])
def test_the_zip_runs_on_the_lambda_python_with_only_boto3_beside_it(
    built: Callable[[str], Path], venv: Callable[[str], Path], tmp_path: Path, python: str
) -> None:
    root = unpack(built(python), tmp_path / "task")
    venv_python = venv(python)
    handlers = handler_modules()
    for module in handlers:
        assert (root / (module.replace(".", "/") + ".py")).is_file(), f"{module} not in the zip"
    result = probe(venv_python, root, handlers)
    assert result["python"] == python
    assert result["handlers"] == handlers
    assert result["local_only_found"] == []
    assert result["libyaml"] is False  # the binding is left out; the pure-Python loader runs
    # every dependency comes from the package: from the venv, only what the runtime has too
    venv_root = str(venv_python.parent.parent)
    from_venv = {
        t for t, origin in result["origins"].items() if (origin or "").startswith(venv_root)
    }
    assert from_venv <= {"boto3", "botocore", "s3transfer", "urllib3", "dateutil", "six"}
    assert result["origins"]["cryptography"].startswith(str(root))
    # the config was validated at build time (whp-config.json): no pydantic in the package
    assert result["validated_now"] is False
    assert not [p for p in root.iterdir() if p.name.startswith(("pydantic", "annotated_types"))]
    assert "boto3" not in {p.name for p in root.iterdir()}


def test_the_pyc_are_for_the_target_python_and_never_rechecked(
    built: Callable[[str], Path],
) -> None:
    interpreter = lambda_python("3.13")
    with zipfile.ZipFile(built("3.13")) as zf:
        pycs = [n for n in zf.namelist() if n.endswith(".pyc")]
        assert pycs
        assert all(".cpython-313." in n for n in pycs)  # nothing of the building Python
        config_pyc = zf.read("webhook_processor/__pycache__/config.cpython-313.pyc")
    magic = subprocess.run(
        [
            interpreter,
            "-c",
            "import importlib.util, sys; sys.stdout.write(importlib.util.MAGIC_NUMBER.hex())",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert config_pyc[:4].hex() == magic
    # PEP 552 flags: bit 0 hash-based, bit 1 check_source: 0b01 is "unchecked-hash"
    assert int.from_bytes(config_pyc[4:8], "little") == 0b01


def test_a_dependency_missing_from_the_package_fails_the_probe(
    built: Callable[[str], Path], venv: Callable[[str], Path], tmp_path: Path
) -> None:
    # the check of the test above can fail: take orjson out and the import of the core breaks
    root = unpack(built("3.13"), tmp_path / "task")
    for path in sorted(root.glob("orjson*")):
        shutil.rmtree(path)
    done = subprocess.run(
        [str(venv("3.13")), "-s", "-c", PROBE],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "No module named 'orjson'" in done.stderr


def test_same_inputs_give_the_same_bytes(project: Path, built: Callable[[str], Path]) -> None:
    first = built("3.13")
    second = build(project, "3.13", name="b.zip")
    digest = hashlib.sha256(first.read_bytes()).hexdigest()
    assert digest == hashlib.sha256(second.read_bytes()).hexdigest()
    with zipfile.ZipFile(first) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in infos}
    assert set(modes.values()) <= {0o644, 0o755}
    assert all(mode == 0o755 for n, mode in modes.items() if n.endswith(".so"))
    assert not [n for n in names if n.startswith(("uvicorn/", "starlette/", "prometheus_client/"))]
    assert not [n for n in names if n.startswith(("boto3/", "botocore/", "s3transfer/"))]
    assert not [n for n in names if "entrypoints/web.py" in n or "entrypoints/server.py" in n]


def test_the_config_and_its_digest_are_at_the_root(
    project: Path, built: Callable[[str], Path]
) -> None:
    archive = built("3.13")
    expected = hashlib.sha256((project / "whp.yaml").read_bytes()).hexdigest()
    with zipfile.ZipFile(archive) as zf:
        assert zf.read("whp.yaml") == (project / "whp.yaml").read_bytes()
        assert zf.read("whp-config.sha256").decode() == expected
        assert zf.read("schemas/acme.json") == (project / "schemas" / "acme.json").read_bytes()
        # What the Terraform module reads: the last bytes of the file (docs/aws.md).
        assert zf.comment == b"whp-config-sha256=" + expected.encode()
    assert archive.read_bytes().endswith(b"whp-config-sha256=" + expected.encode())
    beside = archive.with_name(archive.name + ".config-sha256")
    assert beside.read_text() == expected  # for people and scripts, no newline


def test_layer_holds_the_dependencies_under_python(
    project: Path, venv: Callable[[str], Path], tmp_path: Path
) -> None:
    lambda_python("3.13")
    function = build(project, "3.13", "--layer", name="f.zip")
    layer = function.with_name("f-layer.zip")
    with zipfile.ZipFile(function) as zf:
        tops = {n.split("/")[0] for n in zf.namelist()}
    assert tops == {
        "webhook_processor",
        "whp.yaml",
        "whp-config.sha256",
        "whp-config.json",
        "schemas",
    }
    with zipfile.ZipFile(layer) as zf:
        names = zf.namelist()
    assert all(n.startswith("python/") for n in names)
    assert "python/orjson/__init__.py" in names
    # Lambda puts /var/task first and /opt/python after it on sys.path: so does PYTHONPATH here
    task = unpack(function, tmp_path / "task")
    opt = unpack(layer, tmp_path / "opt")
    done = subprocess.run(
        [str(venv("3.13")), "-s", "-c", PROBE],
        cwd=task,
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(opt / "python")},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
