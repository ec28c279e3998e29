"""Text metrics: BLEU against the test set, Self-BLEU, distinct-n and the unique ratio.

All adapt the pure functions of :mod:`seqtk.plugins.text.bleu` to the trainer's
:class:`~seqtk.core.interfaces.Metric` interface. A row of a batch becomes the token ids
of its first ``lengths[i]`` steps (padding never counts), without a leading BOS and
ending before its EOS: those mark where a sentence starts and stops, they are not words,
and real test sentences and generated ones may differ in carrying them.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Annotated, ClassVar

from seqtk.core.interfaces import Batch, DomainSpec, Metric
from seqtk.core.params import PositiveInt, Range, checked
from seqtk.plugins.text.bleu import ReferenceSet, distinct_n, self_bleu, unique_ratio

__all__ = ["BLEU", "SelfBLEU", "DistinctN", "UniqueRatio", "token_rows", "MAX_BLEU_ORDER"]

#: The highest BLEU order the metrics offer (the reference tables hold orders 1..5).
MAX_BLEU_ORDER = 5

Rows = tuple[tuple[int, ...], ...]


def token_rows(batch: Batch, spec: DomainSpec) -> Rows:
    """Each row's token ids up to its length, without a leading BOS, cut before the first EOS.

    A well-formed row ends with its EOS; cutting at the first one also keeps the metric
    in step with the text domain's sample files, which end each sentence there.
    """
    if batch.values.dim() != 2:
        raise ValueError(f"text metrics expect [B, T] token ids, got values of shape {tuple(batch.values.shape)}")
    values = batch.values.detach().cpu().tolist()
    lengths = batch.lengths.detach().cpu().tolist()
    bos, eos = spec.bos_id, spec.eos_id
    rows = []
    for row, length in zip(values, lengths):
        tokens = row[: int(length)]
        start = 1 if bos is not None and tokens and tokens[0] == bos else 0
        stop = tokens.index(eos, start) if eos is not None and eos in tokens[start:] else len(tokens)
        rows.append(tuple(tokens[start:stop]))
    return tuple(rows)


#: A BLEU order: 1 to MAX_BLEU_ORDER.
BleuOrder = Annotated[int, Range(1, MAX_BLEU_ORDER)]


# Reference tables of the last test sets seen, shared by every BLEU metric (bleu-2..5
# evaluate the same test set: it is reduced once, not four times per evaluation). The key
# is the token rows themselves, so a hit is exact, never a hash collision.
_CACHE_SIZE = 2
_REFERENCE_CACHE: OrderedDict[Rows, ReferenceSet] = OrderedDict()


def _reference_set(rows: Rows) -> ReferenceSet:
    cached = _REFERENCE_CACHE.get(rows)
    if cached is not None:
        _REFERENCE_CACHE.move_to_end(rows)
        return cached
    references = ReferenceSet(rows, max_n=MAX_BLEU_ORDER)
    _REFERENCE_CACHE[rows] = references
    while len(_REFERENCE_CACHE) > _CACHE_SIZE:
        _REFERENCE_CACHE.popitem(last=False)
    return references


@checked("BLEU")
class BLEU(Metric):
    """Mean sentence BLEU-``n`` of the samples against the whole test set (Texygen's BLEU).

    Equal to averaging nltk's ``sentence_bleu(test_set, sample, (1/n,) * n,
    smoothing_function=SmoothingFunction().method1)`` over the samples, thousands of times
    faster. Measures quality (do the samples' n-grams occur in real text?), not diversity:
    pair it with Self-BLEU or distinct-n.
    """

    higher_is_better: ClassVar[bool] = True
    uses_whole_test_set: ClassVar[bool] = True

    def __init__(self, spec: DomainSpec, n: BleuOrder = 4) -> None:
        self.spec = spec
        self.n = n

    def __call__(self, real: Batch, fake: Batch) -> float:
        if real.size == 0 or fake.size == 0:
            raise ValueError("BLEU: needs at least one test sentence and one sample")
        references = _reference_set(token_rows(real, self.spec))
        return references.mean_bleu(token_rows(fake, self.spec), self.n)


@checked("SelfBLEU")
class SelfBLEU(Metric):
    """Mean BLEU-``n`` of each sample against all the other samples (Texygen's Self-BLEU).

    High values mean the samples repeat one another (mode collapse); ``real`` is ignored.
    ``max_samples`` scores only the first ``max_samples`` samples against each other (they
    are independent draws, so the first k are a random subset; Texygen's fast mode uses
    500). The exact computation is linear in the number of samples, so None (all) is the
    default; values from different sample counts are not comparable.
    """

    higher_is_better: ClassVar[bool] = False

    def __init__(self, spec: DomainSpec, n: BleuOrder = 4, max_samples: Annotated[int, Range(2)] | None = None) -> None:
        self.spec = spec
        self.n = n
        self.max_samples = max_samples

    def __call__(self, real: Batch, fake: Batch) -> float:
        rows = token_rows(fake, self.spec)
        if self.max_samples is not None:
            rows = rows[: self.max_samples]
        if len(rows) < 2:
            raise ValueError(f"SelfBLEU: needs at least 2 samples, got {len(rows)}")
        return self_bleu(rows, self.n)


@checked("DistinctN")
class DistinctN(Metric):
    """Distinct ``n``-grams over all ``n``-grams of the samples (higher means more diverse).

    Falls as the generator collapses onto few phrases; ``real`` is ignored. Depends on the
    number of samples, so compare values computed from equally many.
    """

    higher_is_better: ClassVar[bool] = True

    def __init__(self, spec: DomainSpec, n: PositiveInt = 1) -> None:
        self.spec = spec
        self.n = n

    def __call__(self, real: Batch, fake: Batch) -> float:
        return distinct_n(token_rows(fake, self.spec), self.n)


class UniqueRatio(Metric):
    """Share of samples that are distinct sequences (1 when no sample repeats another)."""

    higher_is_better: ClassVar[bool] = True

    def __init__(self, spec: DomainSpec) -> None:
        self.spec = spec

    def __call__(self, real: Batch, fake: Batch) -> float:
        return unique_ratio(token_rows(fake, self.spec))
