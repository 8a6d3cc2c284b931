"""The module README's inputs and outputs tables against variables.tf and outputs.tf (no docs
generator is reachable offline, so a test keeps them from drifting)."""

from __future__ import annotations

import re

from tests.infra import hclkit, tfkit


def table(section: str) -> list[list[str]]:
    readme = (tfkit.MODULE / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"^## {section}\n(.*?)(?=^## |\Z)", readme, re.S | re.M)
    assert match, f"README.md has no '## {section}' section"
    rows = [line for line in match.group(1).splitlines() if line.startswith("| `")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]


def test_inputs_table_lists_every_variable_in_order(module: hclkit.Module) -> None:
    names = [row[0].strip("`") for row in table("Inputs")]
    assert names == list(module.variables())


def test_inputs_table_says_which_are_required_and_their_scalar_defaults(
    module: hclkit.Module,
) -> None:
    for row in table("Inputs"):
        name, _, _, default = row
        variable = module.variables()[name.strip("`")]
        if "default" not in variable:
            assert default == "required", name
            continue
        value = variable["default"]
        if value is None:
            assert default == "`null`", name
        elif isinstance(value, bool):
            assert default == f"`{str(value).lower()}`", name
        elif isinstance(value, int | float):
            assert default == f"`{value}`", name
        elif isinstance(value, str):
            assert default == f'`"{value}"`', name
        else:
            assert default != "required", name


def test_inputs_table_types_match(module: hclkit.Module) -> None:
    for row in table("Inputs"):
        name, _, readme_type, _ = row
        declared = hclkit.unwrap(re.sub(r"\s+", "", module.variables()[name.strip("`")]["type"]))
        expected = declared.split("(")[0] if declared.startswith("object(") else declared
        assert readme_type.strip("`") == expected, name


def test_outputs_table_lists_every_output_in_order(module: hclkit.Module) -> None:
    assert [row[0].strip("`") for row in table("Outputs")] == list(module.outputs())


def test_the_example_passes_every_output_through(
    module: hclkit.Module, example: hclkit.Module
) -> None:
    assert list(example.outputs()) == list(module.outputs())
    for name, output in example.outputs().items():
        assert output["value"] == f"${{module.whp.{name}}}"
