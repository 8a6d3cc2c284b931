"""`whp aws build`: the Lambda package, a zip whose bytes depend only on its inputs.

What it holds (docs/aws.md, "The package"):

    whp.yaml                        the config file's exact bytes
    whp-config.sha256               the lower-case hex sha256 of those bytes (64 characters)
    <schema paths>                  each `schema:` file, at its path relative to the config
    webhook_processor/              the project, less what only the local server and the CLI use
    <dependencies>, *.dist-info/    the closure of wheels.py (--layer: a second zip, python/)
    **/__pycache__/*.cpython-3X.pyc compiled for the target Python when an interpreter of that
                                    version is found: Lambda's task root is read-only, so without
                                    them every cold start compiles what it imports

Same inputs, same bytes: entries sorted, every timestamp 1980-01-01 00:00, modes 0644 (0755 for
shared libraries), nothing from the building machine's __pycache__, and .pyc made with
`--invalidation-mode unchecked-hash` (no source mtime inside) and a fixed hash seed (the order of
frozenset constants in a .pyc follows string hashes).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import subprocess
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

import webhook_processor
from webhook_processor import config, config_snapshot, errors
from webhook_processor.adapters.aws import names
from webhook_processor.packaging import wheels

CONFIG_NAME = "whp.yaml"
DIGEST_NAME = "whp-config.sha256"
DIGEST_SUFFIX = ".config-sha256"  # beside the zip, for people and scripts
# The zip's comment: the last bytes of the file, where Terraform (which cannot open a zip) reads
# the digest (docs/aws.md, "The package").
DIGEST_COMMENT = b"whp-config-sha256="
TASK_ROOT = "/var/task"  # where Lambda unpacks a function's zip; a layer's python/ is /opt/python
LAYER_ROOT = "/opt/python"
EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
# Parts of the project no handler imports: the local server's (they import uvicorn, starlette,
# prometheus_client, none of which is in the package), its composition root and SQLite adapter,
# the CLI, this builder, the starter config.
LOCAL_ONLY = (
    "__main__.py",
    "templates/*",
    "adapters/prometheus.py",
    "entrypoints/web.py",
    "entrypoints/server.py",
    "entrypoints/worker.py",
    "entrypoints/runtime.py",
    "entrypoints/openapi.py",
    "entrypoints/dashboard/*",
    "entrypoints/cli.py",
    "entrypoints/cli_*.py",
    "entrypoints/reload.py",
    "entrypoints/protocol.py",
    "entrypoints/admin.py",
    "entrypoints/admin_input.py",
    "entrypoints/openapi_admin.py",
    "entrypoints/views.py",
    "bootstrap/local.py",
    "adapters/sqlite/*",
    "packaging/*",
)

# Files of the dependencies that no handler loads, left out to keep the zip small: test suites
# and benchmarks, type stubs and C sources; PyYAML's libyaml binding (`yaml.cyaml`: whp loads its
# config with the pure-Python SafeLoader, and `import yaml` falls back by itself when the binding
# is absent, which also spares loading a 2.8 MB library at each cold start); the parts of
# powertools the handlers never import (they use its Logger, Metrics and batch processing, whose
# data classes come along): the API resolver, the pydantic parser (there is no pydantic in the
# package), idempotency, parameters and the rest, 0.8 MB zipped.
POWERTOOLS_UNUSED = (
    "event_handler",
    "utilities/parser",
    "utilities/auth_alpha",
    "utilities/idempotency",
    "utilities/parameters",
    "utilities/circuit_breaker",
    "utilities/feature_flags",
    "utilities/kafka",
    "utilities/data_masking",
    "utilities/streaming",
    "utilities/validation",
)
PRUNE = (
    "*/tests/*",
    "*/benchmarks/*",
    "*.pyi",
    "*.pyx",
    "*.pxd",
    "*.c",
    "*.h",
    "yaml/_yaml.*.so",
    *(f"aws_lambda_powertools/{part}/*" for part in POWERTOOLS_UNUSED),
)

Log = Callable[[str], None]


@dataclass(frozen=True)
class Options:
    config: Path
    output: Path
    cache: Path
    arch: str = "arm64"
    python: str = "3.13"
    layer: bool = False
    interpreter: str | None = None  # of the target version; None: no .pyc


@dataclass(frozen=True)
class Archive:
    path: Path
    size: int
    unzipped: int
    sha256: str
    weights: list[tuple[str, int]]  # (what: a distribution, the project, the config), bytes zipped


@dataclass(frozen=True)
class Result:
    function: Archive
    layer: Archive | None
    config_sha256: str
    digest_file: Path
    pins: list[wheels.Pin]


def layer_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}-layer.zip")


def build(opts: Options, log: Log) -> Result:
    cfg = config.load(opts.config)  # a config error stops the build before any download
    raw = opts.config.read_bytes()
    problems = secret_problems(cfg)
    schemas = schema_files(opts.config, raw, problems)
    if problems:
        raise errors.ConfigError(str(opts.config), problems)
    pins = wheels.closure(opts.python, opts.arch)
    fetched = wheels.fetch(pins, opts.python, opts.arch, opts.cache, log)
    digest = hashlib.sha256(raw).hexdigest()
    with tempfile.TemporaryDirectory(prefix="whp-build-") as tmp:
        function_root = Path(tmp) / "function"
        deps_root = Path(tmp) / "layer" / "python" if opts.layer else function_root
        owners: dict[str, str] = {}
        _copy_project(function_root, owners)
        for pin in pins:
            _unpack(fetched[pin.name], deps_root, pin.name, owners)
        _put(function_root, CONFIG_NAME, raw, "config", owners)
        _put(function_root, DIGEST_NAME, digest.encode(), "config", owners)
        snapshot = config_snapshot.dump(cfg, raw, opts.config.parent)
        _put(function_root, config_snapshot.FILE, snapshot, "config", owners)
        for arcname, file in schemas:
            _put(function_root, arcname, file.read_bytes(), "config", owners)
        if opts.interpreter is not None:
            _compile(opts.interpreter, function_root, TASK_ROOT)
            if opts.layer:
                _compile(opts.interpreter, deps_root, LAYER_ROOT)
        opts.output.parent.mkdir(parents=True, exist_ok=True)
        comment = DIGEST_COMMENT + digest.encode("ascii")
        function = _write_zip(function_root, opts.output, "", owners, comment)
        layer = None
        if opts.layer:
            layer = _write_zip(deps_root, layer_path(opts.output), "python/", owners)
    digest_file = opts.output.with_name(opts.output.name + DIGEST_SUFFIX)
    digest_file.write_text(digest, encoding="ascii")
    return Result(function, layer, digest, digest_file, pins)


def secret_problems(cfg: config.Config) -> list[str]:
    """On AWS every secret is `aws-sm:`: the handlers resolve nothing else (docs/aws.md)."""
    refs: list[tuple[str, str | None]] = [("admin.token", cfg.admin.token)]
    for name, src in sorted(cfg.sources.items()):
        if src.secrets is not None:
            refs += [(f"sources.{name}.secrets[{i}]", ref) for i, ref in enumerate(src.secrets)]
        else:
            refs.append((f"sources.{name}.secret", src.secret))
    for name, dest in sorted(cfg.destinations.items()):
        refs.append((f"destinations.{name}.signing_secret", dest.signing_secret))
    problems = []
    need = "on AWS a secret must be aws-sm:NAME (Secrets Manager, <prefix>/NAME) or aws-sm:ARN"
    for key, ref in refs:
        if ref is None:
            continue
        kind, sep, rest = ref.partition(":")
        if sep and kind == "aws-sm":
            try:
                names.secret_id(names.prefix("x" * names.MAX_SUFFIX), rest)
            except ValueError as exc:
                problems.append(f"{key}: {exc} (with the longest environment suffix)")
        elif sep and kind in ("env", "file"):
            problems.append(f"{key}: {kind}: is resolved on the local runtime only; {need}")
        else:  # the value itself: never printed
            problems.append(f"{key}: a secret written inline; {need}")
    return problems


def schema_files(file: Path, raw: bytes, problems: list[str]) -> list[tuple[str, Path]]:
    """(path in the zip, file) of each `schema:`. The zip holds whp.yaml's bytes unchanged, so a
    schema path must stay valid beside it: relative, and inside the config's folder."""
    doc = yaml.safe_load(raw) or {}  # config.load has validated its shape
    out = []
    for name, src in sorted((doc.get("sources") or {}).items()):
        value = src.get("schema")
        if value is None:
            continue
        key = f"sources.{name}.schema"
        rel = PurePosixPath(os.path.normpath(value).replace(os.sep, "/"))
        if Path(value).is_absolute():
            problems.append(
                f"{key}: {value} is an absolute path; in the Lambda package the config sits at "
                "the root, so a schema path must be relative to the config file"
            )
        elif rel.parts[:1] == ("..",):
            problems.append(
                f"{key}: {value} is outside the config file's folder; the package holds only "
                "files under it (move the schema beside the config)"
            )
        elif not (file.parent / rel).is_file():
            problems.append(f"{key}: {value}: file not found (relative to {file.parent})")
        else:
            out.append((rel.as_posix(), file.parent / rel))
    return out


def _put(root: Path, arcname: str, data: bytes, owner: str, owners: dict[str, str]) -> None:
    target = root / arcname
    if target.exists():
        raise errors.UsageError(
            f"two files would be written at {arcname} in the package ({owner} and "
            f"{owners.get(arcname.split('/', maxsplit=1)[0], 'another')}): rename one"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    owners.setdefault(arcname.split("/", maxsplit=1)[0], owner)


def _copy_project(root: Path, owners: dict[str, str]) -> None:
    source = Path(webhook_processor.__file__).parent
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source).as_posix()
        if (
            not path.is_file()
            or "__pycache__" in path.parts
            or path.suffix == ".pyc"
            or any(fnmatch.fnmatch(rel, pattern) for pattern in LOCAL_ONLY)
        ):
            continue
        _put(root, f"webhook_processor/{rel}", path.read_bytes(), "the project", owners)


def _unpack(wheel: Path, root: Path, owner: str, owners: dict[str, str]) -> None:
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            parts = PurePosixPath(info.filename).parts
            if parts[0].endswith(".data"):
                # purelib and platlib go to site-packages, i.e. the root; scripts, headers and
                # data are nothing a handler imports
                if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
                    continue
                parts = parts[2:]
            if "__pycache__" in parts or parts[-1].endswith(".pyc"):
                continue
            if ".." in parts or PurePosixPath(info.filename).is_absolute():
                raise errors.WhpError(f"{wheel.name}: unsafe path {info.filename!r} in the wheel")
            arcname = "/".join(parts)
            if not any(fnmatch.fnmatch(arcname, pattern) for pattern in PRUNE):
                _put(root, arcname, zf.read(info), owner, owners)


def _compile(python: str, root: Path, prefix: str) -> None:
    command = [
        shutil.which(python) or python,
        "-S",  # no site: nothing of the interpreter's own packages is needed, or imported
        "-m",
        "compileall",
        "-q",
        "--invalidation-mode",
        "unchecked-hash",
        "-s",
        str(root),
        "-p",
        prefix,  # tracebacks name /var/task/..., where Lambda puts the files
        str(root),
    ]
    env = {"PYTHONHASHSEED": "0", "PATH": os.environ.get("PATH", "")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    if done.returncode != 0:
        said = (done.stdout + done.stderr).strip().splitlines()[-10:]
        raise errors.WhpError(
            f"compiling the package with {python} failed:\n  " + "\n  ".join(said)
        )


def _mode(arcname: str) -> int:
    name = arcname.rsplit("/", 1)[-1]
    shared = name.endswith(".so") or ".so." in name
    return 0o100755 if shared else 0o100644


def _write_zip(
    root: Path, path: Path, prefix: str, owners: dict[str, str], comment: bytes = b""
) -> Archive:
    entries = sorted((prefix + p.relative_to(root).as_posix(), p) for p in root.rglob("*"))
    weights: dict[str, int] = defaultdict(int)
    unzipped = 0
    partial = path.with_name(f".{path.name}.partial")
    with zipfile.ZipFile(partial, "w") as zf:
        zf.comment = comment
        for arcname, file in entries:
            if not file.is_file():
                continue
            info = zipfile.ZipInfo(arcname, date_time=EPOCH)
            info.create_system = 3  # Unix, so that the modes below are read
            info.external_attr = _mode(arcname) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            data = file.read_bytes()
            zf.writestr(info, data, compresslevel=9)
            unzipped += len(data)
        for info in zf.infolist():
            top = info.filename.removeprefix(prefix).split("/")[0]
            if top == "__pycache__":  # of a top-level module: typing_extensions.cpython-313.pyc
                top = info.filename.rsplit("/", 1)[-1].split(".")[0] + ".py"
            weights[owners.get(top, top)] += info.compress_size
    os.replace(partial, path)
    body = path.read_bytes()
    return Archive(
        path=path,
        size=len(body),
        unzipped=unzipped,
        sha256=hashlib.sha256(body).hexdigest(),
        weights=sorted(weights.items(), key=lambda kv: (-kv[1], kv[0])),
    )
