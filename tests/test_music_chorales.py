"""Bach chorales: the array format round trip, the cache's life cycle, and a real conversion.

The cache tests replace the music21 conversion with a stand-in that returns hand-built
pieces, so they need no music21 and run in milliseconds; "music21 missing" is simulated
by making its version unknown and its import fail. Only the last tests parse real
chorales (the first two of the corpus), and they check facts read off the score by hand:
bwv269 is in 3/4 with a one-beat pickup whose first chord is G2 B3 D4 G4.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from seqtk.core.errors import DataError
from seqtk.plugins.music import chorales
from seqtk.plugins.music.chorales import (
    CHORALE_VELOCITY,
    DEFAULT_CHORALE_TEMPO_BPM,
    INSTALL_HINT,
    arrays_to_pieces,
    chorale_pieces,
    default_cache_dir,
    pieces_to_arrays,
)
from seqtk.plugins.music.notes import Note, Piece

VERSION = "1.2.3"
FULL_NAME = f"bach-chorales-v1-music21-{VERSION}.npz"


def hand_pieces() -> list[Piece]:
    return [
        Piece([Note(0.0, 1.0, 60, 80), Note(0.0, 1.0, 64, 80), Note(1 / 3, 2 / 3, 0, 1)], 80.0, 3.0, "bwv1"),
        Piece([], 96.5, 4.0, "empty"),
        Piece([Note(2.5, 0.125, 127, 127), Note(0.1, 0.2, 60, 64), Note(0.1, 0.2, 60, 64)], 120.0, 1.5, "zwölf"),
    ]


class FakeConverter:
    """Stands in for the music21 conversion; counts calls and remembers ``limit``."""

    def __init__(self, pieces: list[Piece] | None = None) -> None:
        self.pieces = pieces if pieces is not None else hand_pieces()
        self.calls: list[int | None] = []

    def __call__(self, limit: int | None) -> list[Piece]:
        self.calls.append(limit)
        return self.pieces[:limit] if limit is not None else list(self.pieces)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeConverter:
    converter = FakeConverter()
    monkeypatch.setattr(chorales, "_convert", converter)
    monkeypatch.setattr(chorales, "_music21_version", lambda: VERSION)
    return converter


def without_music21(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make music21 look uninstalled: no version, ``import music21`` fails, no conversion."""
    monkeypatch.setattr(chorales, "_music21_version", lambda: None)
    monkeypatch.setitem(sys.modules, "music21", None)  # "import music21" now raises ImportError

    def no_conversion(limit: int | None) -> list[Piece]:
        raise AssertionError("converted although a cache was present")

    monkeypatch.setattr(chorales, "_convert", no_conversion)


# --------------------------------------------------------------------------- the array format


def test_arrays_hold_the_notes_flat_by_piece() -> None:
    arrays = pieces_to_arrays(hand_pieces())
    assert arrays["piece"].tolist() == [0, 0, 0, 2, 2, 2]
    assert arrays["pitch"].tolist() == [60, 64, 0, 60, 60, 127]  # each piece's notes in (start, pitch) order
    assert arrays["start"].tolist() == [0.0, 0.0, 1 / 3, 0.1, 0.1, 2.5]
    assert arrays["duration"].tolist() == [1.0, 1.0, 2 / 3, 0.2, 0.2, 0.125]
    assert arrays["velocity"].tolist() == [80, 80, 1, 64, 64, 127]
    assert arrays["name"].tolist() == ["bwv1", "empty", "zwölf"] and arrays["name"].dtype.kind == "U"
    assert arrays["tempo_bpm"].tolist() == [80.0, 96.5, 120.0]
    assert arrays["beats_per_bar"].tolist() == [3.0, 4.0, 1.5]
    assert all(a.dtype != object for a in arrays.values())


def test_round_trip_through_an_npz_file_is_exact(tmp_path: Path) -> None:
    pieces = hand_pieces()
    assert arrays_to_pieces(pieces_to_arrays(pieces)) == pieces
    path = tmp_path / "pieces.npz"
    np.savez_compressed(path, **pieces_to_arrays(pieces))
    with np.load(path, allow_pickle=False) as loaded:
        back = arrays_to_pieces(loaded)
    assert back == pieces
    assert back[0].notes[0].start == 0.0 and back[0].notes[2].start == 1 / 3  # bit-exact floats
    assert all(type(n.pitch) is int and type(n.start) is float for p in back for n in p.notes)
    assert arrays_to_pieces(pieces_to_arrays([])) == []


def test_notes_given_out_of_piece_order_are_grouped_by_index() -> None:
    arrays = pieces_to_arrays(hand_pieces())
    order = np.arange(len(arrays["piece"]))[::-1]
    shuffled = {k: (v[order] if k in ("piece", "start", "duration", "pitch", "velocity") else v) for k, v in arrays.items()}
    assert arrays_to_pieces(shuffled) == hand_pieces()


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        (lambda a: a.pop("velocity"), ValueError, "missing array(s) velocity; expected the output of pieces_to_arrays"),
        (lambda a: a.update(pitch=a["pitch"][:-1]), ValueError, "per-note arrays differ in length"),
        (lambda a: a.update(name=a["name"][:2]), ValueError, "per-piece arrays differ in length"),
        (lambda a: a.update(piece=np.full_like(a["piece"], 3)), ValueError, "piece indices must lie in 0..2, got 3..3"),
        (lambda a: a.update(start=a["start"].astype(str)), ValueError, "'start' has dtype <U"),
        (lambda a: a.update(duration=np.full(6, np.nan)), ValueError, "'duration' holds a value that is not finite"),
        (lambda a: a.update(format_version=np.array(2)), ValueError, "expected 1"),
        (lambda a: a.update(pitch=np.full(6, 200, dtype=np.uint8)), ValueError, "pitch must lie in 0..127, got 200"),
    ],
)
def test_bad_arrays_are_refused_with_the_reason(change, error, words: str) -> None:
    arrays = pieces_to_arrays(hand_pieces())
    change(arrays)
    with pytest.raises(error) as caught:
        arrays_to_pieces(arrays)
    assert words in str(caught.value)


# --------------------------------------------------------------------------- cache location


def test_default_cache_dir_prefers_seqtk_then_xdg_then_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SEQTK_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "mine"
    monkeypatch.setenv("SEQTK_CACHE_DIR", "")  # empty counts as unset
    assert default_cache_dir() == tmp_path / "xdg" / "seqtk"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "seqtk"


def test_cache_goes_to_the_default_dir_when_none_is_given(
    fake: FakeConverter, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SEQTK_CACHE_DIR", str(tmp_path / "env-cache"))
    chorale_pieces(progress=False)
    assert (tmp_path / "env-cache" / FULL_NAME).is_file()


# --------------------------------------------------------------------------- cache life cycle


def test_first_call_converts_and_caches_then_loads_without_music21(
    fake: FakeConverter, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = chorale_pieces(cache_dir=tmp_path)
    assert first == hand_pieces() and fake.calls == [None]
    path = tmp_path / FULL_NAME
    err = capsys.readouterr().err
    assert err == f"converting all Bach chorales from music21's corpus once; cached at {path}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [FULL_NAME]  # no temporary file left behind

    without_music21(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = chorale_pieces(cache_dir=str(tmp_path))
    assert again == first
    assert capsys.readouterr().err == ""  # nothing printed when loading


def test_installed_music21_loads_its_own_version_cache_without_converting(fake: FakeConverter, tmp_path: Path) -> None:
    chorale_pieces(cache_dir=tmp_path, progress=False)
    assert chorale_pieces(cache_dir=tmp_path, progress=False) == hand_pieces()
    assert fake.calls == [None]


def test_another_music21_version_converts_into_its_own_file(
    fake: FakeConverter, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    chorale_pieces(cache_dir=tmp_path, progress=False)
    monkeypatch.setattr(chorales, "_music21_version", lambda: "9.0")
    chorale_pieces(cache_dir=tmp_path, progress=False)
    assert fake.calls == [None, None]
    assert sorted(p.name for p in tmp_path.iterdir()) == [FULL_NAME, "bach-chorales-v1-music21-9.0.npz"]


def test_without_music21_the_newest_full_cache_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    old, new = hand_pieces()[:1], hand_pieces()[2:]
    for name, pieces, mtime in (("0.1", old, 1_000_000), ("0.2", new, 2_000_000)):
        path = tmp_path / f"bach-chorales-v1-music21-{name}.npz"
        np.savez(path, **pieces_to_arrays(pieces))
        os.utime(path, (mtime, mtime))
    np.savez(tmp_path / "bach-chorales-v1-music21-0.3-first1.npz", **pieces_to_arrays(old))  # partial: not a full cache
    without_music21(monkeypatch)
    assert chorale_pieces(cache_dir=tmp_path) == new


def test_refresh_converts_again_and_overwrites(fake: FakeConverter, tmp_path: Path) -> None:
    chorale_pieces(cache_dir=tmp_path, progress=False)
    fake.pieces = hand_pieces()[:1]
    assert chorale_pieces(cache_dir=tmp_path, refresh=True, progress=False) == hand_pieces()[:1]
    assert fake.calls == [None, None]
    assert chorale_pieces(cache_dir=tmp_path, progress=False) == hand_pieces()[:1]


def test_failed_conversion_leaves_no_cache_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def broken(limit: int | None) -> list[Piece]:
        raise DataError("music21 10: none of the 350 Bach chorales could be converted")

    monkeypatch.setattr(chorales, "_convert", broken)
    monkeypatch.setattr(chorales, "_music21_version", lambda: VERSION)
    with pytest.raises(DataError, match="none of the 350"):
        chorale_pieces(cache_dir=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def write_garbage(path: Path) -> None:
    path.write_bytes(b"this is not a zip file")


def write_truncated(path: Path) -> None:
    np.savez_compressed(path, **pieces_to_arrays(hand_pieces()))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def write_missing_array(path: Path) -> None:
    arrays = pieces_to_arrays(hand_pieces())
    del arrays["start"]
    np.savez(path, **arrays)


def write_pickled_names(path: Path) -> None:
    arrays = pieces_to_arrays(hand_pieces())
    arrays["name"] = np.array(["a", "b", "c"], dtype=object)  # needs pickle, which loading refuses
    np.savez(path, **arrays)


def write_bad_note(path: Path) -> None:
    arrays = pieces_to_arrays(hand_pieces())
    arrays["velocity"][:] = 0  # Note refuses velocity 0
    np.savez(path, **arrays)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (write_garbage, "ValueError: not an .npz file: it does not start like a zip archive"),
        (write_truncated, "BadZipFile"),
        (write_missing_array, "ValueError: arrays_to_pieces: missing array(s) start"),
        (write_pickled_names, "ValueError"),
        (write_bad_note, "velocity must lie in 1..127, got 0"),
        (lambda path: path.write_bytes(b""), "not an .npz file"),
    ],
)
def test_corrupt_cache_is_reported_once_and_rebuilt(fake: FakeConverter, tmp_path: Path, damage, reason: str) -> None:
    path = tmp_path / FULL_NAME
    damage(path)
    with pytest.warns(UserWarning) as caught:
        pieces = chorale_pieces(cache_dir=tmp_path, progress=False)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1
    assert messages[0].startswith(f"{path}: unreadable Bach chorale cache (") and reason in messages[0]
    assert messages[0].endswith("ignoring it and converting the chorales again")
    assert pieces == hand_pieces() and fake.calls == [None]
    with np.load(path, allow_pickle=False) as arrays:  # rebuilt in place
        assert arrays_to_pieces(arrays) == hand_pieces()


def test_missing_music21_and_no_cache_names_the_install_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    without_music21(monkeypatch)
    with pytest.raises(DataError) as caught:
        chorale_pieces(cache_dir=tmp_path / "nowhere")
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'nowhere'}: no usable Bach chorale cache (bach-chorales-v1-music21-*.npz)")
    assert f"install the music extra with: {INSTALL_HINT}" in message
    assert INSTALL_HINT == "pip install 'seqtk[music]'"


def test_missing_music21_and_a_corrupt_cache_warns_then_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_garbage(tmp_path / FULL_NAME)
    without_music21(monkeypatch)
    with pytest.warns(UserWarning, match="unreadable Bach chorale cache"), pytest.raises(DataError, match="seqtk\\[music\\]"):
        chorale_pieces(cache_dir=tmp_path)


def test_import_failure_despite_metadata_is_a_data_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "music21", None)
    with pytest.raises(DataError, match="music21 could not be imported .*pip install 'seqtk\\[music\\]'"):
        chorales._import_music21()


# --------------------------------------------------------------------------- limit


def test_limit_is_sliced_from_the_full_cache_without_converting(fake: FakeConverter, tmp_path: Path) -> None:
    chorale_pieces(cache_dir=tmp_path, progress=False)
    assert chorale_pieces(cache_dir=tmp_path, limit=2, progress=False) == hand_pieces()[:2]
    assert fake.calls == [None]


def test_limited_conversion_is_never_cached_as_the_full_set(
    fake: FakeConverter, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert chorale_pieces(cache_dir=tmp_path, limit=2) == hand_pieces()[:2]
    partial = tmp_path / f"bach-chorales-v1-music21-{VERSION}-first2.npz"
    assert "converting the first 2 Bach chorales" in capsys.readouterr().err
    assert sorted(tmp_path.iterdir()) == [partial]
    assert chorale_pieces(cache_dir=tmp_path, limit=2, progress=False) == hand_pieces()[:2]  # from its own file
    assert chorale_pieces(cache_dir=tmp_path, progress=False) == hand_pieces()  # the full set is converted
    assert fake.calls == [2, None]


@pytest.mark.parametrize("limit", [0, -1, 1.5, True, "2"])
def test_bad_limit_is_refused(limit: object, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=f"limit must be a positive integer or None, got {limit!r}"):
        chorale_pieces(cache_dir=tmp_path, limit=limit)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- real chorales (music21)


@pytest.fixture(scope="module")
def first_two(tmp_path_factory: pytest.TempPathFactory) -> list[Piece]:
    pytest.importorskip("music21")
    return chorale_pieces(cache_dir=tmp_path_factory.mktemp("chorales"), limit=2, progress=False)


def test_first_chorale_bwv269_matches_the_score(first_two: list[Piece]) -> None:
    bwv269, bwv347 = first_two
    assert (bwv269.name, bwv347.name) == ("bwv269", "bwv347")  # Riemenschneider 1 and 2
    assert (bwv269.beats_per_bar, bwv347.beats_per_bar) == (3.0, 4.0)  # 3/4 and 4/4
    assert bwv269.tempo_bpm == DEFAULT_CHORALE_TEMPO_BPM  # no metronome mark
    assert all(n.velocity == CHORALE_VELOCITY and n.start >= 0 for p in first_two for n in p.notes)
    # one-beat pickup at 0: the G major chord G2 (bass) B3 (tenor) D4 (alto) G4 (soprano)
    assert [n.pitch for n in bwv269.notes if n.start == 0.0] == [43, 59, 62, 67]
    # the soprano's opening: G4 | G4 (half) D5 | B4 (dotted) A4 (eighth) ...
    soprano = [(n.start, n.duration) for n in bwv269.notes if n.start < 6 and n.pitch >= 67]
    assert soprano == [(0.0, 1.0), (1.0, 2.0), (3.0, 1.0), (4.0, 1.5), (5.5, 0.5)]
    # 229 notes in the score, 4 of them tied on from the note before: 225 sounded notes
    assert len(bwv269.notes) == 225 and len(bwv347.notes) == 229  # bwv347: 231 written, 2 tied on


def test_tied_notes_become_one_note(first_two: list[Piece]) -> None:
    bwv269 = first_two[0]
    # alto G4 tied from beat 24 (quarter) into 25 (eighth); bass E3 30-32, G3 54-56, E3 57-58.5
    for start, duration, pitch in ((24.0, 1.5, 67), (30.0, 2.0, 52), (54.0, 2.0, 55), (57.0, 1.5, 52)):
        assert Note(start, duration, pitch, CHORALE_VELOCITY) in bwv269.notes
    # and the tied-on halves are gone (no other part sounds those pitches there)
    assert not [n for n in bwv269.notes if (n.start, n.pitch) in ((25.0, 67), (31.0, 52), (55.0, 55), (58.0, 52))]


def test_every_part_is_in_the_piece(first_two: list[Piece]) -> None:
    music21 = pytest.importorskip("music21")
    score = music21.corpus.parse("bach/bwv347")
    parts = [part.partName for part in score.parts]
    assert parts == ["Soprano", "Alto", "Tenor", "Bass"]
    sounded = {(n.start, n.pitch) for n in first_two[1].notes}
    for part in score.parts:
        written = part.flatten().notes
        heads = {(float(n.offset), n.pitch.midi) for n in written if n.tie is None or n.tie.type == "start"}
        assert heads <= sounded, part.partName
    # the opening chord: A3 (bass) C#4 (tenor) E4 (alto) A4 (soprano)
    assert [n.pitch for n in first_two[1].notes if n.start == 0.0] == [57, 61, 64, 69]


def test_a_chorale_that_fails_to_parse_is_skipped_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    music21 = pytest.importorskip("music21")
    real_parse = music21.corpus.parse

    def parse(name: str, *args: object, **kwargs: object) -> object:
        if name == "bach/bwv269":
            raise music21.exceptions21.Music21Exception("broken file")
        return real_parse(name, *args, **kwargs)

    monkeypatch.setattr(music21.corpus, "parse", parse)
    with pytest.warns(UserWarning) as caught:
        pieces = chorales._convert(2)
    assert [p.name for p in pieces] == ["bwv347"]
    assert [str(w.message) for w in caught] == [
        "skipping Bach chorale bwv269 (Riemenschneider 1, corpus file 'bach/bwv269'): Music21Exception: broken file"
    ]
