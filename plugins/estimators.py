"""Gradient estimators: how the generator's loss reaches its parameters."""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from typing import Annotated, Any, ClassVar, Literal, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from seqtk.core.capabilities import RollsOut, SamplesRelaxed, log_probs_of
from seqtk.core.conditioning import draw, draw_relaxed
from seqtk.core.interfaces import Batch, Condition, Discriminator, Estimator, Generator, GeneratorStep, Objective, Scores
from seqtk.core.params import PositiveInt, Range, checked

__all__ = ["Reparam", "Reinforce", "GumbelSoftmax"]

#: The choices of ``reinforce``'s ``baseline`` and ``gumbel``'s ``schedule`` (also their ``BASELINES`` / ``SCHEDULES``).
Baseline = Literal["none", "mean"]
Schedule = Literal["constant", "linear", "exponential", "logarithmic", "sigmoid", "quadratic", "square-root"]


class Reparam(Estimator):
    """Backpropagate straight through differentiable samples (the reparameterisation trick).

    Continuous generators that build their output as a differentiable function of noise
    need no estimator at all: the discriminator's score is differentiated with respect to
    the sample and, through it, the generator's parameters. This is the estimator of the
    recurrent GANs for real-valued series (C-RNN-GAN, RGAN, TimeGAN's adversarial part).
    """


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
        fake = draw(generator, real.size, real.condition)
        fake_scores = Scores.of(discriminator(fake), fake)
        # Relativistic losses compare with real scores; others must not pay for them.
        real_scores = Scores.of(discriminator(real), real) if objective.generator_needs_real else None
        return _with_auxiliary(objective.generator_loss(fake_scores, real_scores), objective, discriminator, fake)


# --------------------------------------------------------------------------- discrete


@checked("reinforce")
class Reinforce(Estimator):
    """SeqGAN's policy gradient: every token is rewarded by Monte-Carlo rollouts (Yu et al. 2017).

    The generator samples ``real.size`` sequences with their per-token log-probabilities.
    The value ``Q[b, t]`` of token ``t`` of sequence ``b`` is the mean reward of ``rollouts``
    completions of its prefix ``x_0 .. x_t``, drawn from a *delayed copy* of the generator;
    the last token's value is the reward of the sequence itself. A reward is
    ``objective.reward`` of the discriminator's score (``sigmoid(score)`` for minimax, as in
    SeqGAN). The loss is ``-sum(log p(x_t) * (Q[b, t] - baseline_t)) / tokens`` over the
    real (unpadded) tokens. An objective with an ``auxiliary_reward`` (AC-GAN's
    log-probability of the asked label) adds it to the reward of every sequence and rollout.

    Rollouts are batched: the generator's ``rollouts`` completes every prefix of every row
    ``rollouts`` times in one stepped pass (``chunk_size`` rows at a time), and the
    discriminator scores the completions ``chunk_size`` rows at a time, in eval mode
    (dropout off) and without gradients. A prefix that already holds the whole sequence
    (it ended with EOS) is not rolled out: its value is the sequence's reward. A
    discriminator with a ``score_completions(sequences, completions, sources,
    prefix_lengths)`` method (the ``cnn``) scores the completions through it, so that it
    can reuse what a completion shares with its sequence; it must return what
    ``forward(completions)`` returns. Others are simply called.

    The delayed copy starts as the generator at the first adversarial step (after any
    pretraining) and after every generator update moves to
    ``update_rate * delayed + (1 - update_rate) * generator`` (parameters; buffers are
    copied), SeqGAN's rollout-network update. ``update_rate = 0`` rolls out with the
    current generator.

    Parameters: ``rollouts`` Monte-Carlo completions per prefix (SeqGAN: 16);
    ``update_rate`` of the delayed copy (SeqGAN: 0.8); ``baseline`` ``"none"`` (SeqGAN) or
    ``"mean"`` (subtract the batch's mean value at each step, a variance reduction);
    ``chunk_size`` completion rows generated or scored at once (bounds memory: mostly what
    the discriminator needs for that many rows; a discriminator that builds one-hot inputs
    takes ``chunk_size x T x V`` floats).
    """

    #: The delayed copy follows the generator's weights, which DDP keeps equal on every rank.
    replicated_state: ClassVar[bool] = True
    BASELINES: ClassVar[tuple[str, ...]] = ("none", "mean")

    def __init__(
        self,
        rollouts: PositiveInt = 16,
        update_rate: Annotated[float, Range(0, 1)] = 0.8,
        baseline: Baseline = "none",
        chunk_size: PositiveInt = 4096,
    ) -> None:
        self.rollouts = rollouts
        self.update_rate = float(update_rate)
        self.baseline = baseline
        self.chunk_size = chunk_size
        self._delayed: Generator | None = None
        #: Whether the delayed copy has been set to the generator (at the first adversarial step).
        self._synced = False
        self._pending: Mapping[str, Tensor] | None = None

    # ----------------------------------------------------------- delayed copy

    def setup(self, generator: Generator, discriminator: Discriminator, objective: Objective) -> None:
        _require_rollouts("reinforce", generator)
        delayed = copy.deepcopy(generator)
        for parameter in delayed.parameters():
            parameter.requires_grad_(False)
            parameter.grad = None
        self._delayed = delayed
        if self._pending is not None:
            delayed.load_state_dict(self._pending)
            self._pending = None

    @property
    def delayed(self) -> Generator | None:
        """The delayed generator copy that draws the rollouts (None before ``setup``)."""
        return self._delayed

    def after_generator_step(self, generator: Generator, *, step: int) -> None:
        """``delayed = update_rate * delayed + (1 - update_rate) * generator``; buffers copied."""
        if self._delayed is None or not self._synced:
            return
        with torch.no_grad():
            current = dict(generator.named_parameters())
            for name, parameter in self._delayed.named_parameters():
                parameter.mul_(self.update_rate).add_(current[name].detach(), alpha=1.0 - self.update_rate)
            buffers = dict(generator.named_buffers())
            for name, buffer in self._delayed.named_buffers():
                buffer.copy_(buffers[name])

    def _follow(self, generator: Generator, discriminator: Discriminator, objective: Objective) -> Generator:
        if self._delayed is None:
            self.setup(generator, discriminator, objective)
        assert self._delayed is not None
        if not self._synced:
            # The copy made at setup predates pretraining: start from the generator as it is now.
            self._delayed.load_state_dict(generator.state_dict())
            self._synced = True
        self._delayed.train(generator.training)
        return self._delayed

    # ----------------------------------------------------------- the step

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
        delayed = self._follow(generator, discriminator, objective)
        fake = draw(generator, real.size, real.condition)
        log_probs = log_probs_of(fake, "reinforce", generator)
        values, rewards = self.action_values(fake.detach(), discriminator, objective, real, rollout_generator=delayed)
        mask = fake.mask.to(log_probs.dtype)
        advantage = values - self._baseline(values, mask)
        loss = -(log_probs * advantage * mask).sum() / mask.sum().clamp_min(1.0)
        return GeneratorStep(loss=loss, logs={"reward": float(rewards.mean())})

    def _baseline(self, values: Tensor, mask: Tensor) -> Tensor:
        if self.baseline == "none":
            return torch.zeros_like(values[:1])
        # The batch's mean value at each step, over the rows still running there.
        return ((values * mask).sum(0) / mask.sum(0).clamp_min(1.0)).unsqueeze(0)

    @torch.no_grad()
    def action_values(
        self,
        fake: Batch,
        discriminator: Discriminator,
        objective: Objective,
        real: Batch | None = None,
        *,
        rollout_generator: Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """``(Q, rewards)``: ``Q`` ``[B, T]`` the value of every token of ``fake``; ``rewards`` ``[B]``.

        ``Q[:, t]`` for ``t < T - 1`` is the mean reward of the rollouts of the prefix
        ``x_0 .. x_t``; ``Q[:, T - 1]`` (and every ``t`` whose prefix is the whole sequence)
        is the reward of the sequence itself, ``rewards``. Values past a row's length are
        meaningless; the loss masks them. Rollouts come from ``rollout_generator`` (by
        default the delayed copy).
        """
        roller = rollout_generator if rollout_generator is not None else self._delayed
        if roller is None:
            raise ValueError("reinforce: no generator to roll out with; call setup first")
        rolling = _require_rollouts("reinforce", roller)
        was_training = discriminator.training
        discriminator.eval()
        try:
            real_scores = None
            if objective.generator_needs_real:
                if real is None:
                    raise ValueError("reinforce: this objective needs real scores, but no real batch was given")
                real_scores = Scores.of(discriminator(real), real).per_sequence()
            rewards = objective.reward(Scores.of(discriminator(fake), fake).per_sequence(), real_scores).detach()
            auxiliary = objective.auxiliary_reward(discriminator, fake)
            if auxiliary is not None:  # AC-GAN: the classifier's log-likelihood of the asked label joins the reward
                rewards = rewards + auxiliary.detach().to(rewards.dtype)
            rollouts = rolling.rollouts(fake, self.rollouts, chunk_size=self.chunk_size)
            prefixes, count, rows = rollouts.lengths.shape
            per_rollout = rewards.view(1, 1, rows).expand(prefixes, count, rows).clone()
            flat = per_rollout.view(-1)
            score_completions = getattr(discriminator, "score_completions", None)
            for part in rollouts.sampled.reshape(-1).nonzero().squeeze(1).split(self.chunk_size):
                completions = rollouts.batch(part)
                if callable(score_completions):
                    # Flat row r of the [T - 1, n, B] layout completes prefix r // (n * B) + 1 of row r % B.
                    prefix_lengths, sources = part // (count * rows) + 1, part % rows
                    raw = score_completions(fake, completions, sources, prefix_lengths)
                else:
                    raw = discriminator(completions)
                scores = Scores.of(raw, completions).per_sequence()
                reward = objective.reward(scores, real_scores).detach()
                if auxiliary is not None:
                    reward = reward + objective.auxiliary_reward(discriminator, completions).detach().to(reward.dtype)  # type: ignore[union-attr]
                flat[part] = reward.to(flat.dtype)
        finally:
            discriminator.train(was_training)
        values = torch.cat([per_rollout.mean(1).transpose(0, 1), rewards.unsqueeze(1)], dim=1)
        return values, rewards

    # ----------------------------------------------------------- checkpoints

    def state_dict(self) -> dict[str, Any]:
        delayed = None
        if self._delayed is not None:
            delayed = {name: value.detach().clone() for name, value in self._delayed.state_dict().items()}
        elif self._pending is not None:
            delayed = dict(self._pending)
        return {"synced": self._synced, "delayed": delayed}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._synced = bool(state.get("synced", False))
        delayed = state.get("delayed")
        if delayed is None:
            return
        if self._delayed is None:
            self._pending = delayed
        else:
            self._delayed.load_state_dict(delayed)

    def __repr__(self) -> str:
        return (
            f"Reinforce(rollouts={self.rollouts}, update_rate={self.update_rate}, "
            f"baseline={self.baseline!r}, chunk_size={self.chunk_size})"
        )


@checked("gumbel")
class GumbelSoftmax(Estimator):
    """RelGAN's Gumbel-softmax relaxation with an annealed inverse temperature (Nie et al. 2019).

    The generator draws tokens by the Gumbel-max trick and hands the discriminator the
    relaxed one-hots ``softmax((logits + g) * beta)``; the objective's generator loss is
    differentiated through them. The inverse temperature ``beta`` rises from 1 to
    ``max_inverse_temperature`` over the adversarial phase, as RelGAN's
    ``get_fixed_temperature`` does (RelGAN calls ``beta`` the "temperature" and multiplies
    by it). With ``i`` the adversarial step (0 at the first one) and ``N`` the annealing
    length, the schedules are RelGAN's seven (weilinie/RelGAN, ``real/real_gan/real_train.py``,
    ``get_fixed_temperature``; ``b = beta_max``):

    - ``constant``: ``beta = b`` (RelGAN's ``no``);
    - ``linear``: ``beta = 1 + (b - 1) * i / (N - 1)`` (``lin``);
    - ``exponential``: ``beta = b ** (i / N)`` (``exp``, RelGAN's default);
    - ``logarithmic``: ``beta = 1 + (b - 1) * ln(i + 1) / ln(N)`` (``log``);
    - ``sigmoid``: ``beta = 1 + (b - 1) / (1 + exp((N / 2 - i) * 20 / N))`` (``sigmoid``);
    - ``quadratic``: ``beta = 1 + (b - 1) * i**2 / (N - 1)**2`` (``quad``);
    - ``square-root``: ``beta = 1 + (b - 1) * sqrt(i) / sqrt(N - 1)`` (``sqrt``).

    Past ``N`` steps ``i`` stays at ``N`` (exponential) or ``N - 1`` (the others), so
    ``beta`` stays at (about) ``b``. RelGAN fixes ``N = 5000`` whatever the number of
    adversarial steps (``nadv_steps`` 3000 on the oracle, 2000 on COCO), so its runs end
    below ``b``: set ``anneal_steps: 5000`` to match them.

    Parameters: ``max_inverse_temperature`` ``beta_max`` (>= 1; RelGAN tries 1 to 1000);
    ``schedule`` one of the seven above; ``anneal_steps`` ``N`` (null: the recipe's
    ``train.adversarial.steps``; set it when a run may later be extended with ``--resume
    --set train.adversarial.steps=...``, which would otherwise stretch the schedule
    mid-run). ``straight_through`` (default false, RelGAN's own) shows the discriminator
    the exact one-hots of the drawn tokens and differentiates the relaxation only in the
    backward pass (Jang et al. 2017's straight-through Gumbel-softmax): a relaxed one-hot
    is softer than any real token, so a discriminator can tell it apart by its sharpness
    alone, and then its gradient teaches the generator sharpness instead of content.
    Logs ``temperature`` (``1 / beta``) and ``inverse_temperature`` (``beta``).
    """

    SCHEDULES: ClassVar[tuple[str, ...]] = (
        "constant", "linear", "exponential", "logarithmic", "sigmoid", "quadratic", "square-root"
    )

    def __init__(
        self,
        max_inverse_temperature: Annotated[float, Range(1)] = 100.0,
        schedule: Schedule = "exponential",
        anneal_steps: PositiveInt | None = None,
        straight_through: bool = False,
    ) -> None:
        value = max_inverse_temperature  # every parameter: declared (checked)
        self.straight_through = straight_through
        self.max_inverse_temperature = float(value)
        self.schedule = schedule
        self.anneal_steps = anneal_steps

    def inverse_temperature(self, i: int, n: int) -> float:
        """``beta`` at adversarial step ``i`` of an annealing over ``n`` steps (``0 <= i < n``)."""
        return _inverse_temperature(self.schedule, self.max_inverse_temperature, i, n)

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
        relaxing = _require_relaxed(generator)
        beta = self.inverse_temperature(step, self.anneal_steps or total_steps)
        fake = draw_relaxed(relaxing, real.size, beta, real.condition)
        if self.straight_through:
            fake = _straight_through(fake)
        fake_scores = Scores.of(discriminator(fake), fake)
        real_scores = Scores.of(discriminator(real), real) if objective.generator_needs_real else None
        step_result = _with_auxiliary(objective.generator_loss(fake_scores, real_scores), objective, discriminator, fake)
        return GeneratorStep(loss=step_result.loss, logs={**step_result.logs, "temperature": 1.0 / beta, "inverse_temperature": beta})

    def discriminator_samples(self, generator: Generator, n: int, *, step: int, total_steps: int, condition: Condition | None = None) -> Batch:
        """Relaxed one-hots at the current temperature: what the generator step shows the discriminator (RelGAN).

        Straight through, the generator step shows exact one-hots: the tokens alone, then.
        """
        if self.straight_through:
            return draw(generator, n, condition)
        beta = self.inverse_temperature(step, self.anneal_steps or total_steps)
        return draw_relaxed(_require_relaxed(generator), n, beta, condition)

    def __repr__(self) -> str:
        return (
            f"GumbelSoftmax(max_inverse_temperature={self.max_inverse_temperature}, schedule={self.schedule!r}, "
            f"anneal_steps={self.anneal_steps}, straight_through={self.straight_through})"
        )


# --------------------------------------------------------------------------- helpers


def _inverse_temperature(schedule: str, beta_max: float, i: int, n: int) -> float:
    """RelGAN's ``get_fixed_temperature``: ``beta`` at step ``i`` of ``n`` (formulas in ``GumbelSoftmax``)."""
    if schedule == "constant":
        return beta_max
    if schedule == "exponential":
        return beta_max ** (min(i, n) / max(n, 1))
    if schedule == "sigmoid":
        i = min(i, n - 1)
        return 1.0 + (beta_max - 1.0) / (1.0 + math.exp((n / 2 - i) * 20 / n))
    if n <= 1:
        return beta_max
    i, rise = min(i, n - 1), beta_max - 1.0
    if schedule == "linear":
        return 1.0 + rise * i / (n - 1)
    if schedule == "logarithmic":
        return 1.0 + rise * math.log(i + 1) / math.log(n)
    if schedule == "quadratic":
        return 1.0 + rise * i**2 / (n - 1) ** 2
    if schedule == "square-root":
        return 1.0 + rise * math.sqrt(i) / math.sqrt(n - 1)
    raise ValueError(f"gumbel: unknown schedule {schedule!r}")


def _with_auxiliary(loss: Tensor, objective: Objective, discriminator: Discriminator, fake: Batch) -> GeneratorStep:
    """The generator's loss less the mean of the objective's auxiliary reward, when it has one (AC-GAN)."""
    auxiliary = objective.auxiliary_reward(discriminator, fake)
    if auxiliary is None:
        return GeneratorStep(loss=loss)
    bonus = auxiliary.mean()
    return GeneratorStep(loss=loss - bonus, logs={"g_auxiliary": float(bonus.detach())})


def _straight_through(batch: Batch) -> Batch:
    """``batch`` whose relaxed one-hots are exactly the tokens' one-hots forward and the relaxation backward.

    Padding rows of ``relaxed`` are zero (``sample_relaxed``) and stay zero.
    """
    assert batch.relaxed is not None
    relaxed = batch.relaxed
    hard = F.one_hot(batch.values, relaxed.shape[-1]).to(relaxed.dtype) * batch.mask.unsqueeze(-1).to(relaxed.dtype)
    return replace(batch, relaxed=hard + (relaxed - relaxed.detach()))


def _require_rollouts(estimator: str, generator: Generator) -> RollsOut:
    """``generator`` as the ``rollouts`` Protocol, or a ValueError naming the estimator that needs it."""
    if not isinstance(generator, RollsOut):
        raise ValueError(
            f"{estimator}: the generator {type(generator).__name__} has no rollouts(batch, n, chunk_size=None) method "
            "(the 'rollouts' capability, seqtk.core.capabilities.RollsOut)"
        )
    return generator


def _require_relaxed(generator: Generator) -> SamplesRelaxed:
    """``generator`` as the ``relaxed`` Protocol, or a ValueError saying what ``gumbel`` needs."""
    if not isinstance(generator, SamplesRelaxed):
        raise ValueError(
            f"gumbel: the generator {type(generator).__name__} has no sample_relaxed(n, inverse_temperature) method "
            "(the 'relaxed' capability, seqtk.core.capabilities.SamplesRelaxed)"
        )
    return generator
