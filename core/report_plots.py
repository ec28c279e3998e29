"""The report's curves: every logged loss and every evaluated metric over steps, runs overlaid.

One small panel per quantity (``g_loss``, ``d_loss``, a penalty, ``mmd``, ...), so that
numbers of different scales never share an axis; each run keeps one colour in every panel.
Drawn with matplotlib's Agg canvas (no pyplot state) to PNG bytes the page embeds.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any, Sequence

from seqtk.core.report import logged_number

if TYPE_CHECKING:  # pragma: no cover
    from seqtk.core.report import RunView

__all__ = ["curves_png", "quantities"]

COLUMNS = 3
#: Losses first in this order when present, then the others alphabetically.
FIRST = ("g_loss", "d_loss", "g_pretrain_loss", "d_pretrain_loss", "gp", "penalty")


def quantities(records_by_run: Sequence[Sequence[dict[str, Any]]]) -> list[str]:
    """The numeric keys logged by any run, losses first, then in the order the log first shows them."""
    found: dict[str, None] = {}
    for records in records_by_run:
        for record in records:
            for key, value in record.items():
                if key not in ("step", "phase") and logged_number(value) is not None:
                    found.setdefault(key)
    return [k for k in FIRST if k in found] + [k for k in found if k not in FIRST]


def curves_png(views: Sequence["RunView"], which: str, colours: Sequence[str]) -> bytes | None:
    """A PNG of small multiples: ``which`` is ``"training"`` (losses) or ``"evaluations"`` (metrics); None when nothing was logged."""
    from seqtk.plugins.pictures import new_figure

    series = [getattr(view, which) for view in views]
    keys = quantities(series)
    if not keys:
        return None
    # One step axis for every panel, and a dotted line where a phase begins (pretraining -> adversarial).
    last = max((int(r["step"]) for records in series for r in records), default=0)
    boundaries = sorted({int(before["step"]) for _, before in _phase_starts(views[0].training)}) if which == "training" else []
    rows = math.ceil(len(keys) / COLUMNS)
    columns = min(COLUMNS, len(keys))
    figure = new_figure(3.4 * columns, 2.4 * rows + (0.4 if len(views) > 1 else 0.0))
    grid = figure.subplots(rows, columns, squeeze=False)
    for index, key in enumerate(keys):
        axes = grid[index // columns, index % columns]
        for view, records, colour in zip(views, series, colours):
            points = [(int(r["step"]), logged_number(r.get(key))) for r in records if logged_number(r.get(key)) is not None]
            if not points:
                continue
            steps, values = zip(*points)
            marker = "o" if which == "evaluations" or len(points) < 3 else None
            axes.plot(steps, values, color=colour, marker=marker, markersize=3, linewidth=1.2, label=view.label)
        axes.set_title(key, fontsize=10)
        axes.set_xlim(0, last * 1.02 if last else 1)
        for boundary in boundaries:
            axes.axvline(boundary, color="#999999", linewidth=0.8, linestyle=":")
        axes.tick_params(labelsize=8)
        axes.grid(alpha=0.3)
    for index in range(len(keys), rows * columns):
        grid[index // columns, index % columns].set_axis_off()
    for axes in grid[-1]:
        axes.set_xlabel("step", fontsize=8)
    if len(views) > 1:
        shown: dict[str, Any] = {}
        for axes in grid.flat:  # a run missing from the first panel still gets its legend entry
            for handle, label in zip(*axes.get_legend_handles_labels()):
                shown.setdefault(label, handle)
        handles, labels = list(shown.values()), list(shown)
        figure.legend(handles, labels, loc="outside lower center", ncols=min(len(views), 4), fontsize=9)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()


def _phase_starts(records: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(first record of a phase, last record of the phase before) at each change of phase."""
    return [(r, p) for p, r in zip(records, records[1:]) if r.get("phase") != p.get("phase")]
