"""Discriminators (critics) for sequences: recurrent (GRU, LSTM) and SeqGAN's CNN.

Every discriminator here reads both kinds of data. Discrete domains feed
``batch.one_hot(V)`` ``[B, T, V]`` times an embedding matrix (a bias-free linear layer)
rather than an embedding lookup, so gradients reach relaxed (Gumbel-softmax) samples and
gradient penalties can differentiate with respect to the input. Continuous domains feed
``batch.values`` ``[B, T, F]``. Positions past a row's length never change its score.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqtk.core.interfaces import Batch, Discriminator, DomainSpec

__all__ = ["GRUDiscriminator", "LSTMDiscriminator", "CNNDiscriminator"]

#: The widest convolution the CNN accepts: a guard against typos (SeqGAN's widest is 20).
MAX_FILTER_WIDTH = 256


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_positive(name: str, **values: object) -> None:
    for key, value in values.items():
        if not _is_int(value) or value < 1:  # type: ignore[operator]
            raise ValueError(f"{name} discriminator: {key} must be an integer >= 1, got {value!r}")


def _check_dropout(name: str, dropout: float) -> None:
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"{name} discriminator: dropout must be a number in [0, 1), got {dropout!r}")


def _token_embedding(spec: DomainSpec, embed_dim: int, name: str) -> nn.Linear:
    """A bias-free ``V -> embed_dim`` matrix applied to one-hots (differentiable in them)."""
    if spec.vocab_size < 1:
        raise ValueError(f"{name} discriminator: a discrete spec needs vocab_size >= 1, got {spec.vocab_size}")
    return nn.Linear(spec.vocab_size, embed_dim, bias=False)


def _check_features(spec: DomainSpec, name: str) -> None:
    if spec.features < 1:
        raise ValueError(f"{name} discriminator: a continuous spec needs features >= 1, got {spec.features}")


# --------------------------------------------------------------------------- recurrent



def embed_tokens(embed: nn.Linear, batch: Batch) -> Tensor:
    """``Batch.one_hot(V)`` times the embedding matrix, without building hard one-hots.

    Relaxed one-hots (Gumbel-softmax samples, gradient-penalty interpolates) go through the
    matrix product so that gradients reach them. Hard tokens select the same rows by
    lookup: identical values, but no ``[B, T, V]`` tensor, which for REINFORCE's
    thousands of rollouts over a 5000-token vocabulary is gigabytes and most of the time.
    """
    if batch.relaxed is not None:
        return embed(batch.relaxed.to(embed.weight.dtype))
    out = F.embedding(batch.values, embed.weight.t())
    return out if embed.bias is None else out + embed.bias

class _RecurrentDiscriminator(Discriminator):
    """A recurrent network that scores whole sequences or every step; higher means "more real".

    The shared body of :class:`GRUDiscriminator` and :class:`LSTMDiscriminator`, which
    differ only in their cell (``_cell``) and in the shape of the final state it returns.

    Continuous data enters the recurrent layer as it is (its input weights are the
    projection); tokens enter as one-hots times an embedding matrix. Sequences are packed
    by length, so padding never changes a real step's score.

    A sequence's score comes from the last layer's final states: the forward state at its
    last real step and, when bidirectional, the backward state at its first step (which
    has read the whole sequence). Per-step scores at padding positions are 0.
    """

    _cell: ClassVar[type[nn.GRU] | type[nn.LSTM]]
    _name: ClassVar[str]

    def __init__(
        self,
        spec: DomainSpec,
        hidden_dim: int,
        num_layers: int,
        bidirectional: bool,
        per_step: bool,
        embed_dim: int,
        dropout: float,
    ) -> None:
        super().__init__()
        name = self._name
        _check_positive(name, hidden_dim=hidden_dim, num_layers=num_layers, embed_dim=embed_dim)
        _check_dropout(name, dropout)
        for key, flag in (("bidirectional", bidirectional), ("per_step", per_step)):
            if not isinstance(flag, bool):
                raise ValueError(f"{name} discriminator: {key} must be true or false, got {flag!r}")
        self.spec = spec
        self.per_step = per_step
        self.embed: nn.Linear | None = None
        if spec.is_discrete:
            self.embed = _token_embedding(spec, embed_dim, name)
            input_dim = embed_dim
        else:
            _check_features(spec, name)
            input_dim = spec.features
        self.rnn = self._cell(
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
        return embed_tokens(self.embed, batch)

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
        return self.head(self.dropout(self._last_state(self._hidden(final)))).squeeze(-1)

    def _hidden(self, final: Tensor | tuple[Tensor, Tensor]) -> Tensor:
        """``[layers * directions, B, H]``: the final hidden state out of the cell's return value."""
        return final  # type: ignore[return-value]

    def _last_state(self, final: Tensor) -> Tensor:
        """``[B, H * directions]``: the last layer's final state of each direction.

        ``final`` is ``[layers * directions, B, H]``; with packed input, PyTorch returns
        each row's state at its own last real step (forward) or first step (backward).
        """
        if self.rnn.bidirectional:
            return torch.cat([final[-2], final[-1]], dim=-1)
        return final[-1]


class GRUDiscriminator(_RecurrentDiscriminator):
    """A GRU that scores whole sequences or every step; higher means "more real".

    Continuous domains feed ``batch.values`` ``[B, T, F]``. Discrete domains feed
    ``batch.one_hot(V)`` ``[B, T, V]`` times an embedding matrix (a bias-free linear
    layer) rather than an embedding lookup, so gradients reach relaxed (Gumbel-softmax)
    samples. Sequences are packed by length, so padding never changes a real step's
    score.

    Parameters: ``hidden_dim`` GRU width; ``num_layers`` stacked layers;
    ``bidirectional`` read both directions; ``per_step`` score every step ``[B, T]``
    (RGAN) instead of the sequence ``[B]``; ``embed_dim`` embedding width for tokens
    (ignored for continuous data); ``dropout`` between layers and before the scoring layer.

    A sequence's score comes from the last layer's final states: the forward state at its
    last real step and, when bidirectional, the backward state at its first step (which
    has read the whole sequence). Per-step scores at padding positions are 0.
    """

    _cell = nn.GRU
    _name = "gru"

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
        super().__init__(spec, hidden_dim, num_layers, bidirectional, per_step, embed_dim, dropout)


class LSTMDiscriminator(_RecurrentDiscriminator):
    """An LSTM that scores whole sequences or every step; bidirectional by default.

    C-RNN-GAN's discriminator (Mogren 2016) is a bidirectional LSTM; everything else is
    as in :class:`GRUDiscriminator` (one-hot times embedding for tokens, packed
    sequences, scores from the final states, 0 at padding for per-step scores).

    Parameters: ``hidden_dim`` LSTM width; ``num_layers`` stacked layers;
    ``bidirectional`` read both directions; ``per_step`` score every step ``[B, T]``
    instead of the sequence ``[B]``; ``embed_dim`` embedding width for tokens (ignored for
    continuous data); ``dropout`` between layers and before the scoring layer.
    """

    _cell = nn.LSTM
    _name = "lstm"

    def __init__(
        self,
        spec: DomainSpec,
        hidden_dim: int = 64,
        num_layers: int = 1,
        bidirectional: bool = True,
        per_step: bool = False,
        embed_dim: int = 32,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(spec, hidden_dim, num_layers, bidirectional, per_step, embed_dim, dropout)

    def _hidden(self, final: Tensor | tuple[Tensor, Tensor]) -> Tensor:
        hidden, _cell_state = final  # type: ignore[misc]
        return hidden


# --------------------------------------------------------------------------- convolutional


class _Highway(nn.Module):
    """One highway layer (Srivastava et al. 2015): ``t * relu(W_h x) + (1 - t) * x``, ``t = sigmoid(W_t x)``.

    The gate lets each pooled feature either pass through unchanged or be replaced by a
    non-linear mix of all features; SeqGAN puts one after the max-pooling.
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self.gate = nn.Linear(size, size)
        self.transform = nn.Linear(size, size)

    def forward(self, x: Tensor) -> Tensor:
        t = torch.sigmoid(self.gate(x))
        return t * F.relu(self.transform(x)) + (1.0 - t) * x


class CNNDiscriminator(Discriminator):
    """SeqGAN's CNN discriminator (Yu et al. 2017, after Kim 2014): one logit per sequence.

    Embedding (tokens: one-hot times a bias-free matrix; continuous values: a linear
    projection of the ``F`` features to ``embed_dim``), then for every filter width ``w``
    ``num_filters`` 1-D convolutions of width ``w`` over time with ``embed_dim`` input
    channels, ReLU, max-pooling over time, the pooled features of all widths
    concatenated, an optional highway layer, dropout and a linear layer to the score.

    Masking: embedded padding is set to zero, and a window enters the max only if it lies
    inside the sequence (start + w <= length). The first window always counts, so a
    sequence shorter than ``w`` is seen by that filter as the sequence followed by zeros.
    Batches with fewer steps than the widest filter are padded with zeros in time. Hence
    neither padding nor extra padding columns change a score.

    Parameters: ``embed_dim`` embedding width; ``filter_sizes`` the convolution widths;
    ``num_filters`` how many filters of each width (same length as ``filter_sizes``);
    ``dropout`` before the scoring layer; ``highway`` whether to use the highway layer;
    ``per_step`` score every step ``[B, T]`` instead of pooling over time: the
    convolutions are then causal (step ``t`` sees the ``w`` steps ending at ``t``, zeros
    before the start), so padding after a sequence never reaches a real step's score.

    SeqGAN's published configuration (its oracle and text experiments): ``embed_dim: 64``,
    ``filter_sizes: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20]``,
    ``num_filters: [100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160]``,
    ``dropout: 0.25`` (keep probability 0.75), ``highway: true``. SeqGAN trains it as a
    two-class softmax with an L2 penalty of 0.2 on the output layer; here the score is a
    single logit and any weight decay belongs to the optimiser.
    """

    per_step = False

    def __init__(
        self,
        spec: DomainSpec,
        embed_dim: int = 64,
        filter_sizes: list[int] | tuple[int, ...] = (2, 3, 4, 5),
        num_filters: list[int] | tuple[int, ...] = (100, 100, 100, 100),
        dropout: float = 0.25,
        highway: bool = True,
        per_step: bool = False,
    ) -> None:
        super().__init__()
        _check_positive("cnn", embed_dim=embed_dim)
        if not isinstance(per_step, bool):
            raise ValueError(f"cnn discriminator: per_step must be true or false, got {per_step!r}")
        self.per_step = per_step
        _check_dropout("cnn", dropout)
        widths, counts = _check_filters(filter_sizes, num_filters)
        if not isinstance(highway, bool):
            raise ValueError(f"cnn discriminator: highway must be true or false, got {highway!r}")
        self.spec = spec
        self.filter_sizes, self.num_filters = widths, counts
        if spec.is_discrete:
            self.embed = _token_embedding(spec, embed_dim, "cnn")
        else:
            _check_features(spec, "cnn")
            self.embed = nn.Linear(spec.features, embed_dim)
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, n, w) for w, n in zip(widths, counts))
        total = sum(counts)
        self.highway: _Highway | None = _Highway(total) if highway else None
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(total, 1)

    def _inputs(self, batch: Batch) -> Tensor:
        """``[B, T, E]`` embedded steps, exactly zero at padding (whatever the padding holds)."""
        dtype = self.embed.weight.dtype
        mask = batch.mask.to(batch.values.device).unsqueeze(-1)
        zero = torch.zeros((), dtype=dtype, device=mask.device)
        if self.spec.is_discrete:
            embedded = embed_tokens(self.embed, batch)
        else:
            # where(), not a product: NaN or inf in padding must not leak through 0 * x.
            embedded = self.embed(torch.where(mask, batch.values.to(dtype), zero))
        return torch.where(mask, embedded, zero)

    def forward(self, batch: Batch) -> Tensor:
        if self.per_step:
            scores = self._per_step(self._inputs(batch).transpose(1, 2))
            return scores.masked_fill(~batch.mask.to(scores.device), 0.0)
        x = self._inputs(batch)
        widest = max(self.filter_sizes)
        if x.shape[1] < widest:
            x = F.pad(x, (0, 0, 0, widest - x.shape[1]))
        x = x.transpose(1, 2)  # [B, E, T]: Conv1d convolves the last axis
        lengths = batch.lengths.to(x.device).unsqueeze(1)
        pooled = []
        for conv, width in zip(self.convs, self.filter_sizes):
            feature_maps = F.relu(conv(x))  # [B, n, T - w + 1], one column per window start
            starts = torch.arange(feature_maps.shape[-1], device=x.device).unsqueeze(0)
            inside = (starts + width <= lengths) | (starts == 0)
            feature_maps = feature_maps.masked_fill(~inside.unsqueeze(1), float("-inf"))
            pooled.append(feature_maps.max(dim=-1).values)
        features = torch.cat(pooled, dim=-1)
        if self.highway is not None:
            features = self.highway(features)
        return self.head(self.dropout(features)).squeeze(-1)

    def _per_step(self, x: Tensor) -> Tensor:
        """``[B, T]`` scores from causal convolutions of ``x`` ``[B, E, T]``."""
        maps = [F.relu(conv(F.pad(x, (width - 1, 0)))) for conv, width in zip(self.convs, self.filter_sizes)]
        features = torch.cat(maps, dim=1).transpose(1, 2)  # [B, T, total]
        if self.highway is not None:
            features = self.highway(features)
        return self.head(self.dropout(features)).squeeze(-1)


def _check_filters(filter_sizes: object, num_filters: object) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Both lists as tuples of ints, or a ValueError that says what is wrong."""
    lists = {"filter_sizes": filter_sizes, "num_filters": num_filters}
    for key, value in lists.items():
        if not isinstance(value, (list, tuple)) or not value:
            raise ValueError(f"cnn discriminator: {key} must be a non-empty list of integers, got {value!r}")
        for item in value:
            if not _is_int(item) or item < 1:
                raise ValueError(f"cnn discriminator: every item of {key} must be an integer >= 1, got {item!r} in {list(value)}")
    widths: tuple[int, ...] = tuple(filter_sizes)  # type: ignore[arg-type]
    counts: tuple[int, ...] = tuple(num_filters)  # type: ignore[arg-type]
    if len(widths) != len(counts):
        raise ValueError(
            f"cnn discriminator: filter_sizes and num_filters must have the same length (one count per width), "
            f"got {len(widths)} widths {list(widths)} and {len(counts)} counts {list(counts)}"
        )
    too_wide = [w for w in widths if w > MAX_FILTER_WIDTH]
    if too_wide:
        raise ValueError(f"cnn discriminator: filter_sizes must be at most {MAX_FILTER_WIDTH} steps wide, got {too_wide}")
    return widths, counts
