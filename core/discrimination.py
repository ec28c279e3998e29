"""How well the discriminator tells held-out real sequences from generated ones.

A GAN whose discriminator never learns trains its generator on noise: SeqGAN's rewards
stay at 0.5 and nothing in the generator's metrics says why. Logged with every
evaluation, these numbers make that visible:

- ``d_acc_real`` / ``d_acc_fake``: the share of real sequences scored above 0 and of
  generated ones scored below 0. The threshold 0 is the decision boundary of logit
  objectives (minimax, RSGAN); for a WGAN critic, whose scores have no fixed origin,
  they mean little.
- ``d_auc``: the probability that a real sequence outscores a generated one (ties count
  half), the area under the ROC curve. It needs no threshold, so it reads the same for
  every objective: 0.5 is a discriminator that cannot tell the two apart, 1.0 a perfect
  one.

A per-step discriminator's score of a sequence is the mean of its steps' scores.
"""

from __future__ import annotations

import torch
from torch import Tensor

from seqtk.core.interfaces import Batch, Discriminator, Scores


@torch.no_grad()
def sequence_scores(discriminator: Discriminator, batch: Batch, chunk: int, device: torch.device) -> Tensor:
    """One score per sequence (CPU, float64), computed ``chunk`` rows at a time to bound memory."""
    scores = []
    for start in range(0, batch.size, chunk):
        part = batch.index(torch.arange(start, min(start + chunk, batch.size))).to(device)
        scores.append(Scores.of(discriminator(part), part).per_sequence().double().cpu())
    return torch.cat(scores)


def separation(real: Tensor, fake: Tensor) -> dict[str, float]:
    """``d_acc_real``, ``d_acc_fake`` and ``d_auc`` from per-sequence scores (see the module docstring)."""
    return {
        "d_acc_real": float((real > 0).double().mean()),
        "d_acc_fake": float((fake < 0).double().mean()),
        "d_auc": auc(real, fake),
    }


def auc(real: Tensor, fake: Tensor) -> float:
    """P(real score > fake score) + P(tie) / 2, by the Mann-Whitney rank sum (O(n log n), not all pairs)."""
    scores = torch.cat([real, fake]).double()
    _, inverse, counts = torch.unique(scores, sorted=True, return_inverse=True, return_counts=True)
    # Tied scores share the mean of the ranks (1-based) they span.
    ends = counts.cumsum(0).double()
    mean_rank = ends - (counts.double() - 1) / 2
    ranks = mean_rank[inverse]
    n_real, n_fake = len(real), len(fake)
    rank_sum = ranks[:n_real].sum().item()
    return (rank_sum - n_real * (n_real + 1) / 2) / (n_real * n_fake)
