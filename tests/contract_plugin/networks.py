"""``contract-gru`` (a generator) and ``contract-conv`` (a per-step discriminator)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqtk.core.interfaces import Batch, Discriminator, DomainSpec, Generator


class ContractGRU(Generator):
    """A GRU language model; samples carry per-token log-probabilities (0 past each length)."""

    def __init__(self, spec: DomainSpec, hidden_dim: int = 32) -> None:
        super().__init__()
        if not spec.is_discrete or spec.eos_id is None:
            raise ValueError("contract-gru needs a discrete domain with an eos_id")
        if hidden_dim < 1:
            raise ValueError(f"hidden_dim must be at least 1, got {hidden_dim}")
        self.spec = spec
        self.start = spec.vocab_size
        self.embed = nn.Embedding(spec.vocab_size + 1, hidden_dim)
        self.cell = nn.GRUCell(hidden_dim, hidden_dim)
        self.out = nn.Linear(hidden_dim, spec.vocab_size)
        never = torch.zeros(spec.vocab_size)
        never[list(spec.unsampled_ids)] = float("-inf")
        self.register_buffer("never", never, persistent=False)

    def sample(self, n: int) -> Batch:
        spec, device = self.spec, self.device
        token = torch.full((n,), self.start, dtype=torch.long, device=device)
        hidden = torch.zeros(n, self.cell.hidden_size, device=device)
        running = torch.ones(n, dtype=torch.bool, device=device)
        lengths = torch.full((n,), spec.max_len, dtype=torch.long, device=device)
        values, log_probs = [], []
        for t in range(spec.max_len):
            hidden = self.cell(self.embed(token), hidden)
            log_p = (self.out(hidden) + self.never).log_softmax(-1)
            token = torch.multinomial(log_p.exp(), 1).squeeze(1).masked_fill(~running, spec.pad_id)
            values.append(token)
            log_probs.append(log_p.gather(1, token.unsqueeze(1)).squeeze(1).masked_fill(~running, 0.0))
            ended = running & (token == spec.eos_id)
            lengths[ended] = t + 1
            running = running & ~ended
        return Batch(values=torch.stack(values, 1), lengths=lengths, log_probs=torch.stack(log_probs, 1))

    def pretrain_loss(self, batch: Batch) -> Tensor:
        values, mask = batch.values.to(self.device), batch.mask.to(self.device)
        inputs = torch.cat([torch.full_like(values[:, :1], self.start), values[:, :-1]], 1)
        hidden = torch.zeros(values.shape[0], self.cell.hidden_size, device=self.device)
        logits = []
        for t in range(values.shape[1]):
            hidden = self.cell(self.embed(inputs[:, t]), hidden)
            logits.append(self.out(hidden) + self.never)
        return F.cross_entropy(torch.stack(logits, 2), values.masked_fill(~mask, -100), ignore_index=-100)


class ContractConv(Discriminator):
    """Embedded one-hots (a matrix product, so relaxed inputs would carry gradients), one causal convolution, a score per step."""

    def __init__(self, spec: DomainSpec, dim: int = 16, width: int = 3) -> None:
        super().__init__()
        if not spec.is_discrete:
            raise ValueError("contract-conv reads tokens")
        if dim < 1 or width < 1:
            raise ValueError(f"dim and width must be at least 1, got {dim}, {width}")
        self.vocab_size = spec.vocab_size
        self.per_step = True
        self.embed = nn.Linear(spec.vocab_size, dim, bias=False)
        self.conv = nn.Conv1d(dim, dim, width, padding=width - 1)
        self.head = nn.Linear(dim, 1)

    def forward(self, batch: Batch) -> Tensor:
        x = self.embed(batch.one_hot(self.vocab_size)).transpose(1, 2)          # [B, dim, T]
        h = torch.relu(self.conv(x)[..., : batch.steps]).transpose(1, 2)        # causal: step t reads steps <= t
        return self.head(h).squeeze(-1).masked_fill(~batch.mask, 0.0)           # [B, T]; padding never reaches a real step
