"""Least-squares GAN: pure loss functions first, then the class that adapts them to seqtk.

Reference: X. Mao, Q. Li, H. Xie, R. Y. K. Lau, Z. Wang, S. P. Smolley, "Least Squares
Generative Adversarial Networks", ICCV 2017 (arXiv:1611.04076), equation (2).

The functions return *elementwise* losses, the same shape as the scores they are given;
the class reduces them with ``Scores.mean`` so that per-sequence (``[B]``) and per-step
(``[B, T]``, padding weighted out) discriminators share one implementation.
"""

from __future__ import annotations

from torch import Tensor

from seqtk.core.interfaces import Objective, Scores

__all__ = ["least_squares_discriminator_loss", "least_squares_generator_loss", "LeastSquares"]


def least_squares_discriminator_loss(real: Tensor, fake: Tensor, a: float = 0.0, b: float = 1.0) -> tuple[Tensor, Tensor]:
    r"""The discriminator's least-squares loss, split into its real and fake parts.

    .. math::

        L_D = \tfrac12\,(D(x) - b)^2 + \tfrac12\,(D(G(z)) - a)^2

    ``b`` is the target score of real data and ``a`` that of generated data. Returns the
    elementwise terms ``(0.5 * (real - b)**2, 0.5 * (fake - a)**2)``, unreduced.
    """
    return 0.5 * (real - b) ** 2, 0.5 * (fake - a) ** 2


def least_squares_generator_loss(fake: Tensor, c: float = 1.0) -> Tensor:
    r"""The generator's least-squares loss, elementwise and unreduced.

    .. math::

        L_G = \tfrac12\,(D(G(z)) - c)^2

    ``c`` is the score the generator wants the discriminator to give its samples (with
    ``c = b`` the generator asks to be taken for real data).
    """
    return 0.5 * (fake - c) ** 2


class LeastSquares(Objective):
    """The LSGAN objective, ``lsgan`` in recipes.

    Defaults ``a=0, b=1, c=1`` are the paper's 0-1 coding. For policy-gradient
    estimators the reward is the discriminator's score of a sample (negated if ``b < a``,
    so that a higher reward always means "looks more real").
    """

    def __init__(self, a: float = 0.0, b: float = 1.0, c: float = 1.0) -> None:
        if a == b:
            raise ValueError(f"lsgan: the real target b and the fake target a must differ (both are {a})")
        self.a, self.b, self.c = float(a), float(b), float(c)

    def discriminator_loss(self, real: Scores, fake: Scores) -> Tensor:
        real_term, fake_term = least_squares_discriminator_loss(real.values, fake.values, self.a, self.b)
        return real.mean(real_term) + fake.mean(fake_term)

    def generator_loss(self, fake: Scores, real: Scores | None = None) -> Tensor:
        return fake.mean(least_squares_generator_loss(fake.values, self.c))

    def reward(self, fake_scores: Tensor) -> Tensor:
        # Detached: a reward scales log-probabilities, it must not carry gradients itself.
        # With the usual b > a a higher score looks more real; a reversed coding flips it.
        sign = 1.0 if self.b > self.a else -1.0
        return sign * fake_scores.detach()

    def __repr__(self) -> str:
        return f"LeastSquares(a={self.a}, b={self.b}, c={self.c})"
