"""How the built-in networks read a condition: one vector per row, and the projection score.

Generators turn a row's condition into a vector added to their first input (as Show and
Tell feeds the image once, before the first word: Vinyals et al. 2015), so the recurrent
state carries it through sampling, teacher forcing and rollouts alike. Discriminators add
the projection term of Miyato and Koyama (2018), ``<embed(y), phi(x)>``, to their
unconditional score: the score then measures "real *for this condition*", and a sample
that is realistic but answers another label is scored down.

Labels are embedded; static features are mapped linearly; a context sequence (a dialogue
turn, a history window, a soprano line) is read by a GRU encoder whose final state is its
vector, as a seq2seq encoder's state initialises its decoder. The three are summed, so a
domain may give any combination.

A recurrent discriminator may instead read a context of the domain's own features as the
start of the sequence it scores (:func:`context_then_sequence`): a forecast is judged as
the history followed by the real or the generated future, so a jump at the seam or a
volatility unlike the history's is in plain view, not folded into one inner product.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from seqtk.core.interfaces import Batch, Condition, ConditionSpec, DomainSpec


class ContextEncoder(nn.Module):
    """``[B, dim]``: a GRU's final state over each context sequence (tokens embedded, values as they are).

    Padding never reaches the state: sequences are packed by length (an empty context is
    read as its first, padding, step). ``relative``: a continuous context is read in its
    own units (:func:`history_units`), its changes made visible whatever its level.
    """

    def __init__(self, spec: DomainSpec, dim: int, embed_dim: int = 32, relative: bool = False) -> None:
        super().__init__()
        if relative and spec.is_discrete:
            raise ValueError("a context of tokens has no units to be read relative to; relative needs a continuous context")
        self.spec = spec
        self.relative = relative
        self.embed = nn.Embedding(spec.vocab_size, embed_dim) if spec.is_discrete else None
        self.rnn = nn.GRU(embed_dim if spec.is_discrete else spec.features, dim, batch_first=True)

    def forward(self, context: Batch) -> Tensor:
        device = self.rnn.weight_ih_l0.device
        values = context.values.to(device)
        x = self.embed(values) if self.embed is not None else values.to(self.rnn.weight_ih_l0.dtype)
        if self.relative:
            last, scale = history_units(Batch(values=x, lengths=context.lengths.to(device)))
            x = (x - last) / scale
        lengths = context.lengths.detach().cpu().clamp(1, x.shape[1])
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, final = self.rnn(packed)
        return final[-1]


class ConditionEmbedding(nn.Module):
    """``[B, dim]``: a label's embedding plus a linear map of the static features (each when the spec has it)."""

    def __init__(self, spec: ConditionSpec, dim: int, relative_context: bool = False) -> None:
        super().__init__()
        self.labels = nn.Embedding(spec.num_classes, dim) if spec.num_classes else None
        self.static = nn.Linear(spec.static_features, dim, bias=False) if spec.static_features else None
        self.context = ContextEncoder(spec.context, dim, relative=relative_context) if spec.context is not None else None

    def forward(self, condition: Condition, rows: int) -> Tensor:
        parts = []
        if self.labels is not None:
            parts.append(self.labels(_required(condition.labels, "labels", rows).to(self.labels.weight.device)))
        if self.static is not None:
            parts.append(self.static(_required(condition.static, "static", rows).to(self.static.weight.device, self.static.weight.dtype)))
        if self.context is not None:
            if condition.context is None or condition.context.size != rows:
                raise ValueError(f"the domain conditions on a context sequence, but this batch's condition has {'none' if condition.context is None else f'{condition.context.size} rows for {rows}'}")
            parts.append(self.context(condition.context))
        total = parts[0]
        for part in parts[1:]:
            total = total + part
        return total


class ConditionProjection(nn.Module):
    """The projection discriminator's term ``<embed(y), phi(x)>`` for features ``[B, D]`` or per-step ``[B, T, D]``."""

    def __init__(self, spec: ConditionSpec, feature_dim: int) -> None:
        super().__init__()
        self.embedding = ConditionEmbedding(spec, feature_dim)

    def forward(self, features: Tensor, condition: Condition | None) -> Tensor:
        if condition is None:
            raise ValueError("a conditional discriminator was given a batch without its condition")
        vector = self.embedding(condition, features.shape[0])
        if features.dim() == 3:
            return (features * vector.unsqueeze(1)).sum(-1)
        return (features * vector).sum(-1)


def condition_embedding(spec: ConditionSpec | None, dim: int, relative_context: bool = False) -> ConditionEmbedding | None:
    """The module for a domain's conditions, or None for unconditional data (no parameters are added); ``relative_context`` as :class:`ContextEncoder`'s ``relative``."""
    return None if spec is None or not spec.words else ConditionEmbedding(spec, dim, relative_context)


def condition_projection(spec: ConditionSpec | None, feature_dim: int) -> ConditionProjection | None:
    return None if spec is None or not spec.words else ConditionProjection(spec, feature_dim)


#: The smallest mean absolute change :func:`history_units` divides by (a flat history would divide by 0).
MIN_HISTORY_SCALE = 1e-4


def history_units(context: Batch) -> tuple[Tensor, Tensor]:
    """``(last [B, 1, F], scale [B, 1, F])``: each history's last real step, and its mean absolute step-to-step change.

    A forecast measured from ``last`` in units of ``scale`` reads the same for a calm and a
    wild history and for any price level: daily changes of a min-max scaled price are a
    hundredth of its range, too small for a network fed the levels to see (the history's
    own scale, not a fitted one, so it needs no data and no state). A history of one
    step has scale ``MIN_HISTORY_SCALE``.
    """
    values = context.values
    rows = torch.arange(values.shape[0], device=values.device)
    lengths = context.lengths.to(values.device).clamp(1, values.shape[1])
    last = values[rows, lengths - 1].unsqueeze(1)
    changes = (values[:, 1:] - values[:, :-1]).abs()
    inside = (torch.arange(1, values.shape[1], device=values.device).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(-1)
    total = torch.where(inside, changes, torch.zeros((), dtype=values.dtype, device=values.device)).sum(1, keepdim=True)
    scale = total / (lengths - 1).clamp_min(1).view(-1, 1, 1).to(values.dtype)
    return last, scale.clamp_min(MIN_HISTORY_SCALE)


def context_then_sequence(batch: Batch, relative: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """``(values [B, Tc + T, F], lengths [B], offsets [B])``: each row's context, then its sequence right after the context's last real step.

    ``offsets`` is where each row's sequence starts (its context's length). Steps past a
    row's new length are zero. The values are differentiable in ``batch.values`` (a
    generated forecast's gradient reaches it); the context is data and gets none.
    ``relative``: every real step in the context's units (:func:`history_units`),
    ``(x - last) / scale``.
    """
    condition = batch.condition
    if condition is None or condition.context is None:
        raise ValueError("a discriminator that reads the context before the sequence was given a batch without a context")
    context = condition.context
    if context.size != batch.size:
        raise ValueError(f"the batch's context has {context.size} rows for {batch.size} sequences")
    values = batch.values
    history = context.values.to(values.device, values.dtype)
    if history.dim() != 3 or values.dim() != 3 or history.shape[2] != values.shape[2]:
        raise ValueError(f"reading the context before the sequence needs both as [B, T, F] with the same F; got context {tuple(history.shape)}, sequences {tuple(values.shape)}")
    offsets = context.lengths.to(values.device).clamp(0, history.shape[1])
    lengths = batch.lengths.to(values.device).clamp(0, values.shape[1])
    inside = torch.arange(history.shape[1], device=values.device).unsqueeze(0) < offsets.unsqueeze(1)
    joined = torch.cat([torch.where(inside.unsqueeze(-1), history, torch.zeros((), dtype=values.dtype, device=values.device)), values.new_zeros(values.shape)], dim=1)
    steps = torch.arange(values.shape[1], device=values.device).unsqueeze(0)
    real = (steps < lengths.unsqueeze(1)).unsqueeze(-1)
    where = (offsets.unsqueeze(1) + steps).unsqueeze(-1).expand(-1, -1, values.shape[2])
    # Padding of the sequence lands past the new length, where it is zeroed: whatever it held, it cannot leak.
    source = torch.where(real, values, torch.zeros((), dtype=values.dtype, device=values.device))
    joined = joined.scatter(1, where, source)
    if relative:
        last, scale = history_units(Batch(values=history, lengths=offsets))
        total = torch.arange(joined.shape[1], device=values.device).unsqueeze(0) < (offsets + lengths).unsqueeze(1)
        joined = torch.where(total.unsqueeze(-1), (joined - last) / scale, torch.zeros((), dtype=values.dtype, device=values.device))
    return joined, offsets + lengths, offsets


def _required(tensor: Tensor | None, name: str, rows: int) -> Tensor:
    if tensor is None:
        raise ValueError(f"the domain conditions on {name}, but this batch's condition has none")
    if tensor.shape[0] != rows:
        raise ValueError(f"the condition's {name} have {tensor.shape[0]} rows, the batch {rows}")
    return tensor
