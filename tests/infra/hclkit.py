"""The Terraform module as data (python-hcl2), for tests that pin how it is written."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

OPTIONS = hcl2.SerializationOptions(
    strip_string_quotes=True, explicit_blocks=False, with_comments=False
)


@dataclass
class Module:
    root: Path
    files: dict[str, dict[str, Any]]
    texts: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, root: Path) -> Module:
        paths = sorted(root.glob("*.tf"))
        texts = {p.name: p.read_text(encoding="utf-8") for p in paths}
        files = {
            name: hcl2.loads(text, serialization_options=OPTIONS) for name, text in texts.items()
        }
        return cls(root, files, texts)

    def blocks(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        """Every top-level block of a kind (resource, data, variable, ...), with its file."""
        return [(name, b) for name, parsed in self.files.items() for b in parsed.get(kind, [])]

    def resources(self, kind: str = "resource") -> dict[str, dict[str, Any]]:
        """`type.name` -> body, for resources (or data sources with kind="data")."""
        found: dict[str, dict[str, Any]] = {}
        for _, block in self.blocks(kind):
            for rtype, named in block.items():
                for rname, body in named.items():
                    found[f"{rtype}.{rname}"] = body
        return found

    def variables(self) -> dict[str, dict[str, Any]]:
        return {k: v for _, b in self.blocks("variable") for k, v in b.items()}

    def outputs(self) -> dict[str, dict[str, Any]]:
        return {k: v for _, b in self.blocks("output") for k, v in b.items()}

    def locals(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for _, block in self.blocks("locals"):
            merged.update(block)
        return merged

    def text(self) -> str:
        return "\n".join(self.texts.values())


def unwrap(expr: str) -> str:
    """`${x}` -> `x` (python-hcl2 wraps expressions in interpolation)."""
    match = re.fullmatch(r"\$\{(.*)\}", expr, flags=re.S)
    return match.group(1) if match else expr


def first(blocks: Any) -> dict[str, Any]:
    """A nested block is a list of bodies: the first (and usually only) one."""
    assert isinstance(blocks, list), f"expected a block, got {blocks!r}"
    assert blocks, "an empty block list"
    body = blocks[0]
    assert isinstance(body, dict)
    return body
