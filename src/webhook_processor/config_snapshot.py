"""A config validated at build time, for the AWS runtime's cold start: whp.yaml as config.py loads
it, written by `whp aws build` into the package as `whp-config.json`, read back without pydantic
or yaml.

config.py's models take ~0.2 s to build at import, more than the rest of a handler's setup, and a
Lambda function's config cannot change (it is in the package). So the build validates whp.yaml
(every check of `whp check`), dumps the result here with the sha256 of the file's bytes, and the
handlers read the dump instead, when that sha256 is the one of the whp.yaml beside it
(bootstrap/aws.py): a whp.yaml edited after the build is validated again, never trusted.

`load` gives plain attribute objects with what the composition root reads of a config.Config:
the same values (tests/unit/test_config_snapshot.py builds the runtimes from both and compares),
paths anchored at the folder of the whp.yaml being read, as config.py anchors them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from webhook_processor import config

FILE = "whp-config.json"
VERSION = 1
# Fields holding a path config.py made absolute against the config's folder.
PATHS = {"schema_", "ca_file", "client_cert", "client_key"}


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def dump(cfg: config.Config, raw: bytes, base: Path) -> bytes:
    """The snapshot of `cfg`, loaded from the bytes `raw` of a file in the folder `base`."""
    doc = cfg.model_dump(mode="json")
    for name, src in cfg.sources.items():
        doc["sources"][name]["secret_refs"] = list(src.secret_refs)
        if src.rate_limit is not None:
            doc["sources"][name]["rate_limit"]["capacity"] = src.rate_limit.capacity
    for name, dest in cfg.destinations.items():
        if dest.rate_limit is not None:
            doc["destinations"][name]["rate_limit"]["capacity"] = dest.rate_limit.capacity
    doc["egress_of"] = {
        name: cfg.egress_of(name).model_dump(mode="json") for name in cfg.destinations
    }
    snapshot = {"version": VERSION, "sha256": digest(raw), "config": _relative(doc, base.resolve())}
    return json.dumps(snapshot, sort_keys=True, separators=(",", ":")).encode()


def load(snapshot: bytes, raw: bytes, base: Path) -> config.Config | None:
    """The config of the snapshot, if it was made from `raw` (else None: validate the file)."""
    try:
        doc = json.loads(snapshot)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("version") != VERSION:
        return None
    if doc.get("sha256") != digest(raw):
        return None
    tree = _absolute(doc["config"], base.resolve())
    egress = {name: _namespace(e) for name, e in tree.pop("egress_of").items()}
    cfg = SimpleNamespace(
        storage=_namespace(tree["storage"]),
        server=_namespace(tree["server"]),
        admin=_namespace(tree["admin"]),
        logging=_namespace(tree["logging"]),
        delivery=_namespace(tree["delivery"]),
        sources={name: _namespace(s) for name, s in tree["sources"].items()},
        destinations={name: _namespace(d) for name, d in tree["destinations"].items()},
        routes=[_namespace(r, shallow=("pattern",)) for r in tree["routes"]],
        egress_of=egress.__getitem__,
    )
    # Not a config.Config, but the attributes of one that the composition root reads.
    return cast("config.Config", cfg)


def _namespace(value: dict[str, Any], shallow: tuple[str, ...] = ()) -> SimpleNamespace:
    return SimpleNamespace(
        **{
            k: _namespace(v) if isinstance(v, dict) and k not in shallow else v
            for k, v in value.items()
        }
    )


def _relative(value: Any, base: Path) -> Any:
    return _map_paths(value, lambda p: str(Path(p).relative_to(base)) if _under(p, base) else p)


def _absolute(value: Any, base: Path) -> Any:
    return _map_paths(value, lambda p: p if Path(p).is_absolute() else str(base / p))


def _under(path: str, base: Path) -> bool:
    return Path(path).is_absolute() and Path(path).is_relative_to(base)


def _map_paths(value: Any, change: Callable[[str], str]) -> Any:
    """`value` with each path field changed; a route's pattern is the user's data: left as is."""
    if isinstance(value, dict):
        return {
            k: v
            if k == "pattern"
            else change(v)
            if k in PATHS and isinstance(v, str)
            else _map_paths(v, change)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_map_paths(v, change) for v in value]
    return value
