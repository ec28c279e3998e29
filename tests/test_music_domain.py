"""The music domain: MIDI folders in, split by piece, both representations, MIDI out, state and errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from seqtk.core.errors import DataError
from seqtk.core.interfaces import Batch
from seqtk.plugins.music.domain import MusicDomain, excerpts, split_pieces
from seqtk.plugins.music.midi import read_midi, write_midi
from seqtk.plugins.music.notes import Note, Piece

C_MAJOR = (0, 2, 4, 5, 7, 9, 11)


def scale_piece(index: int, count: int = 24, tempo: float = 100.0) -> Piece:
    """A melody on the C major scale over a held bass note every bar; ``index`` transposes it."""
    notes = [Note(k * 0.5, 0.5, 60 + C_MAJOR[(k + index) % 7] + 12 * ((k + index) // 7 % 2), 90) for k in range(count)]
    notes += [Note(float(bar * 4), 4.0, 48 + C_MAJOR[(bar + index) % 7], 70) for bar in range(count // 8)]
    return Piece(notes, tempo_bpm=tempo, name=f"piece-{index}")


def write_corpus(folder: Path, pieces: int = 6, **kwargs: Any) -> list[Piece]:
    folder.mkdir(parents=True, exist_ok=True)
    written = [scale_piece(i, **kwargs) for i in range(pieces)]
    for i, piece in enumerate(written):
        write_midi(piece, folder / f"piece-{i}.mid")
    return written


def corpus_domain(tmp_path: Path, **params: Any) -> MusicDomain:
    folder = tmp_path / "midi"
    if not folder.exists():
        write_corpus(folder)
    return MusicDomain(**{"path": str(folder), "notes": 12, "stride": 6, "pianoroll": False, **params})


def same_notes(a: Piece, b: Piece, tolerance: float = 1e-5) -> bool:
    if len(a.notes) != len(b.notes):
        return False
    return all(
        x.pitch == y.pitch and x.velocity == y.velocity and abs(x.start - y.start) < tolerance and abs(x.duration - y.duration) < tolerance
        for x, y in zip(a.notes, b.notes)
    )


# --------------------------------------------------------------------------- pieces, excerpts, split


def test_excerpts_start_at_beat_zero_and_keep_their_notes() -> None:
    piece = scale_piece(0, count=16)  # 16 melody notes + 2 bass notes
    cut = excerpts([piece], notes=6, stride=4)
    assert len(cut) == (18 - 6) // 4 + 1
    for k, excerpt in enumerate(cut):
        original = piece.notes[4 * k : 4 * k + 6]
        assert excerpt.notes[0].start == 0.0
        assert [n.pitch for n in excerpt.notes] == [n.pitch for n in original]
        assert [n.start for n in excerpt.notes] == [n.start - original[0].start for n in original]
    short = Piece([Note(1.0, 1.0, 60), Note(2.0, 1.0, 62)])
    assert [n.start for n in excerpts([short], notes=6, stride=2)[0].notes] == [0.0, 1.0]
    assert excerpts([Piece([Note(0.0, 1.0, 60)])], notes=6, stride=2) == []


def test_split_is_by_piece_seeded_and_drops_duplicates_with_a_warning() -> None:
    pieces = [scale_piece(i) for i in range(10)]
    train, test = split_pieces(pieces, 0.2, seed=3, source="corpus")
    assert len(test) == 2 and len(train) == 8
    assert {p.name for p in train}.isdisjoint(p.name for p in test)
    again = split_pieces(pieces, 0.2, seed=3, source="corpus")
    assert [p.name for p in again[1]] == [p.name for p in test]
    assert [p.name for p in split_pieces(pieces, 0.2, seed=4, source="corpus")[1]] != [p.name for p in test]

    twin = Piece(list(pieces[0].notes), tempo_bpm=60.0, name="copy-of-0")
    with pytest.warns(UserWarning, match=r"corpus: dropped 1 piece\(s\) whose notes duplicate another piece's"):
        train, test = split_pieces([*pieces, twin], 0.2, seed=3, source="corpus")
    assert "copy-of-0" not in {p.name for p in train + test}
    with pytest.raises(DataError, match="corpus: 1 distinct piece"), pytest.warns(UserWarning, match="dropped 1"):
        split_pieces([pieces[0], twin], 0.2, seed=0, source="corpus")


def test_no_excerpt_of_a_test_piece_is_in_training(tmp_path: Path) -> None:
    domain = corpus_domain(tmp_path)
    train = {tuple((n.start, n.pitch) for n in p.notes) for p in domain.to_pieces(domain.load("train").batch)}
    test = {tuple((n.start, n.pitch) for n in p.notes) for p in domain.to_pieces(domain.load("test").batch)}
    assert train and test and train.isdisjoint(test)


# --------------------------------------------------------------------------- representations


def test_events_decode_to_the_excerpts_they_encode(tmp_path: Path) -> None:
    domain = corpus_domain(tmp_path)
    spec = domain.spec
    assert (spec.kind, spec.features, spec.max_len, spec.value_range) == ("continuous", 4, 12, (0.0, 1.0))
    train = domain.load("train").batch
    assert train.values.shape[1:] == (12, 4) and float(train.values.min()) >= 0.0 and float(train.values.max()) <= 1.0
    pieces = [read_midi(path) for path in sorted((tmp_path / "midi").glob("*.mid"))]
    train_pieces, _ = split_pieces(pieces, 0.2, seed=0, source="x")
    expected = excerpts(train_pieces, 12, 6)
    decoded = domain.to_pieces(train)
    assert len(decoded) == len(expected)
    assert all(same_notes(a, b) for a, b in zip(decoded, expected))
    assert decoded[0].tempo_bpm == 100.0


def test_tokens_are_a_discrete_domain_whose_test_excerpts_decode_exactly(tmp_path: Path) -> None:
    domain = corpus_domain(tmp_path, representation="tokens")
    spec = domain.spec
    vocab_size = 3 + 128 + 128 + 16 + 8
    assert (spec.kind, spec.vocab_size, spec.eos_id, spec.unsampled_ids) == ("discrete", vocab_size, 2, (0, 1))
    test = domain.load("test").batch
    rows, lengths = test.values.tolist(), test.lengths.tolist()
    assert all(row[n - 1] == spec.eos_id and all(t == spec.pad_id for t in row[n:]) for row, n in zip(rows, lengths))
    pieces = [read_midi(path) for path in sorted((tmp_path / "midi").glob("*.mid"))]
    _, test_pieces = split_pieces(pieces, 0.2, seed=0, source="x")
    # The corpus lies on an eighth-note grid with velocities 70 and 90: velocity is binned, timing exact.
    for decoded, expected in zip(domain.to_pieces(test), excerpts(test_pieces, 12, 6)):
        assert [(n.start, n.duration, n.pitch) for n in decoded.notes] == [(n.start, n.duration, n.pitch) for n in expected.notes]


def test_max_tokens_caps_the_sequence_length_and_ends_every_row_with_eos(tmp_path: Path) -> None:
    domain = corpus_domain(tmp_path, representation="tokens", max_tokens=10)
    with pytest.warns(UserWarning) as caught:
        batch = domain.load("train").batch
    assert [str(w.message).split(": ", 1)[1] for w in caught] == [
        "15 of 15 training excerpts have more than 9 tokens and were cut (max_tokens=10); raise max_tokens or lower notes to keep them whole",
        "3 of 3 test excerpts have more than 9 tokens and were cut (max_tokens=10); raise max_tokens or lower notes to keep them whole",
    ]
    assert domain.spec.max_len == 10 and batch.values.shape[1] == 10
    assert all(row[n - 1] == 2 for row, n in zip(batch.values.tolist(), batch.lengths.tolist()))


def test_diverged_event_rows_become_empty_pieces_with_a_warning(tmp_path: Path) -> None:
    domain = corpus_domain(tmp_path)
    values = torch.rand(2, 12, 4)
    values[1, 3, 2] = float("nan")
    with pytest.warns(UserWarning, match="1 of 2 sequences held NaN or infinite values"):
        pieces = domain.to_pieces(Batch.full_length(values))
    assert len(pieces[0].notes) == 12 and pieces[1].notes == []


# --------------------------------------------------------------------------- writing and state


def test_samples_are_midi_files_that_read_back_unchanged(tmp_path: Path) -> None:
    domain = corpus_domain(tmp_path, pianoroll=True)
    batch = domain.load("test").batch
    written = domain.write_samples(batch, tmp_path / "out", "step-00000010")
    mids = sorted((tmp_path / "out" / "step-00000010").glob("*.mid"))
    assert len(mids) == batch.size and mids[0].name == "0000.mid"
    pytest.importorskip("matplotlib")
    assert tmp_path / "out" / "step-00000010-pianoroll.png" in written
    for path, piece in zip(mids, domain.to_pieces(batch)):
        assert same_notes(read_midi(path), piece, tolerance=1.0 / 480)


def test_an_interrupted_write_leaves_no_folder_and_no_litter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    domain = corpus_domain(tmp_path)
    batch = domain.load("test").batch
    from seqtk.plugins.music import midi

    calls = {"n": 0}
    real_write = midi.write_midi

    def failing(piece: Piece, path: Path, **kwargs: Any) -> Path:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_write(piece, path, **kwargs)

    monkeypatch.setattr(midi, "write_midi", failing)
    with pytest.raises(KeyboardInterrupt):
        domain.write_samples(batch, tmp_path / "out", "step-1")
    assert list((tmp_path / "out").iterdir()) == []


def test_rewriting_a_sample_folder_replaces_it_whole(tmp_path: Path) -> None:
    domain = corpus_domain(tmp_path)
    batch = domain.load("test").batch
    domain.write_samples(batch, tmp_path / "out", "s")
    domain.write_samples(batch.index(torch.arange(1)), tmp_path / "out", "s")
    assert [p.name for p in (tmp_path / "out" / "s").iterdir()] == ["0000.mid"]


@pytest.mark.parametrize("representation", ["events", "tokens"])
def test_state_dict_lets_a_domain_write_samples_without_the_data(tmp_path: Path, representation: str) -> None:
    trained = corpus_domain(tmp_path, representation=representation)
    batch = trained.load("test").batch
    state = trained.state_dict()
    restored = MusicDomain(path=str(tmp_path / "gone"), representation=representation, notes=12, pianoroll=True)
    restored.load_state_dict(state)
    assert restored.spec == trained.spec
    expected = trained.to_pieces(batch)
    assert all(same_notes(a, b) for a, b in zip(restored.to_pieces(batch), expected))
    restored.write_samples(batch, tmp_path / "out", "s")  # no data folder, no real side for the picture: still writes
    assert len(list((tmp_path / "out" / "s").glob("*.mid"))) == batch.size
    other = "tokens" if representation == "events" else "events"
    with pytest.raises(DataError, match=f"trained on representation '{representation}', this domain has '{other}'"):
        MusicDomain(path="x", representation=other).load_state_dict(state)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- bad input


def test_bad_parameters_name_themselves() -> None:
    with pytest.raises(ValueError, match="source 'folder' needs path"):
        MusicDomain()
    with pytest.raises(ValueError, match="path is only read with source 'folder', not 'builtin'"):
        MusicDomain(source="builtin", path="x")
    with pytest.raises(ValueError, match="representation must be one of 'events', 'tokens', got 'notes'"):
        MusicDomain(path="x", representation="notes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="notes must be an integer >= 2, got 1"):
        MusicDomain(path="x", notes=1)
    with pytest.raises(ValueError, match=r"velocity_bins must be an integer in \[1, 127\]"):
        MusicDomain(path="x", representation="tokens", velocity_bins=0)


def test_missing_folder_and_unusable_files_are_data_errors_naming_them(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=f"{tmp_path / 'nowhere'}: MIDI folder not found"):
        _ = MusicDomain(path=str(tmp_path / "nowhere")).spec
    folder = tmp_path / "midi"
    write_corpus(folder, pieces=3)
    (folder / "broken.mid").write_bytes(b"MThd\x00\x00")
    with pytest.warns(UserWarning, match="broken.mid"):
        domain = MusicDomain(path=str(folder), notes=8, pianoroll=False)
        assert len(domain.load("train")) > 0
    lonely = tmp_path / "one"
    write_corpus(lonely, pieces=1)
    with pytest.raises(DataError, match=f"{lonely}: 1 distinct piece"):
        _ = MusicDomain(path=str(lonely)).spec


def test_the_recipe_check_knows_which_representation_gives_which_kind(tmp_path: Path) -> None:
    from seqtk.core.errors import RecipeError
    from seqtk.core.api import validate

    recipe = {
        "seqtk": 1,
        "name": "m",
        "domain": {"name": "music", "params": {"path": str(tmp_path), "representation": "tokens"}},
        "generator": "lstm",
        "discriminator": "lstm",
        "objective": "minimax",
        "estimator": "reparam",
    }
    with pytest.raises(RecipeError) as caught:
        validate(recipe)
    assert "generator 'lstm' requires continuous, which no other component of this recipe provides" in str(caught.value)
    assert "provided by: domain 'music' with representation: events" in str(caught.value)
    recipe["domain"]["params"]["representation"] = "events"
    validate(recipe)
    recipe["domain"]["params"]["representation"] = "midi"
    with pytest.raises(RecipeError, match="domain.params.representation"):
        validate(recipe)

