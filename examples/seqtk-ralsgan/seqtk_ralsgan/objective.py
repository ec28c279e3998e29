"""Relativistic average least-squares GAN: pure loss functions first, then the class for seqtk.

Reference: A. Jolicoeur-Martineau, "The relativistic discriminator: a key element missing
from standard GAN", ICLR 2019 (arXiv:1807.00734), the RaLSGAN losses.

A relativistic *average* discriminator judges each real sample against the average fake
score and each fake sample against the average real score. The least-squares version
regresses those differences onto +margin (real) and -margin (fake):

.. math::

    L_D = E_r[(C(x_r) - \\bar C_f - m)^2] + E_f[(C(x_f) - \\bar C_r + m)^2]

    L_G = E_f[(C(x_f) - \\bar C_r - m)^2] + E_r[(C(x_r) - \\bar C_f + m)^2]

with :math:`\\bar C_r`, :math:`\\bar C_f` the mean real and fake scores and m = 1 in the
paper. The generator's loss uses the real scores too (``generator_needs_real``).

The functions return *elementwise* terms, the same shape as the scores they are given,
and take the two averages as arguments; the class computes the averages and reduces the
terms with ``Scores.mean``, so per-step scores (``[B, T]``, padding weighted out) and real
and fake batches of different sizes work unchanged.
"""

from __future__ import annotations

from torch import Tensor

from seqtk.core.interfaces import Objective, Scores

__all__ = ["ralsgan_discriminator_loss", "ralsgan_generator_loss", "RaLSGAN"]


def ralsgan_discriminator_loss(
    real: Tensor, fake: Tensor, real_mean: Tensor, fake_mean: Tensor, margin: float = 1.0
) -> tuple[Tensor, Tensor]:
    r"""The discriminator's RaLSGAN loss, split into its real and fake parts (elementwise).

    .. math::

        L_D = (C(x_r) - \bar C_f - m)^2 \ \text{per real score},\quad
              (C(x_f) - \bar C_r + m)^2 \ \text{per fake score}

    ``real_mean`` and ``fake_mean`` are the average real and fake scores (scalars that
    keep their graph: the discriminator is trained through them as well).
    """
    return (real - fake_mean - margin) ** 2, (fake - real_mean + margin) ** 2


def ralsgan_generator_loss(
    real: Tensor, fake: Tensor, real_mean: Tensor, fake_mean: Tensor, margin: float = 1.0
) -> tuple[Tensor, Tensor]:
    r"""The generator's RaLSGAN loss, split into its real and fake parts (elementwise).

    .. math::

        L_G = (C(x_r) - \bar C_f + m)^2 \ \text{per real score},\quad
              (C(x_f) - \bar C_r - m)^2 \ \text{per fake score}

    The discriminator's targets swapped: the generator wants its samples to look more
    real than the average real sample, and real samples less real than its average.
    """
    return (real - fake_mean + margin) ** 2, (fake - real_mean - margin) ** 2


class RaLSGAN(Objective):
    """The RaLSGAN objective, ``ralsgan`` in recipes.

    ``margin`` is the target difference between a score and the other batch's average
    (1 in the paper). Averages and elementwise terms are taken over real steps only.
    For policy-gradient estimators the reward is ``-(score - mean(real_scores) - margin)^2``,
    the negative of the generator's per-sample fake term, so it needs the real scores.
    """

    generator_needs_real = True

    def __init__(self, margin: float = 1.0) -> None:
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not margin > 0:
            raise ValueError(f"ralsgan: margin must be a number > 0, got {margin!r}")
        self.margin = float(margin)

    def discriminator_loss(self, real: Scores, fake: Scores) -> Tensor:
        real_term, fake_term = ralsgan_discriminator_loss(
            real.values, fake.values, real.mean(real.values), fake.mean(fake.values), self.margin
        )
        return real.mean(real_term) + fake.mean(fake_term)

    def generator_loss(self, fake: Scores, real: Scores | None = None) -> Tensor:
        if real is None:
            raise ValueError("ralsgan: generator_loss needs the real batch's scores (generator_needs_real is true)")
        real_term, fake_term = ralsgan_generator_loss(
            real.values, fake.values, real.mean(real.values), fake.mean(fake.values), self.margin
        )
        return real.mean(real_term) + fake.mean(fake_term)

    def reward(self, fake_scores: Tensor, real_scores: Tensor | Scores | None = None) -> Tensor:
        # Detached: a reward scales log-probabilities, it must not carry gradients itself.
        if real_scores is None:
            raise ValueError("ralsgan: reward needs the scores of a real batch (real_scores)")
        if isinstance(real_scores, Scores):
            real_mean = real_scores.mean(real_scores.values.detach())
        else:
            real_mean = real_scores.detach().mean()
        return -((fake_scores.detach() - real_mean - self.margin) ** 2)

    def __repr__(self) -> str:
        return f"RaLSGAN(margin={self.margin})"
