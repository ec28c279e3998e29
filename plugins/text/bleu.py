"""Sentence BLEU, Self-BLEU and diversity counts: exact to nltk, fast on whole test sets.

The text-GAN literature (Texygen, and every paper that reports its numbers) scores a
generator by the mean sentence BLEU-n of each generated sentence against *all* test
sentences, computed with nltk's ``sentence_bleu`` (uniform weights ``1/n``, smoothing
``SmoothingFunction().method1``). nltk recounts every reference's n-grams for every
hypothesis: 0.1-0.3 s per hypothesis against 10,000 COCO captions, hours per evaluation.

The clipped count of an n-gram against a reference set only needs the *maximum* count of
that n-gram over the references, and the brevity penalty only needs the distinct
reference lengths. Both are computed once (:class:`ReferenceSet`), after which each
hypothesis costs time linear in its length. Self-BLEU (each sentence against all the
others) also keeps the second-highest count and how many sentences reach the maximum, so
leaving one sentence out is O(1) per n-gram (:func:`self_bleu`).

The arithmetic repeats nltk 3.10's, operation for operation, so results are equal to
``sentence_bleu(refs, hyp, (1/n,) * n, smoothing_function=SmoothingFunction().method1)``
to rounding (tests check 1e-9; in practice they are bit-identical):

- modified precision of order k: ``sum(min(count_hyp(g), max_ref count(g)))`` over the
  hypothesis's k-grams, over ``max(1, number of hypothesis k-grams)``;
- no unigram match at all (which includes the empty hypothesis) gives 0 at once;
- method 1 replaces a zero numerator by ``0.1`` (``0.1 / denominator``); orders the
  hypothesis is too short for therefore contribute ``log(0.1)`` each, weights are not
  truncated;
- brevity penalty ``exp(1 - r / c)`` when ``c <= r``, with ``r`` the reference length
  closest to ``c`` (ties go to the shorter one), 1 when ``c > r``;
- ``bleu = bp * exp(fsum(w * log(p_k)))``.

Tokens may be any hashable values (token ids or strings). nltk is not imported here: it
is only the tests' reference implementation.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from typing import Hashable, Iterable, Sequence

__all__ = [
    "EPSILON",
    "ReferenceSet",
    "corpus_average_bleu",
    "self_bleu",
    "self_bleu_scores",
    "distinct_n",
    "unique_ratio",
]

Tokens = Sequence[Hashable]
NGram = tuple[Hashable, ...]

#: nltk ``SmoothingFunction().method1``'s epsilon: the count given to zero-match orders.
EPSILON = 0.1


# --------------------------------------------------------------------------- shared arithmetic


def _check_order(n: int, max_n: int | None = None) -> None:
    """Reject an n-gram order that is not an integer in 1..``max_n`` (unbounded if None)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1 or (max_n is not None and n > max_n):
        bound = f"from 1 to {max_n}" if max_n is not None else "of at least 1"
        raise ValueError(f"n must be an integer n-gram order {bound}, got {n!r}")


def _grams(tokens: Tokens, k: int) -> list[NGram]:
    """The ``k``-grams of ``tokens`` in order, as tuples (none when it is shorter than ``k``).

    Most n-grams occur once in their sentence, so callers first test
    ``len(set(grams)) == len(grams)`` and take a count-free path (C-level set and map
    operations) when it holds; only sentences with a repeated n-gram pay for a Counter.
    """
    return list(zip(*[tokens[j:] for j in range(k)]))


def _closest(lengths: list[int], hyp_len: int, skip: int | None = None) -> int:
    """The value of sorted distinct ``lengths`` closest to ``hyp_len``, ties to the shorter.

    ``skip`` is a length to pass over (a length whose only sentence was left out).
    This is nltk's ``closest_ref_length`` by bisection instead of a scan.
    """
    i = bisect_left(lengths, hyp_len)
    below = i - 1
    if below >= 0 and lengths[below] == skip:
        below -= 1
    above = i
    if above < len(lengths) and lengths[above] == skip:
        above += 1
    candidates = []
    if below >= 0:
        candidates.append(lengths[below])
    if above < len(lengths):
        candidates.append(lengths[above])
    if not candidates:
        raise ValueError("no reference left to measure the brevity penalty against")
    return min(candidates, key=lambda r: (abs(r - hyp_len), r))


def _combine(numerators: list[int], hyp_len: int, ref_len: int) -> float:
    """BLEU from the clipped match counts of orders 1..n, as nltk's ``corpus_bleu`` does it.

    ``numerators[k-1]`` is the clipped count of order ``k``; the denominator is the number
    of hypothesis k-grams, at least 1.
    """
    if numerators[0] == 0:
        return 0.0
    n = len(numerators)
    weight = 1.0 / n
    logs = []
    for k, numerator in enumerate(numerators, start=1):
        denominator = max(1, hyp_len - k + 1)
        precision = numerator / denominator if numerator else (numerator + EPSILON) / denominator
        logs.append(weight * math.log(precision))
    if hyp_len > ref_len:
        penalty = 1.0
    else:  # hyp_len == 0 cannot reach here: an empty hypothesis has no unigram match
        penalty = math.exp(1 - ref_len / hyp_len)
    return penalty * math.exp(math.fsum(logs))


def _mean(values: list[float], what: str) -> float:
    if not values:
        raise ValueError(f"{what}: needs at least one sentence to average over")
    return sum(values) / len(values)


# --------------------------------------------------------------------------- BLEU against a fixed set


class ReferenceSet:
    """A reference set reduced to what sentence BLEU needs: max n-gram counts and lengths.

    Build it once per test set (cost: one pass over the references), then score any number
    of hypotheses, each in time linear in its length.

    Args:
        references: the reference sentences, each a sequence of hashable tokens.
        max_n: the highest n-gram order that :meth:`bleu` will be asked for.
    """

    def __init__(self, references: Iterable[Tokens], max_n: int = 5) -> None:
        if isinstance(max_n, bool) or not isinstance(max_n, int) or max_n < 1:
            raise ValueError(f"max_n must be a positive integer, got {max_n!r}")
        self.max_n = max_n
        once: list[NGram] = []  # n-grams seen with count 1 in some reference
        repeated: dict[NGram, int] = {}  # n-grams seen more than once in a reference: max count
        lengths: set[int] = set()
        size = 0
        for reference in references:
            tokens = list(reference)
            size += 1
            lengths.add(len(tokens))
            for k in range(1, max_n + 1):
                grams = _grams(tokens, k)
                if len(set(grams)) == len(grams):
                    once.extend(grams)
                    continue
                for ngram, count in Counter(grams).items():
                    if count == 1:
                        once.append(ngram)
                    elif count > repeated.get(ngram, 0):
                        repeated[ngram] = count
        if size == 0:
            raise ValueError("ReferenceSet: references must hold at least one sentence")
        max_counts = dict.fromkeys(once, 1)
        max_counts.update(repeated)  # every repeated count exceeds 1
        self._max_counts: dict[NGram, int] = max_counts
        self._lengths = sorted(lengths)
        self._size = size

    def __len__(self) -> int:
        """How many reference sentences the set was built from."""
        return self._size

    def max_count(self, ngram: NGram) -> int:
        """The most times ``ngram`` (a tuple) occurs in any one reference."""
        return self._max_counts.get(tuple(ngram), 0)

    def closest_length(self, hyp_len: int) -> int:
        """The reference length closest to ``hyp_len`` (ties: the shorter), as nltk picks it."""
        return _closest(self._lengths, hyp_len)

    def bleu(self, hypothesis: Tokens, n: int) -> float:
        """Sentence BLEU-``n`` of ``hypothesis`` against every reference (see the module doc)."""
        _check_order(n, self.max_n)
        tokens = list(hypothesis)
        max_counts = self._max_counts
        numerators = []
        for k in range(1, n + 1):
            grams = _grams(tokens, k)
            if len(set(grams)) == len(grams):  # each count is 1: clipped to 1 if in a reference
                numerators.append(sum(map(max_counts.__contains__, grams)))
            else:
                get = max_counts.get
                numerators.append(sum(min(c, get(g, 0)) for g, c in Counter(grams).items()))
            if numerators[0] == 0:
                return 0.0
        return _combine(numerators, len(tokens), self.closest_length(len(tokens)))

    def mean_bleu(self, hypotheses: Iterable[Tokens], n: int) -> float:
        """The mean of :meth:`bleu` over ``hypotheses`` (Texygen's BLEU-n)."""
        return _mean([self.bleu(h, n) for h in hypotheses], "mean_bleu")


def corpus_average_bleu(hypotheses: Iterable[Tokens], references: Iterable[Tokens], n: int) -> float:
    """Mean sentence BLEU-``n`` of each hypothesis against all ``references``.

    This is *not* nltk's ``corpus_bleu`` (which pools counts before dividing): it is the
    average of sentence scores that Texygen and the text-GAN papers report.
    """
    _check_order(n)
    return ReferenceSet(references, max_n=n).mean_bleu(hypotheses, n)


# --------------------------------------------------------------------------- Self-BLEU


class _LeaveOneOut:
    """What BLEU of each sentence against all the *others* needs, built in one pass.

    An n-gram that occurs once in sentence ``j`` is matched (clipped count 1) exactly when
    some other sentence holds it too: when its document frequency is at least 2. An
    n-gram repeated in ``j`` needs the highest count over the other sentences: the table
    keeps, for n-grams repeated somewhere, the highest count in one sentence, how many
    sentences reach it and the second-highest, so leaving ``j`` out is O(1) (the maximum
    changes only if ``j`` alone reached it). Lengths are a Counter, so leaving out ``j``'s
    own length is exact too.
    """

    def __init__(self, sentences: list[list[Hashable]], max_n: int) -> None:
        distinct: list[NGram] = []  # each sentence's distinct n-grams, all orders
        repeats: dict[NGram, list[int]] = {}  # n-gram -> its counts > 1, one per sentence
        for sentence in sentences:
            for k in range(1, max_n + 1):
                grams = _grams(sentence, k)
                unique = set(grams)
                distinct.extend(unique)
                if len(unique) != len(grams):
                    for ngram, count in Counter(grams).items():
                        if count > 1:
                            repeats.setdefault(ngram, []).append(count)
        frequency = Counter(distinct)
        self._shared = {g for g, f in frequency.items() if f >= 2}
        self._top: dict[NGram, tuple[int, int, int]] = {}  # n-gram -> (top, how many at top, second)
        for ngram, counts in repeats.items():
            counts = sorted(counts + [1] * (frequency[ngram] - len(counts)), reverse=True)
            second = counts[1] if len(counts) > 1 else 0
            self._top[ngram] = (counts[0], counts.count(counts[0]), second)
        self._length_counts = Counter(len(s) for s in sentences)
        self._lengths = sorted(self._length_counts)

    def bleu(self, sentence: list[Hashable], n: int) -> float:
        """BLEU-``n`` of ``sentence`` (one of the table's) against all the others."""
        shared = self._shared
        numerators = []
        for k in range(1, n + 1):
            grams = _grams(sentence, k)
            if len(set(grams)) == len(grams):
                numerators.append(sum(map(shared.__contains__, grams)))
            else:
                numerator = 0
                for ngram, count in Counter(grams).items():
                    if count == 1:
                        numerator += ngram in shared
                    else:
                        top, at_top, second = self._top[ngram]
                        others = second if (count == top and at_top == 1) else top
                        numerator += min(count, others)
                numerators.append(numerator)
            if numerators[0] == 0:
                return 0.0
        own = len(sentence)
        skip = own if self._length_counts[own] == 1 else None
        return _combine(numerators, own, _closest(self._lengths, own, skip))


def self_bleu_scores(sentences: Iterable[Tokens], n: int) -> list[float]:
    """BLEU-``n`` of each sentence against all the others (by position: duplicates of a
    sentence elsewhere in the list stay among its references, as in Texygen)."""
    _check_order(n)
    rows = [list(s) for s in sentences]
    if len(rows) < 2:
        raise ValueError(f"self_bleu: needs at least 2 sentences (each is scored against the others), got {len(rows)}")
    table = _LeaveOneOut(rows, n)
    return [table.bleu(row, n) for row in rows]


def self_bleu(sentences: Iterable[Tokens], n: int) -> float:
    """Texygen's Self-BLEU-``n``: the mean of :func:`self_bleu_scores`. High means the
    samples resemble one another (low diversity)."""
    return _mean(self_bleu_scores(sentences, n), "self_bleu")


# --------------------------------------------------------------------------- diversity


def distinct_n(sentences: Iterable[Tokens], n: int) -> float:
    """Distinct ``n``-grams over all ``n``-grams of all sentences (Li et al., 2016's distinct-n).

    N-grams never cross sentence boundaries. 0 when the sentences hold no ``n``-gram.
    """
    _check_order(n)
    seen: set[NGram] = set()
    total = 0
    for sentence in sentences:
        sentence = list(sentence)
        grams = list(zip(*(sentence[j:] for j in range(n))))
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else 0.0


def unique_ratio(sentences: Iterable[Tokens]) -> float:
    """Share of sentences that are distinct sequences (1 = no sentence repeats). 0 when empty."""
    rows = [tuple(s) for s in sentences]
    return len(set(rows)) / len(rows) if rows else 0.0
