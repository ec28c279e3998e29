"""Discriminators (critics) for sequences."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqtk.core.interfaces import Batch, Discriminator, DomainSpec

__all__ = ["GRUDiscriminator"]


class GRUDiscriminator(Discriminator):
    """A GRU that scores whole sequences or every step; higher means "more real".

    Continuous domains feed ``batch.values`` ``[B, T, F]``. Discrete domains feed
    ``batch.one_hot(V)`` ``[B, T, V]`` times an embedding matrix (a bias-free linear
    layer) rather than an embedding lookup, so gradients reach relaxed (Gumbel-softmax)
    samples. Sequences are packed by length, so padding never changes a real step's
    score.

    Parameters: ``hidden_dim`` GRU width; ``num_layers`` stacked layers;
    ``bidirectional`` read both directions (C-RNN-GAN's discriminator); ``per_step``
    score every step ``[B, T]`` (RGAN) instead of the sequence ``[B]``; ``embed_dim``
    embedding width for tokens (ignored for continuous data); ``dropout`` between layers
    and before the scoring layer.

    A sequence's score comes from the last layer's final states: the forward state at its
    last real step and, when bidirectional, the backward state at its first step (which
    has read the whole sequence). Per-step scores at padding positions are 0.
    """

    def __init__(
        self,
        spec: DomainSpec,
        hidden_dim: int = 64,
        num_layers: int = 1,
        bidirectional: bool = False,
        per_step: bool = False,
        embed_dim: int = 32,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        for name, value in (("hidden_dim", hidden_dim), ("num_layers", num_layers), ("embed_dim", embed_dim)):
            if value < 1:
                raise ValueError(f"gru discriminator: {name} must be >= 1, got {value!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"gru discriminator: dropout must be in [0, 1), got {dropout!r}")
        self.spec = spec
        self.per_step = per_step
        self.embed: nn.Linear | None = None
        if spec.is_discrete:
            if spec.vocab_size < 1:
                raise ValueError(f"gru discriminator: a discrete spec needs vocab_size >= 1, got {spec.vocab_size}")
            self.embed = nn.Linear(spec.vocab_size, embed_dim, bias=False)
            input_dim = embed_dim
        else:
            if spec.features < 1:
                raise ValueError(f"gru discriminator: a continuous spec needs features >= 1, got {spec.features}")
            input_dim = spec.features
        self.rnn = nn.GRU(
            input_dim,
            hidden_dim,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_dim * (2 if bidirectional else 1), 1)

    def _inputs(self, batch: Batch) -> Tensor:
        if self.embed is None:
            return batch.values.float()
        one_hot = batch.one_hot(self.spec.vocab_size).to(self.embed.weight.dtype)
        return self.embed(one_hot)

    def forward(self, batch: Batch) -> Tensor:
        x = self._inputs(batch)
        steps = x.shape[1]
        # pack_padded_sequence wants lengths on the CPU; a zero length cannot be packed,
        # so an empty row is scored on its first (padding) step instead.
        lengths = batch.lengths.detach().cpu().clamp(1, steps)
        if bool((lengths == steps).all()):
            # No padding: packing would change nothing, and the plain call is faster.
            outputs, final = self.rnn(x)
        else:
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            packed_out, final = self.rnn(packed)
            if self.per_step:
                outputs, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=steps)
        if self.per_step:
            scores = self.head(self.dropout(outputs)).squeeze(-1)
            return scores * batch.mask.to(scores.device, scores.dtype)
        return self.head(self.dropout(self._last_state(final))).squeeze(-1)

    def _last_state(self, final: Tensor) -> Tensor:
        """``[B, H * directions]``: the last layer's final state of each direction.

        ``final`` is ``[layers * directions, B, H]``; with packed input, PyTorch returns
        each row's state at its own last real step (forward) or first step (backward).
        """
        if self.rnn.bidirectional:
            return torch.cat([final[-2], final[-1]], dim=-1)
        return final[-1]
