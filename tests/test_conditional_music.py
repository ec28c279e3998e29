"""Conditional music: chorales by mode, a bass under a given soprano, and the metrics that say whether the condition is honoured.

The domain tests read six hand-made "chorales" (three in major keys, three in minor)
from cache files written into a temporary folder, so they need neither music21 nor the
corpus and run in milliseconds; one test parses a real chorale to check the numpy key
finder against music21's own analysis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mido
import numpy as np
import pytest
import torch

from seqtk.core.errors import DataError, RecipeError
from seqtk.core.interfaces import Batch, Condition, ConditionSpec, DomainSpec
from seqtk.core.plugins import PluginHost
from seqtk.core.recipe import load_recipe
from seqtk.plugins.grid_lstm import GridLSTMGenerator
from seqtk.plugins.music import chorales, metrics
from seqtk.plugins.music.chorale_voices import ChoraleVoices, _path, arrays_to_voices, chorale_voices, voice_parts, voices_to_arrays
from seqtk.plugins.music.conditional_metrics import (
    KEY_PROFILES,
    ClassMusicDistance,
    HarmonicFit,
    ModeFidelity,
    estimate_key,
    estimate_tonic,
    harmonic_fit,
)
from seqtk.plugins.music.domain import MusicDomain, bass_under_soprano, tonic_shift, transposed
from seqtk.plugins.music.features import feature_distance
from seqtk.plugins.music.notes import Note, Piece

torch.set_num_threads(1)


def line(pitches: list[int], name: str, beat: float = 1.0) -> Piece:
    return Piece([Note(i * beat, beat, p, 80) for i, p in enumerate(pitches)], tempo_bpm=80.0, beats_per_bar=4.0, name=name)


# Bass and soprano of a cadence in C major and one in A minor (with G#), each transposed three ways.
MAJOR = ([48, 53, 55, 48, 45, 50, 55, 48], [64, 65, 67, 64, 64, 65, 62, 60])
MINOR = ([45, 50, 52, 45, 41, 50, 52, 45], [72, 69, 68, 69, 69, 65, 68, 69])


def hand_chorales() -> tuple[list[Piece], list[ChoraleVoices]]:
    pieces, voices = [], []
    for number, (mode, (bass, soprano), shift) in enumerate(
        [("major", MAJOR, 0), ("minor", MINOR, 0), ("major", MAJOR, 7), ("minor", MINOR, 7), ("major", MAJOR, 5), ("minor", MINOR, 5)]
    ):
        name = f"bwv{number}"
        b = line([p + shift for p in bass], f"{name}-bass")
        s = line([p + shift for p in soprano], f"{name}-soprano")
        pieces.append(Piece([*b.notes, *s.notes], tempo_bpm=80.0, beats_per_bar=4.0, name=name))
        voices.append(ChoraleVoices(name, mode, s, b))
    return pieces, voices


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder holding the hand chorales' notes and voices, under the installed music21's version."""
    folder = tmp_path_factory.mktemp("cache")
    version = chorales._music21_version() or "0"
    pieces, voices = hand_chorales()
    chorales._write_cache(chorales._cache_path(folder, version, None), pieces)
    np.savez_compressed(_path(folder, version, None), **voices_to_arrays(voices, pieces))
    return folder


def domain(cache: Path, **params: Any) -> MusicDomain:
    settings: dict[str, Any] = {"source": "chorales", "representation": "tokens", "notes": 16, "stride": 16, "test_fraction": 0.34, "cache_dir": str(cache), "pianoroll": False}
    settings.update(params)
    return MusicDomain(**settings)


# --------------------------------------------------------------------------- key finding and harmonic fit


def test_a_piece_of_one_pitch_class_is_in_the_key_that_weighs_it_most() -> None:
    # With one pitch class the correlation with key t is the standardised weight of that
    # pitch class in key t, so the answer is the key where C has the profile's largest
    # standardised weight: Aarden-Essen's largest is the dominant in both modes (22.06 major,
    # 18.62 minor), so C is the dominant of F; major wins when its z-score is the larger.
    def z(weights: tuple[float, ...], index: int) -> float:
        w = np.asarray(weights)
        return float((w[index] - w.mean()) / w.std())

    major, minor = KEY_PROFILES["aarden-essen"]
    expected_mode = "major" if z(major, 7) > z(minor, 7) else "minor"
    assert estimate_key(line([60, 72, 48], "c")) == (5, expected_mode)
    assert estimate_key(Piece([], name="empty")) is None


def test_triads_and_scales_find_their_keys() -> None:
    assert estimate_key(line([60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60], "c-major")) == (0, "major")
    assert estimate_key(line([57, 59, 60, 62, 64, 65, 68, 69, 64, 60, 57], "a-harmonic-minor")) == (9, "minor")


def test_the_numpy_key_finder_agrees_with_music21_on_real_chorale_excerpts() -> None:
    music21 = pytest.importorskip("music21")
    from music21 import note, stream

    score = music21.corpus.parse("bach/bwv269")  # the first chorale in Riemenschneider order
    piece = chorales._score_to_piece(score, "bwv269")
    from seqtk.plugins.music.domain import excerpts

    checked = 0
    for excerpt in excerpts([piece], 32, 16)[:12]:
        s = stream.Stream()
        for n in excerpt.notes:
            s.insert(n.start, note.Note(n.pitch, quarterLength=n.duration))
        key = s.analyze("key")
        assert estimate_key(excerpt) == (key.tonic.pitchClass, key.mode), excerpt.name
        checked += 1
    assert checked >= 6


def test_harmonic_fit_counts_consonant_onsets_by_hand() -> None:
    soprano = Piece([Note(0.0, 2.0, 72), Note(2.0, 1.0, 74)])
    # onsets 0, 1, 2: C5 over C3 (octave, consonant), C5 over B2 (minor ninth, dissonant), D5 over G2 (fifth)
    bass = Piece([Note(0.0, 1.0, 48), Note(1.0, 1.0, 47), Note(2.0, 1.0, 43)])
    assert harmonic_fit(soprano, bass) == pytest.approx(2 / 3)
    fourth = Piece([Note(0.0, 1.0, 67)])  # C5 over G4: a fourth above the bass counts as dissonant
    assert harmonic_fit(Piece([Note(0.0, 1.0, 72)]), fourth) == 0.0
    assert harmonic_fit(soprano, Piece([])) == 0.0  # a silent bass fits nothing
    late = Piece([Note(3.0, 1.0, 48)])  # sounds only after the soprano ends: no onset with both
    assert harmonic_fit(soprano, late) == 0.0


class Pieces:
    """A stand-in music domain: row ``i`` of a batch is ``pieces[values[i, 0]]``."""

    def __init__(self, pieces: list[Piece], conditions: ConditionSpec | None = None) -> None:
        self.pieces = pieces
        self.spec = DomainSpec(kind="discrete", max_len=1, vocab_size=len(pieces), conditions=conditions)

    def to_pieces(self, batch: Batch, prefix: str = "sample") -> list[Piece]:
        return [self.pieces[int(i)] for i in batch.values[:, 0].tolist()]


def rows(ids: list[int], **condition: Any) -> Batch:
    return Batch.full_length(torch.tensor(ids).unsqueeze(1), condition=Condition(**condition))


def test_mode_fidelity_and_per_class_distance_by_hand() -> None:
    metrics.clear_cache()
    c_major = line([60, 64, 67, 72, 67, 64, 60], "C")
    a_minor = line([57, 60, 64, 69, 68, 64, 57], "a")
    g_major = line([55, 59, 62, 67, 62, 59, 55, 54], "G")
    stand_in = Pieces([c_major, a_minor, g_major, Piece([], name="silence")], ConditionSpec(num_classes=2, class_names=("major", "minor")))
    fake = rows([0, 1, 1, 2, 3], labels=torch.tensor([0, 0, 1, 0, 1]))
    # asked major/major/minor/major/minor: C major yes, a minor no, a minor yes, G major yes, silence no
    assert ModeFidelity(stand_in)(fake, fake) == pytest.approx(3 / 5)
    real = rows([0, 2, 1, 1], labels=torch.tensor([0, 0, 1, 1]))
    by_class = ClassMusicDistance(stand_in, bins=5)(real, fake)
    major = feature_distance([c_major, g_major], [c_major, a_minor, g_major], bins=5)["mean"]
    minor = feature_distance([a_minor, a_minor], [a_minor, Piece([])], bins=5)["mean"]
    assert by_class == pytest.approx((major + minor) / 2)
    with pytest.raises(ValueError, match="conditioned on mode"):
        ModeFidelity(Pieces([c_major]))
    with pytest.raises(ValueError, match="no mode labels"):
        ModeFidelity(stand_in)(fake, Batch.full_length(torch.tensor([[0]])))


def test_harmonic_fit_metric_reads_the_soprano_from_the_condition() -> None:
    metrics.clear_cache()
    soprano, good, bad = Piece([Note(0.0, 1.0, 72)]), Piece([Note(0.0, 1.0, 48)]), Piece([Note(0.0, 1.0, 49)])
    stand_in = Pieces([soprano, good, bad])
    fake = rows([1, 2], context=rows([0, 0]))
    assert HarmonicFit(stand_in)(fake, fake) == pytest.approx(0.5)


# --------------------------------------------------------------------------- the chorale voices


def test_voice_parts_by_name_or_by_position() -> None:
    assert voice_parts([("Soprano", ""), ("Alto", ""), ("Tenor", ""), ("Bass", "")]) == (0, 3)
    assert voice_parts([("spine_3", ""), ("spine_2", ""), ("spine_1", ""), ("spine_0", "")]) == (0, 3)
    assert voice_parts([("Trumpet 1", ""), ("Soprano Oboe 1", ""), ("Tenor", ""), ("Bass Continuo", ""), ("Timpani", "")]) == (1, 3)
    assert voice_parts([("Trumpet", ""), ("Horn", "")]) == (None, None)


def test_voices_round_trip_and_damaged_arrays_are_refused(cache: Path) -> None:
    pieces, voices = hand_chorales()
    arrays = voices_to_arrays(voices, pieces)
    back = arrays_to_voices(arrays)
    assert [(v.name, v.mode) for v in back] == [(v.name, v.mode) for v in voices]
    assert [n.pitch for n in back[1].soprano.notes] == MINOR[1]
    assert chorale_voices(cache_dir=cache, limit=2, progress=False) == back[:2]
    with pytest.raises(ValueError, match="format_version"):
        arrays_to_voices({**arrays, "format_version": np.array(99)})
    with pytest.raises(ValueError, match="mode must be 0 or 1"):
        arrays_to_voices({**arrays, "mode": np.array([0, 1, 2, 0, 1, 0], dtype=np.int8)})


def test_bass_excerpts_carry_the_soprano_over_the_same_beats() -> None:
    bass = Piece([Note(0.0, 2.0, 48), Note(2.0, 1.0, 43), Note(3.0, 1.0, 45), Note(4.0, 4.0, 41)])
    soprano = Piece([Note(0.0, 1.0, 72), Note(1.0, 2.0, 71), Note(3.0, 2.0, 72), Note(5.0, 3.0, 69)])
    pairs = bass_under_soprano(bass, soprano, notes=2, stride=1)
    assert len(pairs) == 3
    second_bass, second_soprano = pairs[1]  # bass G2 A2 from beat 2 to beat 4 (the next bass onset)
    assert [(n.start, n.pitch) for n in second_bass.notes] == [(0.0, 43), (1.0, 45)]
    assert [(n.start, n.duration, n.pitch) for n in second_soprano.notes] == [(1.0, 1.0, 72)]  # B4 began before; C5 cut at beat 4
    last_bass, last_soprano = pairs[2]  # the last excerpt ends with its last note (beat 8)
    assert [(n.start, n.duration, n.pitch) for n in last_soprano.notes] == [(0.0, 2.0, 72), (2.0, 3.0, 69)]


# --------------------------------------------------------------------------- the domain


def test_mode_labels_follow_each_chorale_and_the_shuffle_switch_permutes_them(cache: Path) -> None:
    music = domain(cache, condition="mode")
    assert music.spec.conditions == ConditionSpec(num_classes=2, class_names=("major", "minor"))
    train = music.load("train").batch
    # minor chorales are the ones holding a raised leading tone over their tonic: G#, D# or C# (with A, E, D)
    pitches_of = {frozenset(n.pitch for n in p.notes): v.mode for p, v in zip(*hand_chorales())}
    expected = [("major", "minor").index(pitches_of[frozenset(n.pitch for n in p.notes)]) for p in music.to_pieces(train)]
    assert train.condition.labels.tolist() == expected and len(expected) == 4
    shuffled = domain(cache, condition="mode", shuffle_train_conditions=True)
    labels = shuffled.load("train").batch.condition.labels
    assert sorted(labels.tolist()) == sorted(expected) and torch.equal(shuffled.load("train").batch.values, train.values)
    assert torch.equal(shuffled.load("test").batch.condition.labels, music.load("test").batch.condition.labels)


def test_tonic_shift_takes_the_nearer_way_to_c_and_stays_in_the_midi_range() -> None:
    middle = line([60, 64, 67], "middle")
    assert [tonic_shift(t, middle) for t in range(12)] == [0, -1, -2, -3, -4, -5, 6, 5, 4, 3, 2, 1]
    assert tonic_shift(6, line([125], "high")) == -6 and tonic_shift(5, line([2], "low")) == 7  # an octave the other way
    assert transposed(middle, 0) is middle and [n.pitch for n in transposed(middle, -2).notes] == [58, 62, 65]


def test_estimate_tonic_answers_within_the_mode_it_is_given() -> None:
    a_minor = line([57, 59, 60, 62, 64, 65, 68, 69, 64, 60, 57], "a-harmonic-minor")
    assert estimate_tonic(a_minor, "minor") == 9
    c_major = line([60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60], "c-major")
    assert estimate_tonic(c_major, "major") == 0 and estimate_tonic(c_major, "minor") == 9  # its relative minor
    assert estimate_tonic(Piece([], name="empty"), "major") is None


def test_tonic_c_moves_every_chorale_to_c_major_or_c_minor_with_its_soprano_and_bass(cache: Path) -> None:
    """The hand chorales are one major and one minor cadence, each written in three keys: moved to C, the copies agree up to an octave.

    Each piece takes the nearer way to C, so a cadence written a fourth or a fifth up can
    land an octave away from the one written low: those copies are kept.
    """
    music = domain(cache, condition="mode", transpose="tonic-c")
    with pytest.warns(UserWarning, match=r"moved to C.*dropped 2 piece"):
        music.load("train")
    found: dict[str, set[tuple[int, ...]]] = {"major": set(), "minor": set()}
    for split in ("train", "test"):
        batch = music.load(split).batch
        for piece, label in zip(music.to_pieces(batch), batch.condition.labels.tolist()):
            mode = ("major", "minor")[label]
            assert estimate_tonic(piece, mode) == 0
            found[mode].add(tuple(sorted(n.pitch for n in piece.notes)))
    shifts = {}
    for mode, (low, high) in (("major", MAJOR), ("minor", MINOR)):
        shifts[mode] = {pitches[0] - min(low) for pitches in found[mode]}
        assert found[mode] == {tuple(sorted(p + shift for p in low + high)) for shift in shifts[mode]}
        assert len({shift % 12 for shift in shifts[mode]}) == 1  # one key, perhaps in two octaves
    assert {shift % 12 for shift in shifts["major"]} == {0}  # written in C already
    bass = domain(cache, condition="soprano", notes=8, stride=8, transpose="tonic-c")
    with pytest.warns(UserWarning, match="moved to C"):
        bass.load("train")
    for split in ("train", "test"):
        batch = bass.load(split).batch
        for low, high in zip(bass.to_pieces(batch), bass.to_pieces(batch.condition.context)):
            pair = ([n.pitch for n in low.notes], [n.pitch for n in high.notes])
            assert any(pair == ([p + shift for p in low], [p + shift for p in high])
                       for mode, (low, high) in (("major", MAJOR), ("minor", MINOR)) for shift in shifts[mode])


def test_soprano_condition_is_a_context_batch_in_the_same_representation(cache: Path) -> None:
    for representation in ("tokens", "events"):
        music = domain(cache, condition="soprano", notes=8, stride=8, representation=representation)
        context = music.spec.conditions.context
        assert context is not None and context.kind == music.spec.kind
        test = music.load("test").batch
        basses, sopranos = music.to_pieces(test), music.to_pieces(test.condition.context)
        voices = {frozenset(n.pitch for n in v.bass.notes): v for v in hand_chorales()[1]}
        for bass, soprano in zip(basses, sopranos):
            truth = voices[frozenset(n.pitch for n in bass.notes)]
            assert [n.pitch for n in soprano.notes] == [n.pitch for n in truth.soprano.notes]
        fit = HarmonicFit(music)(test, test)
        assert fit == pytest.approx(np.mean([harmonic_fit(s, b) for s, b in zip(sopranos, basses)]))
    with pytest.raises(ValueError, match="condition 'soprano' needs source 'chorales'"):
        MusicDomain(source="builtin", condition="soprano")


def test_samples_name_their_mode_or_carry_their_soprano_as_a_track(cache: Path, tmp_path: Path) -> None:
    music = domain(cache, condition="mode")
    test = music.load("test").batch
    written = music.write_samples(test, tmp_path, "mode")
    modes = ["major", "minor"]
    assert [p.name for p in written] == [f"{i:04d}-{modes[label]}.mid" for i, label in enumerate(test.condition.labels.tolist())]
    bass = domain(cache, condition="soprano", notes=8, stride=8)
    test = bass.load("test").batch
    first = bass.write_samples(test, tmp_path, "bass")[0]
    midi = mido.MidiFile(first)
    assert [t.name for t in midi.tracks] == ["soprano (given)", "bass (generated)"]
    on = [[m.note for m in t if m.type == "note_on" and m.velocity > 0] for t in midi.tracks]
    assert on == [[n.pitch for n in bass.to_pieces(test.condition.context)[0].notes], [n.pitch for n in bass.to_pieces(test)[0].notes]]


def test_a_file_of_modes_and_a_folder_of_melodies_are_read_as_conditions(cache: Path, tmp_path: Path) -> None:
    from seqtk.plugins.music.midi import write_midi

    modes = tmp_path / "modes.txt"
    modes.write_text("minor\n\nmajor\n1\n")
    assert domain(cache, condition="mode").read_conditions(modes).labels.tolist() == [1, 0, 1]
    modes.write_text("minor\ndorian\n")
    with pytest.raises(DataError, match=r"modes.txt: line 2: unknown mode 'dorian'; valid: major, minor"):
        domain(cache, condition="mode").read_conditions(modes)

    # A melody with a chord under its first note: the skyline keeps the top note, cut where the next onset begins.
    tune = [Note(0.0, 2.0, 72), Note(0.0, 1.0, 60), Note(0.0, 1.0, 64), Note(1.0, 1.0, 74), Note(2.0, 1.0, 76), Note(3.0, 1.0, 77), Note(4.0, 1.0, 79)]
    folder = tmp_path / "melodies"
    folder.mkdir()
    write_midi(Piece(tune, tempo_bpm=80.0, beats_per_bar=4.0, name="tune"), folder / "tune.mid")
    bass = domain(cache, condition="soprano", notes=4, stride=4)
    context = bass.read_conditions(folder).context
    assert context is not None and context.values.shape[1] == bass.spec.conditions.context.max_len
    got = [[(n.start, n.duration, n.pitch) for n in piece.notes] for piece in bass.to_pieces(context)]
    assert got == [[(0.0, 1.0, 72), (1.0, 1.0, 74), (2.0, 1.0, 76), (3.0, 1.0, 77)], [(0.0, 1.0, 79)]]
    moved = domain(cache, condition="soprano", notes=4, stride=4, transpose="tonic-c")
    with pytest.warns(UserWarning, match="moved to C"):
        moved.load("train")
    in_d = tmp_path / "in-d.mid"
    write_midi(Piece([Note(float(i), 1.0, p) for i, p in enumerate([74, 76, 78, 79, 81, 78, 74])], name="in-d"), in_d)
    shifted = [[n.pitch for n in piece.notes] for piece in moved.to_pieces(moved.read_conditions(in_d).context)]
    assert shifted == [[72, 74, 76, 77], [79, 76, 72]]  # D major moved down a tone to C, the whole tune alike
    with pytest.raises(DataError, match="no such file or folder"):
        bass.read_conditions(tmp_path / "missing")
    with pytest.raises(DataError, match="unconditional"):
        domain(cache).read_conditions(modes)


def test_the_condition_is_kept_with_the_run_and_a_mismatch_refused(cache: Path) -> None:
    trained = domain(cache, condition="soprano", notes=8, stride=8)
    state = trained.state_dict()
    restored = domain(cache, condition="soprano", notes=8, stride=8)
    restored.load_state_dict(state)
    assert restored.spec == trained.spec
    with pytest.raises(DataError, match="trained with condition 'soprano'"):
        domain(cache, condition="none", notes=8, stride=8).load_state_dict(state)


# --------------------------------------------------------------------------- recipes


def music_recipe(cache: Path, condition: str, **parts: Any) -> dict[str, Any]:
    recipe: dict[str, Any] = {
        "seqtk": 1, "name": "cm", "seed": 0,
        "domain": {"name": "music", "params": {"source": "chorales", "representation": "tokens", "cache_dir": str(cache), "condition": condition}},
        "preset": "maligan",
        "eval": {"metrics": ["music-distance"]},
    }
    recipe.update(parts)
    return recipe


def test_recipes_check_the_condition_against_networks_and_metrics(cache: Path) -> None:
    host = PluginHost()
    load_recipe(music_recipe(cache, "mode", eval={"metrics": ["mode-fidelity", "class-music-distance"]}), host=host)
    # A third party's discriminator written before conditioning declares no accepts.
    host.registry.add("discriminators", "plain-cnn", "seqtk.plugins.discriminators:CNNDiscriminator", plugin="old")
    with pytest.raises(RecipeError, match="plain-cnn' cannot use the domain's label condition"):
        load_recipe(music_recipe(cache, "mode", discriminator={"name": "plain-cnn"}), host=host)
    with pytest.raises(RecipeError, match="mode-fidelity"):
        load_recipe(music_recipe(cache, "none", eval={"metrics": ["mode-fidelity"]}), host=host)
    with pytest.raises(RecipeError, match="harmonic-fit"):
        load_recipe(music_recipe(cache, "mode", eval={"metrics": ["harmonic-fit"]}), host=host)


def test_the_shipped_conditional_music_recipes_validate() -> None:
    recipes = Path(__file__).resolve().parents[1] / "recipes"
    for name in ("chorales-mode.yaml", "chorales-bass.yaml"):
        load_recipe(recipes / name, host=PluginHost())


# --------------------------------------------------------------------------- grid-lstm under a condition


def test_an_unconditional_grid_lstm_is_unchanged_and_a_conditional_one_learns_its_labels() -> None:
    spec = DomainSpec(kind="continuous", max_len=3, features=1, value_range=(0.0, 1.0))
    torch.manual_seed(0)
    plain = GridLSTMGenerator(spec, bins=2, embed_dim=4, hidden_dim=8, head_dim=8)
    assert plain.condition_embed is None and not any("condition" in key for key in plain.state_dict())
    conditional_spec = DomainSpec(kind="continuous", max_len=3, features=1, value_range=(0.0, 1.0), conditions=ConditionSpec(num_classes=2))
    torch.manual_seed(0)
    generator = GridLSTMGenerator(conditional_spec, bins=2, embed_dim=4, hidden_dim=8, head_dim=8)
    labels = torch.tensor([0, 1] * 32)
    real = Batch.full_length(labels.float().view(-1, 1, 1).expand(-1, 3, 1).contiguous(), condition=Condition(labels=labels))

    def accuracy() -> float:
        with torch.no_grad():
            drawn = generator.sample(64, condition=Condition(labels=labels))
        assert torch.equal(drawn.condition.labels, labels)
        return float((drawn.values[:, :, 0].round() == labels.float().unsqueeze(1)).float().mean())

    before = accuracy()
    optimizer = torch.optim.Adam(generator.parameters(), lr=0.05)
    for _ in range(40):
        optimizer.zero_grad()
        generator.pretrain_loss(real).backward()
        optimizer.step()
    assert before < 0.8 and accuracy() > 0.95
    with pytest.raises(ValueError, match="needs a condition per row"):
        generator.sample(2)


@pytest.mark.parametrize("every_step", [False, True])
def test_grid_lstm_sampling_and_teacher_forcing_agree_under_a_condition(every_step: bool) -> None:
    spec = DomainSpec(kind="continuous", max_len=4, features=2, value_range=(0.0, 1.0), conditions=ConditionSpec(num_classes=3))
    torch.manual_seed(1)
    generator = GridLSTMGenerator(spec, bins=5, embed_dim=4, hidden_dim=8, head_dim=8, condition_every_step=every_step).eval()
    condition = Condition(labels=torch.tensor([0, 1, 2, 2]))
    with torch.no_grad():
        drawn = generator.sample(4, condition=condition)
        replayed = generator.log_likelihoods(drawn).sum(-1)
        other = generator.log_likelihoods(Batch(values=drawn.values, lengths=drawn.lengths, condition=Condition(labels=torch.tensor([1, 2, 0, 0])))).sum(-1)
    assert torch.allclose(replayed, drawn.log_probs, atol=1e-5)
    late_steps_differ = not torch.allclose(other[:, 1:], replayed[:, 1:])
    assert not torch.allclose(other[:, 0], replayed[:, 0]) and late_steps_differ
