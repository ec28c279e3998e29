"""An LSTM that draws each real-valued feature from a categorical over a grid of values.

Why: a generator that regresses a feature as one real number cannot keep it on the
values the data takes. Bach's pitches are integers and their onsets lie on a
sixteenth-note grid; C-RNN-GAN's sigmoid outputs land between them (off the scale) and
its teacher-forced twin, trained on squared error, collapses onto the average pitch
(docs/music.md). Here every feature ``k`` of a step is one of ``bins[k]`` evenly spaced
values spanning the domain's ``value_range``, drawn from a softmax, so

- teacher forcing is a likelihood (cross-entropy per feature), not a regression: it
  learns the whole multi-modal distribution of the next note, not its mean;
- the features of one step are drawn in order, each conditioned on those already drawn
  (the pitch of a note knows whether its onset starts a new chord);
- samples are straight-through Gumbel-softmax draws: the forward value is exactly a grid
  value (an exact draw from the model), and the backward pass differentiates the
  relaxation, so a discriminator's gradient reaches the logits and the generator
  ``provides`` ``reparam`` like any continuous generator;
- samples carry ``log_probs`` (``[B, T]``, each step's features' log-probabilities
  summed), so the estimators written for tokens that need only those (``maligan``)
  train it as well.

The output is an ordinary continuous batch ``[B, T, F]`` in the domain's range: any
continuous discriminator, objective and metric applies unchanged. Its companion,
:class:`GridLSTMDiscriminator`, reads every feature as the embedding of its grid cell,
as a token discriminator reads tokens: a pitch's identity (its pitch class, whether it
fits the key) is one row of a matrix instead of a high-frequency function of one number,
and the gradient reaches every grid value's probability (RelGAN's relaxed one-hots)
rather than only the direction in which to move the value.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqtk.core.interfaces import Batch, Condition, Discriminator, DomainSpec, Generator
from seqtk.core.params import Dropout, NonNegativeInt, PositiveFloat, PositiveInt, checked
from seqtk.plugins.conditioning import condition_embedding
from seqtk.plugins.discriminators import LSTMDiscriminator
from seqtk.plugins.init import apply_init
from seqtk.plugins.lstm_cells import lstm_step
from seqtk.plugins.spectral import apply_spectral_norm

__all__ = ["GridLSTMGenerator", "GridLSTMDiscriminator", "grid_indices", "ONE_HOTS"]

#: The ``Batch.extras`` key of a generated batch's one-hots (straight-through relaxed,
#: ``[B, T, sum(bins)]``, every feature's grid in turn): what a grid discriminator reads
#: so that its gradient says which grid value would have been better, not only which way
#: to nudge a number.
ONE_HOTS = "grid_one_hots"


def grid_indices(values: Tensor, low: float, high: float, bins: int) -> Tensor:
    """The nearest of ``bins`` evenly spaced values in ``[low, high]`` for every entry (long, clipped to the grid)."""
    position = (values - low) / (high - low) * (bins - 1)
    return position.round().clamp(0, bins - 1).long()


@checked("grid-lstm generator")
class GridLSTMGenerator(Generator):
    """An LSTM over notes (or any continuous steps) whose features are categoricals over value grids.

    Step ``t`` reads the embeddings of step ``t - 1``'s drawn values (a learned start
    vector at ``t = 0``) and, with ``latent_dim``, a noise vector drawn once per
    sequence; feature ``k``'s logits come from a small MLP on the LSTM's output and the
    embeddings of features ``0 .. k-1`` of the same step. Feature ``k`` takes one of
    ``bins[k]`` values ``low + i * (high - low) / (bins[k] - 1)``, ``(low, high) =
    spec.value_range``: choose ``bins`` so that the grid holds the data's values (for
    ``[0, 1]``-scaled MIDI pitch, 128).

    Parameters: ``bins`` one count for every feature or a list (each >= 2);
    ``embed_dim`` width of each feature's value embedding; ``hidden_dim`` LSTM width;
    ``num_layers`` stacked LSTM layers; ``head_dim`` hidden width of each feature's output
    MLP; ``latent_dim`` per-sequence noise (0: the draws are the only randomness);
    ``dropout`` on the LSTM's output; ``temperature`` of the Gumbel-softmax relaxation
    (the gradient's; the forward draw is exact at any temperature); ``init`` how the
    parameters are drawn (:mod:`seqtk.plugins.init`).

    For a conditional domain the condition's vector (:mod:`seqtk.plugins.conditioning`) is
    added to the start vector, so the first step, and through the state every later one,
    reads it (with ``condition_every_step``, to every step's input: a condition that the
    prefix soon makes redundant, such as a mode, is otherwise learnt slowly);
    unconditional domains add no parameter.
    """


    def __init__(
        self,
        spec: DomainSpec,
        bins: int | Sequence[int] = 64,  # checked against the spec's features in _bin_counts
        embed_dim: PositiveInt = 16,
        hidden_dim: PositiveInt = 128,
        num_layers: PositiveInt = 1,
        head_dim: PositiveInt = 64,
        latent_dim: NonNegativeInt = 0,
        dropout: Dropout = 0.0,
        temperature: PositiveFloat = 1.0,
        init: str | Mapping[str, Any] | None = None,
        condition_every_step: bool = False,
    ) -> None:
        super().__init__()
        if spec.kind != "continuous":
            raise ValueError(f"grid-lstm generator: it produces real values, but the domain is {spec.kind!r}; use a token generator")
        if spec.value_range is None or not spec.value_range[1] > spec.value_range[0]:
            raise ValueError(f"grid-lstm generator: the domain must give a value_range (low, high) with low < high, got {spec.value_range}")
        if spec.features < 1:
            raise ValueError(f"grid-lstm generator: the domain spec must have features >= 1, got {spec.features}")
        if spec.length_weights and (len(spec.length_weights) != spec.max_len or sum(spec.length_weights) <= 0):
            raise ValueError(
                f"grid-lstm generator: spec.length_weights must hold {spec.max_len} weights with a positive sum, got {len(spec.length_weights)}"
            )
        counts = _bin_counts(bins, spec, "grid-lstm generator")
        self.spec = spec
        self.bins = counts
        self.latent_dim = latent_dim
        self.num_layers = num_layers
        self.temperature = float(temperature)
        self._low, self._high = float(spec.value_range[0]), float(spec.value_range[1])
        for k, count in enumerate(counts):
            # Not persistent: the grid follows from the spec and bins.
            self.register_buffer(f"grid_{k}", torch.linspace(self._low, self._high, count), persistent=False)
        self.embeds = nn.ModuleList(nn.Embedding(count, embed_dim) for count in counts)
        self.start = nn.Parameter(torch.zeros(embed_dim * spec.features))
        self.rnn = nn.LSTM(embed_dim * spec.features + latent_dim, hidden_dim, num_layers=num_layers, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(hidden_dim + k * embed_dim, head_dim), nn.ReLU(), nn.Linear(head_dim, count))
            for k, count in enumerate(counts)
        )
        # Built last and only for a conditional domain, so unconditional runs draw the same parameters as before.
        self.condition_embed = condition_embedding(spec.conditions, embed_dim * spec.features)
        self.condition_every_step = bool(condition_every_step)
        apply_init(self, init, "grid-lstm generator")

    # ----------------------------------------------------------- pieces

    def _grid(self, k: int) -> Tensor:
        return getattr(self, f"grid_{k}")

    def _latent(self, n: int) -> Tensor | None:
        return torch.randn(n, self.latent_dim, device=self.device) if self.latent_dim else None

    def _condition_vector(self, rows: int, condition: Condition | None) -> Tensor | None:
        """``[rows, E * F]``: the condition's vector for a conditional domain, else None."""
        if self.condition_embed is None:
            return None
        if condition is None:
            raise ValueError("grid-lstm generator: the domain is conditional; sample(n, condition=...) needs a condition per row")
        return self.condition_embed(condition, rows)

    def _cell(self, x: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """One step of every LSTM layer (``torch.lstm_cell`` on the ``nn.LSTM``'s weights)."""
        return lstm_step(self.rnn, x, state)

    def _draw(self, logits: Tensor) -> tuple[Tensor, Tensor]:
        """A straight-through Gumbel-softmax one-hot (exactly one-hot forward, relaxed backward) and its log-probability."""
        tiny = torch.finfo(logits.dtype).tiny
        gumbel = -torch.log((-torch.log(torch.rand_like(logits).clamp_min(tiny))).clamp_min(tiny))
        perturbed = logits + gumbel
        index = perturbed.detach().argmax(-1)
        log_prob = torch.log_softmax(logits, dim=-1).gather(-1, index.unsqueeze(-1)).squeeze(-1)
        hard = F.one_hot(index, logits.shape[-1]).to(logits.dtype)
        if not torch.is_grad_enabled():
            return hard, log_prob
        soft = torch.softmax(perturbed / self.temperature, dim=-1)
        return hard + (soft - soft.detach()), log_prob  # exactly ``hard`` forward: the bracket is 0, not rounding

    # ----------------------------------------------------------- Generator

    def sample(self, n: int, condition: Condition | None = None) -> Batch:
        """``n`` sequences ``[n, max_len, features]`` of grid values, differentiable through the relaxation (row ``i`` answers ``condition``'s row ``i``)."""
        latent = self._latent(n)
        zeros = self.start.new_zeros(n, self.rnn.hidden_size)
        state = [zeros] * (2 * self.num_layers)
        vector = self._condition_vector(n, condition)
        x = self.start.expand(n, -1) if vector is None else self.start.expand(n, -1) + vector
        steps: list[Tensor] = []
        one_hots: list[Tensor] = []
        log_probs: list[Tensor] = []
        for _ in range(self.spec.max_len):
            top, state = self._cell(x if latent is None else torch.cat([x, latent], dim=-1), state)
            top = self.dropout(top)
            embedded: list[Tensor] = []
            values: list[Tensor] = []
            drawn: list[Tensor] = []
            step_log_prob = top.new_zeros(n)
            for k, head in enumerate(self.heads):
                one_hot, log_prob = self._draw(head(torch.cat([top, *embedded], dim=-1)))
                step_log_prob = step_log_prob + log_prob
                drawn.append(one_hot)
                values.append(one_hot @ self._grid(k))
                embedded.append(one_hot @ self.embeds[k].weight)
            steps.append(torch.stack(values, dim=-1))
            one_hots.append(torch.cat(drawn, dim=-1))
            log_probs.append(step_log_prob)
            x = torch.cat(embedded, dim=-1)
            if vector is not None and self.condition_every_step:
                x = x + vector
        # Without gradients the one-hots say nothing the values do not: leave them out (memory).
        extra = torch.stack(one_hots, dim=1) if torch.is_grad_enabled() else None
        batch = self._with_lengths(torch.stack(steps, dim=1), torch.stack(log_probs, dim=1), extra)
        if condition is not None:
            batch.condition = condition
        return batch

    def _with_lengths(self, values: Tensor, log_probs: Tensor, one_hots: Tensor | None) -> Batch:
        extras = {ONE_HOTS: one_hots} if one_hots is not None else {}
        if not self.spec.length_weights:
            return Batch.full_length(values, log_probs=log_probs, extras=extras)
        weights = torch.tensor(self.spec.length_weights, dtype=torch.float, device=values.device)
        lengths = torch.multinomial(weights, values.shape[0], replacement=True) + 1
        mask = Batch(values=values, lengths=lengths).mask
        return Batch(
            values=values * mask.unsqueeze(-1).to(values.dtype), lengths=lengths, log_probs=log_probs * mask.to(log_probs.dtype), extras=extras
        )

    def log_likelihoods(self, batch: Batch) -> Tensor:
        """``[B, T, F]`` teacher-forced log-probabilities of every real value's grid cell (0 on padding)."""
        real = batch.mask.to(self.device)
        values = batch.values.to(self.device, dtype=torch.float32).masked_fill(~real.unsqueeze(-1), self._low)
        targets = torch.stack(
            [grid_indices(values[..., k], self._low, self._high, count) for k, count in enumerate(self.bins)], dim=-1
        )
        embedded = [self.embeds[k](targets[..., k]) for k in range(len(self.bins))]  # each [B, T, E]
        step_inputs = torch.cat(embedded, dim=-1)
        vector = self._condition_vector(values.shape[0], batch.condition)
        inputs = torch.cat([self.start.expand(values.shape[0], 1, -1), step_inputs[:, :-1]], dim=1)
        if vector is not None:  # at the start input, or at every input
            inputs = inputs + (vector.unsqueeze(1) if self.condition_every_step else F.pad(vector.unsqueeze(1), (0, 0, 0, inputs.shape[1] - 1)))
        latent = self._latent(values.shape[0])
        if latent is not None:
            inputs = torch.cat([inputs, latent.unsqueeze(1).expand(-1, inputs.shape[1], -1)], dim=-1)
        top = self.dropout(self.rnn(inputs)[0])
        scores = []
        for k, head in enumerate(self.heads):
            logits = head(torch.cat([top, *embedded[:k]], dim=-1))
            scores.append(torch.log_softmax(logits, dim=-1).gather(-1, targets[..., k : k + 1]).squeeze(-1))
        return torch.stack(scores, dim=-1) * real.unsqueeze(-1).to(values.dtype)

    def pretrain_loss(self, batch: Batch) -> Tensor:
        """Teacher-forced negative log-likelihood per feature of each real step (padding ignored).

        Each real value counts as its nearest grid value, so values off the grid are learned
        as their neighbours; with ``latent_dim`` the latent is drawn afresh (the model must
        explain the data whatever it is).
        """
        scores = self.log_likelihoods(batch)
        steps = batch.mask.to(self.device).sum().clamp_min(1)
        return -scores.sum() / (steps * len(self.bins))


@checked("grid-lstm discriminator")
class GridLSTMDiscriminator(Discriminator):
    """An LSTM discriminator that reads each feature as the embedding of its grid cell.

    Every feature ``k`` becomes a one-hot over ``bins[k]`` evenly spaced values of the
    domain's ``value_range`` (the nearest one), times a bias-free embedding matrix; the
    embeddings of a step, and with ``values`` the raw values too, are concatenated and
    read by an :class:`~seqtk.plugins.discriminators.LSTMDiscriminator` (packed by length,
    so padding never changes a score). A generated batch of the ``grid-lstm`` generator
    carries its straight-through one-hots (``Batch.extras[ONE_HOTS]``, identical forward
    values): they are used instead, so the discriminator's gradient reaches the
    probability of every grid value. Give it the generator's ``bins``.

    A gradient penalty differentiates only through the raw ``values`` (interpolates have
    no one-hots), so pair it with a loss without one (minimax, RSGAN, hinge) or keep
    ``values: true``.

    Parameters: ``bins`` one count for every feature or a list; ``embed_dim`` width of
    each feature's embedding; ``values`` feed the raw values beside the embeddings;
    ``hidden_dim``, ``num_layers``, ``bidirectional``, ``per_step``, ``dropout``, ``init``
    and ``spectral_norm`` as for the ``lstm`` discriminator (the embeddings are
    initialised and normalised with it). For a conditional domain the ``lstm`` body adds
    the projection term of the condition (:mod:`seqtk.plugins.conditioning`).
    """

    def __init__(
        self,
        spec: DomainSpec,
        bins: int | Sequence[int] = 64,  # checked against the spec's features in _bin_counts
        embed_dim: PositiveInt = 16,
        values: bool = True,
        hidden_dim: PositiveInt = 64,
        num_layers: PositiveInt = 1,
        bidirectional: bool = True,
        per_step: bool = False,
        dropout: Dropout = 0.0,
        init: str | Mapping[str, Any] | None = None,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        name = "grid-lstm discriminator"
        if spec.kind != "continuous" or spec.value_range is None or not spec.value_range[1] > spec.value_range[0]:
            raise ValueError(f"{name}: needs a continuous domain with a value_range (low, high), got kind {spec.kind!r}, range {spec.value_range}")
        self.bins = _bin_counts(bins, spec, name)
        self.use_values = values
        self.per_step = per_step
        self._low, self._high = float(spec.value_range[0]), float(spec.value_range[1])
        self.embeds = nn.ModuleList(nn.Linear(count, embed_dim, bias=False) for count in self.bins)
        width = embed_dim * len(self.bins) + (spec.features if values else 0)
        self.body = LSTMDiscriminator(
            spec=replace(spec, features=width), hidden_dim=hidden_dim, num_layers=num_layers, bidirectional=bidirectional,
            per_step=per_step, dropout=dropout, init=init, spectral_norm=spectral_norm,
        )
        apply_init(self.embeds, init, name)
        apply_spectral_norm(self.embeds, spectral_norm, name)

    def one_hots(self, batch: Batch) -> list[Tensor]:
        """Each feature's ``[B, T, bins[k]]`` one-hots: the generator's own (relaxed backward) when it sent them."""
        sent = batch.extras.get(ONE_HOTS)
        if sent is not None and sent.shape[-1] == sum(self.bins):
            return list(sent.split(self.bins, dim=-1))
        values = batch.values.float()
        return [
            F.one_hot(grid_indices(values[..., k], self._low, self._high, count), count).to(values.dtype)
            for k, count in enumerate(self.bins)
        ]

    def forward(self, batch: Batch) -> Tensor:
        parts = [embed(one_hot.to(embed.weight.dtype)) for embed, one_hot in zip(self.embeds, self.one_hots(batch))]
        if self.use_values:
            parts.append(batch.values.float())
        # The body was built from the domain's spec: for a conditional domain it adds the projection term of the condition.
        return self.body(Batch(values=torch.cat(parts, dim=-1), lengths=batch.lengths, condition=batch.condition))


def _bin_counts(bins: int | Sequence[int], spec: DomainSpec, name: str) -> list[int]:
    counts = [bins] * spec.features if isinstance(bins, int) and not isinstance(bins, bool) else list(bins)
    if len(counts) != spec.features or any(isinstance(b, bool) or not isinstance(b, int) or b < 2 for b in counts):
        raise ValueError(f"{name}: bins must be an integer >= 2 or a list of {spec.features} such integers (one per feature), got {bins!r}")
    return counts
