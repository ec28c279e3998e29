"""Tests of the piano-roll picture: one bar per note, shared axes, PNG written atomically."""

from __future__ import annotations

import sys

import pytest

from seqtk.plugins.music import pianoroll
from seqtk.plugins.music.notes import Note, Piece
from seqtk.plugins.music.pianoroll import note_alpha, pitch_name, plotting_available, write_pianoroll

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DPI = 30  # small files, fast tests


def piece(name, *notes):
    """A piece from ``(start, duration, pitch, velocity)`` tuples."""
    return Piece([Note(*n) for n in notes], name=name)


REAL = [
    piece("bach-1", (0, 1, 60, 100), (0, 1, 64, 100), (0, 1, 67, 100), (1, 2, 62, 80)),
    piece("bach-2", (0, 4, 55, 64)),
    piece("bach-3", (0, 1, 72, 127), (1, 1, 71, 1)),
]
FAKE = [
    piece("fake-1", (0, 0.5, 48, 64), (0.5, 0.5, 50, 64), (2, 1, 52, 64)),
    piece("fake-2"),  # silence: the panel says so
]


def bars(axes):
    return list(axes.patches)


def grid_of(figure, rows):
    axes = figure.axes
    assert len(axes) == 2 * rows
    return [[axes[2 * r], axes[2 * r + 1]] for r in range(rows)]  # subplots are added row by row


def labels(axes):
    return [t.get_text() for t in axes.texts]


def test_one_bar_per_note_with_onset_duration_pitch_and_velocity_alpha():
    figure = pianoroll._pianoroll_figure(REAL, FAKE, examples=3, max_beats=32.0)
    grid = grid_of(figure, 3)
    for row, real_piece in enumerate(REAL):
        drawn = bars(grid[row][0])
        assert len(drawn) == len(real_piece.notes)
        for bar, note in zip(drawn, real_piece.notes):
            assert bar.get_x() == note.start and bar.get_width() == note.duration
            assert bar.get_y() + bar.get_height() / 2 == pytest.approx(note.pitch)
            assert bar.get_facecolor()[3] == pytest.approx(note_alpha(note.velocity))
    assert len(bars(grid[0][1])) == 3 and len(bars(grid[1][1])) == 0
    assert not grid[2][1].axison  # no third generated piece: blank panel
    assert labels(grid[0][0]) == ["bach-1, 4 notes"] and labels(grid[1][1]) == ["fake-2, no notes"]
    assert [grid[0][0].get_title(), grid[0][1].get_title()] == ["real", "generated"]


def test_velocity_alpha_runs_from_min_alpha_to_opaque():
    assert note_alpha(127) == 1.0 and note_alpha(1) == pytest.approx(pianoroll.MIN_ALPHA)
    assert note_alpha(64) == pytest.approx(0.2 + 0.8 * 63 / 126)
    bach_3 = bars(pianoroll._pianoroll_figure(REAL[2:], [], examples=1, max_beats=8.0).axes[0])
    assert [b.get_facecolor()[3] for b in bach_3] == [pytest.approx(1.0), pytest.approx(0.2)]


def test_every_panel_shares_the_pitch_and_time_axes():
    figure = pianoroll._pianoroll_figure(REAL, FAKE, examples=3, max_beats=32.0)
    shown = [a for a in figure.axes if a.axison]
    assert {a.get_ylim() for a in shown} == {(47.0, 73.0)}  # lowest 48, highest 72, a semitone to spare
    assert {a.get_xlim() for a in shown} == {(0.0, 4.0)}  # the longest piece lasts 4 beats
    assert [t.get_text() for t in shown[0].get_yticklabels()] == ["C3", "C4", "C5"]
    assert pitch_name(60) == "C4" and pitch_name(69) == "A4" and pitch_name(0) == "C-1"


def test_examples_limits_rows_and_max_beats_cuts_time():
    long = piece("long", (0, 1, 60, 64), (3, 3, 62, 64), (5.5, 1, 64, 64), (6, 1, 65, 64))
    figure = pianoroll._pianoroll_figure([long, REAL[0]], [long], examples=1, max_beats=5.0)
    real_axes, fake_axes = grid_of(figure, 1)[0]
    drawn = bars(real_axes)
    assert len(drawn) == 2  # the notes at 5.5 and 6 start past the cut
    assert drawn[1].get_x() == 3 and drawn[1].get_width() == 2  # 3..6 clipped to 3..5
    assert labels(real_axes) == ["long, 4 notes (first 5 beats)"]
    assert real_axes.get_xlim() == (0.0, 5.0) and real_axes.get_ylim() == (59.0, 63.0)
    assert len(bars(fake_axes)) == 2


def test_write_pianoroll_writes_a_png_of_the_expected_size_atomically(tmp_path):
    from matplotlib.image import imread

    target = tmp_path / "pictures" / "pianoroll.png"
    assert write_pianoroll(REAL, FAKE, target, examples=2, dpi=DPI) == target
    assert target.read_bytes()[:8] == PNG_SIGNATURE
    image = imread(target)
    assert image.shape == (round((1.8 * 2 + 0.6) * DPI), 10 * DPI, 4)  # 4.2 x 10 inches
    assert image[..., :3].min() < 1.0  # something was drawn
    first = target.read_bytes()
    write_pianoroll(REAL, FAKE, target, examples=1, dpi=DPI)  # overwrite in place
    assert target.read_bytes() != first and imread(target).shape == (round(2.4 * DPI), 10 * DPI, 4)
    assert [p.name for p in target.parent.iterdir()] == ["pianoroll.png"]  # no temporary left


def test_one_empty_side_still_draws(tmp_path):
    target = write_pianoroll([], FAKE, tmp_path / "fake-only.png", dpi=DPI)
    assert target.read_bytes()[:8] == PNG_SIGNATURE
    silent = pianoroll._pianoroll_figure([Piece([], name="rest")], [], examples=3, max_beats=32.0)
    assert silent.axes[0].get_ylim() == (53.0, 67.0)  # no notes anywhere: around middle C


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(examples=0), "write_pianoroll: examples must be a whole number >= 1, got 0"),
        (dict(max_beats=0.0), "write_pianoroll: max_beats must be a finite number > 0, got 0.0"),
        (dict(max_beats=float("inf")), "write_pianoroll: max_beats must be a finite number > 0, got inf"),
        (dict(dpi=0), "write_pianoroll: dpi must be a whole number >= 1, got 0"),
        (dict(real=[], fake=[]), "write_pianoroll: real and fake are both empty; pass at least one piece to draw"),
    ],
)
def test_bad_arguments_are_rejected_before_writing(tmp_path, kwargs, message):
    args = dict(real=REAL, fake=FAKE)
    args.update({k: kwargs.pop(k) for k in ("real", "fake") if k in kwargs})
    with pytest.raises(ValueError) as caught:
        write_pianoroll(args["real"], args["fake"], tmp_path / "x.png", **kwargs)
    assert str(caught.value) == message
    assert list(tmp_path.iterdir()) == []


def test_without_matplotlib_it_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    assert plotting_available() is False
    with pytest.raises(ImportError, match=r"write_pianoroll needs matplotlib.*pip install 'seqtk\[plot\]'"):
        write_pianoroll(REAL, FAKE, tmp_path / "p.png")
    assert list(tmp_path.iterdir()) == []


def test_plotting_available_when_installed():
    assert plotting_available() is True
