"""An exponential moving average of a network's weights (``train.ema``).

GAN generators oscillate around a good solution rather than settle on it: the
adversarial game keeps pushing them past it. Averaging the weights over recent updates
cancels much of that oscillation, so samples drawn from the average are usually better
and far steadier from one evaluation to the next than samples from the live weights
(Yazıcı et al. 2019, "The unusual effectiveness of averaging in GAN training"; StyleGAN
and BigGAN sample from such an average). Training itself never reads the average: it
changes what is evaluated, sampled and exported, not the trajectory of the run.

After the generator's update at step ``s``, when it is the ``n``-th update after step
``start``::

    average = weights                                   if s <= start or n == 1
    average = d * average + (1 - d) * weights           otherwise, d = min(decay, 1 - 1/n)

Until ``1 / (1 - decay)`` updates have passed since ``start`` this is the plain mean of
the weights after each of them; from there on it is the exponential average. Without that
warm-up the random initial weights would keep ``decay ** n`` of the average (two thirds
of it after 400 updates at 0.999), and a short run would sample from noise.

Buffers (a batch norm's running statistics, a spectral norm's power-iteration vectors)
are copied, not averaged: they are states, not parameters. The average lives in a deep
copy of the network, so code that samples from a network samples from the average the
same way; the copy is kept in eval mode and never receives gradients.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

import torch
from torch import nn

__all__ = ["WeightAverage"]


class WeightAverage:
    """The exponential moving average of ``module``'s parameters, held in a copy of ``module``.

    ``decay`` in [0, 1): the weight of the old average in each update (0.999 averages over
    about the last 1,000 updates). ``start``: updates at steps up to ``start`` copy the
    weights, so that the average leaves out a warm-up (module docstring). ``updates``
    counts the updates averaged since; a checkpoint keeps it beside the weights.
    """

    def __init__(self, module: nn.Module, decay: float, start: int = 0) -> None:
        if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0.0 <= decay < 1.0:
            raise ValueError(f"ema: decay must be a number in [0, 1), got {decay!r}")
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise ValueError(f"ema: start must be an integer >= 0, got {start!r}")
        self.decay = float(decay)
        self.start = start
        self.module = copy.deepcopy(module)
        self.module.eval()
        self.module.requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, module: nn.Module, step: int) -> None:
        """Fold ``module``'s weights into the average, after its update at training step ``step`` (counted from 1)."""
        if step > self.start:
            self.updates += 1
        decay = self.decay_now()
        for average, live in zip(self.module.parameters(), module.parameters(), strict=True):
            if decay == 0.0:
                average.copy_(live)
            else:
                average.lerp_(live.detach(), 1.0 - decay)
        for average, live in zip(self.module.buffers(), module.buffers(), strict=True):
            average.copy_(live)

    def decay_now(self) -> float:
        """The decay of the latest update: 0 (a copy) before the second update after ``start``, then ``min(decay, 1 - 1/updates)``."""
        if self.updates <= 1:
            return 0.0
        return min(self.decay, 1.0 - 1.0 / self.updates)

    def state_dict(self) -> dict[str, Any]:
        """``{"weights": the averaged network's state dict, "updates": the count}``: a checkpoint's ``generator_ema``."""
        return {"weights": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.module.load_state_dict(state["weights"])
        self.updates = int(state["updates"])
