"""whp-config.json, the config `whp aws build` validates and the handlers read without pydantic:
the runtimes built from it are those built from whp.yaml, and only its own whp.yaml's bytes
unlock it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from webhook_processor import config, config_snapshot, errors, wiring
from webhook_processor.bootstrap import aws as bootstrap_aws

CONFIG = """\
storage: {retention_days: 15}
sources:
  github: {verify: github, secret: "aws-sm:github"}
  app:
    verify: standard-webhooks
    secrets: ["aws-sm:app", "aws-sm:app-next"]
    rate_limit: {per_second: 5, burst: 9}
  acme:
    verify: hmac
    header: X-Acme-Signature
    algorithm: sha512
    encoding: base64
    prefix: "v1="
    timestamp_header: X-Acme-Time
    signed_content: "{timestamp}.{body}"
    secret: aws-sm:acme
    event_type: json:kind
    idempotency_key: header:X-Acme-Delivery
    max_body_bytes: 2000000
    schema: schemas/acme.json
  calls: {verify: twilio, secret: "aws-sm:twilio", public_url: "https://example.com/t"}
destinations:
  orders:
    url: https://example.com/orders
    signing_secret: aws-sm:orders
    timeout_seconds: 7.5
    retry: {max_attempts: 4, initial_interval_seconds: 2, multiplier: 3, max_interval_seconds: 99}
    forward_headers: [X-Request-Id]
    max_concurrency: 1
    rate_limit: {per_second: 2, burst: 4}
  audit: {url: "https://example.com/audit", paused: true, proxy: none}
routes:
  - name: pushes
    destination: orders
    pattern: {source: [github], detail: {schema_: [{prefix: "x"}]}}
  - {name: all, destination: audit, pattern: {source: [{prefix: ""}]}}
"""


def _write(folder: Path) -> Path:
    (folder / "schemas").mkdir(parents=True)
    (folder / "schemas" / "acme.json").write_text('{"type": "object"}')
    (folder / "whp.yaml").write_text(CONFIG)
    return folder / "whp.yaml"


def _snapshot_in(tmp_path: Path) -> tuple[config.Config, config.Config]:
    """The config loaded where it was built, and its snapshot read in another folder (the
    package's /var/task)."""
    built = _write(tmp_path / "project")
    cfg = config.load(built)
    raw = built.read_bytes()
    snapshot = config_snapshot.dump(cfg, raw, built.parent)
    task = tmp_path / "task"
    shutil.copytree(built.parent, task)
    (task / config_snapshot.FILE).write_bytes(snapshot)
    found = config_snapshot.load(snapshot, raw, task)
    assert found is not None
    return config.load(task / "whp.yaml"), found


def test_the_snapshot_builds_the_same_runtimes_as_the_file(tmp_path: Path) -> None:
    loaded, snapshot = _snapshot_in(tmp_path)
    assert snapshot.storage.retention_days == loaded.storage.retention_days == 15
    assert snapshot.sources.keys() == loaded.sources.keys()
    for name, src in loaded.sources.items():
        got = snapshot.sources[name]
        assert wiring.source_spec(got) == wiring.source_spec(src)
        assert got.secret_refs == src.secret_refs
        assert (got.verify, got.max_body_bytes, got.public_url, got.schema_) == (
            src.verify,
            src.max_body_bytes,
            src.public_url,
            src.schema_,  # anchored at the folder it is read in, as config.py anchors it
        )
        if src.rate_limit is None:
            assert got.rate_limit is None
        else:
            assert got.rate_limit is not None
            assert (got.rate_limit.per_second, got.rate_limit.capacity) == (
                src.rate_limit.per_second,
                src.rate_limit.capacity,
            )
    assert loaded.sources["acme"].schema_ == str(tmp_path / "task" / "schemas" / "acme.json")
    for name, dest in loaded.destinations.items():
        got_dest = snapshot.destinations[name]
        assert wiring.destination(name, got_dest, b"k") == wiring.destination(name, dest, b"k")
        assert got_dest.signing_secret == dest.signing_secret
        assert vars(snapshot.egress_of(name)) == loaded.egress_of(name).model_dump()
    routes = [(r.name, r.destination, r.pattern) for r in snapshot.routes]
    assert routes == [(r.name, r.destination, r.pattern) for r in loaded.routes]
    assert [(r.name, r.uses_detail) for r in wiring.routes(snapshot)] == [
        (r.name, r.uses_detail) for r in wiring.routes(loaded)
    ]


def test_a_snapshot_of_other_bytes_is_not_used(tmp_path: Path) -> None:
    built = _write(tmp_path)
    raw = built.read_bytes()
    snapshot = config_snapshot.dump(config.load(built), raw, tmp_path)
    assert config_snapshot.load(snapshot, raw + b"\n# edited after the build\n", tmp_path) is None
    assert config_snapshot.load(b"not json", raw, tmp_path) is None
    other = json.loads(snapshot) | {"version": 99}
    assert config_snapshot.load(json.dumps(other).encode(), raw, tmp_path) is None


def test_the_handlers_read_the_snapshot_without_pydantic_or_yaml(tmp_path: Path) -> None:
    built = _write(tmp_path)
    raw = built.read_bytes()
    (tmp_path / config_snapshot.FILE).write_bytes(
        config_snapshot.dump(config.load(built), raw, tmp_path)
    )
    code = (
        "import json, sys\n"
        "from webhook_processor.bootstrap import aws\n"
        f"cfg = aws.load_config({str(built)!r})\n"
        "print(json.dumps([sorted(cfg.sources), "
        "[m for m in ('pydantic', 'yaml', 'webhook_processor.config') if m in sys.modules]]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert json.loads(out) == [["acme", "app", "calls", "github"], []]


def test_without_a_snapshot_the_file_is_validated(tmp_path: Path) -> None:
    built = _write(tmp_path)
    assert sorted(bootstrap_aws.load_config(str(built)).sources) == [
        "acme",
        "app",
        "calls",
        "github",
    ]
    (tmp_path / config_snapshot.FILE).write_bytes(b'{"version": 1, "sha256": "0"}')
    built.write_text(CONFIG.replace("retention_days: 15", "retention_days: 0"))
    with pytest.raises(errors.ConfigError, match="retention_days"):
        bootstrap_aws.load_config(str(built))  # a stale snapshot is no way around validation
