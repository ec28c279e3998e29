"""BLEU and Self-BLEU equal nltk's sentence_bleu (smoothing method 1) on any input.

nltk is the reference implementation here and only here: the plugin never imports it.
Sizes are kept small so that nltk's per-hypothesis recounting stays fast.
"""

from __future__ import annotations

import math
import random

import pytest

nltk_bleu = pytest.importorskip("nltk.translate.bleu_score")

from seqtk.plugins.text.bleu import ReferenceSet, corpus_average_bleu, self_bleu, self_bleu_scores  # noqa: E402

TOL = 1e-9
METHOD1 = nltk_bleu.SmoothingFunction().method1


def nltk_sentence(references: list, hypothesis: list, n: int) -> float:
    return float(nltk_bleu.sentence_bleu(references, hypothesis, (1.0 / n,) * n, smoothing_function=METHOD1))


def random_sentence(rng: random.Random, vocab: int, max_len: int = 15) -> list[int]:
    return [rng.randrange(vocab) for _ in range(rng.randint(0, max_len))]


def random_case(rng: random.Random) -> tuple[list[list[int]], list[list[int]]]:
    """References (1..30, with duplicates now and then) and hypotheses over a small vocabulary.

    Hypotheses draw from a slightly larger vocabulary than references, so some tokens
    never match (zero-unigram-match hypotheses happen), and small vocabularies make
    repeated n-grams common.
    """
    vocab = rng.randint(3, 20)
    references = [random_sentence(rng, vocab) for _ in range(rng.randint(1, 30))]
    if rng.random() < 0.3:
        references += rng.sample(references, rng.randint(1, len(references)))
    hypotheses = [random_sentence(rng, vocab + 3) for _ in range(3)]
    return references, hypotheses


def test_random_cases_equal_nltk() -> None:
    rng = random.Random(1234)
    seen = {"empty": 0, "shorter_than_n": 0, "no_unigram_match": 0, "positive": 0}
    for _ in range(150):
        references, hypotheses = random_case(rng)
        table = ReferenceSet(references)
        for hypothesis in hypotheses:
            for n in (2, 3, 4, 5):
                expected = nltk_sentence(references, hypothesis, n)
                assert table.bleu(hypothesis, n) == pytest.approx(expected, abs=TOL), (references, hypothesis, n)
                seen["empty"] += not hypothesis
                seen["shorter_than_n"] += 0 < len(hypothesis) < n
                seen["no_unigram_match"] += bool(hypothesis) and expected == 0
                seen["positive"] += expected > 0
    assert all(count > 0 for count in seen.values()), seen  # every corner case was exercised


@pytest.mark.parametrize(
    "references, hypothesis",
    [
        ([[1, 2, 3]], []),  # empty hypothesis: 0
        ([[1, 2, 3]], [1]),  # shorter than every order above 1: log(0.1) for each
        ([[1, 2, 3]], [7, 8, 9, 7]),  # no unigram match: 0 at once
        ([[1, 1, 1, 1], [1, 1]], [1, 1, 1, 1, 1, 1]),  # repeated n-grams clipped by the max count
        ([[1, 2], [1, 2], [1, 2, 3, 4]], [1, 2, 3]),  # duplicate references; length tie 2 vs 4 -> 2
        ([[], [5, 6]], [5, 6, 5]),  # an empty reference
        ([[], []], [5]),  # only empty references
        ([[4, 5, 6, 7, 8, 9, 4, 5]], [4, 5, 6, 7, 8, 9, 4, 5]),  # identical: 1
        ([[1, 2, 3, 4, 5, 6]], [1, 2, 3, 4, 5, 6, 1, 2, 3]),  # longer than the reference: no penalty
    ],
)
def test_corner_cases_equal_nltk(references: list[list[int]], hypothesis: list[int]) -> None:
    table = ReferenceSet(references)
    for n in range(1, 6):
        assert table.bleu(hypothesis, n) == pytest.approx(nltk_sentence(references, hypothesis, n), abs=TOL)


ENGLISH_REFERENCES = [
    "a man riding a wave on top of a surfboard .",
    "a plate of food with broccoli and a sandwich .",
    "two dogs are playing in the snow together .",
    "a man is riding a surfboard on a large wave .",
    "a kitchen with a stove , a sink and a refrigerator .",
    "a group of people standing around a table with food .",
]
ENGLISH_HYPOTHESES = [
    "a man riding a surfboard on a wave .",
    "a plate with a sandwich and some broccoli .",
    "a dog is playing in the snow .",
    "the kitchen has a stove and a sink .",
    "people standing near a table .",
    "zebra",
]


def test_real_sentences_equal_nltk_and_the_average_is_texygens() -> None:
    references = [line.split() for line in ENGLISH_REFERENCES]
    hypotheses = [line.split() for line in ENGLISH_HYPOTHESES]
    for n in (2, 3, 4, 5):
        expected = [nltk_sentence(references, h, n) for h in hypotheses]
        assert [ReferenceSet(references).bleu(h, n) for h in hypotheses] == pytest.approx(expected, abs=TOL)
        assert corpus_average_bleu(hypotheses, references, n) == pytest.approx(sum(expected) / len(expected), abs=TOL)
    assert ReferenceSet(references).bleu(hypotheses[0], 2) > 0.5  # a close paraphrase scores high


def test_hand_computed_bleu_2() -> None:
    """Hypothesis "the cat sat on the mat" against "the cat is on the mat" and "a cat sat".

    Unigrams: the x2 (max in a reference 2 -> 2), cat (1), sat (1), on (1), mat (1): 6/6.
    Bigrams: the-cat (1), cat-sat (1, from the second reference), sat-on (0), on-the (1),
    the-mat (1): 4/5.
    Lengths 6 and 3; the hypothesis has 6 = the closest, so no brevity penalty.
    BLEU-2 = exp(1/2 log 1 + 1/2 log 0.8) = sqrt(0.8).
    """
    references = ["the cat is on the mat".split(), "a cat sat".split()]
    hypothesis = "the cat sat on the mat".split()
    assert ReferenceSet(references).bleu(hypothesis, 2) == pytest.approx(math.sqrt(0.8), abs=1e-12)

    # Shorten it to "the cat sat": unigrams 3/3, bigrams the-cat and cat-sat 2/2, but now
    # the closest reference length is 3 (the second), so still no penalty: BLEU-2 = 1.
    assert ReferenceSet(references).bleu("the cat sat".split(), 2) == pytest.approx(1.0, abs=1e-12)

    # "the cat" (length 2): precisions 1, closest length 3 -> penalty exp(1 - 3/2).
    assert ReferenceSet(references).bleu("the cat".split(), 2) == pytest.approx(math.exp(-0.5), abs=1e-12)

    # "cat dog": unigrams 1/2, bigrams 0/1 -> method 1 gives 0.1/1; closest length 3.
    # BLEU-2 = exp(1 - 3/2) * sqrt(0.5 * 0.1).
    expected = math.exp(-0.5) * math.sqrt(0.05)
    assert ReferenceSet(references).bleu("cat dog".split(), 2) == pytest.approx(expected, abs=1e-12)


def test_closest_length_ties_go_to_the_shorter_reference() -> None:
    table = ReferenceSet([[0] * 3, [0] * 7, [0] * 7])
    assert [table.closest_length(h) for h in (0, 3, 4, 5, 6, 9)] == [3, 3, 3, 3, 7, 7]
    assert table.max_count((0, 0)) == 6 and table.max_count((1,)) == 0
    assert len(table) == 3


def test_self_bleu_equals_a_direct_nltk_loop() -> None:
    rng = random.Random(99)
    for case in range(40):
        vocab = rng.randint(2, 12)
        sentences = [random_sentence(rng, vocab, 10) for _ in range(rng.randint(2, 12))]
        if case % 2:  # duplicates: each copy keeps the others among its references
            sentences += rng.sample(sentences, rng.randint(1, len(sentences)))
        for n in (2, 3, 4, 5):
            expected = [nltk_sentence(sentences[:i] + sentences[i + 1 :], s, n) for i, s in enumerate(sentences)]
            assert self_bleu_scores(sentences, n) == pytest.approx(expected, abs=TOL)
            assert self_bleu(sentences, n) == pytest.approx(sum(expected) / len(expected), abs=TOL)


def test_self_bleu_leaves_out_only_the_sentence_itself() -> None:
    # The unique max count of (1,) is sentence 0's (3): left out, the next best is 1.
    # A length held by one sentence only must leave with it (closest becomes the other).
    sentences = [[1, 1, 1], [1, 2], [1, 2], [3, 1, 2, 4, 5]]
    for n in (2, 3):
        expected = [nltk_sentence(sentences[:i] + sentences[i + 1 :], s, n) for i, s in enumerate(sentences)]
        assert self_bleu_scores(sentences, n) == pytest.approx(expected, abs=TOL)
    assert self_bleu([[5, 6, 7], [5, 6, 7]], 3) == pytest.approx(1.0)  # two copies: each finds the other


def test_invalid_inputs_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="at least one sentence"):
        ReferenceSet([])
    with pytest.raises(ValueError, match="n must be an integer n-gram order from 1 to 3"):
        ReferenceSet([[1, 2]], max_n=3).bleu([1], 4)
    with pytest.raises(ValueError, match="n must be"):
        ReferenceSet([[1, 2]]).bleu([1], 0)
    with pytest.raises(ValueError, match="at least 2 sentences"):
        self_bleu([[1, 2]], 2)
    with pytest.raises(ValueError, match="at least one sentence"):
        corpus_average_bleu([], [[1]], 2)


def test_the_plugin_never_imports_nltk() -> None:
    from pathlib import Path

    import seqtk.plugins.text.bleu as bleu
    import seqtk.plugins.text.metrics as metrics

    for module in (bleu, metrics):
        source = Path(module.__file__).read_text()
        assert "import nltk" not in source and "from nltk" not in source
