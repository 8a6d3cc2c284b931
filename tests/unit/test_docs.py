"""The documentation lives in the repository: what it points to exists, and docs/configuration.md
covers every key the config accepts."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from webhook_processor import config

ROOT = Path(__file__).parents[2]
TEMPLATE = ROOT / "src/webhook_processor/templates/whp.yaml"
CONFIGURATION = ROOT / "docs/configuration.md"
# Everything a user reads: the README, the docs folder, the starter config and the examples.
DOCUMENTS = sorted(
    [ROOT / "README.md", TEMPLATE, *ROOT.glob("docs/**/*.md"), *ROOT.glob("examples/**/*")],
)
FILE_NAME = re.compile(r"[\w./-]+\.(?:md|ya?ml|json)\b")
LINK = re.compile(r"\]\(([^)#\s]+)")


def mentioned_files(path: Path) -> set[str]:
    """Relative file names a document points to: its Markdown links and the names of Markdown
    files it mentions in passing (`see DESIGN.md`)."""
    text = path.read_text(encoding="utf-8")
    names = {m for m in LINK.findall(text) if "://" not in m}
    names |= {m for m in FILE_NAME.findall(text) if m.endswith(".md")}
    return names


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_file_a_document_points_to_is_in_the_repository(document: Path) -> None:
    for name in mentioned_files(document):
        candidates = [document.parent / name, ROOT / name]
        assert any(c.exists() for c in candidates), f"{document.name} points to {name}"


def test_the_readme_and_the_starter_config_point_to_the_configuration_reference() -> None:
    assert "](docs/configuration.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/configuration.md" in TEMPLATE.read_text(encoding="utf-8")


def keys(model: type[BaseModel]) -> set[str]:
    """Every key of the config, through nested mappings, lists and models."""
    found = set()
    for name, field in model.model_fields.items():
        found.add(field.alias or name)
        nested = _model_in(field.annotation)
        if nested is not None:
            found |= keys(nested)
    return found


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def test_the_configuration_reference_documents_every_key_and_scheme() -> None:
    text = CONFIGURATION.read_text(encoding="utf-8")
    missing = sorted(k for k in keys(config.Config) if f"`{k}`" not in text)
    assert missing == [], f"keys not in docs/configuration.md: {missing}"
    schemes = typing.get_args(config.Scheme)
    assert [s for s in schemes if f"`{s}`" not in text] == []
