"""``contract-lsq`` (an objective) and ``contract-reinforce`` (an estimator)."""

from __future__ import annotations

import torch
from torch import Tensor

from seqtk.core.interfaces import Batch, Discriminator, Estimator, Generator, GeneratorStep, Objective, Scores


class LeastSquares(Objective):
    """Least-squares GAN (Mao et al. 2017): D pulls real scores to 1 and fake ones to 0, G pulls fake ones to 1."""

    def __init__(self, target: float = 1.0) -> None:
        if target <= 0:
            raise ValueError(f"target must be > 0, got {target}")
        self.target = float(target)

    def discriminator_loss(self, real: Scores, fake: Scores) -> Tensor:
        return 0.5 * (real.mean((real.values - self.target) ** 2) + fake.mean(fake.values**2))

    def generator_loss(self, fake: Scores, real: Scores | None = None) -> Tensor:
        return 0.5 * fake.mean((fake.values - self.target) ** 2)

    def reward(self, fake_scores: Tensor, real_scores: Tensor | None = None) -> Tensor:
        return -((fake_scores.detach() - self.target) ** 2)


class ContractReinforce(Estimator):
    """Policy gradient with one reward per sequence and the batch's mean reward as baseline."""

    def __init__(self, baseline: bool = True) -> None:
        self.baseline = baseline

    def generator_step(
        self, generator: Generator, discriminator: Discriminator, objective: Objective, real: Batch, *, step: int, total_steps: int
    ) -> GeneratorStep:
        fake = generator.sample(real.size)
        if fake.log_probs is None:
            raise ValueError(f"contract-reinforce: the samples of {type(generator).__name__} carry no log_probs")
        with torch.no_grad():
            scores = Scores.of(discriminator(fake), fake).per_sequence()
            real_scores = Scores.of(discriminator(real), real).per_sequence() if objective.generator_needs_real else None
            reward = objective.reward(scores, real_scores)
        advantage = reward - reward.mean() if self.baseline else reward
        loss = -(advantage * fake.log_probs.sum(1)).mean()
        return GeneratorStep(loss, logs={"reward": float(reward.mean())})
