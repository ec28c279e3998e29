"""Gradient estimators: how the generator's loss reaches its parameters."""

from __future__ import annotations

from typing import ClassVar

from seqtk.core.interfaces import Batch, Discriminator, Estimator, Generator, GeneratorStep, Objective, Scores

__all__ = ["Reparam"]


class Reparam(Estimator):
    """Backpropagate straight through differentiable samples (the reparameterisation trick).

    Continuous generators that build their output as a differentiable function of noise
    need no estimator at all: the discriminator's score is differentiated with respect to
    the sample and, through it, the generator's parameters. This is the estimator of the
    recurrent GANs for real-valued series (C-RNN-GAN, RGAN, TimeGAN's adversarial part).
    """

    requires: ClassVar[frozenset[str]] = frozenset({"reparam"})

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
        fake = generator.sample(real.size)
        fake_scores = Scores.of(discriminator(fake), fake)
        # Relativistic losses compare with real scores; others must not pay for them.
        real_scores = Scores.of(discriminator(real), real) if objective.generator_needs_real else None
        return GeneratorStep(loss=objective.generator_loss(fake_scores, real_scores))
