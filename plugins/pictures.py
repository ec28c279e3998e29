"""What every plugin that draws a PNG shares: matplotlib as an optional dependency.

matplotlib is the ``plot`` extra (``pip install 'seqtk[plot]'``): training never needs
it, so it is imported only inside these functions. Figures use the Agg canvas directly,
never pyplot: no global figure state, no display, safe in threads and on servers. PNGs
are written atomically, so a picture is complete or absent.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqtk.core.atomic import atomic_open

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["INSTALL_HINT", "plotting_available", "no_pictures", "new_figure", "side_by_side", "save_png"]

INSTALL_HINT = "install it with `pip install 'seqtk[plot]'` (or `pip install matplotlib`)"

#: Set once :func:`no_pictures` has warned that matplotlib is missing.
_MISSING_WARNED = False


def plotting_available() -> bool:
    """True when matplotlib can be imported (the ``seqtk[plot]`` extra is installed)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def no_pictures() -> list[Path]:
    """Warn once per process that matplotlib is missing; return the empty list of pictures written.

    Every domain that draws calls this instead of drawing, so a run without the ``plot``
    extra says so once, whichever domains it uses, and never fails for a picture.
    """
    global _MISSING_WARNED
    if not _MISSING_WARNED:
        _MISSING_WARNED = True
        warnings.warn(f"matplotlib is not installed, so no pictures are written; {INSTALL_HINT}", stacklevel=3)
    return []


def new_figure(width: float, height: float) -> "Figure":
    """A pyplot-free figure of ``width`` x ``height`` inches on the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def side_by_side(
    width: float, titles: tuple[str, str], counts: tuple[int, int], xlabel: str
) -> tuple["Figure", Any, list[tuple[int, int, "Axes"]]]:
    """Real examples in the left column, generated ones in the right, one panel per example.

    Every picture that compares the two sides uses this layout, so they read alike: the
    columns share both axes, each column has its title on top and ``xlabel`` below, and a
    column with fewer examples than the other leaves its lower panels blank. Returns the
    figure, the ``[rows, 2]`` grid of axes, and ``(column, row, axes)`` for each panel to draw.
    """
    rows = max(*counts, 1)
    figure = new_figure(width, 1.8 * rows + 0.6)
    grid = figure.subplots(rows, 2, sharex=True, sharey=True, squeeze=False)
    panels = []
    for column, (title, count) in enumerate(zip(titles, counts)):
        grid[0, column].set_title(title)
        grid[-1, column].set_xlabel(xlabel)
        for row in range(rows):
            if row < count:
                panels.append((column, row, grid[row, column]))
            else:
                grid[row, column].set_axis_off()
    return figure, grid, panels


def save_png(figure: "Figure", path: Path, dpi: int) -> Path:
    """Write ``figure`` to ``path`` as a PNG, atomically; return the path."""
    path = Path(path)
    with atomic_open(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=dpi)
    return path
