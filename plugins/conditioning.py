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
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from seqtk.core.interfaces import Batch, Condition, ConditionSpec, DomainSpec


class ContextEncoder(nn.Module):
    """``[B, dim]``: a GRU's final state over each context sequence (tokens embedded, values as they are).

    Padding never reaches the state: sequences are packed by length (an empty context is
    read as its first, padding, step).
    """

    def __init__(self, spec: DomainSpec, dim: int, embed_dim: int = 32) -> None:
        super().__init__()
        self.spec = spec
        self.embed = nn.Embedding(spec.vocab_size, embed_dim) if spec.is_discrete else None
        self.rnn = nn.GRU(embed_dim if spec.is_discrete else spec.features, dim, batch_first=True)

    def forward(self, context: Batch) -> Tensor:
        device = self.rnn.weight_ih_l0.device
        values = context.values.to(device)
        x = self.embed(values) if self.embed is not None else values.to(self.rnn.weight_ih_l0.dtype)
        lengths = context.lengths.detach().cpu().clamp(1, x.shape[1])
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, final = self.rnn(packed)
        return final[-1]


class ConditionEmbedding(nn.Module):
    """``[B, dim]``: a label's embedding plus a linear map of the static features (each when the spec has it)."""

    def __init__(self, spec: ConditionSpec, dim: int) -> None:
        super().__init__()
        self.labels = nn.Embedding(spec.num_classes, dim) if spec.num_classes else None
        self.static = nn.Linear(spec.static_features, dim, bias=False) if spec.static_features else None
        self.context = ContextEncoder(spec.context, dim) if spec.context is not None else None

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


def condition_embedding(spec: ConditionSpec | None, dim: int) -> ConditionEmbedding | None:
    """The module for a domain's conditions, or None for unconditional data (no parameters are added)."""
    return None if spec is None or not spec.words else ConditionEmbedding(spec, dim)


def condition_projection(spec: ConditionSpec | None, feature_dim: int) -> ConditionProjection | None:
    return None if spec is None or not spec.words else ConditionProjection(spec, feature_dim)


def _required(tensor: Tensor | None, name: str, rows: int) -> Tensor:
    if tensor is None:
        raise ValueError(f"the domain conditions on {name}, but this batch's condition has none")
    if tensor.shape[0] != rows:
        raise ValueError(f"the condition's {name} have {tensor.shape[0]} rows, the batch {rows}")
    return tensor
