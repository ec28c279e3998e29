"""Objective-independent stabilisers of the discriminator's update: instance noise and the R1 penalty.

Both act on the values the discriminator reads, so both need a continuous domain (token
ids cannot be blurred or differentiated); the recipe check refuses them for token domains
(``seqtk.core.schema.Adversarial.continuous_only``). The trainer applies them in every
discriminator update (``train.adversarial.instance_noise`` and ``train.adversarial.r1``);
the math lives here, apart from the loop, so that it can be tested on its own.

- **Instance noise** (Sønderby et al. 2017, "Amortised MAP inference for image
  super-resolution", section 3.2; Arjovsky and Bottou 2017): ``x + N(0, std^2)`` for real
  and generated values alike, ``std`` annealed to 0. While the two distributions barely
  overlap a discriminator separates them perfectly and its gradient says little; blurred,
  they overlap.
- **R1** (Mescheder, Geiger and Nowozin 2018, "Which training methods for GANs do actually
  converge?", eq. 9): ``gamma / 2 * E_real ||grad_x D(x)||^2``, which keeps the
  discriminator flat on the data, so that the game does not circle around its equilibrium.
"""

from __future__ import annotations

import torch
from torch import Tensor

from seqtk.core.interfaces import Batch, Discriminator, Scores

__all__ = ["add_instance_noise", "r1_penalty"]


def add_instance_noise(batch: Batch, std: float) -> Batch:
    """``batch`` with ``N(0, std^2)`` added to every value at a real step (padding is left as it was).

    Draws from torch's global generator (so a seeded run reproduces); ``std == 0`` returns
    ``batch`` itself and draws nothing.
    """
    if std == 0.0:
        return batch
    if not batch.values.is_floating_point():
        raise ValueError("instance noise needs real values, but this batch holds token ids")
    noise = torch.randn_like(batch.values) * std
    mask = batch.mask.to(batch.values.device).unsqueeze(-1).to(batch.values.dtype)
    return Batch(values=batch.values + noise * mask, lengths=batch.lengths, extras=dict(batch.extras))


def r1_penalty(discriminator: Discriminator, real: Batch, gamma: float) -> Tensor:
    """``gamma / 2 * mean_i ||grad_x D(x_i)||^2`` over the real rows ``x_i``, differentiable in ``D``'s parameters.

    ``D(x_i)`` is the sequence's score (per-step scores averaged over its real steps,
    ``Scores.per_sequence``), the raw output before any sigmoid, as in the paper. The norm
    runs over every step and feature; padding steps do not move a score, so they add
    nothing. cuDNN is switched off for this forward pass: its RNN kernels have no double
    backward.
    """
    if not real.values.is_floating_point():
        raise ValueError("the R1 penalty needs real values to differentiate, but this batch holds token ids")
    values = real.values.detach().requires_grad_(True)
    batch = Batch(values=values, lengths=real.lengths, extras=dict(real.extras))
    with torch.backends.cudnn.flags(enabled=False):
        scores = Scores.of(discriminator(batch), batch).per_sequence()
        (grad,) = torch.autograd.grad(scores.sum(), values, create_graph=True)
    return 0.5 * gamma * grad.square().flatten(1).sum(1).mean()
