"""What a domain hands ``seqtk report`` to show its samples: tables, pictures, audio, notes.

The report's HTML assembly (``seqtk.core.report_html``) knows these four kinds and nothing
about any domain; a domain knows its data and nothing about HTML. ``Domain.report_samples``
returns a list of them, in the order the page shows them. Plain data: bytes, not files, so
a page holds everything it shows (no link back to the run directory).

This module imports neither torch nor any plugin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence, Union

__all__ = ["Table", "Picture", "Audio", "Note", "ReportItem", "newest_samples", "sample_pictures"]

#: Picture files a report embeds, by suffix.
PICTURE_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


@dataclass(frozen=True)
class Table:
    """Rows of cells under column headings; cells are shown as text (numbers formatted by the page)."""

    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[object]]
    note: str = ""


@dataclass(frozen=True)
class Picture:
    """An image file's bytes (PNG, SVG or JPEG, named by ``mime``)."""

    title: str
    data: bytes = field(repr=False)
    mime: str = "image/png"
    note: str = ""


@dataclass(frozen=True)
class Audio:
    """A sound file's bytes (``audio/wav`` plays in every browser)."""

    title: str
    data: bytes = field(repr=False)
    mime: str = "audio/wav"
    note: str = ""


@dataclass(frozen=True)
class Note:
    """A sentence for the reader (what is missing, where a number comes from)."""

    text: str


ReportItem = Union[Table, Picture, Audio, Note]

_STEP = re.compile(r"^step-(\d+)")


def newest_samples(run_dir: Path) -> tuple[int, list[Path]] | None:
    """The newest evaluation's step and its entries in ``samples/`` (files and folders named ``step-N...``), or None."""
    folder = Path(run_dir) / "samples"
    if not folder.is_dir():
        return None
    by_step: dict[int, list[Path]] = {}
    for path in folder.iterdir():
        match = _STEP.match(path.name)
        if match and not path.name.startswith(".") and ".tmp" not in path.name:
            by_step.setdefault(int(match.group(1)), []).append(path)
    if not by_step:
        return None
    step = max(by_step)
    return step, sorted(by_step[step])


def sample_pictures(run_dir: Path, titles: dict[str, str] | None = None) -> list[ReportItem]:
    """The pictures of the newest evaluation in ``samples/``, each titled by ``titles[suffix]`` when given.

    ``titles`` maps the part of a file name after ``step-N-`` (``"pca"``, ``"grid"``) to a
    title; other pictures are titled by their file name. The default of
    ``Domain.report_samples`` and a building block for domains' own.
    """
    found = newest_samples(run_dir)
    if found is None:
        return [Note("No samples yet: the run has not finished an evaluation that writes them.")]
    step, paths = found
    items: list[ReportItem] = []
    for path in paths:
        mime = PICTURE_TYPES.get(path.suffix.lower())
        if mime is None or not path.is_file():
            continue
        kind = path.stem.split("-", 2)[-1] if path.stem.count("-") >= 2 else path.stem
        title = (titles or {}).get(kind, path.name)
        items.append(Picture(f"{title} (step {step})", path.read_bytes(), mime, note=f"samples/{path.name}"))
    if not items:
        items.append(Note(f"The evaluation of step {step} wrote no pictures (samples/: {', '.join(p.name for p in paths)})."))
    return items
