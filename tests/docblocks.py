"""Fenced code blocks of the Markdown docs, with the line each starts on (for error messages)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_FENCE = re.compile(r"^```[ \t]*([\w+-]*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Block:
    path: Path
    language: str
    code: str
    line: int  # line of the block's first code line in the Markdown file

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def blocks(path: Path, language: str) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        if match.group(1).lower() == language:
            line = text.count("\n", 0, match.start(2)) + 1
            found.append(Block(path, language, match.group(2), line))
    return found
