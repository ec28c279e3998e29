"""Metrics of conditional text: is each sample what its condition asked for?

- :class:`LabelFidelity` (``label-fidelity``): CatGAN's protocol. A classifier is trained
  on real labelled sentences (the held-out split the metric is given, whose labels are
  never shuffled), then asked to label each sample; the score is the share it gives the
  label the sample was drawn for. The classifier is a multinomial logistic regression on
  hashed unigram and bigram presence, fitted full-batch from zero weights: deterministic
  with no random numbers at all, so a run's random stream is untouched. Its own ceiling
  is its cross-validated accuracy on real data (:func:`cross_validated_accuracy`, the
  metric's ``ceiling``, which ``bench/conditional.py`` reports for real data).
- :class:`PerClassBLEU` (``class-bleu-n``): BLEU of each class's samples against that
  class's held-out sentences only, averaged over the classes (macro): a sample written in
  another class's words loses its n-gram matches.
- :class:`ResponseRelevance` (``relevance-bleu-2``, ``relevance-bleu-2-shuffled``): for a
  context task, the BLEU of each response against the real response(s) of its own
  context; the ``shuffled`` variant scores each response against the real responses of
  another sample's context. A model that reads its context scores clearly above the
  shuffled figure; one that ignores it scores the same on both.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, ClassVar

import torch
from torch import Tensor

from seqtk.core.interfaces import Batch, DomainSpec, Metric
from seqtk.core.params import Range, checked
from seqtk.plugins.text.bleu import ReferenceSet
from seqtk.plugins.text.metrics import MAX_BLEU_ORDER, BleuOrder, Rows, token_rows

__all__ = [
    "LabelClassifier",
    "LabelFidelity",
    "PerClassBLEU",
    "ResponseRelevance",
    "cross_validated_accuracy",
    "ngram_features",
]

#: Hashed feature buckets for the classifier's unigrams and bigrams.
BUCKETS = 1 << 14


def ngram_features(rows: Rows, buckets: int = BUCKETS) -> tuple[Tensor, Tensor]:
    """Each row's distinct unigrams and bigrams as hashed bucket ids: ``(ids, offsets)`` for ``embedding_bag``.

    Row ``i``'s buckets are ``ids[offsets[i]:offsets[i + 1]]`` (a bag of presence features,
    each bucket once). Token ids are integers, so the hash is a fixed arithmetic one
    (Python's string hash is salted per process; this one is the same in every run).
    """
    ids: list[int] = []
    offsets = []
    for row in rows:
        offsets.append(len(ids))
        grams = {(t * 2 + 1) % buckets for t in row} | {((a * 1_000_003 + b) * 2) % buckets for a, b in zip(row, row[1:])}
        ids.extend(sorted(grams))
    return torch.tensor(ids, dtype=torch.long), torch.tensor(offsets, dtype=torch.long)


def _scores(rows: Rows, weight: Tensor, bias: Tensor) -> Tensor:
    ids, offsets = ngram_features(rows, weight.shape[0])
    return torch.nn.functional.embedding_bag(ids, weight, offsets, mode="sum") + bias


class LabelClassifier:
    """Multinomial logistic regression on :func:`ngram_features`, L2-regularised, fitted full-batch.

    Zero initial weights and full-batch Adam make the fit a pure function of the data: no
    random numbers are drawn, so fitting inside a run leaves its random stream as it was.
    """

    def __init__(self, classes: int, steps: int = 150, l2: float = 1e-4, lr: float = 0.1) -> None:
        self.classes, self.steps, self.l2, self.lr = classes, steps, l2, lr
        self.weight = torch.zeros(BUCKETS, classes)
        self.bias = torch.zeros(classes)

    def fit(self, rows: Rows, labels: Tensor) -> "LabelClassifier":
        ids, offsets = ngram_features(rows)
        # Only the buckets the data holds get weights: the others would stay exactly 0 (zero
        # start, zero gradient), so fitting the compact matrix is the same fit, faster.
        used, ids = torch.unique(ids, return_inverse=True)
        y = labels.long().cpu()
        weight = torch.zeros(used.numel(), self.classes, requires_grad=True)
        bias = torch.zeros(self.classes, requires_grad=True)
        params = (weight, bias)
        # Adam by hand (beta 0.9 / 0.999): torch.optim's first step costs seconds of imports.
        moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
        with torch.enable_grad():
            for step in range(1, self.steps + 1):
                scores = torch.nn.functional.embedding_bag(ids, weight, offsets, mode="sum") + bias
                loss = torch.nn.functional.cross_entropy(scores, y) + self.l2 * weight.square().sum()
                grads = torch.autograd.grad(loss, params)
                with torch.no_grad():
                    for p, g, (m, v) in zip(params, grads, moments):
                        m.mul_(0.9).add_(g, alpha=0.1)
                        v.mul_(0.999).addcmul_(g, g, value=0.001)
                        p.sub_(self.lr * (m / (1 - 0.9**step)) / ((v / (1 - 0.999**step)).sqrt() + 1e-8))
        self.weight = torch.zeros(BUCKETS, self.classes).index_copy_(0, used, weight.detach())
        self.bias = bias.detach()
        return self

    def logits(self, rows: Rows) -> Tensor:
        return _scores(rows, self.weight, self.bias)

    def predict(self, rows: Rows) -> Tensor:
        return self.logits(rows).argmax(1)


def cross_validated_accuracy(rows: Rows, labels: Tensor, classes: int, folds: int = 5) -> float:
    """The classifier's accuracy on real data it was not fitted on: ``folds``-fold, row ``i`` in fold ``i % folds``."""
    labels = labels.long().cpu()
    index = torch.arange(len(rows))
    correct = 0
    for fold in range(folds):
        held = (index % folds) == fold
        fitted = LabelClassifier(classes).fit(tuple(r for r, h in zip(rows, held) if not h), labels[~held])
        predicted = fitted.predict(tuple(r for r, h in zip(rows, held) if h))
        correct += int((predicted == labels[held]).sum())
    return correct / len(rows)


def _labels(batch: Batch, who: str, what: str) -> Tensor:
    if batch.condition is None or batch.condition.labels is None:
        raise ValueError(f"{who}: the {what} carry no labels (it needs a domain with conditions: label)")
    return batch.condition.labels.detach().cpu()


def _classes(spec: DomainSpec, who: str) -> int:
    if spec.conditions is None or not spec.conditions.num_classes:
        raise ValueError(f"{who} needs a class-conditional domain (text with conditions: label, or cond-oracle)")
    return spec.conditions.num_classes


@checked("label-fidelity")
class LabelFidelity(Metric):
    """Share of samples a classifier trained on real held-out sentences assigns to the label they were drawn for (higher is better).

    CatGAN's protocol with a bag-of-n-grams logistic regression (module doc). A generator
    that ignores its label scores about ``1 / classes``; real data scores the classifier's
    cross-validated accuracy (``folds``-fold, :meth:`ceiling`): scoring the held-out
    sentences with the classifier fitted on them would overstate it. The classifier is
    fitted once per distinct real set.
    """

    higher_is_better: ClassVar[bool] = True
    uses_whole_test_set: ClassVar[bool] = True

    def __init__(self, spec: DomainSpec, folds: Annotated[int, Range(2)] = 5) -> None:
        self.spec = spec
        self.classes = _classes(spec, "label-fidelity")
        self.folds = folds
        self._fitted: tuple[tuple[Rows, tuple[int, ...]], LabelClassifier] | None = None

    def classifier(self, real: Batch) -> LabelClassifier:
        rows, labels = token_rows(real, self.spec), _labels(real, "label-fidelity", "real sentences")
        key = (rows, tuple(labels.tolist()))
        if self._fitted is None or self._fitted[0] != key:
            self._fitted = (key, LabelClassifier(self.classes).fit(rows, labels))
        return self._fitted[1]

    def ceiling(self, real: Batch) -> float:
        """What real data scores: the classifier's ``folds``-fold cross-validated accuracy on ``real``."""
        return cross_validated_accuracy(token_rows(real, self.spec), _labels(real, "label-fidelity", "real sentences"), self.classes, self.folds)

    def __call__(self, real: Batch, fake: Batch) -> float:
        asked = _labels(fake, "label-fidelity", "samples")
        predicted = self.classifier(real).predict(token_rows(fake, self.spec))
        return float((predicted == asked).double().mean())


@checked("class-bleu")
class PerClassBLEU(Metric):
    """Per-class BLEU-``n``: each class's samples against that class's held-out sentences, averaged over classes (higher is better).

    Sentence BLEU as ``bleu-n`` (nltk's smoothing method 1), with the references narrowed
    to the real sentences of the sample's own class; the mean is taken per class, then over
    the classes the samples ask for, so every class counts alike.
    """

    higher_is_better: ClassVar[bool] = True
    uses_whole_test_set: ClassVar[bool] = True

    def __init__(self, spec: DomainSpec, n: BleuOrder = 2) -> None:
        self.spec = spec
        _classes(spec, "class-bleu")
        self.n = n

    def __call__(self, real: Batch, fake: Batch) -> float:
        real_rows, real_labels = token_rows(real, self.spec), _labels(real, "class-bleu", "real sentences").tolist()
        fake_rows, fake_labels = token_rows(fake, self.spec), _labels(fake, "class-bleu", "samples").tolist()
        if not fake_rows:
            raise ValueError("class-bleu: needs at least one sample")
        by_class: dict[int, list] = defaultdict(list)
        for row, label in zip(real_rows, real_labels):
            by_class[label].append(row)
        means = []
        for label in sorted(set(fake_labels)):
            if label not in by_class:
                raise ValueError(f"class-bleu: the held-out data has no sentence of class {label}, which samples were drawn for")
            references = ReferenceSet(by_class[label], max_n=self.n)
            means.append(references.mean_bleu([r for r, k in zip(fake_rows, fake_labels) if k == label], self.n))
        return sum(means) / len(means)


@checked("relevance-bleu")
class ResponseRelevance(Metric):
    """BLEU-``n`` of each response against the real response(s) of its own context, averaged (higher is better).

    For a context task (text with ``conditions: context``): the references of a sample are
    the held-out responses whose context is the sample's context. ``shuffled`` scores each
    sample against the responses of another sample's context instead (sample ``i`` takes
    the context of sample ``(i + N // 2) mod N``): the figure a generator that ignores its
    context gets on the real-context version, to read beside it.
    """

    higher_is_better: ClassVar[bool] = True
    uses_whole_test_set: ClassVar[bool] = True

    def __init__(self, spec: DomainSpec, n: BleuOrder = 2, shuffled: bool = False) -> None:
        if spec.conditions is None or spec.conditions.context is None:
            raise ValueError("relevance-bleu needs a context-conditional domain (text with conditions: context)")
        self.spec, self.n, self.shuffled = spec, n, shuffled
        self._references: tuple[tuple[Rows, Rows], dict[tuple[int, ...], ReferenceSet]] | None = None

    def _contexts(self, batch: Batch, what: str) -> Rows:
        if batch.condition is None or batch.condition.context is None:
            raise ValueError(f"relevance-bleu: the {what} carry no contexts (it needs a domain with conditions: context)")
        return token_rows(batch.condition.context, self.spec.conditions.context)  # type: ignore[union-attr]

    def references(self, real: Batch) -> dict[tuple[int, ...], ReferenceSet]:
        """Context -> the reference set of its real responses (built once per distinct real set)."""
        contexts, responses = self._contexts(real, "real responses"), token_rows(real, self.spec)
        key = (contexts, responses)
        if self._references is None or self._references[0] != key:
            grouped: dict[tuple[int, ...], list] = defaultdict(list)
            for context, response in zip(contexts, responses):
                grouped[context].append(response)
            self._references = (key, {c: ReferenceSet(r, max_n=MAX_BLEU_ORDER) for c, r in grouped.items()})
        return self._references[1]

    def __call__(self, real: Batch, fake: Batch) -> float:
        references = self.references(real)
        contexts, responses = self._contexts(fake, "samples"), token_rows(fake, self.spec)
        if not responses:
            raise ValueError("relevance-bleu: needs at least one sample")
        if self.shuffled:
            shift = len(contexts) // 2
            contexts = tuple(contexts[(i + shift) % len(contexts)] for i in range(len(contexts)))
        scores = []
        for context, response in zip(contexts, responses):
            found = references.get(context)
            if found is None:
                raise ValueError("relevance-bleu: a sample's context is not among the held-out contexts (samples must be drawn for the test split's contexts)")
            scores.append(found.bleu(response, self.n))
        return sum(scores) / len(scores)
