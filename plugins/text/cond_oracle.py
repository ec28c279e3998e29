"""The class-conditional oracle: one oracle LSTM per class, the measurable benchmark of conditional text.

SeqGAN's oracle (:mod:`seqtk.plugins.text.oracle`) made unconditional text generation
measurable because the true distribution is known. Here each class ``k`` has its own
oracle, drawn from its own seeded stream, and a sequence of class ``k`` is a sample of
oracle ``k``. Two things can then be measured exactly, with no trained judge:

- how likely each sample is under the oracle of the class it was asked for
  (:class:`ConditionalOracleNLL`, the class-conditional NLL-oracle), and
- whether a sample is recognisably of its class: the Bayes-optimal classifier here is
  ``argmax_k log p_k(x)``, so :class:`OracleLabelAccuracy` is label fidelity with a
  perfect post-hoc classifier. Real data sets its ceiling (below 1 when classes overlap)
  and a generator that ignores its label scores ``1 / classes`` on average.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Mapping

import torch
from torch import Tensor

from seqtk.core.atomic import atomic_write_text
from seqtk.core.errors import DataError
from seqtk.core.interfaces import Batch, Condition, ConditionSpec, Domain, DomainSpec, Metric, SequenceData
from seqtk.core.params import PositiveInt, Range, checked
from seqtk.core.splits import LazySplits
from seqtk.plugins.text.oracle import OracleLSTM, _stream_seed

__all__ = ["ConditionalOracleDomain", "ConditionalOracleNLL", "OracleLabelAccuracy"]

_STATE_FORMAT = 1


@checked("cond-oracle")
class ConditionalOracleDomain(LazySplits, Domain):
    """``classes`` oracle LSTMs; each split holds ``samples / classes`` sequences of each class, shuffled.

    Parameters as the ``oracle`` domain's (``vocab_size``, ``embed_dim``, ``hidden_dim``,
    ``max_len``, ``train_samples``, ``test_samples``, ``seed``), plus ``classes`` (>= 2).
    Oracle ``k`` is drawn from ``seed`` and ``k``; the splits and their order from ``seed``
    and the split's name, so either split can be drawn first.

    ``shuffle_train_labels`` permutes the training split's labels (seeded), so they say
    nothing about their sequences: the shuffled-condition baseline, a model trained on
    the same sequences that cannot learn the condition. The test split keeps its labels.
    """

    split_label: ClassVar[str] = "cond-oracle"
    default_metrics: ClassVar[tuple[str, ...]] = ("nll-oracle-cond", "oracle-label-accuracy", "nll-test")

    def __init__(
        self,
        classes: Annotated[int, Range(2)] = 2,
        vocab_size: Annotated[int, Range(2)] = 5000,
        embed_dim: PositiveInt = 32,
        hidden_dim: PositiveInt = 32,
        max_len: PositiveInt = 20,
        train_samples: PositiveInt = 10000,
        test_samples: PositiveInt = 10000,
        seed: int = 88,
        shuffle_train_labels: bool = False,
    ) -> None:
        if train_samples < classes or test_samples < classes:
            raise ValueError(f"cond-oracle: train_samples and test_samples must hold at least one sequence per class ({classes})")
        self.classes = classes
        self.vocab_size, self.embed_dim, self.hidden_dim = vocab_size, embed_dim, hidden_dim
        self.length = max_len
        self.train_samples, self.test_samples = train_samples, test_samples
        self.seed = seed
        self.shuffle_train_labels = shuffle_train_labels
        self._oracles: list[OracleLSTM] | None = None
        self._expected: list[str] | None = None

    @property
    def oracles(self) -> list[OracleLSTM]:
        """One oracle per class, drawn on first use."""
        if self._oracles is None:
            oracles = [
                OracleLSTM.random(self.vocab_size, self.embed_dim, self.hidden_dim, _stream_seed(self.seed, f"class-{k}"))
                for k in range(self.classes)
            ]
            self._check([o.fingerprint() for o in oracles])
            self._oracles = oracles
        return self._oracles

    @property
    def spec(self) -> DomainSpec:
        names = tuple(f"class-{k}" for k in range(self.classes))
        return DomainSpec(
            kind="discrete", max_len=self.length, vocab_size=self.vocab_size, conditions=ConditionSpec(num_classes=self.classes, class_names=names)
        )

    def read_splits(self, split: Literal["train", "test"]) -> dict[str, SequenceData]:
        count = self.train_samples if split == "train" else self.test_samples
        stream = torch.Generator().manual_seed(_stream_seed(self.seed, split))
        shares = [count // self.classes + (1 if k < count % self.classes else 0) for k in range(self.classes)]
        values = torch.cat([oracle.sample(share, self.length, stream) for oracle, share in zip(self.oracles, shares)])
        labels = torch.cat([torch.full((share,), k, dtype=torch.long) for k, share in enumerate(shares)])
        order = torch.randperm(count, generator=stream)
        values, labels = values[order], labels[order]
        if split == "train" and self.shuffle_train_labels:
            labels = labels[torch.randperm(count, generator=torch.Generator().manual_seed(_stream_seed(self.seed, "shuffled-labels")))]
        batch = Batch.full_length(values, condition=Condition(labels=labels))
        return {split: SequenceData(batch)}

    def nll_by_class(self, tokens: Tensor, lengths: Tensor | None = None, chunk_size: int = 1024) -> Tensor:
        """``[N, classes]``: each sequence's mean per-token NLL under every class's oracle."""
        return torch.stack([oracle.nll(tokens, lengths, chunk_size) for oracle in self.oracles], dim=1)

    def write_samples(self, batch: Batch, directory: Path, stem: str) -> list[Path]:
        """``<stem>.txt``: ``label<TAB>token ids`` per sample (the label it was asked for)."""
        values = batch.values.detach().cpu().tolist()
        lengths = batch.lengths.detach().cpu().tolist()
        labels = _labels(batch, "write_samples").tolist()
        text = "".join(f"{label}\t" + " ".join(str(t) for t in row[: int(n)]) + "\n" for label, row, n in zip(labels, values, lengths))
        path = Path(directory) / f"{stem}.txt"
        atomic_write_text(path, text)
        return [path]

    def state_dict(self) -> dict[str, Any]:
        return {"format": _STATE_FORMAT, "oracles_sha256": [o.fingerprint() for o in self.oracles]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if not isinstance(state, Mapping) or state.get("format") != _STATE_FORMAT:
            raise DataError(f"cond-oracle: the saved domain state is not a cond-oracle domain's state (format {_STATE_FORMAT})")
        self._expected = [str(s) for s in state["oracles_sha256"]]
        if self._oracles is not None:
            self._check([o.fingerprint() for o in self._oracles])

    def _check(self, actual: list[str]) -> None:
        if self._expected is not None and actual != self._expected:
            raise DataError(f"cond-oracle: the oracles from seed {self.seed} are not the ones this run was trained against")

    def __repr__(self) -> str:
        return (
            f"ConditionalOracleDomain(classes={self.classes}, vocab_size={self.vocab_size}, embed_dim={self.embed_dim}, "
            f"hidden_dim={self.hidden_dim}, max_len={self.length}, train_samples={self.train_samples}, "
            f"test_samples={self.test_samples}, seed={self.seed}, shuffle_train_labels={self.shuffle_train_labels})"
        )


def _labels(batch: Batch, who: str) -> Tensor:
    if batch.condition is None or batch.condition.labels is None:
        raise ValueError(f"cond-oracle: {who}: the batch carries no labels (was it generated without its condition?)")
    return batch.condition.labels.detach().cpu()


def _domain(domain: Domain, name: str) -> ConditionalOracleDomain:
    if not isinstance(domain, ConditionalOracleDomain):
        raise ValueError(f"{name} needs the cond-oracle domain, got {type(domain).__name__}")
    return domain


@checked("nll-oracle-cond")
class ConditionalOracleNLL(Metric):
    """Class-conditional NLL-oracle: each sample's NLL under the oracle of the class it was asked for (lower is better).

    Averaged over every token of every sample, as NLL-oracle. A generator that ignores its
    label pays the cross-class NLL on the samples of every other class.
    """

    higher_is_better: ClassVar[bool] = False

    def __init__(self, domain: Domain, chunk_size: PositiveInt = 1024) -> None:
        self.domain = _domain(domain, "nll-oracle-cond")
        self.chunk_size = chunk_size

    def __call__(self, real: Batch, fake: Batch) -> float:
        lengths = fake.lengths.clamp(0, fake.steps).cpu()
        total = int(lengths.sum())
        if total == 0:
            raise ValueError("nll-oracle-cond: the samples hold no tokens")
        by_class = self.domain.nll_by_class(fake.values, lengths, self.chunk_size).cpu()
        own = by_class.gather(1, _labels(fake, "nll-oracle-cond").unsqueeze(1)).squeeze(1)
        return float((own.double() * lengths.double()).sum() / total)


@checked("oracle-label-accuracy")
class OracleLabelAccuracy(Metric):
    """Label fidelity with the Bayes-optimal classifier: the share of samples whose own class's oracle finds them likeliest.

    1.0 is perfect; a generator that ignores its label scores about ``1 / classes``. Real
    data's own score (its ceiling) is logged as the untrained baseline's reference in
    bench/conditional.py.
    """

    higher_is_better: ClassVar[bool] = True

    def __init__(self, domain: Domain, chunk_size: PositiveInt = 1024) -> None:
        self.domain = _domain(domain, "oracle-label-accuracy")
        self.chunk_size = chunk_size

    def __call__(self, real: Batch, fake: Batch) -> float:
        by_class = self.domain.nll_by_class(fake.values, fake.lengths.clamp(0, fake.steps).cpu(), self.chunk_size).cpu()
        return float((by_class.argmin(1) == _labels(fake, "oracle-label-accuracy")).double().mean())
