"""Distinct-n and the unique ratio by hand; the text metric classes on padded Batches."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import seqtk.plugins.text.metrics as text_metrics
from seqtk.core.interfaces import Batch, DomainSpec
from seqtk.core.registry import Registry
from seqtk.plugins.text.bleu import ReferenceSet, distinct_n, self_bleu, unique_ratio
from seqtk.plugins.text.metrics import BLEU, DistinctN, SelfBLEU, UniqueRatio, token_rows

REPO = Path(__file__).resolve().parents[1]
PAD, BOS, EOS = 0, 1, 2
SPEC = DomainSpec(kind="discrete", max_len=8, vocab_size=12, pad_id=PAD, bos_id=BOS, eos_id=EOS)


def batch(rows: list[list[int]], width: int | None = None, filler: int = PAD) -> Batch:
    """Rows padded with ``filler`` to ``width`` columns; lengths are the rows' own lengths."""
    width = width if width is not None else max(len(r) for r in rows)
    values = torch.tensor([r + [filler] * (width - len(r)) for r in rows], dtype=torch.long)
    return Batch(values=values, lengths=torch.tensor([len(r) for r in rows], dtype=torch.long))


# --------------------------------------------------------------------------- pure functions


def test_distinct_n_by_hand() -> None:
    sentences = [[7, 8, 7, 8], [7, 8]]
    # unigrams: 6 in all, {7, 8} distinct -> 2/6
    assert distinct_n(sentences, 1) == pytest.approx(2 / 6)
    # bigrams: 78 87 78 | 78 -> 4 in all, {78, 87} -> 2/4
    assert distinct_n(sentences, 2) == pytest.approx(0.5)
    # trigrams: 787 878 -> 2/2; 4-grams: 7878 -> 1/1
    assert distinct_n(sentences, 3) == 1.0 and distinct_n(sentences, 4) == 1.0
    # no 5-gram anywhere -> 0, not a division by zero
    assert distinct_n(sentences, 5) == 0.0
    # n-grams never cross sentence boundaries: [1] and [2] have no bigram
    assert distinct_n([[1], [2]], 2) == 0.0
    assert distinct_n([], 1) == 0.0


def test_unique_ratio_by_hand() -> None:
    assert unique_ratio([[1, 2], [1, 2], [3], []]) == pytest.approx(3 / 4)
    assert unique_ratio([[1, 2], [2, 1]]) == 1.0  # order matters
    assert unique_ratio([]) == 0.0


# --------------------------------------------------------------------------- rows from batches


def test_token_rows_cut_lengths_drop_bos_and_stop_at_eos() -> None:
    rows = token_rows(batch([[BOS, 5, 6, EOS], [5, EOS], [5, 6, 7], [EOS], [BOS]], width=6, filler=9), SPEC)
    assert rows == ((5, 6), (5,), (5, 6, 7), (), ())
    # an EOS inside the length ends the sentence there, as in the domain's sample files
    assert token_rows(batch([[5, EOS, 6, 7], [BOS, EOS, 5]]), SPEC) == ((5,), ())
    plain = DomainSpec(kind="discrete", max_len=8, vocab_size=12)  # no BOS/EOS: nothing dropped
    assert token_rows(batch([[1, 5, 2]]), plain) == ((1, 5, 2),)
    with pytest.raises(ValueError, match=r"\[B, T\] token ids"):
        token_rows(Batch.full_length(torch.zeros(2, 3, 4)), SPEC)


# --------------------------------------------------------------------------- metric classes

REAL = [[5, 6, 7, 8, EOS], [5, 6, 9, EOS], [10, 11, 5, 6, EOS], [7, 7, EOS]]
FAKE = [[5, 6, 7, EOS], [9, 9, 9, 9, EOS], [10, 11, EOS], [5, 6, 7, EOS], [3]]


def words(rows: list[list[int]]) -> list[list[int]]:
    return [[t for t in r if t != EOS] for r in rows]


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_bleu_metric_matches_the_reference_set_on_words_and_ignores_padding(n: int) -> None:
    metric = BLEU(spec=SPEC, n=n)
    expected = ReferenceSet(words(REAL)).mean_bleu(words(FAKE), n)
    assert metric(batch(REAL), batch(FAKE)) == pytest.approx(expected, abs=1e-12)
    # extra pad columns, or junk past each length, change nothing
    assert metric(batch(REAL, width=9), batch(FAKE, width=11, filler=7)) == pytest.approx(expected, abs=1e-12)


def test_bleu_of_a_test_sentence_is_one_whether_or_not_it_carries_eos() -> None:
    real = batch([[5, 6, 7, 8, EOS], [9, 10, EOS]])
    assert BLEU(spec=SPEC, n=4)(real, batch([[5, 6, 7, 8]])) == pytest.approx(1.0)
    assert BLEU(spec=SPEC, n=4)(real, batch([[5, 6, 7, 8, EOS]])) == pytest.approx(1.0)


def test_bleu_builds_the_reference_table_once_per_test_set(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[int] = []

    class Counting(ReferenceSet):
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            built.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(text_metrics, "ReferenceSet", Counting)
    monkeypatch.setattr(text_metrics, "_REFERENCE_CACHE", type(text_metrics._REFERENCE_CACHE)())
    real, fake = batch(REAL), batch(FAKE)
    first = BLEU(spec=SPEC, n=2)(real, fake)
    BLEU(spec=SPEC, n=4)(real, fake)  # another order, same test set
    assert BLEU(spec=SPEC, n=2)(batch(REAL, width=10), fake) == first  # same sentences, other padding
    assert len(built) == 1
    BLEU(spec=SPEC, n=2)(batch(REAL[:2]), fake)  # a different test set is a new table
    assert len(built) == 2


def test_self_bleu_metric_ignores_real_and_subsamples_the_first_rows() -> None:
    expected = self_bleu(words(FAKE), 3)
    metric = SelfBLEU(spec=SPEC, n=3)
    assert metric(batch(REAL), batch(FAKE)) == pytest.approx(expected, abs=1e-12)
    assert metric(batch(REAL[:1]), batch(FAKE, width=8, filler=4)) == pytest.approx(expected, abs=1e-12)
    first_three = SelfBLEU(spec=SPEC, n=3, max_samples=3)(batch(REAL), batch(FAKE))
    assert first_three == pytest.approx(self_bleu(words(FAKE[:3]), 3), abs=1e-12)
    with pytest.raises(ValueError, match="at least 2 samples"):
        metric(batch(REAL), batch(FAKE[:1]))


def test_diversity_metrics_on_batches() -> None:
    fake = batch(FAKE, width=7, filler=11)
    # words: 567 | 9999 | 10 11 | 567 | 3 -> unigrams 13 in all, distinct {5,6,7,9,10,11,3} = 7
    assert DistinctN(spec=SPEC, n=1)(batch(REAL), fake) == pytest.approx(7 / 13)
    # bigrams: 56 67 | 99 99 99 | 10-11 | 56 67 -> 8 in all, distinct {56, 67, 99, 10-11} = 4
    assert DistinctN(spec=SPEC, n=2)(batch(REAL), fake) == pytest.approx(4 / 8)
    # 5 samples, "5 6 7" among them twice -> 4 distinct
    assert UniqueRatio(spec=SPEC)(batch(REAL), fake) == pytest.approx(4 / 5)


def test_mode_collapse_shows_in_every_diversity_metric() -> None:
    collapsed = batch([[5, 6, 7, 8, EOS]] * 6)
    diverse = batch([[5, 6, 7, 8, EOS], [9, 10, 11, EOS], [3, 4, 5, EOS], [6, 3, 9, 10, EOS], [11, 4, EOS], [7, 5, 3, EOS]])
    for metric in (SelfBLEU(spec=SPEC, n=2), DistinctN(spec=SPEC, n=2), UniqueRatio(spec=SPEC)):
        worse, better = (collapsed, diverse) if metric.higher_is_better else (diverse, collapsed)
        assert metric(worse, worse) < metric(better, better), type(metric).__name__
    assert SelfBLEU(spec=SPEC, n=4)(collapsed, collapsed) == pytest.approx(1.0)
    assert UniqueRatio(spec=SPEC)(collapsed, collapsed) == pytest.approx(1 / 6)


def test_directions_and_whole_test_set_flags() -> None:
    assert BLEU.higher_is_better and BLEU.uses_whole_test_set
    assert not SelfBLEU.higher_is_better and not SelfBLEU.uses_whole_test_set
    assert DistinctN.higher_is_better and UniqueRatio.higher_is_better


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: BLEU(spec=SPEC, n=0), "BLEU: n must be an integer in \\[1, 5\\], got 0"),
        (lambda: BLEU(spec=SPEC, n=6), "BLEU: n must be an integer in \\[1, 5\\], got 6"),
        (lambda: SelfBLEU(spec=SPEC, n=7), "SelfBLEU: n must be"),
        (lambda: SelfBLEU(spec=SPEC, n=2, max_samples=1), "max_samples must be an integer >= 2"),
        (lambda: DistinctN(spec=SPEC, n=0), "DistinctN: n must be an integer >= 1"),
    ],
)
def test_bad_parameters_raise_clear_value_errors(build, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        build()


def test_registry_entries_build_with_their_orders() -> None:
    registry = Registry()
    registry.load_fragment(REPO / "registry.yaml", plugin="builtin")
    expected = {f"bleu-{n}": (BLEU, n) for n in range(2, 6)}
    expected |= {f"self-bleu-{n}": (SelfBLEU, n) for n in range(2, 6)}
    expected |= {f"distinct-{n}": (DistinctN, n) for n in range(1, 5)}
    for name, (cls, n) in expected.items():
        entry = registry.get("metrics", name)
        assert entry.check_params({}) == [], name
        metric = entry.build({"spec": SPEC}, {})
        assert type(metric) is cls and metric.n == n, name
    assert type(registry.get("metrics", "unique").build({"spec": SPEC}, {})) is UniqueRatio
    assert registry.get("metrics", "self-bleu-2").check_params({"max_samples": 500}) == []
