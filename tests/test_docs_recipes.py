"""The recipe reference and every recipe in the docs and in recipes/ stay true.

- docs/recipes.md's reference table lists exactly the keys of the schema
  (``seqtk.core.schema.reference_rows``), with the schema's defaults and documentation.
- Every ```yaml block in docs/*.md that starts with ``seqtk: 1`` is a valid recipe.
- Every recipes/*.yaml is a valid recipe, and the annotated quickstart in
  docs/recipes.md is the same recipe as recipes/quickstart.yaml.

(Python blocks in the docs are run by test_docs_examples.py.)
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from seqtk.core.plugins import PluginHost
from seqtk.core.recipe import load_recipe
from seqtk.core.schema import reference_rows

from docblocks import REPO, Block, blocks

DOCS = REPO / "docs"
RECIPES_MD = DOCS / "recipes.md"
RECIPE_FILES = sorted((REPO / "recipes").glob("*.yaml"))
TABLE_HEADER = "| key | default | meaning |"

def recipe_blocks(path: Path) -> list[Block]:
    return [block for block in blocks(path, "yaml") if block.code.lstrip().startswith("seqtk: 1")]


ALL_BLOCKS = [block for path in sorted(DOCS.glob("*.md")) for block in recipe_blocks(path)]


# --------------------------------------------------------------------------- the reference table


def table_rows() -> dict[str, tuple[str, str]]:
    """key path -> (default cell, meaning cell) from docs/recipes.md's reference table."""
    lines = RECIPES_MD.read_text(encoding="utf-8").splitlines()
    assert TABLE_HEADER in lines, f"docs/recipes.md has no table headed {TABLE_HEADER!r}"
    start = lines.index(TABLE_HEADER) + 2  # skip the header and the |---| line
    rows: dict[str, tuple[str, str]] = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        assert len(cells) == 3, f"docs/recipes.md: a reference row without 3 cells: {line!r}"
        key, default, meaning = cells
        assert key.startswith("`") and key.endswith("`"), f"docs/recipes.md: key not in backticks: {line!r}"
        key = key.strip("`")
        assert key not in rows, f"docs/recipes.md: {key} is listed twice"
        rows[key] = (default, meaning)
    return rows


def _schema_default(text: str) -> Any:
    if text in ("", "required"):
        return text
    if text == "null":
        return None
    return _listify(ast.literal_eval(text))


def _doc_default(cell: str) -> Any:
    if cell in ("", "required"):
        return cell
    assert cell.startswith("`") and cell.endswith("`"), f"a default must be `code`: {cell!r}"
    return _listify(yaml.safe_load(cell.strip("`")))


def _listify(value: Any) -> Any:
    return [_listify(v) for v in value] if isinstance(value, (list, tuple)) else value


def test_the_reference_lists_every_key_of_the_schema() -> None:
    documented = table_rows()
    missing = [key for key, _, _ in reference_rows() if key not in documented]
    assert not missing, f"docs/recipes.md's reference table lacks: {', '.join(missing)}"


def test_the_reference_lists_no_key_the_schema_lacks() -> None:
    known = {key for key, _, _ in reference_rows()}
    stale = [key for key in table_rows() if key not in known]
    assert not stale, f"docs/recipes.md documents keys that seqtk does not read: {', '.join(stale)}"


@pytest.mark.parametrize(("key", "default", "doc"), [pytest.param(*row, id=row[0]) for row in reference_rows()])
def test_the_reference_row_matches_the_schema(key: str, default: str, doc: str) -> None:
    rows = table_rows()
    if key not in rows:
        pytest.skip("reported by test_the_reference_lists_every_key_of_the_schema")
    cell, meaning = rows[key]
    assert _doc_default(cell) == _schema_default(default), f"{key}: docs say default {cell!r}, the schema {default!r}"
    assert doc in meaning, f"{key}: the meaning should include the schema's doc {doc!r}; docs say {meaning!r}"


def test_the_table_parser_reads_rows() -> None:
    rows = table_rows()
    assert rows["train.batch_size"][0] == "`64`"
    assert rows["train"][0] == ""
    assert _doc_default("`[0.5, 0.999]`") == _schema_default("(0.5, 0.999)")
    assert _doc_default("`runs/{name}`") == _schema_default("'runs/{name}'")


# --------------------------------------------------------------------------- recipes in the docs


def test_the_recipe_reference_has_recipes() -> None:
    assert len(recipe_blocks(RECIPES_MD)) >= 2


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=lambda b: b.where)
def test_recipe_blocks_validate(block: Block, tmp_path: Path, host: PluginHost) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text(block.code, encoding="utf-8")
    try:
        load_recipe(path, host=host)
    except Exception as exc:  # name the block, not the temporary file
        raise AssertionError(f"the recipe at {block.where} is invalid:\n{exc}") from None


# --------------------------------------------------------------------------- recipes/


def test_there_are_recipes() -> None:
    assert any(path.name == "quickstart.yaml" for path in RECIPE_FILES)


@pytest.mark.parametrize("path", RECIPE_FILES, ids=lambda p: p.name)
def test_recipe_files_validate(path: Path, host: PluginHost) -> None:
    recipe = load_recipe(path, host=host)
    assert recipe.name


def test_the_annotated_quickstart_is_the_quickstart(tmp_path: Path, host: PluginHost) -> None:
    [block] = [b for b in recipe_blocks(RECIPES_MD) if re.search(r"^name: quickstart\b", b.code, re.MULTILINE)]
    path = tmp_path / "quickstart.yaml"
    path.write_text(block.code, encoding="utf-8")
    documented = load_recipe(path, host=host).to_dict()
    actual = load_recipe(REPO / "recipes" / "quickstart.yaml", host=host).to_dict()
    assert documented == actual, f"{block.where} no longer matches recipes/quickstart.yaml"
