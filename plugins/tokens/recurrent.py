"""What every recurrent token generator shares: sampling, relaxations, rollouts, pretraining.

A token generator here is a recurrent cell between a token embedding and an output layer
over the vocabulary. Only the cell differs between models (an LSTM for SeqGAN, a
relational memory for RelGAN), so :class:`RecurrentTokenGenerator` holds everything else
once:

- :meth:`~RecurrentTokenGenerator.sample` draws sequences with the per-token
  log-probabilities a policy gradient (REINFORCE) differentiates;
- :meth:`~RecurrentTokenGenerator.sample_relaxed` draws them with RelGAN's Gumbel-softmax
  relaxations, through which a discriminator's gradient reaches the parameters;
- :meth:`~RecurrentTokenGenerator.rollouts` completes every prefix of a batch many times
  over (SeqGAN's Monte-Carlo search), all in batched steps;
- :meth:`~RecurrentTokenGenerator.pretrain_loss` is the teacher-forced NLL for
  maximum-likelihood pretraining and for NLL-test.

A subclass builds ``embed`` (``vocab_size + 1`` rows: the last is the learned start
input), ``out`` (top output -> vocabulary), ``dropout`` (on the top output) and calls
:meth:`~RecurrentTokenGenerator._register_logit_mask`; it implements the cell
(:meth:`~RecurrentTokenGenerator._cell`, :meth:`~RecurrentTokenGenerator._zero_state`) and
may replace the teacher-forced pass with a faster fused one. A state is a list of tensors
whose first dimension is the batch, so the loop can drop finished rows and rollouts can
index prefixes without knowing what the tensors mean.
"""

from __future__ import annotations

from typing import Callable, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqtk.core.capabilities import Rollouts
from seqtk.core.interfaces import Batch, Condition, DomainSpec, Generator
from seqtk.plugins.conditioning import ConditionEmbedding, condition_embedding
from seqtk.plugins.context_attention import ContextAttention
from seqtk.plugins.tokens.sampling import gumbel_softmax_sample, sample_categorical, sample_from_weights

#: ``Rollouts`` lives in :mod:`seqtk.core.capabilities` (the ``rollouts`` promise); re-exported here for older imports.
__all__ = ["RecurrentTokenGenerator", "Rollouts", "State", "check_token_spec", "SLICE_ELEMENTS"]

#: A cell's state: tensors whose first dimension is the batch (``[N, ...]``).
State = list[Tensor]
#: A draw: logits ``[N, V]`` -> (tokens ``[N]``, log-probs ``[N]``, relaxed ``[N, V]`` or None).
Draw = Callable[[Tensor], tuple[Tensor, Tensor, Tensor | None]]
#: Logits computed and sampled at once, at most (16 MB of float32). Larger batches are
#: cut into slices of rows; without gradients each slice reuses the same buffers. Measured
#: on 2 CPU cores for SeqGAN's rollouts (V = 5000): 2^20 logits per slice 3.1 s, 2^21
#: 2.5 s, 2^22 2.2 s, 2^23 2.2 s (fewer, larger operations parallelise better).
SLICE_ELEMENTS = 1 << 22


class RecurrentTokenGenerator(Generator):
    """A recurrent language model over tokens; subclasses supply the cell.

    Step ``t`` embeds the previous token (a learned start embedding at ``t = 0``; the
    domain's own BOS id is never used as input or output), runs the cell and maps its top
    output to logits over the vocabulary. Token ids in ``spec.unsampled_ids`` (padding,
    the start token) get logit ``-inf``: probability exactly 0. Sampling stops a row at
    ``spec.eos_id`` (inclusive); without an EOS every row has ``max_len`` tokens.

    The model's distribution is ``softmax(logits / temperature)`` everywhere: sampling,
    log-probs, rollouts and the pretraining NLL, so NLL-test measures the distribution
    that is sampled.
    """

    #: The registry name, used in error messages.
    _name: ClassVar[str] = "token"
    spec: DomainSpec
    vocab_size: int
    start_id: int
    temperature: float
    embed: nn.Embedding
    out: nn.Linear
    dropout: nn.Module
    logit_mask: Tensor
    #: Maps a row's condition to a vector added to its start input (conditional domains only;
    #: set by ``_register_condition``, and no class-level default: a class attribute would
    #: hide the registered submodule from ``nn.Module``'s attribute lookup).
    condition_embed: ConditionEmbedding | None

    # ----------------------------------------------------------- the model's own parts

    def _zero_state(self, n: int) -> State:
        """The state before the first step, for ``n`` rows."""
        raise NotImplementedError

    def _cell(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """One step of the cell on embedded inputs ``x`` ``[N, E]``: the top output ``[N, H]``
        (before the output dropout) and the new state."""
        raise NotImplementedError

    def _teacher_forced(self, inputs: Tensor) -> Tensor:
        """``[B, T, H]`` top outputs for embedded inputs ``[B, T, E]``, before the output dropout.

        Steps the cell; a subclass with a fused sequence kernel (``nn.LSTM``) overrides it.
        """
        state = self._zero_state(inputs.shape[0])
        outputs = []
        for t in range(inputs.shape[1]):
            top, state = self._cell(inputs[:, t], state)
            outputs.append(top)
        return torch.stack(outputs, dim=1)

    # ----------------------------------------------------------- pieces

    def _register_condition(self, embed_dim: int, every_step: bool = False, attention: bool = False, top_dim: int = 0) -> None:
        """A conditional domain's condition enters as a vector added to the start input, and with ``every_step`` to every input (no parameters otherwise).

        The start input suffices for a condition the first tokens already express (a class
        of the conditional oracle); one that must hold over the whole sequence but is
        weakly visible in any few tokens (a chorale's mode) is better added at every step,
        where the recurrent state cannot forget it. ``attention`` (a context condition
        only) lets every step's top output (width ``top_dim``) also attend over the
        context's steps (:class:`ContextAttention`): a context that must be followed
        position by position (the soprano over a bass line) is then read where it is
        needed instead of through one vector.
        """
        self.condition_embed = condition_embedding(self.spec.conditions, embed_dim)
        self.condition_every_step = bool(every_step)
        context = self.spec.conditions.context if self.spec.conditions is not None else None
        if attention and context is None:
            raise ValueError(f"{self._name} generator: context_attention needs a domain whose condition is a context sequence; this one has none")
        self.context_attention = ContextAttention(context, top_dim) if attention and context is not None else None
        rides = (every_step and self.condition_embed is not None) or self.context_attention is not None
        #: How many parts the cell's own state has (the condition's vector and the attended context ride after them), or None.
        self._cell_parts = len(self._zero_state(1)) if rides else None

    def _condition_vector(self, rows: int, condition: Condition | None, device: torch.device) -> Tensor | None:
        """``[rows, E]``: the condition's vector, or None when the domain has no conditions."""
        embedding = getattr(self, "condition_embed", None)
        if embedding is None:
            return None
        if condition is None:
            raise ValueError(f"{self._name} generator: the domain is conditional; sample(n, condition=...) needs a condition per row")
        return embedding(condition, rows)

    def _start_inputs(self, rows: int, vector: Tensor | None, device: torch.device) -> Tensor:
        """``[rows, E]``: the learned start embedding, plus the condition's vector when there is one."""
        start = self.embed(torch.full((rows,), self.start_id, dtype=torch.long, device=device))
        return start if vector is None else start + vector

    def _every_step(self, vector: Tensor | None) -> bool:
        return vector is not None and getattr(self, "condition_every_step", False)

    def _memory(self, condition: Condition | None) -> list[Tensor]:
        """``[memory [N, C, D], mask [N, C]]``: the context's steps to attend over, or nothing without ``context_attention``."""
        attention = getattr(self, "context_attention", None)
        if attention is None or condition is None or condition.context is None:
            return []
        return list(attention.memory(condition.context))

    def _initial_state(self, rows: int, vector: Tensor | None, memory: list[Tensor] = []) -> State:  # noqa: B006 - never mutated
        """The cell's zero state; the condition's vector (every-step conditioning) and the context's memory ride along after it.

        Carried in the state, they follow each row wherever the loops move rows
        (finished rows dropped, prefixes completed in rollouts) with no bookkeeping of their own.
        """
        state = self._zero_state(rows)
        return [*state, *([vector] if self._every_step(vector) else []), *memory]  # type: ignore[list-item]

    def _step_cell(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """``_cell``, adding the condition's vector to the input and attending over the context when they ride in the state."""
        parts = getattr(self, "_cell_parts", None)
        if parts is None or len(state) == parts:
            return self._cell(x, state)
        extras = state[parts:]
        attention = getattr(self, "context_attention", None)
        memory = extras[-2:] if attention is not None else []
        vector = extras[0] if len(extras) > len(memory) else None
        top, new_state = self._cell(x if vector is None else x + vector, state[:parts])
        if memory:
            top = attention(top, *memory)  # type: ignore[misc]
        return top, [*new_state, *extras]

    def _register_logit_mask(self) -> None:
        """The ``-inf`` logit offsets of ``spec.unsampled_ids`` (0 elsewhere), as a buffer."""
        mask = torch.zeros(self.spec.vocab_size)
        if self.spec.unsampled_ids:
            mask[list(self.spec.unsampled_ids)] = float("-inf")
        # Not persistent: it follows from the spec, and checkpoints need not carry it.
        self.register_buffer("logit_mask", mask, persistent=False)

    def _output_layer(self) -> tuple[Tensor, Tensor]:
        """Weight and bias that give the final logits in one ``F.linear``.

        The temperature and the ``-inf`` mask are folded into the (small) weight and bias,
        so the large ``[N, V]`` logits need no extra passes.
        """
        weight: Tensor = self.out.weight
        bias: Tensor = self.out.bias
        if self.temperature != 1.0:
            weight, bias = weight / self.temperature, bias / self.temperature
        return weight, bias + self.logit_mask

    def _step(self, tokens: Tensor, state: State) -> tuple[Tensor, State]:
        """One step for ``tokens`` ``[N]``: the top output ``[N, H]`` (output dropout applied) and the new state."""
        top, state = self._step_cell(self.embed(tokens), state)
        return self.dropout(top), state

    def _draw(
        self, top: Tensor, weight: Tensor, bias: Tensor, draw: Draw, workspace: "_Workspace | None" = None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """Logits for the top outputs ``[N, H]`` and a draw from them, ``SLICE_ELEMENTS`` logits at a time.

        With a ``workspace`` (exact draws without gradients) the logits and probabilities
        of every slice are written into the same two buffers instead of fresh tensors:
        fresh multi-megabyte tensors are returned to the system and faulted in again at
        every step, which cost a quarter or more of the sampling time on the CPU here.
        """
        rows = max(1, SLICE_ELEMENTS // self.vocab_size)
        pieces = [top] if top.shape[0] <= rows else list(top.split(rows))
        if workspace is not None:
            parts = [workspace.draw(piece) for piece in pieces]
        else:
            parts = [draw(F.linear(piece, weight, bias)) for piece in pieces]
        if len(parts) == 1:
            return parts[0]
        tokens = torch.cat([p[0] for p in parts])
        log_probs = torch.cat([p[1] for p in parts])
        relaxed = None if parts[0][2] is None else torch.cat([p[2] for p in parts])  # type: ignore[misc]
        return tokens, log_probs, relaxed

    def _workspace(self, draw: Draw, rows: int, weight: Tensor, bias: Tensor) -> "_Workspace | None":
        """Reusable buffers for exact draws when no gradient is needed, else None."""
        if draw is not _draw_exact or torch.is_grad_enabled():
            return None
        return _Workspace(min(rows, max(1, SLICE_ELEMENTS // self.vocab_size)), weight, bias)

    def next_token_logits(self, values: Tensor, condition: Condition | None = None) -> Tensor:
        """``[B, T, V]``: the logits of position ``t`` given ``values[:, :t]`` (and the rows' condition), for every ``t``.

        Teacher forcing; temperature and mask applied, so ``softmax`` of the result is
        exactly the distribution sampling draws from.
        """
        vector = self._condition_vector(values.shape[0], condition, values.device)
        start = self._start_inputs(values.shape[0], vector, values.device).unsqueeze(1)
        inputs = torch.cat([start, self.embed(values[:, :-1])], dim=1)
        if self._every_step(vector):
            inputs = inputs + vector.unsqueeze(1)  # type: ignore[union-attr]
        hidden = self._teacher_forced(inputs)
        memory = self._memory(condition)
        if memory:
            hidden = self.context_attention(hidden, *memory)  # type: ignore[misc]
        weight, bias = self._output_layer()
        return F.linear(self.dropout(hidden), weight, bias)

    # ----------------------------------------------------------- Generator

    def sample(self, n: int, condition: Condition | None = None) -> Batch:
        """``n`` sequences with the log-probability of each token (differentiable; 0 past the length).

        For a conditional domain, row ``i`` answers ``condition``'s row ``i``, which the
        returned batch carries.
        """
        return self._generate(self._check_count(n, "n"), _draw_exact, condition)

    def sample_relaxed(self, n: int, inverse_temperature: float, condition: Condition | None = None) -> Batch:
        """``n`` sequences drawn by the Gumbel-max trick, with RelGAN's Gumbel-softmax relaxations.

        With Gumbel noise ``g`` at each step, the token ``argmax(logits + g)`` (an exact
        sample) is fed to the next step and ``relaxed = softmax((logits + g) *
        inverse_temperature)`` ``[n, T, V]`` carries the gradient; rows past a sequence's
        length are zero. ``values``, ``lengths`` and ``log_probs`` are as in :meth:`sample`.
        """
        if isinstance(inverse_temperature, bool) or not isinstance(inverse_temperature, (int, float)) or not inverse_temperature > 0:
            raise ValueError(f"{self._name} generator: inverse_temperature must be a number > 0, got {inverse_temperature!r}")
        beta = float(inverse_temperature)

        def draw(logits: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
            tokens, relaxed, log_prob = gumbel_softmax_sample(logits, beta)
            return tokens, log_prob, relaxed

        return self._generate(self._check_count(n, "n"), draw, condition)

    def _generate(self, n: int, draw: Draw, condition: Condition | None = None) -> Batch:
        """The sampling loop shared by :meth:`sample` and :meth:`sample_relaxed`.

        Rows that have emitted EOS leave the batch (their state is dropped), so the cost of
        a step follows the number of unfinished rows; the loop ends when none is left.
        """
        spec, device = self.spec, self.out.weight.device
        steps, eos = spec.max_len, spec.eos_id
        weight, bias = self._output_layer()
        values = torch.full((n, steps), spec.pad_id, dtype=torch.long, device=device)
        lengths = torch.full((n,), steps, dtype=torch.long, device=device)
        alive: Tensor | None = None  # rows still being sampled, None while it is all of them
        tokens = torch.full((n,), self.start_id, dtype=torch.long, device=device)
        vector = self._condition_vector(n, condition, device)
        state = self._initial_state(n, vector, self._memory(condition))
        workspace = self._workspace(draw, n, weight, bias)
        log_prob_columns: list[Tensor] = []
        relaxed_columns: list[Tensor] = []
        start_inputs = self._start_inputs(n, vector, device)
        for t in range(steps):
            if t == 0:
                top, state = self._step_cell(start_inputs, state)
                top = self.dropout(top)
            else:
                top, state = self._step(tokens, state)
            tokens, log_prob, relaxed = self._draw(top, weight, bias, draw, workspace)
            if alive is None:
                values[:, t] = tokens
                log_prob_columns.append(log_prob)
                if relaxed is not None:
                    relaxed_columns.append(relaxed)
            else:
                values[alive, t] = tokens
                log_prob_columns.append(log_prob.new_zeros(n).index_copy(0, alive, log_prob))
                if relaxed is not None:
                    relaxed_columns.append(relaxed.new_zeros(n, relaxed.shape[1]).index_copy(0, alive, relaxed))
            if eos is None:
                continue
            ended = tokens == eos
            if not bool(ended.any()):
                continue
            rows = torch.arange(n, device=device) if alive is None else alive
            lengths[rows[ended]] = t + 1
            keep = ~ended
            alive = rows[keep]
            if alive.numel() == 0:
                break
            tokens = tokens[keep]
            state = [part[keep] for part in state]
        log_probs = _pad_columns(torch.stack(log_prob_columns, dim=1), steps)
        relaxed_all = _pad_columns(torch.stack(relaxed_columns, dim=1), steps) if relaxed_columns else None
        return Batch(values=values, lengths=lengths, log_probs=log_probs, relaxed=relaxed_all, condition=condition)

    def pretrain_loss(self, batch: Batch) -> Tensor:
        """Teacher-forced mean per-token NLL (nats) over the real steps, EOS included.

        Padding positions are ignored, whatever token they hold.
        """
        values = batch.values.to(self.out.weight.device)
        if values.dim() != 2:
            raise ValueError(f"{self._name} generator: token batches must be [B, T] ids, got shape {tuple(values.shape)}")
        mask = batch.mask.to(values.device)
        logits = self.next_token_logits(values.masked_fill(~mask, self.spec.pad_id), batch.condition)
        targets = values.masked_fill(~mask, -100)
        total = F.cross_entropy(logits.reshape(-1, self.vocab_size), targets.reshape(-1), ignore_index=-100, reduction="sum")
        return total / mask.sum().clamp_min(1)

    # ----------------------------------------------------------- rollouts

    @torch.no_grad()
    def rollouts(self, batch: Batch, n: int, chunk_size: int | None = None) -> Rollouts:
        """Complete every prefix of ``batch`` ``n`` times by sampling from this generator.

        For each row ``b`` and prefix length ``t = 1 .. T - 1`` the first ``t`` tokens are
        kept and positions ``t ..`` are sampled (then padding after an EOS). A prefix that
        already holds the whole sequence (``t >= length``) is copied, not sampled.

        All completions advance together: one stepped pass over the batch gives the state
        after every prefix, then every completion row is stepped at once. Completions are
        ordered by prefix length, so at position ``s`` the rows that sample (those with
        ``t <= s``) are a leading slice. ``chunk_size`` bounds how many completion rows
        are stepped together (their states and tokens; logits are computed
        ``SLICE_ELEMENTS`` at a time anyway); None steps them all at once.
        """
        n = self._check_count(n, "n")
        if chunk_size is not None:
            chunk_size = self._check_count(chunk_size, "chunk_size")
        device = self.out.weight.device
        values, lengths = self._full_width(batch)
        rows_in, steps = values.shape
        prefixes = steps - 1
        out_values = values.unsqueeze(0).unsqueeze(0).expand(prefixes, n, rows_in, steps).clone()
        out_lengths = lengths.view(1, 1, rows_in).expand(prefixes, n, rows_in).clone()
        prefix_len = torch.arange(1, steps, device=device).view(prefixes, 1, 1).expand(prefixes, n, rows_in)
        row_of = torch.arange(rows_in, device=device).view(1, 1, rows_in).expand(prefixes, n, rows_in)
        sampled = prefix_len < lengths.view(1, 1, rows_in)
        selected = sampled.reshape(-1).nonzero().squeeze(1)
        if prefixes == 0 or selected.numel() == 0:
            return Rollouts(values=out_values, lengths=out_lengths, sampled=sampled, condition=batch.condition)
        flat_values = out_values.view(-1, steps)
        flat_lengths = out_lengths.view(-1)
        starts = prefix_len.reshape(-1)[selected]
        sources = row_of.reshape(-1)[selected]
        prefix_tops, prefix_states = self._prefix_states(values, batch.condition)
        size = chunk_size or selected.numel()
        for first in range(0, selected.numel(), size):
            part = slice(first, first + size)
            chunk_starts, chunk_sources = starts[part], sources[part]
            top = prefix_tops[chunk_starts - 1, chunk_sources]
            state = [part_of[chunk_starts - 1, chunk_sources] for part_of in prefix_states]
            completed, completed_lengths = self._complete(chunk_starts, top, state)
            keep_prefix = torch.arange(steps, device=device).unsqueeze(0) < chunk_starts.unsqueeze(1)
            rows = selected[part]
            flat_values[rows] = torch.where(keep_prefix, values[chunk_sources], completed)
            flat_lengths[rows] = completed_lengths
        return Rollouts(values=out_values, lengths=out_lengths, sampled=sampled, condition=batch.condition)

    def _full_width(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """The batch's tokens padded to ``max_len`` steps, and its lengths, on this device."""
        device = self.out.weight.device
        values = batch.values.to(device)
        if values.dim() != 2:
            raise ValueError(f"{self._name} generator: token batches must be [B, T] ids, got shape {tuple(values.shape)}")
        steps = self.spec.max_len
        if values.shape[1] > steps:
            raise ValueError(f"{self._name} generator: the batch has {values.shape[1]} steps, more than max_len={steps}")
        if values.shape[1] < steps:
            values = F.pad(values, (0, steps - values.shape[1]), value=self.spec.pad_id)
        return values, batch.lengths.to(device).clamp(0, steps)

    def _prefix_states(self, values: Tensor, condition: Condition | None = None) -> tuple[Tensor, State]:
        """The top output ``[T - 1, B, H]`` (before dropout) and each state part ``[T - 1, B, ...]``
        after reading each prefix ``x_0 .. x_{t-1}``.

        Entry ``t - 1`` is what position ``t`` is sampled from. Stepped with the same cell
        as sampling, because a fused sequence kernel (``nn.LSTM``) returns neither the
        cell states nor the lower layers' states at every step.
        """
        rows, steps = values.shape
        tokens = torch.full((rows,), self.start_id, dtype=torch.long, device=values.device)
        vector = self._condition_vector(rows, condition, values.device)
        state = self._initial_state(rows, vector, self._memory(condition))
        tops: list[Tensor] = []
        kept: list[State] = []
        start_inputs = self._start_inputs(rows, vector, values.device)
        for t in range(steps):
            top, state = self._step_cell(start_inputs if t == 0 else self.embed(tokens), state)
            if t >= 1:
                tops.append(top)
                kept.append(state)
            if t < steps - 1:
                tokens = values[:, t]
        return torch.stack(tops), [torch.stack([s[i] for s in kept]) for i in range(len(kept[0]))]

    def _complete(self, starts: Tensor, top: Tensor, state: State) -> tuple[Tensor, Tensor]:
        """Sample positions ``starts[r] ..`` of each row ``r`` from its prefix's top output and state.

        ``starts`` must be sorted: the rows sampling at position ``s`` are then
        ``[:count[s]]``, and the state of rows that start at ``s`` is still their prefix
        state. Returns ``[R, T]`` tokens (only positions ``>= starts`` are meaningful) and
        ``[R]`` lengths. Logits read the output dropout of the stored top output, as in
        :meth:`_step`.
        """
        spec = self.spec
        steps, eos, pad = spec.max_len, spec.eos_id, spec.pad_id
        rows, device = starts.numel(), starts.device
        weight, bias = self._output_layer()
        counts = torch.searchsorted(starts, torch.arange(steps, device=device), right=True).tolist()
        tokens_out = torch.full((rows, steps), pad, dtype=torch.long, device=device)
        lengths = torch.full((rows,), steps, dtype=torch.long, device=device)
        finished = torch.zeros(rows, dtype=torch.bool, device=device)
        workspace = self._workspace(_draw_exact, rows, weight, bias)
        top_all = top.clone()
        state_all = [part.clone() for part in state]
        for s in range(int(starts[0]), steps):
            active = counts[s]
            tokens, _, _ = self._draw(self.dropout(top_all[:active]), weight, bias, _draw_exact, workspace)
            if eos is not None:
                done = finished[:active]
                tokens = tokens.masked_fill(done, pad)
                ends = (tokens == eos) & ~done
                lengths[:active] = torch.where(ends, s + 1, lengths[:active])
                finished[:active] = done | ends
            tokens_out[:active, s] = tokens
            if s == steps - 1:
                break
            new_top, new_state = self._step_cell(self.embed(tokens), [part[:active] for part in state_all])
            top_all[:active] = new_top
            for part, new in zip(state_all, new_state):
                part[:active] = new
        return tokens_out, lengths

    def _check_count(self, value: int, name: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{self._name} generator: {name} must be an integer >= 1, got {value!r}")
        return value

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}, max_len={self.spec.max_len}, temperature={self.temperature}"


# --------------------------------------------------------------------------- helpers


def _draw_exact(logits: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
    tokens, log_prob = sample_categorical(logits, return_log_prob=True)
    return tokens, log_prob, None


class _Workspace:
    """Buffers reused by every slice of a gradient-free sampling loop.

    The bias is folded into the matrix product (inputs get a column of ones), so the
    logits are one ``mm`` into a buffer: ``addmm`` would first copy the broadcast bias
    into every row of the output, an extra pass over the logits.
    """

    def __init__(self, rows: int, weight: Tensor, bias: Tensor) -> None:
        vocab, hidden = weight.shape
        self.weight = torch.cat([weight.t(), bias.unsqueeze(0)]).contiguous()  # [H + 1, V]
        self.inputs = weight.new_ones(rows, hidden + 1)
        self.logits = weight.new_empty(rows, vocab)
        self.probs = weight.new_empty(rows, vocab)

    def draw(self, top: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        rows, hidden = top.shape
        inputs = self.inputs[:rows]
        inputs[:, :hidden] = top
        logits = torch.mm(inputs, self.weight, out=self.logits[:rows])
        probs = torch.softmax(logits, dim=-1, out=self.probs[:rows])
        tokens = sample_from_weights(probs)
        log_prob = probs.gather(1, tokens.unsqueeze(1)).squeeze(1).log()
        return tokens, log_prob, None


def check_token_spec(spec: DomainSpec, name: str) -> None:
    """A ValueError, naming the generator ``name``, unless ``spec`` is a domain it can write."""
    if not spec.is_discrete:
        raise ValueError(
            f"{name} generator: it writes tokens, but the domain is {spec.kind!r}; use the lstm generator for real values"
        )
    if spec.vocab_size < 1:
        raise ValueError(f"{name} generator: the domain spec must have vocab_size >= 1, got {spec.vocab_size}")
    if spec.max_len < 1:
        raise ValueError(f"{name} generator: the domain spec must have max_len >= 1, got {spec.max_len}")
    bad = [i for i in spec.unsampled_ids if not 0 <= i < spec.vocab_size]
    if bad:
        raise ValueError(f"{name} generator: unsampled_ids {bad} are outside the vocabulary 0..{spec.vocab_size - 1}")
    if len(set(spec.unsampled_ids)) >= spec.vocab_size:
        raise ValueError(f"{name} generator: unsampled_ids exclude every token; nothing could be sampled")
    if spec.eos_id is not None and spec.eos_id in spec.unsampled_ids:
        raise ValueError(f"{name} generator: eos_id {spec.eos_id} is in unsampled_ids, so no sequence could end")


def _pad_columns(columns: Tensor, steps: int) -> Tensor:
    """Zero-pad ``[n, t, ...]`` along dim 1 to ``steps`` (sampling stopped early when every row ended)."""
    missing = steps - columns.shape[1]
    if missing == 0:
        return columns
    shape = list(columns.shape)
    shape[1] = missing
    return torch.cat([columns, columns.new_zeros(shape)], dim=1)
