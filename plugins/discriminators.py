"""Discriminators (critics) for sequences: recurrent (GRU, LSTM) and SeqGAN's CNN.

Every discriminator here reads both kinds of data. Discrete domains feed
``batch.one_hot(V)`` ``[B, T, V]`` times an embedding matrix (a bias-free linear layer)
rather than an embedding lookup, so gradients reach relaxed (Gumbel-softmax) samples and
gradient penalties can differentiate with respect to the input. Continuous domains feed
``batch.values`` ``[B, T, F]``. Positions past a row's length never change its score.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from dataclasses import replace

from seqtk.core.interfaces import Batch, Condition, ConditionSpec, Discriminator, DomainSpec
from seqtk.core.params import Dropout, NonNegativeFloat, PositiveInt, checked
from seqtk.plugins.conditioning import condition_projection, context_then_sequence
from seqtk.plugins.init import apply_init
from seqtk.plugins.spectral import apply_spectral_norm

__all__ = ["GRUDiscriminator", "LSTMDiscriminator", "CNNDiscriminator"]

#: The widest convolution the CNN accepts: a guard against typos (SeqGAN's widest is 20).
MAX_FILTER_WIDTH = 256


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _token_embedding(spec: DomainSpec, embed_dim: int, name: str) -> nn.Linear:
    """A bias-free ``V -> embed_dim`` matrix applied to one-hots (differentiable in them)."""
    if spec.vocab_size < 1:
        raise ValueError(f"{name} discriminator: a discrete spec needs vocab_size >= 1, got {spec.vocab_size}")
    return nn.Linear(spec.vocab_size, embed_dim, bias=False)


def _auxiliary_classifier(spec: DomainSpec, enabled: bool, features: int, name: str) -> tuple[nn.Linear | None, ConditionSpec | None]:
    """AC-GAN's class head (``features -> classes``) when ``enabled``, and the conditions left for projection.

    The classifier replaces the label's projection term (AC-GAN's discriminator scores
    realness without being told the label); static features and contexts are still projected.
    """
    if not enabled:
        return None, spec.conditions
    if spec.conditions is None or not spec.conditions.num_classes:
        raise ValueError(f"{name} discriminator: auxiliary_classifier needs a domain whose sequences have class labels")
    return nn.Linear(features, spec.conditions.num_classes), replace(spec.conditions, num_classes=0, class_names=())


def _without_context(spec: DomainSpec, conditions: ConditionSpec | None, name: str) -> ConditionSpec | None:
    """The conditions left to project when the context is read as the sequence's start; ValueError when it cannot be."""
    context = conditions.context if conditions is not None else None
    if context is None:
        raise ValueError(f"{name} discriminator: read_context needs a domain that conditions on a context sequence (timeseries condition: forecast)")
    if spec.is_discrete or context.kind != "continuous" or context.features != spec.features:
        raise ValueError(
            f"{name} discriminator: read_context reads the context as the start of the sequence, so both must be real values with the same "
            f"features; the context has {context.kind} {context.features or context.vocab_size}, the sequences {spec.kind} {spec.features or spec.vocab_size}"
        )
    return replace(conditions, context=None)  # type: ignore[arg-type]


def _need_classifier(classifier: nn.Linear | None, name: str) -> nn.Linear:
    if classifier is None:
        raise ValueError(f"{name} discriminator: classify needs auxiliary_classifier: true")
    return classifier


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

@checked(lambda self: f"{self._name} discriminator")
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

    With ``read_context`` (a domain whose context has the sequences' own features: a
    forecast's history) each row is read as its context followed by the sequence
    (:func:`seqtk.plugins.conditioning.context_then_sequence`), and the context is not
    projected as well; per-step scores are those of the sequence's steps.
    """

    _cell: ClassVar[type[nn.GRU] | type[nn.LSTM]]
    _name: ClassVar[str]

    def __init__(
        self,
        spec: DomainSpec,
        hidden_dim: PositiveInt,
        num_layers: PositiveInt,
        bidirectional: bool,
        per_step: bool,
        embed_dim: PositiveInt,
        dropout: Dropout,
        init: str | Mapping[str, Any] | None = None,
        spectral_norm: bool = False,
        auxiliary_classifier: bool = False,
        read_context: bool = False,
    ) -> None:
        super().__init__()
        name = self._name  # hidden_dim, num_layers, embed_dim, dropout, flags: declared (checked)
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
        self.classifier, projected = _auxiliary_classifier(spec, auxiliary_classifier, hidden_dim * (2 if bidirectional else 1), name)
        self.read_context = read_context
        if read_context:
            projected = _without_context(spec, projected, name)
        self.projection = condition_projection(projected, hidden_dim * (2 if bidirectional else 1))
        apply_init(self, init, f"{name} discriminator")
        apply_spectral_norm(self, spectral_norm, f"{name} discriminator")

    def _inputs(self, batch: Batch) -> Tensor:
        if self.embed is None:
            return batch.values.float()
        return embed_tokens(self.embed, batch)

    def _read(self, batch: Batch) -> tuple[Tensor, Tensor, Tensor | None]:
        """``(inputs [B, T', D], lengths [B], offsets)``: the batch, or each row's context then the row (``read_context``; offsets say where the row starts)."""
        if not self.read_context:
            return self._inputs(batch), batch.lengths, None
        values, lengths, offsets = context_then_sequence(batch, relative=True)
        return values.float(), lengths, offsets

    def forward(self, batch: Batch) -> Tensor:
        x, lengths, offsets = self._read(batch)
        steps = x.shape[1]
        # pack_padded_sequence wants lengths on the CPU; a zero length cannot be packed,
        # so an empty row is scored on its first (padding) step instead.
        lengths = lengths.detach().cpu().clamp(1, steps)
        if bool((lengths == steps).all()):
            # No padding: packing would change nothing, and the plain call is faster.
            outputs, final = self.rnn(x)
        else:
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            packed_out, final = self.rnn(packed)
            if self.per_step:
                outputs, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=steps)
        if self.per_step:
            if offsets is not None:  # the sequence's own steps, after its context
                where = (offsets.to(outputs.device).unsqueeze(1) + torch.arange(batch.values.shape[1], device=outputs.device)).clamp_max(steps - 1)
                outputs = outputs.gather(1, where.unsqueeze(-1).expand(-1, -1, outputs.shape[2]))
            features = self.dropout(outputs)
            scores = self.head(features).squeeze(-1)
            if self.projection is not None:
                scores = scores + self.projection(features, batch.condition)
            return scores * batch.mask.to(scores.device, scores.dtype)
        features = self.dropout(self._last_state(self._hidden(final)))
        scores = self.head(features).squeeze(-1)
        return scores if self.projection is None else scores + self.projection(features, batch.condition)

    def classify(self, batch: Batch) -> Tensor:
        """``[B, classes]``: AC-GAN's class logits from the sequence's final states (``auxiliary_classifier: true``)."""
        classifier = _need_classifier(self.classifier, self._name)
        x, lengths, _ = self._read(batch)
        lengths = lengths.detach().cpu().clamp(1, x.shape[1])
        _, final = self.rnn(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        return classifier(self.dropout(self._last_state(self._hidden(final))))

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
    (ignored for continuous data); ``dropout`` between layers and before the scoring layer;
    ``init`` how the parameters are drawn (:mod:`seqtk.plugins.init`; None keeps PyTorch's defaults);
    ``spectral_norm`` divide every weight matrix (input, recurrent, scoring) by its largest
    singular value (:mod:`seqtk.plugins.spectral`). ``auxiliary_classifier`` adds AC-GAN's
    class head, ``classify(batch)`` (for the ``acgan`` objective; the label is then not
    projected). ``read_context`` reads a forecast's history before the forecast, as one
    series, instead of projecting it (the history must have the domain's features).

    A sequence's score comes from the last layer's final states: the forward state at its
    last real step and, when bidirectional, the backward state at its first step (which
    has read the whole sequence). Per-step scores at padding positions are 0.
    """

    _cell = nn.GRU
    _name = "gru"

    def __init__(
        self,
        spec: DomainSpec,
        hidden_dim: PositiveInt = 64,
        num_layers: PositiveInt = 1,
        bidirectional: bool = False,
        per_step: bool = False,
        embed_dim: PositiveInt = 32,
        dropout: Dropout = 0.0,
        init: str | Mapping[str, Any] | None = None,
        spectral_norm: bool = False,
        auxiliary_classifier: bool = False,
        read_context: bool = False,
    ) -> None:
        super().__init__(spec, hidden_dim, num_layers, bidirectional, per_step, embed_dim, dropout, init, spectral_norm, auxiliary_classifier, read_context)


class LSTMDiscriminator(_RecurrentDiscriminator):
    """An LSTM that scores whole sequences or every step; bidirectional by default.

    C-RNN-GAN's discriminator (Mogren 2016) is a bidirectional LSTM; everything else is
    as in :class:`GRUDiscriminator` (one-hot times embedding for tokens, packed
    sequences, scores from the final states, 0 at padding for per-step scores).

    Parameters: ``hidden_dim`` LSTM width; ``num_layers`` stacked layers;
    ``bidirectional`` read both directions; ``per_step`` score every step ``[B, T]``
    instead of the sequence ``[B]``; ``embed_dim`` embedding width for tokens (ignored for
    continuous data); ``dropout`` between layers and before the scoring layer; ``init``,
    ``spectral_norm``, ``auxiliary_classifier`` and ``read_context`` as for :class:`GRUDiscriminator`.
    """

    _cell = nn.LSTM
    _name = "lstm"

    def __init__(
        self,
        spec: DomainSpec,
        hidden_dim: PositiveInt = 64,
        num_layers: PositiveInt = 1,
        bidirectional: bool = True,
        per_step: bool = False,
        embed_dim: PositiveInt = 32,
        dropout: Dropout = 0.0,
        init: str | Mapping[str, Any] | None = None,
        spectral_norm: bool = False,
        auxiliary_classifier: bool = False,
        read_context: bool = False,
    ) -> None:
        super().__init__(spec, hidden_dim, num_layers, bidirectional, per_step, embed_dim, dropout, init, spectral_norm, auxiliary_classifier, read_context)

    def _hidden(self, final: Tensor | tuple[Tensor, Tensor]) -> Tensor:
        hidden, _cell_state = final  # type: ignore[misc]
        return hidden


# --------------------------------------------------------------------------- convolutional


class _Highway(nn.Module):
    """One highway layer (Srivastava et al. 2015): ``t * relu(W_h x) + (1 - t) * x``, ``t = sigmoid(W_t x)``.

    The gate lets each pooled feature either pass through unchanged or be replaced by a
    non-linear mix of all features; SeqGAN puts one after the max-pooling. ``tied`` uses
    one matrix for both, ``W_t = W_h`` (TextGAN-PyTorch's SeqGAN discriminator does this):
    half the parameters and half the work.
    """

    def __init__(self, size: int, tied: bool = False) -> None:
        super().__init__()
        self.gate = nn.Linear(size, size)
        self.transform: nn.Linear | None = None if tied else nn.Linear(size, size)

    def forward(self, x: Tensor) -> Tensor:
        gate = self.gate(x)
        transformed = gate if self.transform is None else self.transform(x)
        t = torch.sigmoid(gate)
        return t * F.relu(transformed) + (1.0 - t) * x


@checked("cnn discriminator")
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
    ``tied_highway`` one matrix for the highway's gate and transform (TextGAN-PyTorch's
    variant, models/discriminator.py: 4.1M parameters instead of 7.0M in SeqGAN's
    configuration at vocabulary 5000); ``per_step`` score every step ``[B, T]`` instead of pooling over time: the
    convolutions are then causal (step ``t`` sees the ``w`` steps ending at ``t``, zeros
    before the start), so padding after a sequence never reaches a real step's score.

    SeqGAN's published configuration (its oracle and text experiments): ``embed_dim: 64``,
    ``filter_sizes: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20]``,
    ``num_filters: [100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160]``,
    ``dropout: 0.25`` (keep probability 0.75), ``highway: true``, ``l2_penalty: 0.2``.

    ``l2_penalty`` (>= 0) is SeqGAN's ``l2_reg_lambda``: :meth:`regularization` returns
    ``l2_penalty * (sum(W**2) / 2 + sum(b**2) / 2)`` over the scoring layer alone
    (``tf.nn.l2_loss`` of its weight and bias in LantaoYu/SeqGAN, discriminator.py), which an
    optimiser's weight decay, applied to every parameter, cannot express. SeqGAN's output
    layer is a two-class softmax (columns ``w0``, ``w1``); here it is the one logit
    ``w = w1 - w0``. The cheapest columns for a given ``w`` are ``w1 = -w0 = w / 2``, where
    SeqGAN's penalty equals this one with half the lambda: its 0.2 acts like about 0.1 here.
    ``init`` how the parameters are drawn (:mod:`seqtk.plugins.init`; SeqGAN drew its
    convolutions and output layer ``truncated-normal``, std 0.1). ``spectral_norm`` divide
    every weight matrix (embedding, convolutions, highway, scoring layer) by its largest
    singular value (:mod:`seqtk.plugins.spectral`). ``auxiliary_classifier`` adds AC-GAN's
    class head on the pooled features, ``classify(batch)`` (for the ``acgan`` objective; the
    label is then not projected).
    """

    per_step = False

    def __init__(
        self,
        spec: DomainSpec,
        embed_dim: PositiveInt = 64,
        filter_sizes: list[int] | tuple[int, ...] = (2, 3, 4, 5),
        num_filters: list[int] | tuple[int, ...] = (100, 100, 100, 100),
        dropout: Dropout = 0.25,
        highway: bool = True,
        per_step: bool = False,
        l2_penalty: NonNegativeFloat = 0.0,
        tied_highway: bool = False,
        init: str | Mapping[str, Any] | None = None,
        spectral_norm: bool = False,
        auxiliary_classifier: bool = False,
    ) -> None:
        super().__init__()
        self.l2_penalty = float(l2_penalty)  # embed_dim, dropout, l2_penalty, flags: declared (checked)
        self.per_step = per_step
        widths, counts = _check_filters(filter_sizes, num_filters)
        self.spec = spec
        self.filter_sizes, self.num_filters = widths, counts
        if spec.is_discrete:
            self.embed = _token_embedding(spec, embed_dim, "cnn")
        else:
            _check_features(spec, "cnn")
            self.embed = nn.Linear(spec.features, embed_dim)
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, n, w) for w, n in zip(widths, counts))
        total = sum(counts)
        self.highway: _Highway | None = _Highway(total, tied_highway) if highway else None
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(total, 1)
        self.classifier, projected = _auxiliary_classifier(spec, auxiliary_classifier, total, "cnn")
        self.projection = condition_projection(projected, total)
        apply_init(self, init, "cnn discriminator")
        apply_spectral_norm(self, spectral_norm, "cnn discriminator")

    def regularization(self) -> Tensor | None:
        """SeqGAN's L2 penalty on the scoring layer, ``l2_penalty * (|W|^2 + |b|^2) / 2``; None at 0."""
        if not self.l2_penalty:
            return None
        return self.l2_penalty * 0.5 * (self.head.weight.square().sum() + self.head.bias.square().sum())

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

    def _conv_inputs(self, batch: Batch) -> Tensor:
        """``[B, T', E]``: embedded steps, zero-padded in time to the widest filter."""
        x = self._inputs(batch)
        widest = max(self.filter_sizes)
        if x.shape[1] < widest:
            x = F.pad(x, (0, 0, 0, widest - x.shape[1]))
        return x

    def forward(self, batch: Batch) -> Tensor:
        if self.per_step:
            scores = self._per_step(self._inputs(batch).transpose(1, 2), batch.condition)
            return scores.masked_fill(~batch.mask.to(scores.device), 0.0)
        return self._score(self._pooled(batch), batch.condition)

    def _pooled(self, batch: Batch) -> Tensor:
        """``[B, sum(num_filters)]``: each filter's largest pre-activation over the windows of each row."""
        x = self._conv_inputs(batch)
        lengths = batch.lengths.to(x.device)
        # Masking costs a pass over every feature map: skip it when every row fills the width.
        masked = bool((lengths < x.shape[1]).any())
        pooled = [_window_max(conv, width, x, 0, lengths if masked else None) for conv, width in zip(self.convs, self.filter_sizes)]
        return torch.cat(pooled, dim=-1)

    def classify(self, batch: Batch) -> Tensor:
        """``[B, classes]``: AC-GAN's class logits from the pooled, highway features (``auxiliary_classifier: true``)."""
        classifier = _need_classifier(self.classifier, "cnn")
        features = F.relu(self._pooled(batch))
        if self.highway is not None:
            features = self.highway(features)
        return classifier(self.dropout(features))

    def _score(self, pooled: Tensor, condition: Condition | None = None) -> Tensor:
        """``[B]`` scores from the pre-activation window maxima ``[B, sum(num_filters)]``.

        ReLU is applied after the max-pooling: it is monotone, so ``relu(max) = max(relu)``
        exactly, and it then touches one value per filter instead of every window.
        """
        features = F.relu(pooled)
        if self.highway is not None:
            features = self.highway(features)
        return self._head(self.dropout(features), condition)

    def _head(self, features: Tensor, condition: Condition | None) -> Tensor:
        """The unconditional score, plus the projection term for a conditional domain."""
        scores = self.head(features).squeeze(-1)
        return scores if self.projection is None else scores + self.projection(features, condition)

    @torch.no_grad()
    def score_completions(self, sequences: Batch, completions: Batch, sources: Tensor, prefix_lengths: Tensor) -> Tensor:
        """``self(completions)``, computed without redoing the windows completions share with ``sequences``.

        The contract (SeqGAN's rollouts): row ``i`` of ``completions`` holds the first
        ``prefix_lengths[i]`` tokens of ``sequences[sources[i]]``, and both rows are at
        least that long. A window of width ``w`` that ends inside the prefix (``start + w
        <= prefix``) then has the same activation in the completion as in the sequence, so
        those are convolved once per sequence (a running max over window starts) and only
        the windows that reach the sampled part are convolved per completion. With
        SeqGAN's filters on length 20 this skips a third of the convolution work; the
        result equals ``forward`` up to float rounding. Scores are taken in the module's
        current mode (callers use eval mode, where dropout is off); no gradients.
        Relaxed or continuous inputs and ``per_step`` fall back to ``forward``.
        """
        if self.per_step or not self.spec.is_discrete or completions.relaxed is not None or sequences.relaxed is not None:
            return self(completions)
        device = self.embed.weight.device
        sources = sources.to(device)
        prefix_lengths = prefix_lengths.to(device)
        _check_shared_prefixes(sequences, completions, sources, prefix_lengths)
        seq_x, comp_x = self._conv_inputs(sequences), self._conv_inputs(completions)
        steps = max(seq_x.shape[1], comp_x.shape[1])  # zero steps past a row's length change no score
        seq_x = F.pad(seq_x, (0, 0, 0, steps - seq_x.shape[1]))
        comp_x = F.pad(comp_x, (0, 0, 0, steps - comp_x.shape[1]))
        lengths = completions.lengths.to(device)
        masked = bool((lengths < steps).any())
        # prefix_max[k][b, :, j]: max over the windows of filter k that start at 0 .. j in sequence b.
        prefix_max = [conv(seq_x.transpose(1, 2)).cummax(dim=-1).values for conv in self.convs]
        pooled = comp_x.new_empty(completions.values.shape[0], sum(self.num_filters))
        for prefix in prefix_lengths.unique().tolist():
            rows = (prefix_lengths == prefix).nonzero().squeeze(1)
            x, row_lengths, row_sources = comp_x[rows], lengths[rows], sources[rows]
            parts = []
            for conv, w, running in zip(self.convs, self.filter_sizes, prefix_max):
                first = min(max(0, prefix - w + 1), steps - w)  # the first window that reaches the sampled part
                best = _window_max(conv, w, x, first, row_lengths if masked else None)
                if first > 0:  # windows starting at 0 .. first - 1 lie inside the prefix
                    best = torch.maximum(best, running[row_sources, :, first - 1])
                parts.append(best)
            pooled[rows] = torch.cat(parts, dim=-1)
        return self._score(pooled, completions.condition)

    def _per_step(self, x: Tensor, condition: Condition | None = None) -> Tensor:
        """``[B, T]`` scores from causal convolutions of ``x`` ``[B, E, T]``."""
        maps = [F.relu(conv(F.pad(x, (width - 1, 0)))) for conv, width in zip(self.convs, self.filter_sizes)]
        features = torch.cat(maps, dim=1).transpose(1, 2)  # [B, T, total]
        if self.highway is not None:
            features = self.highway(features)
        return self._head(self.dropout(features), condition)


def _window_max(conv: nn.Conv1d, width: int, x: Tensor, first: int, lengths: Tensor | None) -> Tensor:
    """``[B, n]``: the largest pre-activation of ``conv`` over the windows of ``x`` ``[B, T, E]`` starting at ``first ..``.

    A window counts if it lies inside its row (``start + width <= length``) or is the
    row's first window (start 0), so a row shorter than ``width`` is seen as the row
    followed by zeros. ``lengths`` None: every window counts (no row is shorter than ``T``).

    A width-1 filter, or a filter with a single window left, is a plain matrix product,
    which on the CPU runs several times faster than a convolution call of that shape
    (measured here: width 20 over 20 steps, 3x); other widths use the convolution.
    """
    rows, steps, _ = x.shape
    windows = steps - first - width + 1
    if width == 1 or windows == 1:
        # Rows of x are step-major ([w, E] flattened), so the weight [n, E, w] is reordered to match.
        weight = conv.weight.permute(0, 2, 1).reshape(conv.out_channels, -1)
        inputs = x[:, first:] if width == 1 else x[:, first : first + width].reshape(rows, 1, -1)
        maps = F.linear(inputs, weight, conv.bias).transpose(1, 2)  # [B, n, windows]
    else:
        maps = conv(x[:, first:].transpose(1, 2))  # [B, n, windows]
    if lengths is not None:
        starts = torch.arange(first, first + windows, device=maps.device).unsqueeze(0)
        outside = (starts + width > lengths.unsqueeze(1)) & (starts != 0)
        maps = maps.masked_fill(outside.unsqueeze(1), float("-inf"))
    return maps.amax(dim=-1)


def _check_shared_prefixes(sequences: Batch, completions: Batch, sources: Tensor, prefix_lengths: Tensor) -> None:
    """ValueError unless every completion starts with its source sequence's prefix (the contract of ``score_completions``)."""
    rows = completions.values.shape[0]
    if sources.shape != (rows,) or prefix_lengths.shape != (rows,):
        raise ValueError(
            f"cnn discriminator: score_completions needs sources and prefix_lengths of shape ({rows},), "
            f"got {tuple(sources.shape)} and {tuple(prefix_lengths.shape)}"
        )
    steps = min(sequences.values.shape[1], completions.values.shape[1])
    source_lengths = sequences.lengths.to(sources.device)[sources]
    short = (prefix_lengths > completions.lengths.to(sources.device)) | (prefix_lengths > source_lengths) | (prefix_lengths > steps)
    source_values = sequences.values.to(sources.device)[sources, :steps]
    inside = torch.arange(steps, device=sources.device).unsqueeze(0) < prefix_lengths.unsqueeze(1)
    differs = ((source_values != completions.values.to(sources.device)[:, :steps]) & inside).any(1)
    bad = (short | differs).nonzero().squeeze(1)
    if bad.numel():
        raise ValueError(
            f"cnn discriminator: score_completions: completion rows {bad[:5].tolist()} do not start with the first "
            f"prefix_lengths tokens of their source sequences (or are shorter than the prefix)"
        )


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
