"""What every plugin that draws a PNG shares: matplotlib as an optional dependency.

matplotlib is the ``plot`` extra (``pip install 'seqtk[plot]'``): training never needs
it, so it is imported only inside these functions. Figures use the Agg canvas directly,
never pyplot: no global figure state, no display, safe in threads and on servers. PNGs
are written atomically, so a picture is complete or absent.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from seqtk.core.atomic import atomic_open

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.figure import Figure

__all__ = ["INSTALL_HINT", "plotting_available", "no_pictures", "new_figure", "save_png"]

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
        warnings.warn(f"seqtk: matplotlib is not installed, so no pictures are written; {INSTALL_HINT}", stacklevel=3)
    return []


def new_figure(width: float, height: float) -> "Figure":
    """A pyplot-free figure of ``width`` x ``height`` inches on the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_png(figure: "Figure", path: Path, dpi: int) -> Path:
    """Write ``figure`` to ``path`` as a PNG, atomically; return the path."""
    path = Path(path)
    with atomic_open(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=dpi)
    return path
