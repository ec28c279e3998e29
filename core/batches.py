"""Shuffled mini-batches whose order is part of the checkpoint.

A resumed run must draw exactly the batches the uninterrupted run would have drawn, so
the shuffling state (its own generator, the current permutation and the position in it)
is saved and restored rather than re-derived. Datasets smaller than one batch are fine:
epochs are chained until the batch is full.

Under data-parallel training every rank keeps the same stream (same seed, same state)
and draws the *global* batch of ``batch_size * world_size`` rows, then keeps every
``world_size``-th row starting at its rank, as ``torch.utils.data.DistributedSampler``
interleaves. Ranks therefore see disjoint rows, and together exactly the rows that one
process with the global batch would see, which is what makes N processes with batch B
equivalent to one process with batch N*B.
"""

from __future__ import annotations

from typing import Any

import torch

from seqtk.core.errors import DataError
from seqtk.core.interfaces import Batch, SequenceData


class BatchStream:
    """An endless stream of shuffled batches from an in-memory split."""

    def __init__(
        self, data: SequenceData, batch_size: int, seed: int, *, name: str = "train", rank: int = 0, world_size: int = 1
    ) -> None:
        if len(data) == 0:
            raise DataError(f"the {name} split is empty: the domain produced no sequences")
        self.data = data
        self.batch_size = batch_size
        self.rank, self.world_size = rank, world_size
        self.generator = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(len(data), generator=self.generator)
        self.position = 0
        self.epoch = 0

    def next_indices(self) -> torch.Tensor:
        """This rank's rows of the next global batch."""
        return self._next_global()[self.rank :: self.world_size]

    def _next_global(self) -> torch.Tensor:
        taken: list[torch.Tensor] = []
        needed = self.batch_size * self.world_size
        while needed:
            if self.position == len(self.order):
                self.order = torch.randperm(len(self.data), generator=self.generator)
                self.position = 0
                self.epoch += 1
            chunk = self.order[self.position : self.position + needed]
            self.position += len(chunk)
            needed -= len(chunk)
            taken.append(chunk)
        return torch.cat(taken)

    def next(self) -> Batch:
        return self.data.rows(self.next_indices())

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "order": self.order, "position": self.position, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state["order"]) != len(self.data):
            raise DataError(
                f"the checkpoint was made with {len(state['order'])} training sequences, the data now has {len(self.data)}"
            )
        self.generator.set_state(state["generator"])
        self.order = state["order"]
        self.position = int(state["position"])
        self.epoch = int(state["epoch"])
