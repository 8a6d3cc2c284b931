"""The architecture, checked: data flows entrypoint -> service -> ports -> adapters, never back.

* The domain (and the services over it) imports no config, no adapter and no framework: the same
  code runs in `whp serve` and in a Lambda function.
* Entrypoints reach adapters only through the composition root (`bootstrap`).
* Importing a domain module, or a Lambda handler's module, leaves pydantic, yaml, sqlite3,
  starlette, uvicorn and boto3 out of `sys.modules`: the layering, and the Lambda cold start.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "webhook_processor"
DOMAIN = (
    "verify",
    "patterns",
    "routing",
    "retry",
    "delivery",
    "signing",
    "presets",
    "fields",
    "payload",
    "provider",
    "ratelimit",
    "egress",
    "models",
    "errors",
    "ports",
    "cursors",
    "services",
)
FRAMEWORKS = ("pydantic", "yaml", "sqlite3", "starlette", "uvicorn", "boto3", "botocore")
LAMBDAS = ("ingest", "router", "delivery", "rotation")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of every module `path` imports (at any depth: lazy imports count too)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _files(*top: str) -> list[Path]:
    out: list[Path] = []
    for name in top:
        target = PACKAGE / name
        out += sorted(target.rglob("*.py")) if target.is_dir() else [target.with_suffix(".py")]
    return [p for p in out if p.exists()]


def _offences(files: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{_module_name(path)} imports {imported}"
        for path in files
        for imported in sorted(_imports(path))
        if any(imported == f or imported.startswith(f + ".") for f in forbidden)
    ]


def test_the_domain_imports_no_config_no_adapter_and_no_framework() -> None:
    forbidden = (
        "webhook_processor.config",
        "webhook_processor.bootstrap",
        "webhook_processor.adapters",
        "webhook_processor.entrypoints",
        *FRAMEWORKS,
    )
    assert _offences(_files(*DOMAIN), forbidden) == []


def test_entrypoints_reach_adapters_only_through_the_composition_root() -> None:
    assert _offences(_files("entrypoints"), ("webhook_processor.adapters",)) == []


def test_adapters_import_no_entrypoint_and_no_composition_root() -> None:
    forbidden = ("webhook_processor.entrypoints", "webhook_processor.bootstrap")
    assert _offences(_files("adapters"), forbidden) == []


def _loaded_after_import(module: str) -> list[str]:
    code = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        f"print(json.dumps(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    loaded: list[str] = json.loads(out)
    return loaded


@pytest.mark.parametrize("module", [f"webhook_processor.{name}" for name in DOMAIN])
def test_importing_a_domain_module_loads_no_framework(module: str) -> None:
    if not _files(module.removeprefix("webhook_processor.")):
        pytest.fail(f"{module} is listed as domain but does not exist")
    assert _loaded_after_import(module) == []


@pytest.mark.parametrize("handler", LAMBDAS)
def test_importing_a_lambda_handler_loads_no_framework(handler: str) -> None:
    assert _loaded_after_import(f"webhook_processor.entrypoints.lambdas.{handler}") == []
