"""What each capability word promises, as typed Protocols, and the check that a component keeps its promise.

A capability word is written in one place only: the component's registry entry
(``provides``/``requires``/``provides_by_param`` in registry.yaml or a plugin's fragment).
The registry is read without importing any plugin, so ``seqtk validate`` and ``seqtk
list`` check that what one component ``requires`` another ``provides`` before anything
is imported. Classes carry no copy of these words.

Some words promise methods. This module states each promise as a Protocol, and the code
that relies on a word (estimators, objectives) programs against that Protocol, not
against ``getattr``. When a component is built, :func:`unkept_promises` compares the
words its entry ``provides`` with the methods its class has, so a plugin that claims a
capability it does not implement fails at once, naming the plugin, the component and the
missing method, instead of deep inside a training step.

Words and their Protocols:

- ``values`` / ``tokens``: ``sample(n)`` fills ``Batch.values`` with real values or token
  ids (:class:`SamplesValues`, :class:`SamplesTokens`).
- ``reparam``: those values are differentiable with respect to the generator's
  parameters (:class:`SamplesReparam`).
- ``log_probs``: ``sample(n)`` fills ``Batch.log_probs`` ``[n, T]`` with the
  differentiable log-probability of each step (:class:`SamplesLogProbs`;
  :func:`log_probs_of` reads them with a clear error when they are missing).
- ``relaxed``: ``sample_relaxed(n, inverse_temperature)`` returns samples whose
  ``Batch.relaxed`` holds differentiable relaxed one-hots (:class:`SamplesRelaxed`).
- ``rollouts``: ``rollouts(batch, n, chunk_size=None)`` completes every prefix of a batch
  ``n`` times and returns :class:`Rollouts` (:class:`RollsOut`).
- ``probability`` (objectives): the discriminator's score is the logit of D(x) = P(real),
  so ``exp(score)`` is D/(1-D) (:class:`ScoresProbability`).
- ``classifies`` (discriminators): ``classify(batch)`` returns ``[B, classes]`` logits of
  each row's class label, AC-GAN's auxiliary classifier (:class:`Classifies`; the ``acgan``
  objective requires it).
- ``continuous`` / ``discrete`` / ``oracle`` / ``music`` (domains): the kind of data a
  domain holds; no core method (the metrics that require ``oracle`` or ``music`` check
  the domain they are given: an ``OracleDomain``, a ``to_pieces`` method).

Teacher-forced pretraining is part of every generator's interface
(``Generator.pretrain_loss``, :class:`Pretrains`); :func:`pretrains` says whether a
generator implements it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Protocol, runtime_checkable

import torch
from torch import Tensor

from seqtk.core.interfaces import Batch, Condition, Generator, Scores

__all__ = [
    "CAPABILITIES",
    "Capability",
    "Classifies",
    "Pretrains",
    "Rollouts",
    "RollsOut",
    "Samples",
    "SamplesLogProbs",
    "SamplesRelaxed",
    "SamplesReparam",
    "SamplesTokens",
    "SamplesValues",
    "ScoresProbability",
    "log_probs_of",
    "pretrains",
    "unkept_promises",
]


@dataclass
class Rollouts:
    """Every prefix of a batch completed ``n`` times: SeqGAN's Monte-Carlo search.

    For a batch of ``B`` sequences of ``T`` steps, ``values`` is ``[T - 1, n, B, T]``:
    ``values[t - 1, i, b]`` is the ``i``-th completion of the first ``t`` tokens of row
    ``b`` (``t = 1 .. T - 1``). ``lengths`` ``[T - 1, n, B]`` are the completions' lengths
    (EOS included) and padding past them is ``pad_id``. ``sampled`` ``[T - 1, n, B]`` is
    false where the prefix already held the whole sequence (``t >= length``): that
    completion is the sequence itself and nothing was drawn, so a caller may score the
    sequence once instead.
    """

    values: Tensor
    lengths: Tensor
    sampled: Tensor
    #: The condition of each of the ``B`` rolled-out rows (conditional domains); every
    #: completion of row ``b`` answers row ``b``'s condition.
    condition: Condition | None = None

    @property
    def rows(self) -> int:
        return int(self.lengths.numel())

    def batch(self, rows: Tensor | None = None) -> Batch:
        """The completions as one flat ``Batch`` (prefix-major), or only the flat ``rows`` given."""
        values = self.values.reshape(-1, self.values.shape[-1])
        lengths = self.lengths.reshape(-1)
        flat = torch.arange(lengths.numel(), device=lengths.device) if rows is None else rows
        if rows is not None:
            values, lengths = values[rows], lengths[rows]
        condition = None
        if self.condition is not None:  # flat row r completes a prefix of row r % B
            condition = self.condition.index(flat % self.values.shape[2])
        return Batch(values=values, lengths=lengths, condition=condition)


# --------------------------------------------------------------------------- Protocols


@runtime_checkable
class Samples(Protocol):
    """Draws ``n`` sequences (every generator does; the data words below say what they carry)."""

    def sample(self, n: int) -> Batch: ...


@runtime_checkable
class SamplesValues(Samples, Protocol):
    """``values``: ``sample(n).values`` is ``[n, T, F]`` real values."""


@runtime_checkable
class SamplesTokens(Samples, Protocol):
    """``tokens``: ``sample(n).values`` is ``[n, T]`` token ids."""


@runtime_checkable
class SamplesReparam(Samples, Protocol):
    """``reparam``: ``sample(n).values`` is differentiable with respect to the generator's parameters."""


@runtime_checkable
class SamplesLogProbs(Samples, Protocol):
    """``log_probs``: ``sample(n).log_probs`` is ``[n, T]``, differentiable, 0 past each length (read it with :func:`log_probs_of`)."""


@runtime_checkable
class SamplesRelaxed(Protocol):
    """``relaxed``: Gumbel-softmax samples for estimators that differentiate through one-hots (``gumbel``).

    ``sample_relaxed(n, inverse_temperature)`` returns a ``Batch`` whose ``values`` are
    the drawn tokens and whose ``relaxed`` ``[n, T, V]`` are differentiable relaxed
    one-hots (zero past each length), sharper as ``inverse_temperature`` grows.
    """

    def sample_relaxed(self, n: int, inverse_temperature: float) -> Batch: ...


@runtime_checkable
class RollsOut(Protocol):
    """``rollouts``: Monte-Carlo completions of every prefix (``reinforce``, ``maligan`` with ``rollouts > 0``).

    ``rollouts(batch, n, chunk_size=None)`` completes each prefix of ``batch`` ``n`` times
    from the generator's own distribution, ``chunk_size`` completion rows at a time
    (``None``: all at once), and must not need gradients (callers run it under ``no_grad``).
    """

    def rollouts(self, batch: Batch, n: int, chunk_size: int | None = None) -> Rollouts: ...


@runtime_checkable
class Pretrains(Protocol):
    """Teacher-forced pretraining: ``pretrain_loss(batch)`` is a differentiable loss on real data (mean per-token NLL for tokens)."""

    def pretrain_loss(self, batch: Batch) -> Tensor: ...


class ScoresProbability(Protocol):
    """``probability`` (objectives): discriminator scores are logits of D(x) = P(real), as MaliGAN's ``exp(score) = D/(1-D)`` needs.

    A promise about meaning, not about a method: nothing beyond ``Objective`` to check.
    """

    def discriminator_loss(self, real: Scores, fake: Scores) -> Tensor: ...


@runtime_checkable
class Classifies(Protocol):
    """``classifies`` (discriminators): ``classify(batch)`` is ``[B, classes]`` logits of each row's label (AC-GAN, Odena et al. 2017)."""

    def classify(self, batch: Batch) -> Tensor: ...


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Capability:
    """A capability word, the Protocol that states its promise and the methods a component must define for it."""

    word: str
    protocol: type
    #: Method names a component providing the word must define, each with its call shape for messages.
    methods: tuple[tuple[str, str], ...] = ()


CAPABILITIES: dict[str, Capability] = {
    c.word: c
    for c in (
        Capability("values", SamplesValues),
        Capability("tokens", SamplesTokens),
        Capability("reparam", SamplesReparam),
        Capability("log_probs", SamplesLogProbs),
        Capability("relaxed", SamplesRelaxed, (("sample_relaxed", "sample_relaxed(n, inverse_temperature) -> Batch"),)),
        Capability("rollouts", RollsOut, (("rollouts", "rollouts(batch, n, chunk_size=None) -> Rollouts"),)),
        Capability("probability", ScoresProbability),
        Capability("classifies", Classifies, (("classify", "classify(batch) -> Tensor [B, classes]"),)),
    )
}


def _implemented(cls: type, method: str) -> bool:
    attribute = getattr(cls, method, None)
    return callable(attribute) and not getattr(attribute, "__isabstractmethod__", False)


def unkept_promises(component: Any, words: Iterable[str]) -> list[tuple[str, str]]:
    """``(word, method call shape)`` for every method that a word in ``words`` promises and ``component`` (or its class) lacks.

    ``component`` is a built component or a class. Words this module does not know (a
    plugin's own, the domains' data words) promise nothing checkable here.
    """
    cls = component if isinstance(component, type) else type(component)
    return [
        (word, shape)
        for word in sorted(words)
        if word in CAPABILITIES
        for method, shape in CAPABILITIES[word].methods
        if not _implemented(cls, method)
    ]


def pretrains(generator: Generator) -> bool:
    """Whether ``generator`` overrides ``Generator.pretrain_loss`` (the base one only raises)."""
    return type(generator).pretrain_loss is not Generator.pretrain_loss


def log_probs_of(batch: Batch, who: str, generator: object) -> Tensor:
    """``batch.log_probs``, or a ValueError naming ``who`` (an estimator) and the generator that left them out."""
    if batch.log_probs is None:
        raise ValueError(
            f"{who}: the generator {type(generator).__name__} returned samples without log_probs "
            "(its registry entry provides log_probs, so sample(n) must fill Batch.log_probs)"
        )
    return batch.log_probs
