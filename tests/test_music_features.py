"""Tests of the per-piece music features and the histogram-overlap distance, on hand-built pieces."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seqtk.plugins.music import features
from seqtk.plugins.music.features import (
    FEATURES,
    empty_beat_rate,
    feature_distance,
    note_density,
    overlap,
    piece_features,
    pitch_class_entropy,
    pitch_range,
    polyphony,
    repetitions,
    scale_consistency,
    used_pitch_classes,
)
from seqtk.plugins.music.notes import Note, Piece

C_MAJOR = [60, 62, 64, 65, 67, 69, 71]


def melody(pitches, duration=1.0, start=0.0, velocity=64):
    """One note after another, each ``duration`` beats long."""
    return Piece([Note(start + i * duration, duration, p, velocity) for i, p in enumerate(pitches)], name="melody")


def notes(*triples):
    """A piece from ``(start, duration, pitch)`` triples."""
    return Piece([Note(s, d, p) for s, d, p in triples], name="hand-built")


SCALE = melody(C_MAJOR)
CHORD = notes((0, 1, 60), (0, 1, 64), (0, 1, 67))
EMPTY = Piece([], name="empty")


# --------------------------------------------------------------------------- pitch features


def test_c_major_scale_by_hand():
    assert pitch_range(SCALE) == 11.0
    assert used_pitch_classes(SCALE) == 7.0
    assert pitch_class_entropy(SCALE) == pytest.approx(math.log2(7), abs=1e-12)
    assert scale_consistency(SCALE) == 1.0
    assert polyphony(SCALE) == 1.0
    assert note_density(SCALE) == 1.0  # 7 notes over 7 beats
    assert empty_beat_rate(SCALE) == 0.0
    assert repetitions(SCALE) == 0.0  # intervals 2 2 1 2 2 2: (2,2,1) (2,1,2) (1,2,2) (2,2,2), none repeats


def test_pitch_range_and_classes_count_octaves_once():
    piece = melody([48, 60, 72, 61])
    assert pitch_range(piece) == 24.0
    assert used_pitch_classes(piece) == 2.0  # C (three times) and C#
    assert pitch_range(melody([65])) == 0.0 and used_pitch_classes(melody([65])) == 1.0


def test_entropy_counts_notes_not_durations():
    # C three times (short), G once (long): p = (3/4, 1/4) whatever the durations
    piece = notes((0, 0.25, 60), (0.25, 0.25, 72), (0.5, 0.25, 48), (1, 8, 67))
    want = -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))
    assert pitch_class_entropy(piece) == pytest.approx(want, abs=1e-12)
    assert pitch_class_entropy(melody(range(60, 72))) == pytest.approx(math.log2(12), abs=1e-12)
    assert pitch_class_entropy(melody([60, 60, 72])) == 0.0


def test_scale_consistency_is_the_best_scale_share():
    # C major plus one F#: 7 of 8 notes fit C major; G major (F# instead of F) fits 7 too
    assert scale_consistency(melody(C_MAJOR + [66])) == pytest.approx(7 / 8)
    # the chromatic scale: any major or minor scale holds 7 of the 12 classes
    assert scale_consistency(melody(range(60, 72))) == pytest.approx(7 / 12)
    # A natural minor on A: same classes as C major, a transposed copy scores the same
    assert scale_consistency(melody([57, 59, 60, 62, 64, 65, 67])) == 1.0
    assert scale_consistency(melody([p + 3 for p in C_MAJOR])) == 1.0
    # C, C#, D, D#: no 7-note scale holds all four; the best holds 3 (e.g. C minor: C D D#)
    assert scale_consistency(melody([60, 61, 62, 63])) == pytest.approx(3 / 4)


def test_scale_consistency_reference_over_24_scales():
    rng = np.random.default_rng(0)
    pitches = rng.integers(40, 90, size=50).tolist()
    classes = np.array(pitches) % 12
    major, minor = [0, 2, 4, 5, 7, 9, 11], [0, 2, 3, 5, 7, 8, 10]
    want = max(
        np.isin(classes, [(tonic + s) % 12 for s in steps]).mean() for steps in (major, minor) for tonic in range(12)
    )
    assert scale_consistency(melody(pitches)) == pytest.approx(want, abs=1e-12)


# --------------------------------------------------------------------------- time features


def test_polyphony_by_hand():
    assert polyphony(CHORD) == 3.0
    # [0, 2) and [1, 2): four steps with one pitch, four with two -> 1.5
    assert polyphony(notes((0, 2, 60), (1, 1, 64))) == 1.5
    # rests are not counted: two single notes far apart -> 1
    assert polyphony(notes((0, 1, 60), (3, 1, 62))) == 1.0
    # the same pitch twice at once sounds as one
    assert polyphony(notes((0, 1, 60), (0, 0.5, 60))) == 1.0
    # a very short note fills one step: C for 4 steps, E for step 0 only -> (2 + 1 + 1 + 1) / 4
    assert polyphony(notes((0, 1, 60), (0, 0.05, 64))) == 1.25


def test_polyphony_rounds_to_the_sixteenth_grid():
    # onsets 0.1 -> step 0 and 0.9 -> step 4 (nearest); ends 1.1 -> 4, 2 -> 8
    assert polyphony(notes((0.1, 1.0, 60), (0.9, 1.1, 64))) == 1.0
    # 0.125 is half a step: rounds up to step 1, so the two notes overlap on steps 1..3
    assert polyphony(notes((0, 1, 60), (0.125, 0.875, 64))) == pytest.approx((1 + 2 + 2 + 2) / 4)


def test_note_density_counts_leading_silence():
    assert note_density(CHORD) == 3.0  # 3 notes in 1 beat
    assert note_density(notes((2, 1, 60), (3, 1, 62))) == 0.5  # 2 notes over beats 0..4


def test_empty_beat_rate_by_hand():
    assert empty_beat_rate(notes((0, 1, 60), (3, 1, 62))) == 0.5  # beats 1 and 2 of 4 empty
    assert empty_beat_rate(notes((0, 0.5, 60), (2.5, 0.5, 62))) == pytest.approx(1 / 3)  # beat 1 of 3
    assert empty_beat_rate(notes((0, 4, 60))) == 0.0  # a held note fills every beat it crosses
    assert empty_beat_rate(notes((2, 1, 60))) == pytest.approx(2 / 3)  # leading silence counts
    # a note ending exactly on a beat does not fill the next one, even after float rounding
    assert empty_beat_rate(notes((0.1, 0.2, 60), (0.3, 2.7, 62), (4, 1, 64))) == pytest.approx(1 / 5)
    assert empty_beat_rate(notes((0, 0.1 + 0.2 + 0.7, 60), (2, 1, 60))) == pytest.approx(1 / 3)


def test_repetitions_by_hand():
    # 60 62 64 65 | 60 62 64 65: intervals 2 2 1 -5 2 2 1; 5 trigrams, the last repeats the first
    assert repetitions(melody([60, 62, 64, 65] * 2)) == pytest.approx(1 / 5)
    # a motif and its transposition a fifth up: 2 2 1 2 2 2 1 -> (2,2,1) again at the end
    assert repetitions(melody([60, 62, 64, 65, 67, 69, 71, 72])) == pytest.approx(1 / 5)
    # one pitch eight times: 5 trigrams (0,0,0), all but the first repeat
    assert repetitions(melody([60] * 8)) == pytest.approx(4 / 5)
    # fewer than four notes: no trigram of intervals
    assert repetitions(melody([60, 62, 64])) == 0.0
    # a chord is read upwards: C E G C E G -> 4 3 -7 4 3 -> (4,3,-7) (3,-7,4) (-7,4,3): 0
    assert repetitions(notes((0, 1, 60), (0, 1, 64), (0, 1, 67), (1, 1, 60), (1, 1, 64), (1, 1, 67))) == 0.0


def test_repetitions_matches_a_brute_force_reference():
    rng = np.random.default_rng(1)
    pitches = rng.integers(60, 64, size=40).tolist()
    d = np.diff(pitches)
    grams = [tuple(d[i : i + 3]) for i in range(len(d) - 2)]
    want = sum(grams[i] in grams[:i] for i in range(len(grams))) / len(grams)
    assert repetitions(melody(pitches)) == pytest.approx(want, abs=1e-12)


def test_every_feature_of_an_empty_piece_is_zero():
    assert piece_features(EMPTY) == {name: 0.0 for name in FEATURES}


def test_features_registry_and_types():
    assert list(FEATURES) == [
        "pitch-range", "used-pitch-classes", "pitch-class-entropy", "scale-consistency",
        "polyphony", "repetitions", "note-density", "empty-beat-rate",
    ]  # fmt: skip
    for name, function in FEATURES.items():
        assert function.__name__ == name.replace("-", "_")
        assert type(function(SCALE)) is float and type(function(EMPTY)) is float
    assert piece_features(CHORD)["polyphony"] == 3.0


# --------------------------------------------------------------------------- overlap and distance


def test_overlap_of_identical_and_disjoint_samples():
    values = [0.5, 1.0, 1.0, 7.25, 3.0]
    assert overlap(values, values) == 1.0
    assert overlap(values, list(reversed(values)), bins=3) == 1.0
    assert overlap([0, 0, 1], [5, 6]) == 0.0
    assert overlap([2.0, 2.0], [2.0]) == 1.0  # one value everywhere: nothing to tell apart


def test_overlap_by_hand():
    # bins [0, .5) [.5, 1]: real (1/2, 1/2), fake (1/4, 3/4) -> 1/2 + 1/4
    assert overlap([0, 0, 1, 1], [0, 1, 1, 1], bins=2) == 0.75
    # range 0..4, bins of width 1: real (1/3 in [0,1), 2/3 in [1,2)), fake (1/2 in [1,2), 1/2 in [3,4])
    assert overlap([0, 1, 1.5], [1, 4], bins=4) == pytest.approx(1 / 2)
    # the bin count matters: one bin holds everything
    assert overlap([0, 0, 1], [5, 6], bins=1) == 1.0


def test_overlap_matches_numpy_histograms():
    rng = np.random.default_rng(2)
    real, fake = rng.normal(0, 1, 300), rng.normal(0.5, 1.5, 200)
    edges = np.linspace(min(real.min(), fake.min()), max(real.max(), fake.max()), 21)
    p = np.histogram(real, edges)[0] / len(real)
    q = np.histogram(fake, edges)[0] / len(fake)
    assert overlap(real, fake) == pytest.approx(np.minimum(p, q).sum(), abs=1e-12)
    assert overlap(real, fake) == pytest.approx(overlap(fake, real), abs=1e-12)


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (([], [1.0]), {}, "overlap: real_values is empty; pass at least one value"),
        (([1.0], []), {}, "overlap: fake_values is empty; pass at least one value"),
        (([1.0, float("nan")], [1.0]), {}, "overlap: real_values[1] is nan; every value must be finite"),
        (([1.0], [float("inf")]), {}, "overlap: fake_values[0] is inf; every value must be finite"),
        (([1.0], [2.0]), {"bins": 0}, "overlap: bins must be a whole number >= 1, got 0"),
        (([1.0], [2.0]), {"bins": 2.5}, "overlap: bins must be a whole number >= 1, got 2.5"),
    ],
)
def test_overlap_rejects_bad_input(args, kwargs, message):
    with pytest.raises(ValueError) as caught:
        overlap(*args, **kwargs)
    assert str(caught.value) == message


def test_feature_distance_of_a_set_against_itself_is_zero():
    pieces = [SCALE, CHORD, EMPTY, melody([60, 62, 64, 65] * 2), notes((0, 2, 60), (1, 1, 64), (5, 1, 70))]
    distance = feature_distance(pieces, pieces)
    assert list(distance) == list(FEATURES) + ["mean"]
    assert distance == {name: 0.0 for name in distance}
    assert feature_distance(pieces, list(reversed(pieces)))["mean"] == 0.0


def test_feature_distance_by_hand():
    real = [SCALE, SCALE]
    fake = [CHORD]
    distance = feature_distance(real, fake)
    # feature by feature: scale vs chord (60 64 67)
    want = {
        "pitch-range": 1.0,  # 11 vs 7
        "used-pitch-classes": 1.0,  # 7 vs 3
        "pitch-class-entropy": 1.0,  # log2 7 vs log2 3
        "scale-consistency": 0.0,  # both 1
        "polyphony": 1.0,  # 1 vs 3
        "repetitions": 0.0,  # both 0
        "note-density": 1.0,  # 1 vs 3
        "empty-beat-rate": 0.0,  # both 0
    }
    want["mean"] = 5 / 8
    assert distance == pytest.approx(want)
    # each distance is 1 - overlap of the feature's values
    half = feature_distance([SCALE, CHORD], [CHORD], bins=4)
    assert half["polyphony"] == pytest.approx(1 - overlap([1.0, 3.0], [3.0], bins=4)) == pytest.approx(0.5)


def test_feature_distance_needs_pieces_on_both_sides():
    with pytest.raises(ValueError, match=r"^feature_distance: real holds no pieces; pass at least one real piece$"):
        feature_distance([], [SCALE])
    with pytest.raises(ValueError, match=r"^feature_distance: fake holds no pieces; pass at least one generated"):
        feature_distance([SCALE], [])


def test_module_constants():
    assert features.STEPS_PER_BEAT == 4 and features.REPETITION_NGRAM == 3 and features.DEFAULT_BINS == 20
