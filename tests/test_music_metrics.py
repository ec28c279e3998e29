"""Music metrics: feature distances by hand, their mean, and the one-batch-per-side cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqtk.core.interfaces import Batch
from seqtk.core.registry import Entry
from seqtk.plugins.music import metrics as music_metrics
from seqtk.plugins.music.builtin import builtin_pieces
from seqtk.plugins.music.features import FEATURES, feature_distance
from seqtk.plugins.music.metrics import FeatureDistance, MusicDistance, clear_cache
from seqtk.plugins.music.notes import Note, Piece


class LookupDomain:
    """A stand-in for the music domain: row ``i`` of a batch holds an index into ``pieces``."""

    def __init__(self, pieces: list[Piece]) -> None:
        self.pieces = pieces
        self.calls = 0

    def to_pieces(self, batch: Batch) -> list[Piece]:
        self.calls += 1
        return [self.pieces[int(i)] for i in batch.values[:, 0]]


def rows(*indices: int) -> Batch:
    return Batch.full_length(torch.tensor(indices, dtype=torch.long).unsqueeze(1))


def chord(*pitches: int, start: float = 0.0, duration: float = 1.0) -> list[Note]:
    return [Note(start, duration, p, 80) for p in pitches]


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


# Pieces 0-3 for the hand-computed tests.
HAND = [
    Piece(notes=chord(60)),  # pitch range 0, one pitch class
    Piece(notes=chord(60, 72)),  # pitch range 12, one pitch class
    Piece(notes=chord(62, 74)),  # pitch range 12, one pitch class
    Piece(notes=chord(60, 64, 67)),  # pitch range 7, three pitch classes
]


def test_pitch_range_distance_by_hand():
    # real ranges {0, 12}, fake {12, 12}; bins=2 over [0, 12]: real [1/2, 1/2], fake [0, 1]
    # shared area min(1/2, 0) + min(1/2, 1) = 1/2, so the distance is exactly 1/2.
    metric = FeatureDistance(LookupDomain(HAND), "pitch-range", bins=2)
    assert metric(rows(0, 1), rows(1, 2)) == 0.5


def test_used_pitch_classes_distance_by_hand_with_unequal_sizes():
    # real classes {1, 1, 3} and fake {3}: 20 bins over [1, 3]; real puts 2/3 in the first
    # bin and 1/3 in the last, fake all of it in the last: shared area 1/3.
    metric = FeatureDistance(LookupDomain(HAND), "used-pitch-classes")
    assert metric(rows(0, 1, 3), rows(3)) == pytest.approx(2 / 3, abs=1e-15)
    assert metric(rows(0, 1), rows(3)) == 1.0  # no shared bin


def test_identical_real_and_generated_pieces_are_at_distance_zero():
    domain = LookupDomain(builtin_pieces(6, seed=2))
    real, fake = rows(0, 1, 2, 3, 4, 5), rows(0, 1, 2, 3, 4, 5)
    for name in FEATURES:
        assert FeatureDistance(domain, name)(real, fake) == 0.0
    assert MusicDistance(domain)(real, fake) == 0.0


def random_pieces(count: int, seed: int) -> list[Piece]:
    rng = np.random.default_rng(seed)
    pieces = []
    for _ in range(count):
        starts = np.sort(rng.integers(0, 32, size=20)) / 2
        notes = [Note(float(s), float(rng.integers(1, 5)) / 2, int(rng.integers(40, 90)), 64) for s in starts]
        pieces.append(Piece(notes=notes))
    return pieces


def test_music_distance_is_the_mean_of_the_eight_feature_distances():
    real_pieces, fake_pieces = builtin_pieces(10, seed=1), random_pieces(8, seed=0)
    domain = LookupDomain(real_pieces + fake_pieces)
    real, fake = rows(*range(10)), rows(*range(10, 18))
    each = [FeatureDistance(domain, name, bins=7)(real, fake) for name in FEATURES]
    total = MusicDistance(domain, bins=7)(real, fake)
    assert total == pytest.approx(float(np.mean(each)), abs=1e-15)
    assert total == feature_distance(real_pieces, fake_pieces, bins=7)["mean"]
    assert each == [feature_distance(real_pieces, fake_pieces, bins=7)[name] for name in FEATURES]
    assert 0.3 < total <= 1.0  # random notes are far from four-voice phrases
    assert each[list(FEATURES).index("scale-consistency")] == 1.0  # builtin scores 1.0, random notes below


def test_nine_metrics_decode_each_batch_once():
    domain = LookupDomain(builtin_pieces(4, seed=0) + random_pieces(4, seed=1))
    metrics = [FeatureDistance(domain, name) for name in FEATURES] + [MusicDistance(domain)]
    real, fake = rows(0, 1, 2, 3), rows(4, 5, 6, 7)
    first = [m(real, fake) for m in metrics]
    assert domain.calls == 2  # one decoding per side, not eighteen
    # the trainer's next evaluation: a fresh view of the same real rows, the same fake batch
    again = [m(real.index(torch.arange(4)), fake) for m in metrics]
    assert domain.calls == 2 and again == first


def test_a_different_batch_never_hits_a_stale_cache():
    domain = LookupDomain(HAND)
    metric = FeatureDistance(domain, "pitch-range", bins=2)
    real = rows(0, 1)
    assert metric(real, rows(1, 2)) == 0.5
    calls = domain.calls
    del_me = rows(1, 2)
    del del_me  # a new batch may reuse the freed memory (same id, same data_ptr, same shape)
    assert metric(real, rows(0, 0)) == 0.5  # fake ranges {0, 0}: shares the first bin's 1/2
    assert domain.calls == calls + 1
    fake = rows(0, 1)
    assert metric(real, fake) == 0.0
    fake.values[0, 0] = 1  # changed in place (fake ranges {12, 12}): same tensor object, new contents
    assert metric(real, fake) == 0.5
    assert domain.calls == calls + 3
    longer = Batch(values=rows(0, 1).values, lengths=torch.tensor([1, 0]))
    metric(real, longer)  # same values, other lengths: the domain may decode it differently
    assert domain.calls == calls + 4


def test_another_domain_decodes_for_itself():
    first, second = LookupDomain(HAND), LookupDomain(list(reversed(HAND)))
    real, fake = rows(0, 1), rows(1, 2)
    assert FeatureDistance(first, "pitch-range", bins=2)(real, fake) == 0.5
    # reversed lookup: real -> pieces 3, 2 (ranges 7, 12), fake -> 2, 1 (ranges 12, 12);
    # bins over [7, 12] split at 9.5: real [1/2, 1/2], fake [0, 1] -> distance 1/2, from fresh decodes
    assert FeatureDistance(second, "pitch-range", bins=2)(real, fake) == 0.5
    assert (first.calls, second.calls) == (2, 2)
    assert FeatureDistance(second, "used-pitch-classes", bins=2)(real, fake) == 0.5  # classes {3, 1} vs {1, 1}
    assert second.calls == 2


def test_the_cache_holds_one_batch_per_side_and_no_domain():
    domain = LookupDomain(HAND)
    metric = MusicDistance(domain)
    for index in range(4):
        metric(rows(index), rows(index, 0))
    assert sorted(music_metrics._LAST) == ["fake", "real"]
    del metric
    entry = music_metrics._LAST["real"]
    assert entry.domain() is domain
    del domain
    assert entry.domain() is None  # a weak reference: the cache does not keep a run's domain alive


def test_empty_batches_are_refused():
    metric = FeatureDistance(LookupDomain(HAND), "polyphony")
    empty = Batch(values=torch.zeros(0, 1, dtype=torch.long), lengths=torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError) as error:
        metric(rows(0), empty)
    assert str(error.value) == (
        "polyphony-distance: the generated batch holds no sequences; pass at least one generated sequence"
    )
    with pytest.raises(ValueError) as error:
        MusicDistance(LookupDomain(HAND))(empty, rows(0))
    assert str(error.value) == (
        "music-distance: the real (held-out) batch holds no sequences; pass at least one real (held-out) sequence"
    )


def test_unknown_feature_names_the_valid_ones_and_the_closest():
    valid = (
        "pitch-range, used-pitch-classes, pitch-class-entropy, scale-consistency, polyphony, "
        "repetitions, note-density, empty-beat-rate"
    )
    with pytest.raises(ValueError) as error:
        FeatureDistance(LookupDomain(HAND), "pitch_range")
    assert str(error.value) == f"feature-distance: unknown feature 'pitch_range' (did you mean 'pitch-range'?); valid: {valid}"
    with pytest.raises(ValueError) as error:
        FeatureDistance(LookupDomain(HAND), "tempo")
    assert str(error.value) == f"feature-distance: unknown feature 'tempo'; valid: {valid}"


@pytest.mark.parametrize("bins", [0, 2.5, True])
def test_bad_bins_and_domains_are_refused(bins):
    with pytest.raises(ValueError) as error:
        FeatureDistance(LookupDomain(HAND), "polyphony", bins=bins)
    assert str(error.value) == f"FeatureDistance: bins must be an integer >= 1, got {bins!r}"  # declared once: Annotated[int, Range(1)]
    with pytest.raises(ValueError) as error:
        MusicDistance(LookupDomain(HAND), bins=bins)
    assert str(error.value) == f"MusicDistance: bins must be an integer >= 1, got {bins!r}"


def test_a_domain_without_to_pieces_is_refused():
    with pytest.raises(ValueError) as error:
        MusicDistance(object())
    assert str(error.value) == (
        "music-distance: needs the music domain (one with to_pieces(batch)), got object; "
        "use it in a recipe whose domain is 'music'"
    )


def test_metric_flags():
    for cls in (FeatureDistance, MusicDistance):
        assert cls.higher_is_better is False
        assert cls.uses_whole_test_set is False


def test_registry_entries_build_with_the_injected_domain():
    """The registry.yaml entries the lead adds: the domain is injected, feature comes from defaults."""
    domain = LookupDomain(HAND)
    entry = Entry(
        kind="metrics",
        name="pitch-range-distance",
        target="seqtk.plugins.music.metrics:FeatureDistance",
        plugin="seqtk",
        defaults={"feature": "pitch-range"},
        requires=frozenset({"music"}),
    )
    assert entry.check_params({"bins": 2}) == []
    assert [key for key, _ in entry.check_params({"bin": 2})] == ["bin"]
    metric = entry.build({"domain": domain, "spec": None, "generator": None}, {"bins": 2})
    assert metric(rows(0, 1), rows(1, 2)) == 0.5
    overall = Entry(kind="metrics", name="music-distance", target="seqtk.plugins.music.metrics:MusicDistance", plugin="seqtk")
    assert list(overall.parameters()) == ["bins"]
    assert overall.build({"domain": domain, "spec": None}, {})(rows(0, 1), rows(0, 1)) == 0.0
