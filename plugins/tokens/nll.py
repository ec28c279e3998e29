"""NLL-test: how likely the generator finds held-out real data.

The complement of NLL-oracle and BLEU, which only look at samples: a generator that
memorises its training sentences or collapses onto a few modes scores well on those and
badly here, because the test sentences are ones it never trained on (DESIGN.md sections
5 and 7: "nll-test computed on training data" is a known flaw of other tools; the trainer
hands this metric the whole test split).
"""

from __future__ import annotations

from typing import ClassVar

import torch

from seqtk.core.interfaces import Batch, Generator, Metric
from seqtk.core.params import PositiveInt, checked

__all__ = ["NLLTest"]


@checked("nll-test")
class NLLTest(Metric):
    """The generator's mean per-token NLL (nats) of the whole test split (lower is better).

    Uses the generator's teacher-forced ``pretrain_loss`` (its masked mean per-token NLL),
    ``chunk_size`` rows at a time on the generator's device, and weights each chunk by its
    token count, so the result is the mean over every test token whatever the chunking.
    Needs the run's generator, so it cannot score sample files.
    """

    higher_is_better: ClassVar[bool] = False
    uses_whole_test_set: ClassVar[bool] = True

    def __init__(self, generator: Generator | None = None, chunk_size: PositiveInt = 1024) -> None:
        if generator is None:
            raise ValueError("nll-test needs the run's generator; it cannot score sample files")
        self.generator = generator
        self.chunk_size = chunk_size

    @torch.no_grad()
    def __call__(self, real: Batch, fake: Batch) -> float:
        total = int(real.lengths.sum())
        if total <= 0:
            raise ValueError("nll-test: the test data holds no tokens")
        device = self.generator.device
        weighted = 0.0
        for start in range(0, real.size, self.chunk_size):
            chunk = real.index(torch.arange(start, min(start + self.chunk_size, real.size)))
            tokens = int(chunk.lengths.sum())
            if tokens == 0:
                continue
            loss = self.generator.pretrain_loss(chunk.to(device))
            weighted += float(loss) * tokens
        return weighted / total
