"""RelGAN's discriminator: one CNN shared by many embedded representations of the input (Nie et al. 2019).

A single embedding gives the generator one view of what the discriminator dislikes;
RelGAN embeds the (relaxed) one-hot input ``num_rep`` times and scores each
representation with the same CNN, which its ablation credits with more informative
gradients. How its code does it (``discriminator`` in ``models/rmc_vanilla.py`` of
weilinie/RelGAN), and how this module does it:

- one ``V x embed_dim`` matrix embeds every step; its ``embed_dim`` columns are cut into
  ``num_rep`` representations of ``embed_dim / num_rep`` units each (RelGAN: 64 and 64,
  so each representation is a single number per step);
- every representation goes through the same convolutions: for each filter width ``w``,
  ``num_filters`` filters spanning ``w`` steps and the representation's units (RelGAN:
  widths 2, 3, 4, 5 with 300 filters each), ReLU, max-pooling over time;
- per representation, the pooled features pass a highway layer (gate bias 0), dropout
  (RelGAN keeps 0.75), a linear layer to ``hidden_dim`` (100, no activation) and a linear
  layer to one score.

RelGAN feeds the ``batch x num_rep`` scores to its loss, i.e. the loss is averaged over
representations. A seqtk discriminator returns one score per sequence, so here the score
is the mean over representations: identical for losses linear in the score (WGAN), a
close stand-in for the others (the RSGAN loss of the mean score instead of the mean of
the per-representation losses).

Masking (as in the ``cnn`` discriminator): embedded padding is zero and a window enters
the max only if it lies inside the sequence (its first window always counts), so padding
never changes a score; batches narrower than the widest filter are padded with zeros.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqtk.core.interfaces import Batch, Discriminator, DomainSpec
from seqtk.core.params import Dropout, PositiveInt, checked
from seqtk.plugins.discriminators import _check_filters, _Highway, _token_embedding, embed_tokens
from seqtk.plugins.conditioning import condition_projection
from seqtk.plugins.init import apply_init, check_init
from seqtk.plugins.spectral import apply_spectral_norm

__all__ = ["RelGANDiscriminator"]


@checked("relgan-cnn discriminator")
class RelGANDiscriminator(Discriminator):
    """RelGAN's multi-representation CNN: one score per sequence, averaged over ``num_rep`` embeddings.

    Parameters: ``embed_dim`` total embedding width, split into ``num_rep``
    representations (``embed_dim`` must be a multiple of ``num_rep``); ``filter_sizes``
    the convolution widths in steps; ``num_filters`` filters per width (same length);
    ``hidden_dim`` width of the linear layer before the score; ``dropout`` before it;
    ``init`` how the parameters are drawn (:mod:`seqtk.plugins.init`; None keeps
    PyTorch's defaults); ``spectral_norm`` divide every weight matrix (embedding,
    convolutions, highway, linear layers) by its largest singular value
    (:mod:`seqtk.plugins.spectral`). RelGAN's published configuration is the default: ``embed_dim:
    64``, ``num_rep: 64``, ``filter_sizes: [2, 3, 4, 5]``, ``num_filters: [300, 300, 300,
    300]``, ``hidden_dim: 100``, ``dropout: 0.25``.

    Cost: every row is scored ``num_rep`` times, so activations grow with ``batch x
    num_rep x sum(num_filters)`` (64 x 64 x 1200 in RelGAN's setting); lower ``num_rep``
    for a quick run on a CPU.
    """

    per_step: ClassVar[bool] = False

    def __init__(
        self,
        spec: DomainSpec,
        embed_dim: PositiveInt = 64,
        num_rep: PositiveInt = 64,
        filter_sizes: list[int] | tuple[int, ...] = (2, 3, 4, 5),
        num_filters: list[int] | tuple[int, ...] = (300, 300, 300, 300),
        hidden_dim: PositiveInt = 100,
        dropout: Dropout = 0.25,
        init: str | Mapping[str, Any] | None = None,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        name = "relgan-cnn"
        if not spec.is_discrete:
            raise ValueError(f"{name} discriminator: it embeds tokens, but the domain is {spec.kind!r}; use cnn for real values")
        if embed_dim % num_rep:
            raise ValueError(
                f"{name} discriminator: embed_dim ({embed_dim}) must be a multiple of num_rep ({num_rep}): "
                f"each representation takes embed_dim / num_rep units (RelGAN: 64 and 64)"
            )
        widths, counts = _check_filters(filter_sizes, num_filters)
        check_init(init, f"{name} discriminator")
        self.spec = spec
        self.num_rep = num_rep
        self.rep_dim = embed_dim // num_rep
        self.filter_sizes, self.num_filters = widths, counts
        self.embed = _token_embedding(spec, embed_dim, name)
        self.convs = nn.ModuleList(nn.Conv1d(self.rep_dim, n, w) for w, n in zip(widths, counts))
        total = sum(counts)
        self.highway = _Highway(total)
        self.dropout = nn.Dropout(dropout)
        self.hidden = nn.Linear(total, hidden_dim)
        self.head = nn.Linear(hidden_dim, 1)
        # Conditional domains: each representation's score gets the projection term (Miyato and Koyama 2018).
        self.projection = condition_projection(spec.conditions, hidden_dim)
        apply_init(self, init, f"{name} discriminator")
        apply_spectral_norm(self, spectral_norm, f"{name} discriminator")

    def representations(self, batch: Batch) -> Tensor:
        """``[B, num_rep]``: the score of each representation of each sequence."""
        mask = batch.mask.to(self.embed.weight.device)
        embedded = embed_tokens(self.embed, batch)  # [B, T, E]
        embedded = torch.where(mask.unsqueeze(-1), embedded, torch.zeros((), dtype=embedded.dtype, device=mask.device))
        rows, steps, _ = embedded.shape
        widest = max(self.filter_sizes)
        if steps < widest:
            embedded = F.pad(embedded, (0, 0, 0, widest - steps))
        # [B, T, R * d] -> [B * R, d, T]: the representations become rows that share the convolutions.
        x = embedded.view(rows, -1, self.num_rep, self.rep_dim).permute(0, 2, 3, 1).reshape(rows * self.num_rep, self.rep_dim, -1)
        lengths = batch.lengths.to(x.device).repeat_interleave(self.num_rep).unsqueeze(1)  # [B * R, 1]
        pooled = []
        for conv, width in zip(self.convs, self.filter_sizes):
            maps = F.relu(conv(x))  # [B * R, n, windows]
            first = torch.arange(maps.shape[-1], device=x.device).unsqueeze(0)
            counted = (first == 0) | (first + width <= lengths)  # windows inside the sequence
            pooled.append(maps.masked_fill(~counted.unsqueeze(1), float("-inf")).amax(dim=-1))
        features = self.dropout(self.highway(torch.cat(pooled, dim=-1)))
        hidden = self.hidden(features)  # [B * R, hidden_dim]
        scores = self.head(hidden).squeeze(-1)
        if self.projection is not None:  # row b * R + r is representation r of sequence b
            condition = None if batch.condition is None else batch.condition.repeat(self.num_rep)
            scores = scores + self.projection(hidden, condition)
        return scores.view(rows, self.num_rep)

    def forward(self, batch: Batch) -> Tensor:
        """``[B]``: the mean of the representations' scores."""
        return self.representations(batch).mean(dim=1)
