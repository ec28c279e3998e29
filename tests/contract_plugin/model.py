"""``contract-mle``: a model (one phase, one optimiser) that trains a ContractGRU by maximum likelihood."""

from __future__ import annotations

from typing import Literal

from torch import nn

from seqtk.core.interfaces import DomainSpec, Generator, Model, ModelPhase, ModelUpdates
from contract_plugin.networks import ContractGRU


class MaximumLikelihood(Model):
    def __init__(self, spec: DomainSpec, steps: int = 40, hidden_dim: int = 24) -> None:
        super().__init__()
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        self.gru = ContractGRU(spec, hidden_dim)
        self.steps = steps

    @property
    def generator(self) -> Generator:
        return self.gru

    def phases(self) -> list[ModelPhase]:
        return [ModelPhase("likelihood", self.steps)]

    def optimizers(self) -> dict[str, tuple[nn.Module, Literal["generator", "discriminator"]]]:
        return {"gru": (self.gru, "generator")}

    def training_step(self, phase: str, step: int, updates: ModelUpdates) -> dict[str, float]:
        batch = updates.next_batch()

        def loss():  # type: ignore[no-untyped-def]
            value = self.gru.pretrain_loss(batch)
            return value, {"nll": value.item()}

        return updates.update("gru", loss)
