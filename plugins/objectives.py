"""The GAN objectives: thin adapters from the pure losses in ``losses.py`` to the trainer.

An objective turns :class:`~seqtk.core.interfaces.Scores` into scalar losses (each
elementwise loss is reduced under its own batch's mask), says how policy-gradient
estimators should read a score as a reward, and may add a penalty to the
discriminator's loss.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from seqtk.core.interfaces import Batch, Discriminator, Objective, Scores
from seqtk.plugins import losses

__all__ = ["Minimax", "WGANGP"]


class Minimax(Objective):
    """The original GAN loss (Goodfellow et al. 2014).

    ``non_saturating`` (default) trains the generator to maximise ``log D(G(z))``, the
    variant the paper recommends in practice; ``False`` uses the saturating
    ``log(1 - D(G(z)))`` of the minimax game itself.
    """

    def __init__(self, non_saturating: bool = True) -> None:
        if not isinstance(non_saturating, bool):
            raise ValueError(f"minimax: non_saturating must be true or false, got {non_saturating!r}")
        self.non_saturating = non_saturating

    def discriminator_loss(self, real: Scores, fake: Scores) -> Tensor:
        real_term, fake_term = losses.minimax_discriminator_loss(real.values, fake.values)
        return real.mean(real_term) + fake.mean(fake_term)

    def generator_loss(self, fake: Scores, real: Scores | None = None) -> Tensor:
        if self.non_saturating:
            return fake.mean(losses.minimax_generator_loss_nonsaturating(fake.values))
        return fake.mean(losses.minimax_generator_loss_saturating(fake.values))

    def reward(self, fake_scores: Tensor, real_scores: Tensor | None = None) -> Tensor:
        """The discriminator's probability that the sample is real, ``sigmoid(score)`` (SeqGAN's reward).

        Detached: a reward scales the policy gradient, it is not differentiated itself.
        """
        return torch.sigmoid(fake_scores.detach())

    def __repr__(self) -> str:
        return f"Minimax(non_saturating={self.non_saturating})"


class WGANGP(Objective):
    """Wasserstein loss with a gradient penalty on interpolates (Gulrajani et al. 2017).

    ``penalty_weight`` is the paper's lambda (10); ``critic_steps`` its n_critic (5), the
    number of critic updates per generator update. A weight of 0 disables the penalty
    (``penalty`` then returns None and costs nothing).

    For discrete data the penalty interpolates one-hot (real) and relaxed (fake) token
    distributions, the input space the critic's embedding matrix reads.
    """

    def __init__(self, penalty_weight: float = 10.0, critic_steps: int = 5) -> None:
        if isinstance(penalty_weight, bool) or not isinstance(penalty_weight, (int, float)) or penalty_weight < 0:
            raise ValueError(f"wgan-gp: penalty_weight must be a number >= 0, got {penalty_weight!r}")
        if isinstance(critic_steps, bool) or not isinstance(critic_steps, int) or critic_steps < 1:
            raise ValueError(f"wgan-gp: critic_steps must be an integer >= 1, got {critic_steps!r}")
        self.penalty_weight = float(penalty_weight)
        self.critic_steps = critic_steps

    def discriminator_loss(self, real: Scores, fake: Scores) -> Tensor:
        real_term, fake_term = losses.wasserstein_critic_loss(real.values, fake.values)
        return real.mean(real_term) + fake.mean(fake_term)

    def generator_loss(self, fake: Scores, real: Scores | None = None) -> Tensor:
        return fake.mean(losses.wasserstein_generator_loss(fake.values))

    def reward(self, fake_scores: Tensor, real_scores: Tensor | None = None) -> Tensor:
        """The critic's raw score (detached): an unbounded "realness" that the generator should raise."""
        return fake_scores.detach()

    def penalty(self, discriminator: Discriminator, real: Batch, fake: Batch) -> Tensor | None:
        """``penalty_weight * mean((||grad D(x_hat)|| - 1)^2)`` over interpolates of the two batches.

        Interpolates use the longer of each pair's lengths, so no real step of either
        sequence is cut off. Per-step scores are reduced to one per sample by a masked
        mean before differentiating. cuDNN is switched off for the critic's forward pass
        here because cuDNN's RNN kernels have no double backward.
        """
        if self.penalty_weight == 0:
            return None
        real_x, fake_x, wrap = _penalty_inputs(discriminator, real, fake)
        steps = max(real_x.shape[1], fake_x.shape[1])
        real_x, fake_x = _pad_steps(real_x, steps), _pad_steps(fake_x, steps)
        lengths = torch.maximum(real.lengths, fake.lengths.to(real.lengths.device)).to(real_x.device)
        mask = torch.arange(steps, device=real_x.device).unsqueeze(0) < lengths.unsqueeze(1)

        def critic(x: Tensor) -> Tensor:
            return _per_sample(discriminator(wrap(x, lengths)), mask)

        with torch.backends.cudnn.flags(enabled=False):
            per_sample = losses.gradient_penalty(critic, real_x, fake_x, weight_mask=mask)
        return self.penalty_weight * per_sample.mean()

    def __repr__(self) -> str:
        return f"WGANGP(penalty_weight={self.penalty_weight}, critic_steps={self.critic_steps})"


# --------------------------------------------------------------------------- helpers

Wrap = Callable[[Tensor, Tensor], Batch]


def _penalty_inputs(discriminator: Discriminator, real: Batch, fake: Batch) -> tuple[Tensor, Tensor, Wrap]:
    """The tensors to interpolate, and how to turn an interpolate back into a Batch.

    Continuous batches interpolate ``values``. Discrete ones interpolate ``[B, T, V]``
    one-hots, passed to the discriminator as ``relaxed`` (which ``Batch.one_hot`` returns).
    """
    if real.values.is_floating_point():
        return real.values, fake.values.to(real.values.device), _continuous_batch
    vocab = _vocab_size(discriminator, real, fake)
    return real.one_hot(vocab), fake.one_hot(vocab).to(real.values.device), _relaxed_batch


def _continuous_batch(x: Tensor, lengths: Tensor) -> Batch:
    return Batch(values=x, lengths=lengths)


def _relaxed_batch(x: Tensor, lengths: Tensor) -> Batch:
    return Batch(values=x.detach().argmax(-1), lengths=lengths, relaxed=x)


def _vocab_size(discriminator: Discriminator, real: Batch, fake: Batch) -> int:
    for batch in (fake, real):
        if batch.relaxed is not None:
            return int(batch.relaxed.shape[-1])
    spec = getattr(discriminator, "spec", None)
    vocab = getattr(spec, "vocab_size", 0)
    if vocab:
        return int(vocab)
    raise ValueError(
        "wgan-gp: cannot find the vocabulary size for the gradient penalty on token batches: "
        "neither batch carries relaxed one-hots and the discriminator has no spec.vocab_size"
    )


def _pad_steps(x: Tensor, steps: int) -> Tensor:
    if x.shape[1] == steps:
        return x
    pad = x.new_zeros((x.shape[0], steps - x.shape[1], *x.shape[2:]))
    return torch.cat([x, pad], dim=1)


def _per_sample(scores: Tensor, mask: Tensor) -> Tensor:
    """``[B]`` scores: per-step ``[B, T]`` scores averaged over each row's real steps."""
    if scores.dim() == 1:
        return scores
    weight = mask.to(scores.dtype)
    return (scores * weight).sum(1) / weight.sum(1).clamp_min(1.0)
