"""MaliGAN's estimator: maximum likelihood on the generator's own samples, reweighted by the discriminator.

Che et al. 2017 ("Maximum-Likelihood Augmented Discrete Generative Adversarial
Networks") observe that an optimal discriminator gives the data density ratio
``p_data(x) / p_G(x) = D(x) / (1 - D(x)) = r_D(x)``, so ``r_D(x) p_G(x)`` is an estimate of
the data distribution. Drawing ``m`` samples from the generator and normalising
``w_i = r_D(x_i) / sum_j r_D(x_j)`` turns importance sampling into a low-variance
surrogate of maximum likelihood on that estimate, whose gradient is

    sum_i (w_i - b) * grad log p_G(x_i)

with ``b`` a baseline. For a sigmoid discriminator ``D = sigmoid(s)``, ``D / (1 - D) =
exp(s)``, so the normalised weights are a softmax of the scores over the batch: computed
that way they never overflow, whatever the scores.

The pure functions below hold the math; :class:`MaliGAN` adapts them to the trainer.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from torch import Tensor

from seqtk.core.capabilities import RollsOut, log_probs_of
from seqtk.core.conditioning import draw
from seqtk.core.interfaces import Batch, Discriminator, Estimator, Generator, GeneratorStep, Objective, Scores
from seqtk.core.params import NonNegativeInt, PositiveFloat, PositiveInt, checked
from seqtk.plugins.estimators import Reinforce

__all__ = ["MaliGAN", "normalised_weights", "maligan_loss"]


def normalised_weights(scores: Tensor, mask: Tensor | None = None, temperature: float = 1.0) -> Tensor:
    r"""MaliGAN's weights ``r_D(x_i)^{1/tau} / sum_j r_D(x_j)^{1/tau}`` over dimension 0.

    ``scores`` are the discriminator's logits ``s`` (``D = sigmoid(s)``, so ``r_D = D / (1 -
    D) = exp(s)``): ``[B]`` for one weight per sequence, or ``[B, T]`` for one per prefix,
    normalised over the batch separately at every step. ``mask`` (same shape, bool) leaves
    rows out of the normalisation (weight 0): at step ``t``, only the rows still running.
    A column with no row left is all zeros. ``temperature`` ``tau`` divides the logits:
    above 1 it flattens the weights, below 1 it sharpens them; 1 is the paper's.
    """
    logits = scores.float() / temperature
    if mask is not None:
        logits = logits.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(logits, dim=0)
    return torch.nan_to_num(weights, nan=0.0)  # a column that is all -inf has no rows to weigh


def maligan_loss(log_probs: Tensor, weights: Tensor, mask: Tensor, baseline: str = "uniform") -> Tensor:
    r"""The surrogate whose gradient is MaliGAN's: ``-sum_i sum_t (w_{i,t} - b_t) log p(x_{i,t} | x_{i,<t})``.

    ``log_probs`` ``[B, T]`` carry the graph; ``weights`` ``[B]`` (one per sequence,
    applied to each of its tokens, as in the paper's basic MaliGAN) or ``[B, T]`` (one per
    prefix) are constants. Tokens are *summed* over each sequence, not averaged: the
    weight multiplies ``log p(x_i) = sum_t log p(x_t | x_<t)``, the sequence's likelihood,
    and averaging would give short sequences' tokens more say than the estimator gives
    them. ``baseline`` ``"uniform"`` subtracts ``b_t = 1 / m_t`` with ``m_t`` the rows
    counted at step ``t`` (the mean of the normalised weights, so the coefficients sum to
    zero: samples the discriminator rates above average gain likelihood, the others lose
    it); ``"none"`` subtracts nothing (likelihood of every sample rises).
    """
    mask_f = mask.to(log_probs.dtype)
    weights = weights.detach().to(log_probs.dtype)
    if weights.dim() == 1:
        weights = weights.unsqueeze(1).expand_as(log_probs)
        counted = torch.full_like(mask_f[:1], float(mask.shape[0]))
    else:
        counted = mask_f.sum(0, keepdim=True)
    if baseline == "uniform":
        weights = weights - 1.0 / counted.clamp_min(1.0)
    return -(log_probs * weights * mask_f).sum()


@checked("maligan")
class MaliGAN(Estimator):
    """MaliGAN (Che et al. 2017): normalised importance weights from the discriminator.

    The generator samples ``real.size`` sequences with their log-probabilities; the
    discriminator scores them (eval mode, no gradient; per-step scores are averaged over
    each sequence); the weights are ``softmax(score / temperature)`` over the batch, i.e.
    ``D/(1-D)`` normalised; the loss is :func:`maligan_loss`. With ``rollouts = 0`` (the
    default, the paper's basic MaliGAN, and what TextGAN-PyTorch's MaliGAN does) every
    token of a sequence shares its sequence's weight.

    ``rollouts = n > 0`` is seqtk's sequential variant (after the paper's Monte-Carlo
    MaliGAN): every prefix ``x_0 .. x_t`` is completed ``n`` times by the generator
    itself (its ``rollouts`` method, as ``reinforce`` uses), the prefix's ratio is the mean
    ``r_D`` of its completions (computed as ``logsumexp(s) - log n``), and the weights of
    token ``t`` are those ratios normalised over the rows still running at ``t``; the last
    token's ratio is the sequence's own. Costs ``n x (T - 1)`` completions per step.

    Needs the discriminator's score to be the logit of a probability (``D = sigmoid(s)``):
    the registry lets it run only beside an objective that ``provides: [probability]``
    (``minimax``). Critic scores (``wgan``, ``wgan-gp``, ``hinge``, ``lsgan``) have no
    ``D / (1 - D)``, and ``rsgan``'s probability compares a pair, not one sequence.

    Parameters: ``baseline`` ``"uniform"`` (``1/m``, the mean weight) or ``"none"``;
    ``temperature`` (> 0) divides the logits before normalising; ``rollouts`` (>= 0);
    ``chunk_size`` completion rows generated or scored at once (rollouts only). Logs
    ``reward`` (mean ``D`` of the samples), ``weight_ess`` (effective sample size of the
    weights over the batch size, ``1 / (m sum w^2)``: 1 for uniform weights, ``1/m`` when
    one sample takes all) and ``weight_max``.
    """

    BASELINES: ClassVar[tuple[str, ...]] = ("uniform", "none")

    def __init__(
        self,
        baseline: Literal["uniform", "none"] = "uniform",
        temperature: PositiveFloat = 1.0,
        rollouts: NonNegativeInt = 0,  # 0: one weight per sequence
        chunk_size: PositiveInt = 4096,
    ) -> None:
        value = temperature  # every parameter: declared (checked)
        self.baseline = baseline
        self.temperature = float(value)
        self.rollouts = rollouts
        self.chunk_size = chunk_size

    def setup(self, generator: Generator, discriminator: Discriminator, objective: Objective) -> None:
        if self.rollouts and not isinstance(generator, RollsOut):
            raise ValueError(
                f"maligan: rollouts: {self.rollouts} needs a generator with a rollouts method "
                "(the 'rollouts' capability, seqtk.core.capabilities.RollsOut); "
                f"{type(generator).__name__} has none (set rollouts: 0)"
            )

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
        log_probs = log_probs_of(fake, "maligan", generator)
        mask = fake.mask
        scores, prefix_scores = self.scores(fake.detach(), discriminator, generator)
        if prefix_scores is None:
            weights = normalised_weights(scores, temperature=self.temperature)
            sequence_weights = weights
        else:
            weights = normalised_weights(prefix_scores, mask, self.temperature)
            sequence_weights = normalised_weights(scores, temperature=self.temperature)
        loss = maligan_loss(log_probs, weights, mask, self.baseline)
        logs = {
            "reward": float(torch.sigmoid(scores).mean()),
            "weight_ess": float(1.0 / (sequence_weights.pow(2).sum() * sequence_weights.numel())),
            "weight_max": float(sequence_weights.max()),
        }
        return GeneratorStep(loss=loss, logs=logs)

    @torch.no_grad()
    def scores(self, fake: Batch, discriminator: Discriminator, generator: Generator | None = None) -> tuple[Tensor, Tensor | None]:
        """``(s, S)``: the logits ``s`` ``[B]`` of the samples and, with rollouts, ``S`` ``[B, T]``.

        ``S[b, t]`` is ``log mean_k exp(s_k)`` over the completions ``k`` of the prefix
        ``x_0 .. x_t`` of row ``b`` (so ``exp(S)`` is the mean ratio ``r_D``); the last
        column, and every prefix that already holds the whole sequence, is ``s[b]``.
        Scored in eval mode (dropout off). The rollouts are ``reinforce``'s, with the
        ratio ``exp(s)`` (in float64, logits clamped to +-700) as the reward to average.
        """
        if not self.rollouts:
            was_training = discriminator.training
            discriminator.eval()
            try:
                return Scores.of(discriminator(fake), fake).per_sequence().float(), None
            finally:
                discriminator.train(was_training)
        if generator is None:
            raise ValueError("maligan: rollouts need the generator")
        search = Reinforce(rollouts=self.rollouts, chunk_size=self.chunk_size)
        ratios, sequence_ratios = search.action_values(fake, discriminator, _DensityRatio(), rollout_generator=generator)
        return sequence_ratios.log().float(), ratios.log().float()

    def __repr__(self) -> str:
        return (
            f"MaliGAN(baseline={self.baseline!r}, temperature={self.temperature}, rollouts={self.rollouts}, "
            f"chunk_size={self.chunk_size})"
        )


class _DensityRatio(Objective):
    """Reads a logit as the ratio ``D / (1 - D) = exp(s)``: the reward ``reinforce``'s rollouts average for MaliGAN."""

    def discriminator_loss(self, real: Scores, fake: Scores) -> Tensor:
        raise NotImplementedError("only the reward of this adapter is used")

    def generator_loss(self, fake: Scores, real: Scores | None = None) -> Tensor:
        raise NotImplementedError("only the reward of this adapter is used")

    def reward(self, fake_scores: Tensor, real_scores: Tensor | None = None) -> Tensor:
        return torch.exp(fake_scores.detach().double().clamp(-700.0, 700.0))
