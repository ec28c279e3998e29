"""The examples in docs/*.md are tested, so the documentation cannot drift from the code.

- Every ```python block runs; the blocks of one file run in order in one namespace (a
  later block may use what an earlier one defined). The docs' worked example is the
  package in examples/seqtk-ralsgan, which is put on sys.path.
- Every ```yaml block that starts with ``seqtk-registry:`` parses as a registry fragment.
- Every hook in seqtk/core/hookspecs.py is documented in docs/plugins.md.

(Recipe blocks, those starting with ``seqtk: 1``, are validated by the recipe tests.)
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
import yaml

from seqtk.core import hookspecs
from seqtk.core.registry import parse_fragment

from docblocks import REPO, Block, blocks

DOCS = REPO / "docs"
EXAMPLE = REPO / "examples" / "seqtk-ralsgan"
DOC_FILES = sorted(DOCS.glob("*.md"))

def test_the_docs_exist() -> None:
    names = {p.name for p in DOC_FILES}
    assert {"plugins.md", "objectives.md"} <= names
    assert blocks(DOCS / "plugins.md", "python") and blocks(DOCS / "objectives.md", "python")


def test_fence_parser_finds_blocks_and_their_lines(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# t\n\n```python\nx = 1\n```\n\ntext\n\n```yaml\na: 1\n```\n```\nplain\n```\n", encoding="utf-8")
    (python,) = blocks(page, "python")
    assert (python.code, python.line) == ("x = 1\n", 4)
    (block,) = blocks(page, "yaml")
    assert (block.code, block.line) == ("a: 1\n", 10)


@pytest.mark.parametrize("path", [p for p in DOC_FILES if blocks(p, "python")], ids=lambda p: p.name)
def test_python_blocks_run(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.chdir(tmp_path)  # whatever an example writes lands here
    # A real module, so that classes and dataclasses defined in the docs behave normally.
    module = types.ModuleType(f"docs_{path.stem}")
    module.__file__ = str(path)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for block in blocks(path, "python"):
        # Pad with blank lines so that a traceback points at the line in the Markdown file.
        code = compile("\n" * (block.line - 1) + block.code, str(path), "exec")
        try:
            exec(code, module.__dict__)
        except Exception as exc:
            raise AssertionError(f"the python block at {block.where} failed: {type(exc).__name__}: {exc}") from exc


def _fragments() -> list[Block]:
    return [b for p in DOC_FILES for b in blocks(p, "yaml") if b.code.lstrip().startswith("seqtk-registry:")]


def test_some_fragments_are_documented() -> None:
    assert {b.path.name for b in _fragments()} >= {"plugins.md", "objectives.md"}


@pytest.mark.parametrize("block", _fragments(), ids=lambda b: b.where)
def test_registry_fragments_parse(block: Block) -> None:
    document = yaml.safe_load(block.code)
    entries, presets = parse_fragment(document, plugin="docs", where=block.where)
    assert entries or presets, f"{block.where}: the fragment registers nothing"


def test_every_hook_is_documented() -> None:
    text = (DOCS / "plugins.md").read_text(encoding="utf-8")
    hooks = sorted(name for name in vars(hookspecs) if name.startswith("seqtk_"))
    assert hooks, "no hooks found in seqtk.core.hookspecs"
    missing = [name for name in hooks if f"### `{name}(" not in text]
    assert not missing, f"docs/plugins.md has no section for: {', '.join(missing)}"
