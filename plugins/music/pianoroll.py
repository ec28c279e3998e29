"""A piano-roll picture of generated pieces next to real ones, saved as PNG.

A piano roll is how sequencers show MIDI: time runs left to right (in beats), pitch
bottom to top, and every note is a bar from its onset to its end on its pitch's row. Put
side by side, real and generated rolls show at a glance what the numbers of
:mod:`seqtk.plugins.music.features` summarise: whether the generator keeps to a register,
writes chords or single lines, leaves gaps, repeats figures. Louder notes are drawn more
opaque (velocity as alpha).

matplotlib is an optional dependency (``pip install 'seqtk[plot]'``). It is imported only
inside the functions that draw, with ``matplotlib.figure.Figure`` on the Agg canvas and
never ``pyplot``: no global figure state, no display needed, safe on headless servers.
Callers that must not fail for lack of it ask :func:`plotting_available` first;
:func:`write_pianoroll` itself raises ``ImportError`` with the install hint. The PNG is
written atomically (``seqtk.core.atomic``): it appears complete or not at all.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from seqtk.plugins.music.notes import Note, Piece
from seqtk.plugins.pictures import INSTALL_HINT, plotting_available, save_png, side_by_side

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plotting_available", "write_pianoroll", "note_alpha", "pitch_name", "INSTALL_HINT"]

#: Opacity of the softest note (velocity 1); velocity 127 is fully opaque.
MIN_ALPHA = 0.2
#: Height of a note's bar in semitones (a little gap between neighbouring pitches).
BAR_HEIGHT = 0.8
#: Pitch axis when no shown piece has a note: an octave either side of middle C.
DEFAULT_PITCHES = (54, 66)
_COLUMNS = (("real", "tab:blue"), ("generated", "tab:orange"))
_NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def note_alpha(velocity: int) -> float:
    """Bar opacity for a MIDI velocity: linear from :data:`MIN_ALPHA` at 1 to 1.0 at 127.

    Not ``velocity / 127``: the softest notes would vanish, and a note that is there must
    be seen.
    """
    return MIN_ALPHA + (1.0 - MIN_ALPHA) * (min(max(velocity, 1), 127) - 1) / 126


def pitch_name(pitch: int) -> str:
    """Scientific pitch name of a MIDI pitch, middle C (60) being ``C4``."""
    return f"{_NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def _visible(piece: Piece, max_beats: float) -> list[Note]:
    """The notes that start before ``max_beats`` (the part of the piece that is drawn)."""
    return [note for note in piece.notes if note.start < max_beats]


def _pitch_limits(pieces: Sequence[Piece], max_beats: float) -> tuple[float, float]:
    """One pitch axis for every panel: the shown notes' range with a semitone to spare."""
    pitches = [note.pitch for piece in pieces for note in _visible(piece, max_beats)]
    low, high = (min(pitches), max(pitches)) if pitches else DEFAULT_PITCHES
    return low - 1.0, high + 1.0


def _time_limit(pieces: Sequence[Piece], max_beats: float) -> float:
    """Right end of the time axis: the longest shown piece, cut at ``max_beats``."""
    longest = max((min(piece.length_beats, max_beats) for piece in pieces), default=0.0)
    return longest if longest > 0 else min(4.0, max_beats)


def _draw_piece(axes: "Axes", piece: Piece, max_beats: float, color: str) -> None:
    """One bar per shown note, clipped at ``max_beats``, with velocity as opacity."""
    from matplotlib.colors import to_rgba

    notes = _visible(piece, max_beats)
    if notes:
        axes.barh(
            [note.pitch for note in notes],
            [min(note.end, max_beats) - note.start for note in notes],
            left=[note.start for note in notes],
            height=BAR_HEIGHT,
            color=[to_rgba(color, note_alpha(note.velocity)) for note in notes],
            edgecolor="none",
            align="center",
        )
    cut = len(notes) < len(piece.notes) or any(note.end > max_beats for note in notes)
    label = piece.name or "unnamed"
    label += f", {len(piece.notes)} notes" if piece.notes else ", no notes"
    if cut:
        label += f" (first {max_beats:g} beats)"
    axes.text(
        0.01, 0.97, label, transform=axes.transAxes, va="top", ha="left", fontsize="x-small",
        bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 1.0},
    )


def _pitch_ticks(axes: "Axes", low: float, high: float) -> None:
    """Label every C in range (``C4`` = middle C); with none in range, the two ends."""
    ticks = [p for p in range(math.ceil(low), math.floor(high) + 1) if p % 12 == 0]
    if not ticks:
        ticks = [math.ceil(low), math.floor(high)]
    axes.set_yticks(ticks, [pitch_name(p) for p in ticks])


def _pianoroll_figure(real: Sequence[Piece], fake: Sequence[Piece], examples: int, max_beats: float) -> "Figure":
    """The grid: ``examples`` rows (fewer if neither side has that many), real left, generated right.

    The first ``examples`` pieces of each side are drawn, in order; a side with fewer
    leaves its lower panels blank. All panels share one pitch axis and one time axis.
    """
    shown = (list(real[:examples]), list(fake[:examples]))
    rows = max(len(shown[0]), len(shown[1]))
    titles = (_COLUMNS[0][0], _COLUMNS[1][0])
    figure, grid, panels = side_by_side(10.0, titles, (len(shown[0]), len(shown[1])), "beat")
    everything = shown[0] + shown[1]
    low, high = _pitch_limits(everything, max_beats)
    for column, row, axes in panels:
        _draw_piece(axes, shown[column][row], max_beats, _COLUMNS[column][1])
        axes.grid(True, axis="x", linewidth=0.4, alpha=0.5)
    for row in range(rows):
        grid[row, 0].set_ylabel("pitch")
    grid[0, 0].set_xlim(0.0, _time_limit(everything, max_beats))  # shared: every panel
    grid[0, 0].set_ylim(low, high)
    _pitch_ticks(grid[0, 0], low, high)
    return figure


def write_pianoroll(
    real: list[Piece],
    fake: list[Piece],
    path: Path,
    *,
    examples: int = 3,
    max_beats: float = 32.0,
    dpi: int = 100,
) -> Path:
    """Save piano rolls of the first ``examples`` real (left) and generated (right) pieces.

    Each panel shows one piece from beat 0 to at most ``max_beats`` (notes starting later
    are left out, notes running past are cut there; the panel's label says so), one bar
    per note with the note's velocity as opacity, on a pitch axis and a time axis shared
    by every panel so real and generated can be compared directly. The label names the
    piece and its note count. Returns ``path``, written atomically.

    Raises ``ImportError`` when matplotlib is missing (ask :func:`plotting_available`
    first to skip the picture instead), and ``ValueError`` for ``examples < 1``,
    ``max_beats <= 0``, ``dpi < 1``, or when both lists are empty.
    """
    if not plotting_available():
        raise ImportError(f"write_pianoroll needs matplotlib, which is not installed; {INSTALL_HINT}")
    if isinstance(examples, bool) or not isinstance(examples, int) or examples < 1:
        raise ValueError(f"write_pianoroll: examples must be a whole number >= 1, got {examples!r}")
    if not (isinstance(max_beats, (int, float)) and math.isfinite(max_beats) and max_beats > 0):
        raise ValueError(f"write_pianoroll: max_beats must be a finite number > 0, got {max_beats!r}")
    if isinstance(dpi, bool) or not isinstance(dpi, int) or dpi < 1:
        raise ValueError(f"write_pianoroll: dpi must be a whole number >= 1, got {dpi!r}")
    if not real and not fake:
        raise ValueError("write_pianoroll: real and fake are both empty; pass at least one piece to draw")
    figure = _pianoroll_figure(real, fake, examples, float(max_beats))
    return save_png(figure, path, dpi)
