"""The dependencies of the Lambda package: which distributions, at which versions, as which wheels.

The closure starts from this project's own requirements (its base ones and those of its `aws`
extra, with markers evaluated for the Lambda runtime, not for the building machine) and follows
each distribution's requirements. Every version is the one installed where the build runs
(`importlib.metadata`), so the package holds what the tests ran against. Wheels come from
`pip download` for Lambda's platform and Python, one folder per wheel in a cache.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from webhook_processor import errors

PROJECT = "webhook-processor"
PROJECT_EXTRAS = frozenset({"aws"})
# What the handlers do not import: the local server's stack (entrypoints/web.py, server.py,
# worker.py) and what only `whp aws build` itself uses.
LOCAL_ONLY = frozenset({"uvicorn", "starlette", "prometheus-client", "packaging"})
# In every Lambda Python runtime. jmespath is there too (botocore's), but it is not left out:
# powertools needs it, and ours is pinned to the version the tests ran with.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer"})
# config.py's models: the build validates whp.yaml and the handlers read the result without them
# (config_snapshot.py), which saves 3.5 MB of the zip and 0.2 s of every cold start.
VALIDATED_AT_BUILD = frozenset({"pydantic"})
ARCHES = {"arm64": "aarch64", "x86_64": "x86_64"}
PYTHONS = ("3.13", "3.12")
# Lambda's Python 3.12 and 3.13 run on Amazon Linux 2023 (glibc 2.34): manylinux2014 (glibc 2.17)
# is what AWS's packaging guide names; newer tags up to 2.34 load there too.
GLIBC_TAGS = ("manylinux2014", "manylinux_2_28", "manylinux_2_34")

Log = Callable[[str], None]


@dataclass(frozen=True, order=True)
class Pin:
    name: str  # canonical (PEP 503): "pydantic-core"
    version: str
    required_by: str = ""


def marker_environment(python: str, arch: str) -> dict[str, str]:
    """PEP 508's marker variables as they are on the Lambda runtime."""
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{python}.0",
        "os_name": "posix",
        "platform_machine": ARCHES[arch],
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": f"{python}.0",
        "python_version": python,
        "sys_platform": "linux",
    }


def applies(marker: Marker | None, env: dict[str, str], extras: frozenset[str]) -> bool:
    if marker is None:
        return True
    return any(marker.evaluate({**env, "extra": extra}) for extra in {"", *extras})


def closure(python: str, arch: str) -> list[Pin]:
    """Every distribution the handlers need, pinned to its installed version, sorted by name."""
    env = marker_environment(python, arch)
    excluded = LOCAL_ONLY | RUNTIME_PROVIDED | VALIDATED_AT_BUILD
    pins: dict[str, Pin] = {}
    extras_seen: dict[str, frozenset[str]] = {}
    todo: list[tuple[str, frozenset[str]]] = [(PROJECT, PROJECT_EXTRAS)]
    problems: list[str] = []
    while todo:
        parent, extras = todo.pop()
        for text in _requires(parent):
            req = Requirement(text)
            name = canonicalize_name(req.name)
            if name in excluded or not applies(req.marker, env, extras):
                continue
            try:
                version = importlib.metadata.version(req.name)
            except importlib.metadata.PackageNotFoundError:
                problems.append(
                    f"{req.name} (required by {parent}) is not installed here, so its version "
                    f"cannot be pinned: pip install '{PROJECT}[aws]'"
                )
                continue
            if not req.specifier.contains(Version(version), prereleases=True):
                problems.append(f"{req.name} {version} is installed, but {parent} requires {req}")
            wanted = frozenset(req.extras) | extras_seen.get(name, frozenset())
            if name not in pins or wanted != extras_seen.get(name):
                todo.append((req.name, frozenset(req.extras)))
            pins.setdefault(name, Pin(name, version, canonicalize_name(parent)))
            extras_seen[name] = wanted
    if problems:
        raise errors.UsageError("cannot pin the Lambda dependencies:\n  " + "\n  ".join(problems))
    return sorted(pins.values())


def _requires(dist: str) -> list[str]:
    try:
        return importlib.metadata.requires(dist) or []
    except importlib.metadata.PackageNotFoundError:
        raise errors.UsageError(
            f"{dist} is not installed in this environment ({sys.executable}): "
            "install the project (pip install -e '.[aws]') and run whp from it"
        ) from None


def fetch(pins: list[Pin], python: str, arch: str, cache: Path, log: Log) -> dict[str, Path]:
    """The wheel of each pin for Lambda's platform and Python, from the cache or `pip download`
    (one call for every wheel not cached yet). Returns name -> wheel file."""
    folder = cache / f"cp{python.replace('.', '')}-{arch}"
    found: dict[str, Path] = {}
    missing: list[Pin] = []
    for pin in pins:
        cached = sorted((folder / f"{pin.name}-{pin.version}").glob("*.whl"))
        if cached:
            found[pin.name] = cached[0]
        else:
            missing.append(pin)
    if missing:
        log(f"downloading {len(missing)} wheels for Python {python} on {arch} into {folder}")
        found.update(_download(missing, python, arch, folder))
    return found


def _download(pins: list[Pin], python: str, arch: str, folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    platforms = [f"--platform={tag}_{ARCHES[arch]}" for tag in GLIBC_TAGS]
    with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as tmp:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--only-binary=:all:",
            *platforms,
            "--implementation=cp",
            f"--python-version={python}",
            f"--dest={tmp}",
            *(f"{pin.name}=={pin.version}" for pin in pins),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            # pip's own lines say which wheel it could not find; its warnings are noise here
            said = [ln for ln in done.stderr.splitlines() if ln.startswith("ERROR")]
            raise errors.WhpError(
                f"pip download failed for Python {python} on {arch} (--only-binary: every "
                "dependency must have a wheel for that platform):\n  "
                + "\n  ".join(said or done.stderr.splitlines()[-5:])
            )
        out: dict[str, Path] = {}
        by_name = {pin.name: pin for pin in pins}
        for wheel in sorted(Path(tmp).glob("*.whl")):
            name = canonicalize_name(parse_wheel_filename(wheel.name)[0])
            pin = by_name[name]
            home = folder / f"{pin.name}-{pin.version}"
            home.mkdir(exist_ok=True)
            target = home / wheel.name
            os.replace(wheel, target)  # whole files only: a killed build leaves no half wheel
            out[name] = target
    lost = sorted(set(by_name) - set(out))
    if lost:
        raise errors.WhpError(f"pip download did not bring wheels for: {', '.join(lost)}")
    return out


def default_cache(env: Mapping[str, str]) -> Path:
    """`$WHP_CACHE_DIR`, else `$XDG_CACHE_HOME/whp`, else `~/.cache/whp`; wheels go under it."""
    if env.get("WHP_CACHE_DIR"):
        return Path(env["WHP_CACHE_DIR"])
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "whp"


def find_python(python: str, env: Mapping[str, str]) -> str | None:
    """An interpreter of the Lambda runtime's version, to compile the package's .pyc with:
    `$WHP_LAMBDA_PYTHON` if set (it must be that version), else pyenv's, else `python3.X`."""
    override = env.get("WHP_LAMBDA_PYTHON")
    if override:
        got = _version_of(override)
        if got != python:
            raise errors.UsageError(
                f"WHP_LAMBDA_PYTHON={override} is "
                + (f"Python {got}" if got else "not a Python that runs")
                + f", but the package is for Python {python}"
            )
        return override
    root = Path(env.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    candidates = sorted(
        root.glob(f"{python}.*/bin/python{python}"),
        key=lambda p: Version(p.parent.parent.name) if _is_version(p) else Version("0"),
        reverse=True,
    )
    on_path = shutil.which(f"python{python}")
    for candidate in [*map(str, candidates), *([on_path] if on_path else [])]:
        if _version_of(candidate) == python:
            return candidate
    return None


def _is_version(path: Path) -> bool:
    try:
        Version(path.parent.parent.name)
    except ValueError:
        return False
    return True


def _version_of(python: str) -> str | None:
    try:
        done = subprocess.run(  # noqa: S603 - an interpreter the user or pyenv names
            [python, "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None
