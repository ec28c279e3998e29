"""NLL-test against a stub generator whose per-token probabilities are known exactly."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from seqtk.core.interfaces import Batch, Generator
from seqtk.plugins.tokens.nll import NLLTest


class FixedDistribution(Generator):
    """Every token has the same probability at every step: p = (1/2, 1/4, 1/8, 1/8)."""

    def __init__(self) -> None:
        super().__init__()
        self.log_p = nn.Parameter(torch.tensor([0.5, 0.25, 0.125, 0.125]).log())
        self.seen: list[tuple[torch.device, bool, int]] = []

    def sample(self, n: int) -> Batch:
        raise AssertionError("nll-test must not sample")

    def pretrain_loss(self, batch: Batch) -> Tensor:
        """Masked mean per-token NLL, like every discrete generator's."""
        self.seen.append((batch.values.device, torch.is_grad_enabled(), batch.size))
        nll = -self.log_p[batch.values]
        mask = batch.mask.to(nll.dtype)
        return (nll * mask).sum() / mask.sum()


def held_out() -> Batch:
    # Valid tokens: 0 0 0 | 3 3 | 1  -> -log2 p: 1 1 1 | 3 3 | 2 = 11 bits over 6 tokens.
    # Padding holds token 3 (the least likely) so that counting it would change the value.
    values = torch.tensor([[0, 0, 0], [3, 3, 3], [1, 3, 3]])
    return Batch(values=values, lengths=torch.tensor([3, 2, 1]))


@pytest.mark.parametrize("chunk_size", [1, 2, 1024])
def test_mean_over_every_test_token_whatever_the_chunking(chunk_size: int) -> None:
    generator = FixedDistribution()
    metric = NLLTest(generator=generator, chunk_size=chunk_size)
    # Per-chunk means averaged without token weights would give 2 log 2 at chunk_size=1.
    assert metric(held_out(), held_out()) == pytest.approx(11 / 6 * math.log(2), rel=1e-6)
    assert [size for _, _, size in generator.seen] == {1: [1, 1, 1], 2: [2, 1], 1024: [3]}[chunk_size]
    assert all(not grad for _, grad, _ in generator.seen)  # under torch.no_grad
    assert all(device == generator.device for device, _, _ in generator.seen)


def test_scores_the_real_batch_not_the_samples() -> None:
    metric = NLLTest(generator=FixedDistribution())
    samples = Batch.full_length(torch.full((5, 3), 3))
    assert metric(held_out(), samples) == pytest.approx(11 / 6 * math.log(2), rel=1e-6)
    assert NLLTest.uses_whole_test_set and not NLLTest.higher_is_better


def test_needs_a_generator_and_valid_chunks() -> None:
    with pytest.raises(ValueError, match="nll-test needs the run's generator; it cannot score sample files"):
        NLLTest(generator=None)
    with pytest.raises(ValueError, match="chunk_size"):
        NLLTest(generator=FixedDistribution(), chunk_size=0)
    with pytest.raises(ValueError, match="no tokens"):
        NLLTest(generator=FixedDistribution())(Batch(values=torch.zeros(1, 2, dtype=torch.long), lengths=torch.tensor([0])), held_out())


def test_registry_injects_the_generator(host) -> None:
    entry = host.registry.get("metrics", "nll-test")
    generator = FixedDistribution()
    metric = entry.build({"domain": None, "spec": None, "generator": generator}, {})
    assert isinstance(metric, NLLTest) and metric.generator is generator
    with pytest.raises(ValueError, match="cannot score sample files"):
        entry.build({"domain": None, "spec": None, "generator": None}, {})
