"""What ``seqtk report`` shows of a time-series run: the PCA and grid pictures its evaluations write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqtk.core.report_items import Note, newest_samples, sample_pictures

__all__ = ["report_samples"]

TITLES = {
    "grid": "Real series (left) beside generated ones (right)",
    "pca": "PCA of real and generated series",
}


def report_samples(run_dir: Path) -> list[Any]:
    """The newest evaluation's grid and PCA pictures, or why there are none."""
    items = sample_pictures(run_dir, TITLES)
    if newest_samples(run_dir) is not None and not any(getattr(item, "data", None) for item in items):
        items.append(Note("A run writes these pictures when matplotlib is installed (pip install 'seqtk[plot]') and the domain's plots parameter is true."))
    return items
