"""Generators for continuous sequences."""

from __future__ import annotations

from typing import Any, Literal, Mapping

import torch
from torch import Tensor, nn

from seqtk.core.interfaces import Batch, Condition, DomainSpec, Generator
from seqtk.core.params import Dropout, NonNegativeInt, PositiveInt, checked
from seqtk.plugins.conditioning import ConditionEmbedding, condition_embedding, history_units
from seqtk.plugins.init import apply_init

__all__ = ["LSTMGenerator"]


@checked("lstm generator")
class LSTMGenerator(Generator):
    """An LSTM that turns per-step Gaussian noise into a real-valued sequence.

    At step ``t`` the LSTM reads fresh noise ``z_t ~ N(0, I)`` (``noise_dim`` wide) and,
    when ``feed_previous`` is true, its own previous output ``x_{t-1}`` (zeros at ``t = 0``),
    as in C-RNN-GAN (Mogren 2016); without it, it is RGAN's generator (Esteban et al.
    2017), which sees only noise. A linear layer maps the hidden state to the domain's
    features and a sigmoid rescales it to ``spec.value_range`` (no squashing when the
    domain gives no range). Samples are a differentiable function of the noise, so the
    generator ``provides`` ``reparam``.

    Parameters: ``noise_dim`` noise features per step; ``hidden_dim`` LSTM width;
    ``num_layers`` stacked LSTM layers; ``feed_previous`` condition each step on the
    previous output (needed for ``pretrain_loss``); ``dropout`` between LSTM layers and
    on the last layer's output; ``latent_dim`` width of a second noise vector drawn once
    per sequence and fed at every step: series whose shape is fixed by a few global
    parameters (a frequency, a trend) are far easier to generate from one draw than by
    integrating per-step noise, which teacher-forced pretraining teaches the LSTM to ignore.
    ``init`` how the parameters are drawn (:mod:`seqtk.plugins.init`; None keeps PyTorch's defaults).
    ``condition_dim`` width of the condition vector (conditional domains only).
    ``pretrain_error`` the teacher-forced loss (``pretrain_loss``): ``squared``,
    ``absolute`` or ``energy`` (two noisy predictions per step, a proper scoring rule
    that teaches the noise the data's spread). ``history_units`` below.

    For a conditional domain (``spec.conditions``) each row's condition becomes one vector
    (:class:`seqtk.plugins.conditioning.ConditionEmbedding`: a label's embedding, a linear
    map of static features, a GRU's state over a context sequence, summed), appended to
    the input at every step, as RCGAN feeds its label (Esteban et al. 2017). With a
    context (forecasting: the history window) the vector also sets the LSTM's initial
    hidden state through a linear map and ``tanh``, as a seq2seq encoder's state starts
    its decoder, and when the context has the domain's features its last real step is the
    "previous output" of step 0 and each output is a step from the previous one (a
    residual in logit space, ``_squash``), so the forecast starts where the history ends
    and an untrained forecaster repeats the last value (with ``feed_previous``). None of
    these modules exists for unconditional data: parameters, random draws and state
    dicts stay what they were.

    ``history_units`` (forecasting) measures everything in the history's own units
    (:func:`seqtk.plugins.conditioning.history_units`): the history is read, and each
    previous output fed back, as its distance from the history's last value divided by
    the history's mean absolute daily change, and each output is the previous one plus
    that scale times the network's output (clamped to the value range) instead of a
    step in logit space. A logit step's size depends on the level (near the bottom of
    the range it is a large relative move), so small weight changes move the whole
    forecast; in these units the network's output is a return in units of the history's
    own volatility, whatever the level.
    """


    def __init__(
        self,
        spec: DomainSpec,
        noise_dim: PositiveInt = 8,
        hidden_dim: PositiveInt = 64,
        num_layers: PositiveInt = 1,
        feed_previous: bool = True,
        dropout: Dropout = 0.0,
        latent_dim: NonNegativeInt = 0,
        init: str | Mapping[str, Any] | None = None,
        condition_dim: PositiveInt = 16,
        history_units: bool = False,
        pretrain_error: Literal["squared", "absolute", "energy"] = "squared",
    ) -> None:
        super().__init__()
        if spec.kind != "continuous":
            raise ValueError(
                f"lstm generator: it produces real values, but the domain is {spec.kind!r}; "
                "use a token generator for discrete domains"
            )
        if spec.length_weights and (len(spec.length_weights) != spec.max_len or sum(spec.length_weights) <= 0):
            raise ValueError(
                f"lstm generator: spec.length_weights must hold {spec.max_len} weights (lengths 1..max_len) "
                f"with a positive sum, got {len(spec.length_weights)}"
            )
        if spec.features < 1:
            raise ValueError(f"lstm generator: the domain spec must have features >= 1, got {spec.features}")
        self.spec = spec
        self.noise_dim = noise_dim
        self.latent_dim = latent_dim
        self.feed_previous = feed_previous
        conditional = spec.conditions is not None and bool(spec.conditions.words)
        self.condition_dim = condition_dim if conditional else 0
        # The condition is read at every step: the LSTM's input widens by its vector.
        input_dim = noise_dim + latent_dim + (spec.features if feed_previous else 0) + self.condition_dim
        self.rnn = nn.LSTM(
            input_dim,
            hidden_dim,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_dim, spec.features)
        low, high = spec.value_range if spec.value_range is not None else (0.0, 1.0)
        if high <= low:
            raise ValueError(f"lstm generator: value_range must be (low, high) with low < high, got {spec.value_range}")
        self._low, self._scale = float(low), float(high - low)
        # Built after the unconditional modules, so unconditional runs draw the same initial weights as before.
        context = spec.conditions.context if spec.conditions is not None else None
        self._context_starts = context is not None and context.kind == "continuous" and context.features == spec.features
        if history_units and not self._context_starts:
            raise ValueError("lstm generator: history_units needs a forecasting domain (a history with the domain's features; timeseries condition: forecast)")
        if history_units and not feed_previous:
            raise ValueError("lstm generator: history_units steps each output from the previous one, so it needs feed_previous: true")
        self.history_units = history_units
        self.pretrain_error = pretrain_error
        self.condition_embed: ConditionEmbedding | None = condition_embedding(spec.conditions, condition_dim, relative_context=history_units)
        self.initial_state = nn.Linear(condition_dim, hidden_dim * num_layers) if context is not None else None
        apply_init(self, init, "lstm generator")

    # ----------------------------------------------------------- pieces

    def _squash(self, hidden: Tensor, previous: Tensor | None = None, units: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """Map LSTM outputs to values in the domain's range (or unbounded without one).

        With ``previous`` (forecasting) the output is a step from it: ``previous + raw``,
        taken in logit space when the domain has a range, so an untrained forecaster
        already repeats the last value and training learns the change. With ``units``
        (``history_units``: the history's last value and scale) the step is ``scale * raw``
        in value space, clamped to the range.
        """
        raw = self.out(self.dropout(hidden))
        if units is not None and previous is not None:
            stepped = previous + units[1] * raw
            return stepped if self.spec.value_range is None else stepped.clamp(self._low, self._low + self._scale)
        if self.spec.value_range is None:
            return raw if previous is None else previous + raw
        if previous is not None:
            unit = ((previous - self._low) / self._scale).clamp(1e-4, 1 - 1e-4)
            raw = raw + torch.logit(unit)
        return self._low + self._scale * torch.sigmoid(raw)

    def _noise(self, n: int, steps: int) -> Tensor:
        """Fresh noise per step, then (``latent_dim`` wide) one draw per sequence repeated at every step."""
        noise = torch.randn(n, steps, self.noise_dim, device=self.device)
        if not self.latent_dim:
            return noise
        latent = torch.randn(n, 1, self.latent_dim, device=self.device).expand(n, steps, self.latent_dim)
        return torch.cat([noise, latent], dim=-1)

    def _conditioning(self, rows: int, condition: Condition | None) -> tuple[Tensor | None, tuple[Tensor, Tensor] | None, Tensor | None, tuple[Tensor, Tensor] | None]:
        """``(condition vector [rows, C], initial LSTM state, first "previous output" [rows, 1, F], history units)``; Nones when unconditional.

        The history units (``history_units`` only) are ``(last, scale)``, each ``[rows, 1, F]``.
        """
        if self.condition_embed is None:
            return None, None, None, None
        if condition is None:
            raise ValueError("lstm generator: the domain is conditional; sample(n, condition=...) and pretraining batches need a condition per row")
        vector = self.condition_embed(condition, rows)
        state = None
        if self.initial_state is not None:
            layers, hidden = self.rnn.num_layers, self.rnn.hidden_size
            h0 = torch.tanh(self.initial_state(vector)).view(rows, layers, hidden).transpose(0, 1).contiguous()
            state = (h0, torch.zeros_like(h0))
        first, units = None, None
        if self._context_starts and condition.context is not None:
            context = condition.context.to(vector.device)
            last = (context.lengths.clamp(1, context.steps) - 1).long()
            first = context.values.to(vector.dtype)[torch.arange(rows, device=vector.device), last].unsqueeze(1)
            if self.history_units:
                units = history_units(Batch(values=context.values.to(vector.dtype), lengths=context.lengths))
        return vector, state, first, units

    @staticmethod
    def _fed_back(previous: Tensor, units: tuple[Tensor, Tensor] | None) -> Tensor:
        """The previous output as the LSTM reads it: as it is, or in the history's units."""
        return previous if units is None else (previous - units[0]) / units[1]

    @staticmethod
    def _with_condition(inputs: Tensor, vector: Tensor | None) -> Tensor:
        """``inputs`` ``[B, T, D]`` with the condition vector appended at every step."""
        if vector is None:
            return inputs
        return torch.cat([inputs, vector.unsqueeze(1).expand(-1, inputs.shape[1], -1)], dim=-1)

    # ----------------------------------------------------------- Generator

    def sample(self, n: int, condition: Condition | None = None) -> Batch:
        """``n`` sequences ``[n, max_len, features]``, differentiable in the parameters.

        Fixed-length domains get full-length rows. When the domain's spec carries
        ``length_weights``, each row's length is drawn from them and the steps past it
        are zeroed (padding that every loss and metric masks out). For a conditional
        domain row ``i`` answers ``condition``'s row ``i``, and the batch carries it.
        """
        noise = self._noise(n, self.spec.max_len)
        vector, state, first, units = self._conditioning(n, condition)
        if not self.feed_previous:
            hidden, _ = self.rnn(self._with_condition(noise, vector), state)
            return self._with_lengths(self._squash(hidden), condition if vector is not None else None)
        previous = first if first is not None else noise.new_zeros(n, 1, self.spec.features)
        steps: list[Tensor] = []
        for t in range(self.spec.max_len):
            hidden, state = self.rnn(self._with_condition(torch.cat([noise[:, t : t + 1], self._fed_back(previous, units)], dim=-1), vector), state)
            previous = self._squash(hidden, previous if first is not None else None, units)
            steps.append(previous)
        return self._with_lengths(torch.cat(steps, dim=1), condition if vector is not None else None)

    def _with_lengths(self, values: Tensor, condition: Condition | None = None) -> Batch:
        if not self.spec.length_weights:
            return Batch.full_length(values, condition=condition)
        weights = torch.tensor(self.spec.length_weights, dtype=torch.float, device=values.device)
        lengths = torch.multinomial(weights, values.shape[0], replacement=True) + 1
        batch = Batch(values=values, lengths=lengths)
        return Batch(values=values * batch.mask.unsqueeze(-1).to(values.dtype), lengths=lengths, condition=condition)

    def pretraining_problem(self) -> str | None:
        if not self.feed_previous:
            return "the lstm generator needs feed_previous: true to be pretrained (it must see the past to predict the next step)"
        return None

    def pretrain_loss(self, batch: Batch) -> Tensor:
        """Teacher-forced next-step regression: masked mean squared error (``pretrain_error``).

        Step ``t`` reads the real ``x_{t-1}`` (zeros at ``t = 0``, or the context's last
        step when forecasting), fresh noise and the row's condition (``batch.condition``,
        conditional domains) and must predict the real ``x_t``; padding steps are ignored. This is the supervised warm-up
        that lets the adversarial phase start from plausible dynamics.

        ``absolute``: the mean absolute error (its minimiser is the median, not the mean).
        ``energy``: two predictions ``a, b`` from independent noise, scored by the two-sample
        energy score ``(|a - y| + |b - y|) / 2 - |a - b| / 2`` with ``|.|`` the Euclidean
        norm over a step's features (Gneiting and Raftery 2007; for one feature it is the
        CRPS), spread over the features as the other errors are. It is a proper scoring
        rule: its expectation is least when each step's predictions, given the real past,
        have the real conditional distribution, features jointly, so the generator learns
        a spread instead of ignoring its noise, as both regressions teach it to.
        """
        if not self.feed_previous:
            raise ValueError(
                "lstm generator: pretraining needs feed_previous=true; without it the generator "
                "never sees the past, so there is nothing to teacher-force"
            )
        real = batch.mask.to(self.device).unsqueeze(-1)
        # Zero the padding so that whatever it holds (even NaN) cannot leak into the loss.
        values = batch.values.to(self.device, dtype=torch.float32).masked_fill(~real, 0.0)
        mask = real.to(values.dtype)
        vector, state, first, units = self._conditioning(values.shape[0], batch.condition)
        start = first if first is not None else values.new_zeros(values.shape[0], 1, values.shape[2])
        previous = torch.cat([start, values[:, :-1]], dim=1)

        def predicted() -> Tensor:
            noise = self._noise(values.shape[0], values.shape[1])
            hidden, _ = self.rnn(self._with_condition(torch.cat([noise, self._fed_back(previous, units)], dim=-1), vector), state)
            return self._squash(hidden, previous if first is not None else None, units)

        if self.pretrain_error == "energy":
            a, b = predicted(), predicted()
            error = (_norm(a - values) + _norm(b - values) - _norm(a - b)) / 2
        else:
            error = predicted() - values
            error = error.abs() if self.pretrain_error == "absolute" else error**2
        error = error * mask
        return error.sum() / (mask.sum() * values.shape[2]).clamp_min(1.0)


def _norm(difference: Tensor) -> Tensor:
    """Each step's Euclidean norm over the features ``[B, T, F] -> [B, T, F]``, shared equally by the features (so summing over them gives the norm)."""
    # The small constant keeps the gradient finite where two predictions coincide.
    return (difference.square().sum(-1, keepdim=True) + 1e-12).sqrt().expand_as(difference) / difference.shape[-1]
