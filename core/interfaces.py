"""The contracts between the trainer and the components that plugins provide.

A run is assembled from five parts: a Domain (the data and how to judge it), a
Generator, a Discriminator, an Objective (the GAN loss) and an Estimator (how the
generator's gradient crosses its sampling step). The trainer only ever talks to these
interfaces, so any plugin's part fits with any other's as long as what one ``requires``
is what another ``provides``.

Capability words are written once, in each component's registry entry (``provides``,
``requires``, ``provides_by_param``), so that compatibility is checked before anything is
imported; classes carry no copy. The methods a word promises are typed Protocols in
:mod:`seqtk.core.capabilities`, checked against the class when a component is built:

- ``continuous`` / ``discrete``: the kind of values a domain holds.
- ``values``: a generator's samples carry ``Batch.values``.
- ``reparam``: those values are differentiable with respect to the generator's
  parameters (reparameterised sampling).
- ``log_probs``: samples carry per-step log-probabilities (policy-gradient estimators).
- ``relaxed``: ``sample_relaxed(n, inverse_temperature)`` returns relaxed one-hots
  (Gumbel-softmax estimators).
- ``rollouts``: ``rollouts(batch, n, chunk_size)`` completes every prefix (SeqGAN's
  Monte-Carlo search).
- ``probability``: an objective whose discriminator score is the logit of D(x) = P(real),
  so that ``exp(score)`` is D/(1-D) (MaliGAN's importance weight); critics' scores are not.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal, Mapping, Protocol

import torch
from torch import Tensor, nn

from seqtk.core.registry import CONDITION_WORDS  # re-exported: the words a ConditionSpec gives

__all__ = [
    "Batch",
    "Condition",
    "ConditionSpec",
    "CONDITION_WORDS",
    "DomainSpec",
    "SequenceData",
    "Domain",
    "Generator",
    "Discriminator",
    "Scores",
    "Objective",
    "Estimator",
    "GeneratorStep",
    "Metric",
    "MetricWarning",
    "Callback",
    "Model",
    "ModelPhase",
    "ModelUpdates",
]


# --------------------------------------------------------------------------- data



@dataclass(frozen=True)
class ConditionSpec:
    """What a conditional domain conditions each sequence on, for building networks.

    ``num_classes`` > 0: each sequence has a class label ``0 .. num_classes - 1`` (named
    ``class_names``); ``static_features`` > 0: a vector of that many static features in
    [0, 1]; ``context`` set: a context sequence described by its own spec (a dialogue turn
    of the same vocabulary, a history window, a soprano line).
    """

    num_classes: int = 0
    class_names: tuple[str, ...] = ()
    static_features: int = 0
    context: "DomainSpec | None" = None

    @property
    def words(self) -> frozenset[str]:
        """The condition words this spec gives (``label``, ``static``, ``context``)."""
        found = {"label"} if self.num_classes else set()
        found |= {"static"} if self.static_features else set()
        found |= {"context"} if self.context is not None else set()
        return frozenset(found)


@dataclass(frozen=True)
class DomainSpec:
    """What the networks must know about the data to be built for it.

    Continuous domains fill ``features`` and ``value_range``; discrete domains fill
    ``vocab_size`` and the special token ids. ``max_len`` bounds every sequence.
    """

    kind: Literal["continuous", "discrete"]
    max_len: int
    features: int = 0
    value_range: tuple[float, float] | None = None
    vocab_size: int = 0
    pad_id: int = 0
    bos_id: int | None = None
    eos_id: int | None = None
    #: Token ids a generator must never emit (padding, the start token): their
    #: probability is zero, so every sample decodes and every length is honest.
    unsampled_ids: tuple[int, ...] = ()
    #: For variable-length continuous data: relative frequency of each length
    #: ``1 .. max_len`` in the training split, so that a generator that cannot decide
    #: where to stop draws its lengths as the data has them (as TimeGAN does). Empty
    #: when every sequence has ``max_len`` steps.
    length_weights: tuple[float, ...] = ()
    #: What each sequence is conditioned on; None for unconditional data (the default).
    conditions: ConditionSpec | None = None

    @property
    def is_discrete(self) -> bool:
        return self.kind == "discrete"


@dataclass
class Condition:
    """What each row of a batch is conditioned on, row for row with its batch.

    ``labels`` ``[B]`` long class ids; ``static`` ``[B, S]`` float features; ``context`` a
    ``Batch`` of context sequences (one per row). Real batches of a conditional domain carry
    their own; a generator given a condition attaches it to the samples it returns, so the
    discriminator, rollouts and metrics see which condition each sample answers.
    """

    labels: Tensor | None = None
    static: Tensor | None = None
    context: "Batch | None" = None

    def _map(self, tensor: Callable[[Tensor], Tensor], batch: Callable[["Batch"], "Batch"]) -> "Condition":
        return Condition(
            labels=None if self.labels is None else tensor(self.labels),
            static=None if self.static is None else tensor(self.static),
            context=None if self.context is None else batch(self.context),
        )

    def to(self, device: torch.device | str) -> "Condition":
        return self._map(lambda t: t.to(device), lambda b: b.to(device))

    def index(self, rows: Tensor) -> "Condition":
        return self._map(lambda t: t[rows.to(t.device)], lambda b: b.index(rows))

    def repeat(self, times: int) -> "Condition":
        """Each row ``times`` times in a row (``repeat_interleave``): the condition of ``times`` samples per row."""
        rows = torch.arange(self.size).repeat_interleave(times)
        return self.index(rows)

    @property
    def size(self) -> int:
        for tensor in (self.labels, self.static):
            if tensor is not None:
                return int(tensor.shape[0])
        return self.context.size if self.context is not None else 0

    @classmethod
    def concat(cls, conditions: list["Condition"]) -> "Condition":
        def joined(name: str) -> Tensor | None:
            tensors = [getattr(c, name) for c in conditions]
            return None if any(t is None for t in tensors) else torch.cat(tensors)

        contexts = [c.context for c in conditions]
        context = None if any(c is None for c in contexts) else Batch.concat(contexts)  # type: ignore[arg-type]
        return cls(labels=joined("labels"), static=joined("static"), context=context)


@dataclass
class Batch:
    """A batch of sequences, real or generated, as every component exchanges it.

    ``values`` is ``[B, T, F]`` float for continuous domains and ``[B, T]`` long token ids
    for discrete ones. ``lengths`` (``[B]``) says how many steps of each row are real;
    positions past a row's length are padding and every loss and metric must ignore them
    (use ``mask``). Generated batches may also carry ``log_probs`` (``[B, T]``, the
    log-probability of each sampled token) and ``relaxed`` (``[B, T, V]``, relaxed
    one-hots through which gradients flow).

    ``extras`` carries any other per-row tensor a generator wants its discriminator to
    see, under a key the two agree on (the ``grid-lstm`` pair sends its straight-through
    one-hots as ``extras["grid_one_hots"]``). Every tensor's first dimension is the batch
    (``[B, ...]``, steps second when there are steps): ``to``, ``detach``, ``index`` and
    the trainer's pool of negatives keep them row for row, ``concat`` (for metrics) drops
    them. The core never reads them; a component must work when the key is absent (real
    batches carry none).
    """

    values: Tensor
    lengths: Tensor
    log_probs: Tensor | None = None
    relaxed: Tensor | None = None
    extras: dict[str, Tensor] = field(default_factory=dict)
    #: What each row is conditioned on (conditional domains); None for unconditional data.
    condition: Condition | None = None

    def __post_init__(self) -> None:
        if self.lengths.dim() != 1 or self.lengths.shape[0] != self.values.shape[0]:
            raise ValueError(
                f"Batch.lengths must be [B] with B={self.values.shape[0]}, got {tuple(self.lengths.shape)}"
            )

    @classmethod
    def full_length(cls, values: Tensor, **kwargs: Any) -> "Batch":
        """A batch whose rows all use every step (fixed-length data)."""
        lengths = torch.full((values.shape[0],), values.shape[1], dtype=torch.long, device=values.device)
        return cls(values=values, lengths=lengths, **kwargs)

    @property
    def size(self) -> int:
        return int(self.values.shape[0])

    @property
    def steps(self) -> int:
        return int(self.values.shape[1])

    @property
    def mask(self) -> Tensor:
        """``[B, T]`` bool, true where a step is real data rather than padding."""
        steps = torch.arange(self.steps, device=self.lengths.device)
        return steps.unsqueeze(0) < self.lengths.unsqueeze(1)

    def one_hot(self, vocab_size: int) -> Tensor:
        """``[B, T, V]`` float: the relaxed one-hots if present, else exact one-hots of the tokens."""
        if self.relaxed is not None:
            if self.relaxed.shape[-1] != vocab_size:
                raise ValueError(f"relaxed one-hots have {self.relaxed.shape[-1]} classes, expected {vocab_size}")
            return self.relaxed
        return torch.nn.functional.one_hot(self.values, vocab_size).float()

    def to(self, device: torch.device | str) -> "Batch":
        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device)

        return replace(
            self,
            values=self.values.to(device),
            lengths=self.lengths.to(device),
            log_probs=move(self.log_probs),
            relaxed=move(self.relaxed),
            extras={k: v.to(device) for k, v in self.extras.items()},
            condition=None if self.condition is None else self.condition.to(device),
        )

    def detach(self) -> "Batch":
        """The same samples with no graph attached: what the discriminator trains on."""
        def cut(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.detach()

        return replace(
            self,
            values=self.values.detach(),
            log_probs=cut(self.log_probs),
            relaxed=cut(self.relaxed),
            extras={k: v.detach() for k, v in self.extras.items()},
        )

    @classmethod
    def concat(cls, batches: list["Batch"]) -> "Batch":
        """Join batches row-wise, padding shorter ones with zeros to the longest.

        Only ``values``, ``lengths`` and the conditions are kept: what metrics and sample writers use.
        """
        if len(batches) == 1:
            return batches[0]
        width = max(b.steps for b in batches)
        padded = []
        for b in batches:
            pad = [0, 0] * (b.values.dim() - 2) + [0, width - b.steps]
            padded.append(torch.nn.functional.pad(b.values, pad))
        conditions = [b.condition for b in batches]
        condition = None if any(c is None for c in conditions) else Condition.concat(conditions)  # type: ignore[arg-type]
        return cls(values=torch.cat(padded), lengths=torch.cat([b.lengths for b in batches]), condition=condition)

    def index(self, rows: Tensor) -> "Batch":
        """The rows ``rows`` of this batch (a view of real data for mini-batching)."""
        def pick(t: Tensor | None) -> Tensor | None:
            return None if t is None else t[rows]

        return replace(
            self,
            values=self.values[rows],
            lengths=self.lengths[rows],
            log_probs=pick(self.log_probs),
            relaxed=pick(self.relaxed),
            extras={k: v[rows] for k, v in self.extras.items()},
            condition=None if self.condition is None else self.condition.index(rows),
        )


@dataclass
class SequenceData:
    """An in-memory split of a dataset: all its sequences as one padded ``Batch``.

    Kept deliberately simple: the benchmark datasets fit in memory many times over, and a
    single tensor makes shuffling, resuming and sharding exact.
    """

    batch: Batch

    def __len__(self) -> int:
        return self.batch.size

    def rows(self, indices: Tensor) -> Batch:
        return self.batch.index(indices)


# --------------------------------------------------------------------------- domain


class Domain(abc.ABC):
    """The data type and everything about it: data, encoding, output format, metrics.

    A domain is built from the recipe's ``domain.params``. It owns the train/test split so
    that every metric that needs held-out data gets data the generator never trained on.
    """

    #: Metric names (registry entries) evaluated when the recipe names none.
    default_metrics: ClassVar[tuple[str, ...]] = ()
    #: Metric names ``seqtk score`` computes when none is named; empty means
    #: ``default_metrics``. Longer when some metrics are too slow for every evaluation
    #: of a run but worth their minute when a file of samples is scored once.
    scoring_metrics: ClassVar[tuple[str, ...]] = ()

    @property
    @abc.abstractmethod
    def spec(self) -> DomainSpec:
        """What the networks need to know to be built for this data."""

    @abc.abstractmethod
    def load(self, split: Literal["train", "test"]) -> SequenceData:
        """The split's sequences, encoded as tensors (on the CPU)."""

    @abc.abstractmethod
    def write_samples(self, batch: Batch, directory: Path, stem: str) -> list[Path]:
        """Write generated samples in the domain's native format; return the files written.

        Implementations must write atomically (temporary file, then rename): an
        interrupted run must never leave a half-written sample file behind.
        """

    def state_dict(self) -> dict[str, Any]:
        """Data-dependent state to keep with a run (for example a fitted scaler); plain data, as for :meth:`Objective.state_dict`."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""

    @classmethod
    def scoring_data(cls, real: Path, samples: Path, params: Mapping[str, Any]) -> tuple["Domain", Batch, Batch]:
        """Read a real-data file and a file of samples for ``seqtk score``.

        Returns a domain built for the two files (for example a vocabulary that covers
        both, so no word is lost to ``<unk>``), the real batch and the sample batch.
        ``params`` are the ``--param`` options of the command line. Domains that cannot
        read sample files keep this default.
        """
        raise NotImplementedError(f"{cls.__name__} cannot score sample files")

    def read_conditions(self, path: Path) -> "Condition":
        """The conditions in a user's file, one per sample to draw (``seqtk sample --conditions FILE``).

        A conditional domain reads them in its own format (the text domain: one label, or
        one context sentence, per line). Unconditional domains, and conditional ones that
        read no such file, keep this default.
        """
        raise NotImplementedError(f"{type(self).__name__} reads no file of conditions")

    def report_samples(self, run_dir: Path, *, generator: "Generator | None" = None, count: int = 8) -> list[Any]:
        """What ``seqtk report`` shows of a run's samples beside real data: ``seqtk.core.report_items`` objects.

        Called on the domain restored from the run's newest checkpoint (``generator`` is that
        checkpoint's, in eval mode; None when the run has none yet), or built from the run's
        recipe. ``count`` bounds the examples per side. The default shows the pictures the
        newest evaluation wrote to ``samples/``; domains override it to add their own
        (sentences with their NLL, audio). Must not fail on a run in progress.
        """
        from seqtk.core.report_items import sample_pictures

        return list(sample_pictures(run_dir))


# --------------------------------------------------------------------------- networks


class Generator(nn.Module, abc.ABC):
    """An autoregressive sequence generator.

    Constructors take the domain's ``spec`` as a keyword argument, then their own
    parameters (which the registry checks against the signature before building).
    """

    @abc.abstractmethod
    def sample(self, n: int) -> Batch:
        """Draw ``n`` sequences on the module's device, with what the registry entry ``provides``.

        Sampling uses torch's global random state, so a seeded run is reproducible.
        """

    def pretrain_loss(self, batch: Batch) -> Tensor:
        """A teacher-forced loss for maximum-likelihood pretraining on real data.

        Discrete generators return the mean per-token NLL; continuous ones a next-step
        regression loss. Generators that cannot be pretrained keep this default.
        """
        raise NotImplementedError(f"{type(self).__name__} has no pretraining loss")

    def pretraining_problem(self) -> str | None:
        """Why this generator cannot be pretrained as configured, or None if it can.

        Asked before training starts, so that a recipe asking for pretraining that cannot
        happen fails at once with a recipe error instead of deep inside the loop.
        """
        from seqtk.core.capabilities import pretrains  # the one test of that promise; imported here, capabilities imports this module

        if not pretrains(self):
            return f"{type(self).__name__} has no pretraining loss"
        return None

    @property
    def device(self) -> torch.device:
        parameter = next(self.parameters(), None)
        return parameter.device if parameter is not None else torch.device("cpu")


class Discriminator(nn.Module, abc.ABC):
    """Scores a batch: ``[B]`` per sequence, or ``[B, T]`` per step when ``per_step``.

    Higher means "more real" for every objective. Discrete discriminators must accept
    one-hot or relaxed ``[B, T, V]`` input (``Batch.one_hot``) and embed it by matrix
    product so that gradients reach the generator. Padding (``Batch.mask``) must not
    change the scores of real steps.
    """

    per_step: bool = False

    @abc.abstractmethod
    def forward(self, batch: Batch) -> Tensor:  # noqa: D401 - nn.Module convention
        """Score ``batch``."""

    def regularization(self) -> Tensor | None:
        """A penalty on the discriminator's own weights, added to its loss at every update, or None.

        For penalties that belong to the architecture rather than to the GAN loss or the
        optimiser: SeqGAN's CNN puts an L2 penalty on its output layer alone, which an
        optimiser's weight decay (applied to every parameter) cannot express.
        """
        return None


# --------------------------------------------------------------------------- losses


@dataclass
class Scores:
    """Discriminator scores with the weights that say which of them count.

    ``values`` is ``[B]`` or ``[B, T]``; ``weight`` has the same shape (1 for a real step,
    0 for padding). Objectives reduce elementwise losses with ``mean``, so per-sequence and
    per-step discriminators share one implementation.
    """

    values: Tensor
    weight: Tensor | None = None

    @classmethod
    def of(cls, values: Tensor, batch: Batch) -> "Scores":
        if values.dim() == 2:
            return cls(values, batch.mask.to(values.dtype))
        return cls(values)

    def per_sequence(self) -> Tensor:
        """``[B]``: per-step scores averaged over each row's real steps (``weight``); ``[B]`` scores as they are.

        One score per sequence is what rewards, importance weights and held-out accuracy
        need, whichever kind of discriminator gave the scores.
        """
        values = self.values
        if values.dim() == 1:
            return values
        if self.weight is None:
            return values.mean(dim=1)
        weight = self.weight.to(values.dtype)
        return (values * weight).sum(dim=1) / weight.sum(dim=1).clamp_min(1.0)

    def mean(self, elementwise: Tensor) -> Tensor:
        if self.weight is None:
            return elementwise.mean()
        return (elementwise * self.weight).sum() / self.weight.sum().clamp_min(1.0)


class Objective(abc.ABC):
    """A GAN loss. The math lives in pure functions; this class adapts them to the trainer.

    ``critic_steps`` is how many discriminator updates the objective wants per generator
    update (WGAN's n_critic); the recipe may override it.
    """

    critic_steps: int = 1
    #: True if ``generator_loss`` needs the real scores (relativistic losses).
    generator_needs_real: bool = False

    @abc.abstractmethod
    def discriminator_loss(self, real: Scores, fake: Scores) -> Tensor:
        """Loss the discriminator minimises."""

    @abc.abstractmethod
    def generator_loss(self, fake: Scores, real: Scores | None = None) -> Tensor:
        """Loss the generator minimises through differentiable samples."""

    def reward(self, fake_scores: Tensor, real_scores: Tensor | None = None) -> Tensor:
        """Per-element reward (higher is better) for policy-gradient estimators.

        ``real_scores`` (scores of a real batch, ``[B]``) is given when
        ``generator_needs_real`` is true, for relativistic losses. Rewards are detached.
        """
        raise NotImplementedError(f"{type(self).__name__} defines no reward")

    def penalty(self, discriminator: Discriminator, real: Batch, fake: Batch) -> Tensor | None:
        """An extra discriminator loss term (gradient penalty), or None.

        ``fake`` arrives detached from the generator: the penalty trains the discriminator only.
        """
        return None

    def auxiliary_reward(self, discriminator: Discriminator, fake: Batch) -> Tensor | None:
        """``[B]``: a term each generated row should raise besides its score (AC-GAN's class log-likelihood), or None.

        Differentiable through ``fake`` like the discriminator's score. Estimators that
        differentiate through samples subtract its mean from the generator's loss;
        policy-gradient ones add it, detached, to each sequence's and each rollout's reward.
        """
        return None

    def after_discriminator_step(self, discriminator: Discriminator) -> None:
        """Called after each discriminator optimiser step (weight clipping)."""

    def state_dict(self) -> dict[str, Any]:
        """State the loss keeps between steps (a Lagrange multiplier), for checkpoints; ``{}`` when it keeps none.

        Plain data only (tensors, numbers, strings, lists, dicts): checkpoints load with
        ``torch.load(weights_only=True)``, and anything else is refused when the checkpoint
        is written. Under torchrun rank 0's state is handed to every rank after each step
        (docs/plugins.md, "Components with state").
        """
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what ``state_dict`` returned (on ``--resume``, and on ranks other than 0 after each step)."""

    #: True when the state is, by construction, the same on every rank (computed from
    #: the synchronised weights or from all-reduced numbers only): the trainer then skips
    #: the per-step broadcast of rank 0's state under torchrun, which for a large state
    #: (a copy of the generator) would cost a transfer per step for nothing.
    replicated_state: ClassVar[bool] = False


@dataclass
class GeneratorStep:
    """What an estimator hands the trainer for one generator update."""

    loss: Tensor
    logs: dict[str, float] = field(default_factory=dict)


class Estimator(abc.ABC):
    """How the generator's gradient crosses its sampling step.

    The registry entry's ``requires`` names the generator capabilities it needs
    (``reparam``, ``log_probs``, ``relaxed``, ``rollouts``); the recipe loader checks them
    before anything is built, and the estimator reaches the methods they promise through
    the Protocols of :mod:`seqtk.core.capabilities`.
    """

    def setup(self, generator: Generator, discriminator: Discriminator, objective: Objective) -> None:
        """Called once after the networks exist (for example to copy the generator)."""

    @abc.abstractmethod
    def generator_step(
        self,
        generator: Generator,
        discriminator: Discriminator,
        objective: Objective,
        real: Batch,
        *,
        step: int,
        total_steps: int,
    ) -> GeneratorStep:
        """Sample ``real.size`` sequences and return the generator's loss for them.

        ``step`` counts adversarial iterations from 0 and ``total_steps`` is how many the
        recipe asks for (``train.adversarial.steps``): schedules such as temperature
        annealing run over the adversarial phase, not over pretraining.
        """

    def after_generator_step(self, generator: Generator, *, step: int) -> None:
        """Called after each generator optimiser step (for example to update a delayed copy)."""

    def discriminator_samples(self, generator: Generator, n: int, *, step: int, total_steps: int, condition: "Condition | None" = None) -> Batch:
        """The generated batch a discriminator update trains on (called under ``no_grad``).

        By default ``generator.sample(n)``. An estimator whose generator step shows the
        discriminator something else must show it the same here, or the discriminator
        learns to judge samples it never scores for the generator: Gumbel-softmax hands
        it relaxed one-hots, as RelGAN does. ``step``/``total_steps`` as in
        ``generator_step`` (``step`` is 0 during discriminator pretraining). ``condition``
        is passed only for a conditional domain: the real rows' conditions, which the
        samples must answer row for row (draw them with :func:`seqtk.core.conditioning.draw`).
        """
        from seqtk.core.conditioning import draw

        return draw(generator, n, condition)

    def state_dict(self) -> dict[str, Any]:
        """Estimator state that a checkpoint must keep for an exact resume (a baseline's running mean); ``{}`` if none.

        Plain data only, handed from rank 0 to every rank after each step under torchrun,
        as for :meth:`Objective.state_dict`.
        """
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what ``state_dict`` returned (on ``--resume``, and on ranks other than 0 after each step)."""

    #: As :attr:`Objective.replicated_state`.
    replicated_state: ClassVar[bool] = False


# --------------------------------------------------------------------------- metrics


class Metric(abc.ABC):
    """A number that says how close generated data is to held-out real data.

    Built from the registry like other components: the constructor may take ``domain``,
    ``spec`` and ``generator`` (injected; a metric that takes ``generator``, such as
    NLL-test, cannot score sample files with ``seqtk score``) and its own parameters.
    Called with real test data and generated samples, both on the CPU, while the
    generator is in eval mode.
    """

    #: Whether a larger value means better samples (drives the "improved" arrows in logs).
    higher_is_better: ClassVar[bool] = False
    #: True if ``real`` must be the whole test split rather than as many rows as there are
    #: samples (BLEU's references are the whole test set).
    uses_whole_test_set: ClassVar[bool] = False

    @classmethod
    def applies_to(cls, domain: type, provides: frozenset[str]) -> bool:
        """Whether this metric can score data of the domain class ``domain`` (which provides ``provides``).

        ``requires`` in the registry says what a metric needs when it needs all of it; this
        is for a need that is one of several (density and coverage: continuous values, or a
        domain with its own ``knn_embedding``). ``seqtk score`` lists only the metrics that
        apply to the domain it scores. The default: every domain that meets ``requires``.
        """
        return True

    @abc.abstractmethod
    def __call__(self, real: Batch, fake: Batch) -> float:
        """Compare ``fake`` with ``real``."""

    def warning(self, value: float) -> str | None:
        """A sentence for the user when ``value`` (this metric's last result) signals a problem, else None.

        A number in a log is easy to miss; some values mean the run has gone wrong in a way
        a user must hear of (``coverage`` near 0: the generator has collapsed onto a few
        modes). The trainer calls this after every evaluation but the one before training,
        with the value the last call returned (so a metric may keep what it needs from that
        call), shows each message as a :class:`MetricWarning`, logs it under ``warnings``
        in that evaluation's record and puts the final evaluation's in ``summary.json``.
        The default never warns.
        """
        return None

    def state_dict(self) -> dict[str, Any]:
        """State the metric keeps between evaluations, for checkpoints; ``{}`` when it keeps none.

        Plain data only, as for :meth:`Objective.state_dict`. Rank 0 alone evaluates, so
        rank 0's state is the one kept.
        """
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what ``state_dict`` returned (on ``--resume``; a metric added on resume keeps its initial state)."""


class MetricWarning(UserWarning):
    """What :meth:`Metric.warning` said about an evaluation (filter with ``-W ignore::seqtk.core.interfaces.MetricWarning``)."""


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class ModelPhase:
    """One of a model's training phases: a name for the log and its number of steps."""

    name: str
    steps: int


class ModelUpdates(Protocol):
    """What the trainer lends a model for one training step.

    The model never builds optimisers, draws data or talks to other ranks itself: these
    stay with the trainer, which is what makes a model's run checkpoint, resume bit for
    bit, run under torchrun and stop cleanly on Ctrl-C like any other run.
    """

    def next_batch(self) -> Batch:
        """The next real training batch (this rank's share), on the run's device."""
        ...

    def update(self, optimizer: str, compute_loss: Callable[[], tuple[Tensor, dict[str, float]]]) -> dict[str, float]:
        """One step of the named optimiser on ``compute_loss``'s loss; returns its logs.

        ``compute_loss`` is run so that, under torchrun, the backward pass averages the
        gradients of that optimiser's module over ranks. A non-finite loss stops the run
        with the usual divergence message; the optimiser's ``grad_clip`` applies.
        """
        ...


class Model(nn.Module, abc.ABC):
    """A GAN that owns several networks, their optimisers and its own phases.

    Most GANs fit the five-part contract (generator, discriminator, objective,
    estimator), and the trainer runs their schedule. Some do not: TimeGAN trains an
    autoencoder, then a supervisor on the autoencoder's latents, then five networks
    jointly, with real data passing through its own encoder and a discriminator that
    only updates when its loss is high. A ``Model`` says what it trains and how; the
    trainer keeps what every run needs (data order, optimiser steps under DDP,
    checkpoints, bit-identical resume, evaluation, signals).

    - ``phases()`` lists the phases in order; the trainer numbers the steps.
    - ``optimizers()`` maps an optimiser's name to the module it updates and to the
      recipe's optimiser settings it takes (``"generator"`` or ``"discriminator"``
      under ``train.optimizer``). The trainer builds one Adam per name and keeps its
      state in checkpoints.
    - ``training_step(phase, step, updates)`` makes one step of ``phase`` (``step``
      counts from 0 within the phase) through ``updates`` and returns its logs.
    - ``generator`` is the sampling path, a :class:`Generator` sharing the model's
      networks: evaluation, ``seqtk sample``, ``train.init_generator`` and the samples
      files use it, and a checkpoint's ``generator`` entry is its state.
    - ``discriminator`` (optional) scores data-space batches, so that evaluations log
      the discriminator's view (``d_auc``) as for any GAN; ``None`` logs none.

    Networks are registered sub-modules of the model, so ``state_dict`` holds them
    all; state that is not a tensor (a counter, a schedule) goes through
    ``training_state``/``load_training_state``.
    """

    @property
    @abc.abstractmethod
    def generator(self) -> "Generator":
        """The networks that turn noise into samples, as a Generator."""

    @property
    def discriminator(self) -> "Discriminator | None":
        return None

    @abc.abstractmethod
    def phases(self) -> list[ModelPhase]:
        """The training phases in order."""

    @abc.abstractmethod
    def optimizers(self) -> dict[str, tuple[nn.Module, Literal["generator", "discriminator"]]]:
        """Optimiser name -> (module it updates, which of ``train.optimizer``'s settings it takes)."""

    @abc.abstractmethod
    def training_step(self, phase: str, step: int, updates: ModelUpdates) -> dict[str, float]:
        """One step of ``phase``; returns the values to log (losses)."""

    def training_state(self) -> dict[str, Any]:
        return {}

    def load_training_state(self, state: Mapping[str, Any]) -> None:
        pass


# --------------------------------------------------------------------------- callbacks


class Callback(Protocol):
    """What runs around the training steps. Plugins return these from ``seqtk_callbacks``; so does the built-in plugin (progress, metrics log, samples, checkpoints).

    Every method and attribute is optional: the trainer calls only those an object defines,
    in the order of ``seqtk.core.callbacks.METHODS``. They are plain method calls on the hot
    path, not pluggy hooks. ``name`` lets a recipe disable the callback and a plugin replace
    a built-in one; ``all_ranks`` runs it on every torchrun rank, not rank 0 alone.
    ``seqtk.core.callbacks`` documents ``Run`` and the order (docs/plugins.md, "Callbacks").
    """

    name: str
    all_ranks: bool

    def setup(self, run: Any) -> None: ...

    def on_run_start(self, run_dir: Path, recipe: Any) -> None: ...

    def on_resume(self, checkpoint: Mapping[str, Any]) -> None: ...

    def on_step(self, step: int, logs: Mapping[str, float]) -> None: ...

    def on_eval(self, step: int, metrics: Mapping[str, float]) -> None: ...

    def on_step_end(self, step: int) -> None: ...

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None: ...

    def on_checkpoint(self, step: int, path: Path) -> None: ...

    def on_run_end(self, run_dir: Path, metrics: Mapping[str, float]) -> None: ...

    def teardown(self) -> None: ...
