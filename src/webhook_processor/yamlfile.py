"""YAML's safe loader, except that a key given twice in one mapping is an error."""

from __future__ import annotations

import typing
from typing import Any

import yaml

from webhook_processor import problems

YAMLError = yaml.YAMLError


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error. PyYAML
    keeps the last one silently: a second `github:` under `sources:` would replace the first,
    its verification scheme included. (Terraform's yamldecode refuses such a file too.)"""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> Any:
    first_line: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor`: its keys may be overridden
            continue
        key = loader.construct_object(key_node)
        if not isinstance(key, typing.Hashable):  # construct_mapping says what is wrong
            continue
        if key in first_line:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first given on line {first_line[key] + 1})",
                key_node.start_mark,
            )
        first_line[key] = key_node.start_mark.line
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _mapping_without_duplicates,
)


def load(text: str) -> Any:
    """The document in `text`; YAMLError when it is not YAML or repeats a key."""
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader


def describe(exc: yaml.YAMLError) -> str:
    """`line L, column C: invalid YAML: <problem>`, bounded."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    problem = problems.bounded(getattr(exc, "problem", None) or str(exc), 200)
    return f"{where}invalid YAML: {problem}"
