"""MIDI in and out: beats from ticks, note pairing rules, clear errors, atomic writes.

Every file is built here with mido from hand-placed events (absolute ticks), so the
expected notes are known exactly; written files are checked twice, by ``read_midi`` and
by parsing them with mido directly.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import mido
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqtk.core.errors import DataError
from seqtk.plugins.music import midi as midi_module
from seqtk.plugins.music.midi import read_midi, read_midi_folder, write_midi
from seqtk.plugins.music.notes import Note, Piece

TPB = 480


def on(note: int, velocity: int = 64, channel: int = 0) -> mido.Message:
    return mido.Message("note_on", note=note, velocity=velocity, channel=channel)


def off(note: int, channel: int = 0) -> mido.Message:
    return mido.Message("note_off", note=note, velocity=0, channel=channel)


def tempo(bpm: float) -> mido.MetaMessage:
    return mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))


def signature(numerator: int, denominator: int) -> mido.MetaMessage:
    return mido.MetaMessage("time_signature", numerator=numerator, denominator=denominator)


def make_midi(path: Path, *tracks: list[tuple[int, object]], ticks_per_beat: int = TPB) -> Path:
    """Write a type-1 file whose tracks are lists of (absolute tick, message), sorted here by tick."""
    midi = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    for events in tracks:
        track = mido.MidiTrack()
        previous = 0
        for tick, message in sorted(events, key=lambda e: e[0]):  # stable: same-tick order kept
            track.append(message.copy(time=tick - previous))
            previous = tick
        midi.tracks.append(track)
    midi.save(str(path))
    return path


def absolute_events(path: Path) -> list[tuple[int, str, dict]]:
    """Every message of a file as (absolute tick, type, fields), read by mido alone."""
    out = []
    for track in mido.MidiFile(str(path)).tracks:
        tick = 0
        for message in track:
            tick += message.time
            fields = {k: v for k, v in message.dict().items() if k not in ("type", "time")}
            out.append((tick, message.type, fields))
    return out


# --------------------------------------------------------------------------- round trip


def test_written_piece_reads_back_exactly_and_mido_sees_the_expected_events(tmp_path: Path) -> None:
    notes = [
        Note(0.0, 1.0, 60, 100),
        Note(0.0, 0.5, 64, 90),  # a chord with the note above
        Note(1.0, 1 / TPB, 60, 80),  # the same pitch again right where the first ends; one tick long
        Note(7 / TPB, 301 / TPB, 67, 1),
        Note(2.5, 1.25, 127, 127),
    ]
    piece = Piece(notes, tempo_bpm=90.0, beats_per_bar=3.5, name="tune")
    path = write_midi(piece, tmp_path / "out" / "tune.mid", program=5)
    assert path == tmp_path / "out" / "tune.mid"

    back = read_midi(path)
    assert back.notes == piece.notes
    assert back.tempo_bpm == 90.0  # stored as 666667 microseconds, rounded back to 0.01 bpm
    assert back.beats_per_bar == 3.5
    assert back.name == "tune.mid"

    midi = mido.MidiFile(str(path))
    assert (midi.type, len(midi.tracks), midi.ticks_per_beat) == (0, 1, TPB)
    assert absolute_events(path) == [
        (0, "set_tempo", {"tempo": 666667}),
        (0, "time_signature", {"numerator": 7, "denominator": 8, "clocks_per_click": 24, "notated_32nd_notes_per_beat": 8}),
        (0, "program_change", {"channel": 0, "program": 5}),
        (0, "note_on", {"channel": 0, "note": 60, "velocity": 100}),
        (0, "note_on", {"channel": 0, "note": 64, "velocity": 90}),
        (7, "note_on", {"channel": 0, "note": 67, "velocity": 1}),
        (240, "note_off", {"channel": 0, "note": 64, "velocity": 0}),
        (308, "note_off", {"channel": 0, "note": 67, "velocity": 0}),
        (480, "note_off", {"channel": 0, "note": 60, "velocity": 0}),  # off before the on at the same tick
        (480, "note_on", {"channel": 0, "note": 60, "velocity": 80}),
        (481, "note_off", {"channel": 0, "note": 60, "velocity": 0}),
        (1200, "note_on", {"channel": 0, "note": 127, "velocity": 127}),
        (1800, "note_off", {"channel": 0, "note": 127, "velocity": 0}),
        (1800, "end_of_track", {}),
    ]


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 5000), st.integers(1, 2000), st.integers(1, 127)),
        min_size=1,
        max_size=12,
    ),
    st.sampled_from([24, 96, 480, 960]),
    st.sampled_from([1.0, 2.0, 3.0, 4.0, 1.5, 2.75]),
    st.sampled_from([20.0, 60.0, 90.0, 120.0, 133.33, 400.0]),
)
def test_round_trip_is_exact_on_the_tick_grid(
    tmp_path_factory: pytest.TempPathFactory, spans: list, ticks_per_beat: int, beats_per_bar: float, bpm: float
) -> None:
    # one note per pitch, so no same-pitch overlap (which MIDI cannot express)
    notes = [
        Note(start / ticks_per_beat, length / ticks_per_beat, pitch, velocity)
        for pitch, (start, length, velocity) in enumerate(spans, start=40)
    ]
    piece = Piece(notes, tempo_bpm=bpm, beats_per_bar=beats_per_bar)
    path = write_midi(piece, tmp_path_factory.mktemp("rt") / "p.mid", ticks_per_beat=ticks_per_beat)
    back = read_midi(path)
    assert back.notes == piece.notes
    assert (back.tempo_bpm, back.beats_per_bar) == (bpm, beats_per_bar)


def test_times_are_rounded_to_ticks_and_a_tiny_note_keeps_one_tick(tmp_path: Path) -> None:
    piece = Piece([Note(0.26, 0.001, 60), Note(0.74, 0.5, 62)])
    back = read_midi(write_midi(piece, tmp_path / "r.mid", ticks_per_beat=10))
    # 0.26 * 10 = 2.6 -> tick 3; 0.001 * 10 rounds to 0 -> kept as 1 tick; 0.74 -> 7, 0.5 -> 5 ticks
    assert back.notes == [Note(0.3, 0.1, 60), Note(0.7, 0.5, 62)]


@pytest.mark.parametrize(
    ("beats_per_bar", "expected"), [(4.0, (4, 4)), (3.0, (3, 4)), (6.0, (6, 4)), (1.5, (3, 8)), (2.25, (9, 16))]
)
def test_time_signature_written_for_beats_per_bar(tmp_path: Path, beats_per_bar: float, expected: tuple) -> None:
    path = write_midi(Piece([Note(0, 1, 60)], beats_per_bar=beats_per_bar), tmp_path / "ts.mid")
    (signature_event,) = [e for e in absolute_events(path) if e[1] == "time_signature"]
    assert (signature_event[2]["numerator"], signature_event[2]["denominator"]) == expected


@pytest.mark.parametrize(
    ("kwargs", "piece", "message"),
    [
        ({"ticks_per_beat": 0}, Piece([Note(0, 1, 60)]), "write_midi: ticks_per_beat must be an integer in 1..32767, got 0"),
        ({"program": 128}, Piece([Note(0, 1, 60)]), "write_midi: program must be a General MIDI program number in 0..127, got 128"),
        ({}, Piece([Note(0, 1, 60)], beats_per_bar=1 / 3, name="odd"), "write_midi: piece 'odd' has beats_per_bar"),
        ({}, Piece([Note(0, 1, 60)], tempo_bpm=2.0, name="slow"), "write_midi: piece 'slow' has tempo_bpm 2.0"),
    ],
)
def test_write_refuses_what_midi_cannot_hold(tmp_path: Path, kwargs: dict, piece: Piece, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        write_midi(piece, tmp_path / "x.mid", **kwargs)
    assert str(caught.value).startswith(message)
    assert not (tmp_path / "x.mid").exists()


# --------------------------------------------------------------------------- atomic writing


class _HalfWriter:
    """A file handle that writes half of what it is given, then fails (a full disk, a kill)."""

    def __init__(self, handle) -> None:  # type: ignore[no-untyped-def]
        self.handle = handle

    def write(self, data: bytes) -> int:
        self.handle.write(data[: len(data) // 2])
        self.handle.flush()
        raise OSError(28, "No space left on device")


@pytest.mark.parametrize("existing", [False, True])
def test_interrupted_write_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existing: bool) -> None:
    target = tmp_path / "song.mid"
    if existing:
        write_midi(Piece([Note(0, 1, 50)]), target)
    before = target.read_bytes() if existing else None
    real_atomic_open = midi_module.atomic_open

    @contextlib.contextmanager
    def failing_open(path, mode="w", **kwargs):  # type: ignore[no-untyped-def]
        with real_atomic_open(path, mode, **kwargs) as handle:
            yield _HalfWriter(handle)

    monkeypatch.setattr(midi_module, "atomic_open", failing_open)
    with pytest.raises(OSError, match="No space left"):
        write_midi(Piece([Note(i, 1, 60 + i) for i in range(20)]), target)
    assert sorted(p.name for p in tmp_path.iterdir()) == (["song.mid"] if existing else [])
    if existing:
        assert target.read_bytes() == before


# --------------------------------------------------------------------------- reading rules


def test_tempo_changes_do_not_move_notes_and_meta_comes_from_any_track(tmp_path: Path) -> None:
    conductor = [(0, tempo(120)), (0, signature(3, 4)), (960, tempo(60)), (1920, tempo(200))]
    melody = [(0, on(60)), (480, off(60)), (960, on(62)), (1440, off(62)), (2400, on(64)), (2880, off(64))]
    path = make_midi(tmp_path / "tempi.mid", conductor, melody)
    piece = read_midi(path)
    assert [(n.start, n.duration, n.pitch) for n in piece.notes] == [(0.0, 1.0, 60), (2.0, 1.0, 62), (5.0, 1.0, 64)]
    assert piece.tempo_bpm == 120.0
    assert piece.beats_per_bar == 3.0
    # in seconds the tempo map matters: 2 beats at 120 + 2 at 60 + 2 at 200 bpm = 1 + 2 + 0.6 s
    assert mido.MidiFile(str(path)).length == pytest.approx(3.6)


@pytest.mark.parametrize(
    ("meta", "tempo_bpm", "beats_per_bar"),
    [
        ([(0, signature(6, 8))], 120.0, 3.0),
        ([(0, signature(3, 4))], 120.0, 3.0),
        ([(0, signature(7, 8)), (0, tempo(75))], 75.0, 3.5),
        ([(0, signature(2, 2))], 120.0, 4.0),
        ([], 120.0, 4.0),  # no tempo, no time signature: the MIDI defaults
        ([(0, signature(5, 4)), (480, signature(3, 4)), (480, tempo(100)), (960, tempo(50))], 100.0, 5.0),
    ],
)
def test_first_tempo_and_time_signature(tmp_path: Path, meta: list, tempo_bpm: float, beats_per_bar: float) -> None:
    path = make_midi(tmp_path / "m.mid", meta + [(0, on(60)), (480, off(60))])
    piece = read_midi(path)
    assert (piece.tempo_bpm, piece.beats_per_bar) == (tempo_bpm, beats_per_bar)


def test_note_pairing_rules(tmp_path: Path) -> None:
    events = [
        (0, on(60, 100)),
        (240, on(60, 0)),  # velocity-0 note_on closes it
        (240, on(62, 70)),
        (480, on(62, 50)),  # the same pitch again: closes the sounding 62 and starts a new one
        (720, off(62)),
        (720, on(64, 30)),
        (720, off(64)),  # zero length: dropped
        (960, on(65, 40, channel=3)),
        (960, off(65)),  # an off on another channel does not close it
        (1200, off(66)),  # an off for a note never started is ignored
        (1440, on(67, 20)),  # never closed: ends at the track's end
        (1920, mido.MetaMessage("end_of_track")),
    ]
    piece = read_midi(make_midi(tmp_path / "pairs.mid", events))
    assert piece.notes == [
        Note(0.0, 0.5, 60, 100),
        Note(0.5, 0.5, 62, 70),
        Note(1.0, 0.5, 62, 50),
        Note(2.0, 2.0, 65, 40),
        Note(3.0, 1.0, 67, 20),
    ]


def test_drums_are_left_out_unless_asked_for(tmp_path: Path) -> None:
    events = [(0, on(36, 100, channel=9)), (0, on(60)), (240, off(36, channel=9)), (480, off(60))]
    path = make_midi(tmp_path / "band.mid", events)
    assert read_midi(path).notes == [Note(0.0, 1.0, 60)]
    assert read_midi(path, drums=True).notes == [Note(0.0, 0.5, 36, 100), Note(0.0, 1.0, 60)]

    drums_only = make_midi(tmp_path / "kit.mid", [(0, on(36, channel=9)), (240, off(36, channel=9))])
    with pytest.raises(DataError) as caught:
        read_midi(drums_only)
    assert str(caught.value) == (
        f"{drums_only}: no notes in tracks [0]; 1 drum note on channel 10 was left out (pass drums=True to keep them)"
    )
    assert read_midi(drums_only, drums=True).notes == [Note(0.0, 0.5, 36)]


def test_chosen_tracks(tmp_path: Path) -> None:
    path = make_midi(
        tmp_path / "three.mid",
        [(0, tempo(100))],
        [(0, on(60)), (480, off(60))],
        [(480, on(72)), (960, off(72))],
    )
    assert [n.pitch for n in read_midi(path).notes] == [60, 72]
    assert read_midi(path, tracks=[2]).notes == [Note(1.0, 1.0, 72)]
    assert read_midi(path, tracks=[2]).tempo_bpm == 100.0  # the tempo of track 0 still counts
    with pytest.raises(DataError) as caught:
        read_midi(path, tracks=[1, 5])
    assert str(caught.value) == f"{path}: track index 5 out of range; the file has 3 tracks (valid: 0..2)"
    with pytest.raises(DataError) as caught:
        read_midi(path, tracks=[0])
    assert str(caught.value) == f"{path}: no notes in tracks [0]"
    with pytest.raises(ValueError, match="read_midi: tracks must name at least one track index"):
        read_midi(path, tracks=[])


# --------------------------------------------------------------------------- bad files


def test_corrupt_bytes_empty_and_missing_files_name_the_file(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.mid"
    corrupt.write_bytes(b"this is not a MIDI file at all")
    with pytest.raises(DataError) as caught:
        read_midi(corrupt)
    assert str(caught.value) == f"{corrupt}: not a valid MIDI file: MThd not found. Probably not a MIDI file"

    good = make_midi(tmp_path / "good.mid", [(0, on(60)), (480, off(60))])
    truncated = tmp_path / "truncated.mid"
    truncated.write_bytes(good.read_bytes()[:20])
    with pytest.raises(DataError) as caught:
        read_midi(truncated)
    assert str(caught.value) == f"{truncated}: not a valid MIDI file: file ends in the middle of a chunk (truncated)"

    empty = tmp_path / "empty.mid"
    empty.write_bytes(b"")
    with pytest.raises(DataError) as caught:
        read_midi(empty)
    assert str(caught.value) == f"{empty}: empty file (0 bytes), expected a MIDI file"

    missing = tmp_path / "missing.mid"
    with pytest.raises(DataError) as caught:
        read_midi(missing)
    assert str(caught.value) == f"{missing}: cannot read MIDI file (No such file or directory)"


def test_a_file_without_notes_is_refused(tmp_path: Path) -> None:
    path = make_midi(tmp_path / "silent.mid", [(0, tempo(120)), (0, mido.Message("program_change", program=3))])
    with pytest.raises(DataError) as caught:
        read_midi(path)
    assert str(caught.value) == f"{path}: no notes in tracks [0]"


@pytest.mark.parametrize(("bpm", "tick", "shown"), [(5, 0, "5"), (1000, 960, "1000")])
def test_absurd_tempo_is_refused_with_its_place(tmp_path: Path, bpm: float, tick: int, shown: str) -> None:
    events = sorted([(0, tempo(120)), (tick, tempo(bpm)), (0, on(60)), (1920, off(60))], key=lambda e: e[0])
    if tick == 0:
        events = events[1:]  # the absurd tempo is the only one
    path = make_midi(tmp_path / "absurd.mid", events)
    with pytest.raises(DataError) as caught:
        read_midi(path)
    micros = mido.bpm2tempo(bpm)
    assert str(caught.value) == (
        f"{path}: track 0, tick {tick} (beat {tick // TPB}): absurd tempo {shown} bpm ({micros} microseconds per beat); "
        "expected 20 to 400 bpm (raise min_tempo_bpm/max_tempo_bpm if the file is right)"
    )
    assert read_midi(path, min_tempo_bpm=1, max_tempo_bpm=1000).notes == [Note(0.0, 4.0, 60)]


def test_bad_tempo_limits_are_parameter_errors(tmp_path: Path) -> None:
    path = make_midi(tmp_path / "ok.mid", [(0, on(60)), (480, off(60))])
    with pytest.raises(ValueError, match=r"read_midi: min_tempo_bpm \(300\) must not exceed max_tempo_bpm \(200\)"):
        read_midi(path, min_tempo_bpm=300, max_tempo_bpm=200)
    with pytest.raises(ValueError, match=r"read_midi: max_tempo_bpm must lie in 1\.\.1000 bpm, got 5000"):
        read_midi(path, max_tempo_bpm=5000)


def test_smpte_timing_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "smpte.mid"
    good = make_midi(tmp_path / "g.mid", [(0, on(60)), (480, off(60))]).read_bytes()
    path.write_bytes(good[:12] + bytes([0xE7, 0x28]) + good[14:])  # division: -25 fps, 40 ticks per frame
    with pytest.raises(DataError, match=r"smpte\.mid: uses SMPTE \(frames per second\) timing"):
        read_midi(path)


# --------------------------------------------------------------------------- folders


def test_folder_reader_skips_bad_files_with_a_warning(tmp_path: Path) -> None:
    folder = tmp_path / "songs"
    (folder / "sub").mkdir(parents=True)
    make_midi(folder / "a.mid", [(0, on(60)), (480, off(60))])
    make_midi(folder / "sub" / "b.MIDI", [(0, on(62)), (240, off(62))])
    (folder / "c.mid").write_bytes(b"\x00garbage")
    (folder / "notes.txt").write_text("not music")

    with pytest.warns(UserWarning) as caught:
        pieces, skipped = read_midi_folder(folder)
    assert [p.name for p in pieces] == ["a.mid", "b.MIDI"]
    assert [p.notes for p in pieces] == [[Note(0.0, 1.0, 60)], [Note(0.0, 0.5, 62)]]
    bad = folder / "c.mid"
    assert skipped == [f"{bad}: not a valid MIDI file: MThd not found. Probably not a MIDI file"]
    assert [str(w.message) for w in caught] == [f"skipping MIDI file {skipped[0]}"]

    with pytest.warns(UserWarning):
        flat, _ = read_midi_folder(folder, recursive=False)
    assert [p.name for p in flat] == ["a.mid"]


def test_folder_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError) as caught:
        read_midi_folder(missing)
    assert str(caught.value) == f"{missing}: MIDI folder not found (expected a directory of .mid/.midi files)"

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    with pytest.raises(DataError) as caught:
        read_midi_folder(empty)
    assert str(caught.value) == f"{empty}: no .mid or .midi files in it or below it"

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.mid").write_bytes(b"")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError) as caught:
            read_midi_folder(broken)
    assert str(caught.value) == (
        f"{broken}: none of its 1 MIDI files could be read:\n  {broken / 'x.mid'}: empty file (0 bytes), expected a MIDI file"
    )


def test_folder_reader_passes_tempo_limits_on(tmp_path: Path) -> None:
    make_midi(tmp_path / "slow.mid", [(0, tempo(10)), (0, on(60)), (480, off(60))])
    make_midi(tmp_path / "fine.mid", [(0, tempo(100)), (0, on(62)), (480, off(62))])
    with pytest.warns(UserWarning, match=r"slow\.mid: track 0, tick 0 \(beat 0\): absurd tempo 10 bpm"):
        pieces, skipped = read_midi_folder(tmp_path)
    assert [p.name for p in pieces] == ["fine.mid"] and len(skipped) == 1
    pieces, skipped = read_midi_folder(tmp_path, min_tempo_bpm=5)
    assert [(p.name, p.tempo_bpm) for p in pieces] == [("fine.mid", 100.0), ("slow.mid", 10.0)] and skipped == []


def test_a_file_without_notes_reads_as_silence_when_allowed(tmp_path: Path) -> None:
    path = write_midi(Piece([], tempo_bpm=90.0), tmp_path / "silent.mid")
    piece = read_midi(path, allow_empty=True)
    assert piece.notes == [] and piece.tempo_bpm == 90.0


def test_another_midi_library_reads_written_files_unchanged(tmp_path: Path) -> None:
    """music21 (the chorales' library, with its own MIDI parser) sees the notes that were written."""
    music21 = pytest.importorskip("music21")
    notes = [
        Note(0.0, 1.0, 60, 80), Note(0.0, 1.0, 64, 80), Note(0.0, 1.0, 67, 80),  # a chord
        Note(1.0, 0.5, 62, 100), Note(1.5, 0.25, 65, 40), Note(1.75, 2.25, 71, 127), Note(4.5, 1.5, 48, 1),
    ]
    path = write_midi(Piece(notes, tempo_bpm=96.0, beats_per_bar=3.0), tmp_path / "out.mid")
    score = music21.converter.parse(str(path), forceSource=True, quantizePost=False)
    # music21 splits a note that crosses a bar line into tied notes: join them back.
    seen = sorted(
        (float(element.offset), float(element.quarterLength), pitch.midi, element.volume.velocity)
        for element in score.stripTies().flatten().notes
        for pitch in element.pitches
    )
    assert seen == sorted((n.start, n.duration, n.pitch, n.velocity) for n in notes)
    assert score.flatten().getElementsByClass("TimeSignature")[0].ratioString == "3/4"
    assert round(score.flatten().getElementsByClass("MetronomeMark")[0].number) == 96
