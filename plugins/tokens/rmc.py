"""RelGAN's generator: a relational memory core over tokens (Nie et al. 2019; Santoro et al. 2018).

An LSTM packs everything it has read into one vector; a relational memory keeps a few
memory slots that attend to each other and to the new input at every step, which RelGAN
credits for its longer-range coherence and for resisting mode collapse. Sampling,
Gumbel-softmax relaxations, rollouts and the teacher-forced NLL are those of every
recurrent token generator (:class:`~seqtk.plugins.tokens.recurrent.RecurrentTokenGenerator`);
this module holds only the cell.

One step of the core, as RelGAN's TensorFlow code runs it (``utils/models/relational_memory.py``
of weilinie/RelGAN, after DeepMind Sonnet's ``RelationalMemory``), with ``M = num_heads *
head_size`` and memory ``m`` ``[N, S, M]``:

1. the embedded input is projected to ``M`` (with bias) and appended to the memory as a
   row: ``r = [m; W_x x]`` ``[N, S + 1, M]``;
2. multi-head dot-product attention of every row over every row (one bias-free ``q, k, v``
   projection, layer-normalised; queries scaled by ``(2 * head_size + head_size) ** -0.5``,
   as that code does), then ``r = LN(r + attention(r))`` and ``r = LN(r + MLP(r))`` with a
   two-layer ReLU MLP of width ``M``. Every ``LN`` normalises over the rows and units of a
   sequence together (gain and bias per unit), as ``tf.contrib.layers.layer_norm`` does
   by default on ``[N, rows, units]``;
3. the input row is dropped and the memory is gated as an LSTM gates its cell: with
   ``i, f = sigmoid(U tanh(m) + V W_x x + (0, 1))`` (per unit, forget bias 1),
   ``m' = i * tanh(r[:, :S]) + f * m``.

The step's output is the flattened new memory ``[N, S * M]``, mapped to logits over the
vocabulary. The initial memory is the identity (each slot distinct), padded with zeros
to ``M`` columns.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqtk.core.interfaces import DomainSpec
from seqtk.core.params import PositiveFloat, PositiveInt, checked
from seqtk.plugins.init import apply_init, check_init
from seqtk.plugins.tokens.recurrent import RecurrentTokenGenerator, State, check_token_spec

__all__ = ["RelationalMemory", "RelationalMemoryGenerator", "RowsLayerNorm"]


class RowsLayerNorm(nn.Module):
    """Layer normalisation over the last two dimensions of ``[N, rows, units]`` together,
    with a gain and a bias per unit (TensorFlow's ``layer_norm`` with its default
    ``begin_norm_axis=1``, which RelGAN's core uses)."""

    def __init__(self, units: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(units))
        self.bias = nn.Parameter(torch.zeros(units))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, x.shape[-2:], eps=self.eps) * self.weight + self.bias


class RelationalMemory(nn.Module):
    """One relational memory core step: attention over ``[memory; input]``, MLP, gated update.

    ``mem_slots`` rows of ``num_heads * head_size`` units each; see the module docstring
    for the equations. ``forget_bias`` and ``input_bias`` are added to the gates'
    pre-activations (1 and 0 in RelGAN and Sonnet), so a fresh core mostly keeps its memory.
    """

    initial_memory: Tensor

    def __init__(
        self, input_size: int, mem_slots: int, head_size: int, num_heads: int, forget_bias: float = 1.0, input_bias: float = 0.0
    ) -> None:
        super().__init__()
        self.mem_slots, self.head_size, self.num_heads = mem_slots, head_size, num_heads
        self.mem_size = head_size * num_heads
        size = self.mem_size
        self.forget_bias, self.input_bias = float(forget_bias), float(input_bias)
        self.input_projection = nn.Linear(input_size, size)
        self.qkv = nn.Linear(size, 3 * size, bias=False)
        self.qkv_norm = RowsLayerNorm(3 * size)
        self.attention_norm = RowsLayerNorm(size)
        self.mlp = nn.Sequential(nn.Linear(size, size), nn.ReLU(), nn.Linear(size, size))
        self.mlp_norm = RowsLayerNorm(size)
        self.gate_input = nn.Linear(size, 2 * size, bias=False)
        self.gate_memory = nn.Linear(size, 2 * size, bias=False)
        initial = torch.zeros(mem_slots, size)
        diagonal = min(mem_slots, size)
        initial[:diagonal, :diagonal] = torch.eye(diagonal)
        # Not persistent: a fixed function of the sizes, as in RelGAN (not learned).
        self.register_buffer("initial_memory", initial, persistent=False)

    def initial_state(self, n: int) -> Tensor:
        """``[n, mem_slots, mem_size]``: the identity memory for every row (a view, not a copy)."""
        return self.initial_memory.unsqueeze(0).expand(n, -1, -1)

    def _attend(self, rows: Tensor) -> Tensor:
        """Multi-head self-attention of ``rows`` ``[N, R, M]`` -> ``[N, R, M]``."""
        n, count, _ = rows.shape
        heads, width = self.num_heads, self.head_size
        qkv = self.qkv_norm(self.qkv(rows)).view(n, count, heads, 3 * width).transpose(1, 2)  # [N, H, R, 3W]
        q, k, v = qkv.split(width, dim=-1)
        weights = torch.softmax(torch.matmul(q * (3 * width) ** -0.5, k.transpose(-1, -2)), dim=-1)  # [N, H, R, R]
        return torch.matmul(weights, v).transpose(1, 2).reshape(n, count, self.mem_size)

    def forward(self, x: Tensor, memory: Tensor) -> Tensor:
        """The next memory ``[N, S, M]`` after reading ``x`` ``[N, input_size]``."""
        projected = self.input_projection(x)  # [N, M]
        rows = torch.cat([memory, projected.unsqueeze(1)], dim=1)  # [N, S + 1, M]
        rows = self.attention_norm(rows + self._attend(rows))
        rows = self.mlp_norm(rows + self.mlp(rows))
        candidate = rows[:, : self.mem_slots]
        gates = self.gate_memory(torch.tanh(memory)) + self.gate_input(projected).unsqueeze(1)  # [N, S, 2M]
        input_gate, forget_gate = gates.chunk(2, dim=-1)
        input_gate = torch.sigmoid(input_gate + self.input_bias)
        forget_gate = torch.sigmoid(forget_gate + self.forget_bias)
        return input_gate * torch.tanh(candidate) + forget_gate * memory


@checked("rmc generator")
class RelationalMemoryGenerator(RecurrentTokenGenerator):
    """RelGAN's relational-memory language model over tokens.

    Step ``t`` embeds the previous token (a learned start embedding at ``t = 0``; the
    domain's BOS id is never used), updates the relational memory and maps the flattened
    memory to logits over the vocabulary. Token ids in ``spec.unsampled_ids`` get
    probability exactly 0; sampling stops a row at ``spec.eos_id`` (inclusive); the
    distribution is ``softmax(logits / temperature)`` in sampling, log-probs, rollouts and
    the pretraining NLL alike, as for ``token-lstm``.

    Parameters: ``embed_dim`` token embedding width; ``mem_slots`` memory rows;
    ``head_size`` width of one attention head; ``num_heads`` heads (a memory row has
    ``num_heads * head_size`` units); ``temperature`` (> 0) divides the logits; ``init``
    how the parameters are drawn (:mod:`seqtk.plugins.init`; None keeps PyTorch's
    defaults). RelGAN's published generator (oracle and COCO): ``embed_dim: 32``,
    ``mem_slots: 1``, ``head_size: 256``, ``num_heads: 2``. ``condition_every_step``
    (conditional domains) adds the condition's vector to every input, as for ``token-lstm``.
    """

    _name: ClassVar[str] = "rmc"

    def __init__(
        self,
        spec: DomainSpec,
        embed_dim: PositiveInt = 32,
        mem_slots: PositiveInt = 1,
        head_size: PositiveInt = 256,
        num_heads: PositiveInt = 2,
        temperature: PositiveFloat = 1.0,
        init: str | Mapping[str, Any] | None = None,
        condition_every_step: bool = False,
    ) -> None:
        super().__init__()
        check_token_spec(spec, "rmc")
        check_init(init, "rmc generator")
        self.spec = spec
        self.vocab_size = spec.vocab_size
        self.temperature = float(temperature)
        #: Row ``vocab_size`` of the embedding is the learned start input.
        self.start_id = spec.vocab_size
        self.embed = nn.Embedding(spec.vocab_size + 1, embed_dim)
        self.memory = RelationalMemory(embed_dim, mem_slots, head_size, num_heads)
        self.dropout = nn.Identity()  # RelGAN uses none; the shared loop applies it to the top output
        self.out = nn.Linear(mem_slots * self.memory.mem_size, spec.vocab_size)
        self._register_logit_mask()
        self._register_condition(embed_dim, condition_every_step)
        apply_init(self, init, "rmc generator")

    def _zero_state(self, n: int) -> State:
        """``[memory]``: the initial memory ``[n, mem_slots, mem_size]``."""
        return [self.memory.initial_state(n)]

    def _cell(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """One core step; the output is the new memory, flattened to ``[N, mem_slots * mem_size]``."""
        memory = self.memory(x, state[0])
        return memory.flatten(1), [memory]

    def extra_repr(self) -> str:
        memory = self.memory
        return (
            f"{super().extra_repr()}, mem_slots={memory.mem_slots}, head_size={memory.head_size}, "
            f"num_heads={memory.num_heads}"
        )

