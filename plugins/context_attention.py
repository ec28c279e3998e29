"""Attention of a recurrent generator over the steps of its context (``context_attention``).

:class:`~seqtk.plugins.conditioning.ContextEncoder` folds a context sequence into one
vector: enough for a context's gist (a dialogue turn's topic), not for one that must be
followed step by step, such as the soprano above a bass line, where each bass note must
fit the soprano note sounding over it. Here the context is encoded by a GRU whose output
at *every* step is kept as a memory, and each step of the generator scores the memory
against its own top output, reads the weighted sum, and mixes it back in (Luong, Pham and
Manning 2015, "global attention": ``h~ = tanh(W [h; c])``). The attention sits after the
recurrent cell, not inside it, so teacher forcing keeps the cell's fused whole-sequence
kernel and only adds one batched attention over all steps.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqtk.core.interfaces import Batch, DomainSpec

__all__ = ["ContextAttention"]


class ContextAttention(nn.Module):
    """Maps a generator's top outputs ``[N, H]`` or ``[N, T, H]`` to attention-mixed outputs of the same shape.

    ``spec`` describes the context (tokens are embedded with ``embed_dim``; continuous
    values are read as they are); ``top_dim`` is the generator's top-output width, which
    is also the memory's width.
    """

    def __init__(self, spec: DomainSpec, top_dim: int, embed_dim: int = 32) -> None:
        super().__init__()
        self.embed = nn.Embedding(spec.vocab_size, embed_dim) if spec.is_discrete else None
        self.rnn = nn.GRU(embed_dim if spec.is_discrete else spec.features, top_dim, batch_first=True)
        self.query = nn.Linear(top_dim, top_dim, bias=False)
        self.combine = nn.Linear(2 * top_dim, top_dim)

    def memory(self, context: Batch) -> tuple[Tensor, Tensor]:
        """``(memory [N, C, H], mask [N, C])``: the GRU's output at each context step, and 1.0 on real steps (at least the first)."""
        device = self.rnn.weight_ih_l0.device
        values = context.values.to(device)
        x = self.embed(values) if self.embed is not None else values.to(self.rnn.weight_ih_l0.dtype)
        steps = x.shape[1]
        lengths = context.lengths.detach().cpu().clamp(1, steps)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        outputs, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=steps)
        mask = (torch.arange(steps).unsqueeze(0) < lengths.unsqueeze(1)).to(device=device, dtype=outputs.dtype)
        return outputs, mask

    def forward(self, top: Tensor, memory: Tensor, mask: Tensor) -> Tensor:
        single = top.dim() == 2
        queries = self.query(top.unsqueeze(1) if single else top)  # [N, T, H]
        scores = queries @ memory.transpose(1, 2) / math.sqrt(memory.shape[-1])  # [N, T, C]
        scores = scores.masked_fill(mask.unsqueeze(1) == 0, float("-inf"))
        read = torch.softmax(scores, dim=-1) @ memory  # [N, T, H]
        mixed = torch.tanh(self.combine(torch.cat([top.unsqueeze(1) if single else top, read], dim=-1)))
        return mixed.squeeze(1) if single else mixed
