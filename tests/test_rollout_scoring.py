"""The fast path of SeqGAN's rollout scoring equals the plain one.

``CNNDiscriminator.score_completions`` must return ``forward(completions)`` (up to float
rounding) for any batch, including short rows, EOS and padding; ``Reinforce`` must give
the same action values whether or not the discriminator offers it; the ``tied_highway``
option must have the parameter count of TextGAN-PyTorch's SeqGAN discriminator.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from seqtk.core.interfaces import Batch, Discriminator, DomainSpec
from seqtk.plugins.discriminators import CNNDiscriminator
from seqtk.plugins.estimators import Reinforce
from seqtk.plugins.objectives import Minimax
from seqtk.plugins.tokens.generator import TokenLSTMGenerator

TOLERANCE = 1e-5


def _spec(eos: bool) -> DomainSpec:
    if eos:
        return DomainSpec(kind="discrete", max_len=9, vocab_size=13, pad_id=0, eos_id=2, unsampled_ids=(0, 1))
    return DomainSpec(kind="discrete", max_len=9, vocab_size=13)


def _cnn(spec: DomainSpec, **options: object) -> CNNDiscriminator:
    settings: dict[str, object] = {"embed_dim": 6, "filter_sizes": [1, 2, 3, 5, 9], "num_filters": [3, 4, 2, 3, 2]}
    settings.update(options)
    return CNNDiscriminator(spec, **settings).eval()  # type: ignore[arg-type]


def _sequences(rows: int, steps: int, vocab: int, generator: torch.Generator) -> Batch:
    """Random rows with random lengths 1..steps; padding holds junk tokens, which must not matter."""
    values = torch.randint(3, vocab, (rows, steps), generator=generator)
    lengths = torch.randint(1, steps + 1, (rows,), generator=generator)
    return Batch(values=values, lengths=lengths)


def _completions(sequences: Batch, per_row: int, generator: torch.Generator) -> tuple[Batch, Tensor, Tensor]:
    """Rows that keep a random prefix of a random source row and continue with fresh tokens and lengths."""
    rows, steps = sequences.values.shape
    sources = torch.randint(0, rows, (rows * per_row,), generator=generator)
    source_lengths = sequences.lengths[sources]
    prefixes = (torch.rand(sources.shape, generator=generator) * (source_lengths + 1).float()).long()  # 0 .. length
    fresh = torch.randint(3, 13, (sources.numel(), steps), generator=generator)
    keep = torch.arange(steps).unsqueeze(0) < prefixes.unsqueeze(1)
    values = torch.where(keep, sequences.values[sources], fresh)
    extra = (torch.rand(sources.shape, generator=generator) * (steps - prefixes + 1).float()).long()
    lengths = (prefixes + extra).clamp(1, steps).maximum(prefixes)
    return Batch(values=values, lengths=lengths), sources, prefixes


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("steps", [9, 4])  # 4: narrower than the widest filter, so inputs are padded in time
def test_score_completions_equals_forward_on_random_prefixes(tied: bool, steps: int) -> None:
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    discriminator = _cnn(_spec(eos=True), tied_highway=tied)
    sequences = _sequences(7, steps, 13, generator)
    completions, sources, prefixes = _completions(sequences, 6, generator)
    assert bool((completions.lengths < steps).any()) and bool((prefixes == 0).any())  # padding and empty prefixes occur
    with torch.no_grad():
        expected = discriminator(completions)
    got = discriminator.score_completions(sequences, completions, sources, prefixes)
    assert got.shape == expected.shape
    assert float((got - expected).abs().max()) < TOLERANCE


def test_score_completions_with_full_rows_skips_no_window() -> None:
    """Without padding (the oracle case) the unmasked path is taken; still equal to forward."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(2)
    discriminator = _cnn(_spec(eos=False))
    sequences = Batch(values=torch.randint(0, 13, (5, 9), generator=generator), lengths=torch.full((5,), 9))
    completions, sources, prefixes = _completions(sequences, 8, generator)
    completions = Batch(values=completions.values, lengths=torch.full_like(completions.lengths, 9))
    with torch.no_grad():
        expected = discriminator(completions)
    got = discriminator.score_completions(sequences, completions, sources, prefixes)
    assert float((got - expected).abs().max()) < TOLERANCE


def test_forward_equals_plain_convolutions_on_full_rows() -> None:
    """Width-1 and single-window filters run as matrix products: check them against ``conv1d``."""
    torch.manual_seed(0)
    discriminator = _cnn(_spec(eos=False))  # widths 1 and 9 (one window over 9 steps) take the product path
    values = torch.randint(0, 13, (6, 9))
    assert discriminator.highway is not None
    with torch.no_grad():
        x = discriminator.embed.weight.t()[values].transpose(1, 2)  # [B, E, T]
        pooled = torch.cat([torch.relu(conv(x)).amax(-1) for conv in discriminator.convs], dim=1)
        expected = discriminator.head(discriminator.highway(pooled)).squeeze(-1)
        got = discriminator(Batch(values=values, lengths=torch.full((6,), 9)))
    assert float((got - expected).abs().max()) < TOLERANCE


def test_score_completions_refuses_completions_that_do_not_share_the_prefix() -> None:
    generator = torch.Generator().manual_seed(3)
    discriminator = _cnn(_spec(eos=False))
    sequences = Batch(values=torch.randint(0, 13, (2, 9), generator=generator), lengths=torch.full((2,), 9))
    completions = Batch(values=sequences.values.clone(), lengths=sequences.lengths.clone())
    completions.values[1, 0] = (completions.values[1, 0] + 1) % 13
    with pytest.raises(ValueError, match=r"completion rows \[1\]"):
        discriminator.score_completions(sequences, completions, torch.tensor([0, 1]), torch.tensor([3, 3]))


class _ForwardOnly(Discriminator):
    """The same discriminator without ``score_completions``: Reinforce's generic path."""

    def __init__(self, inner: CNNDiscriminator) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, batch: Batch) -> Tensor:
        return self.inner(batch)


@pytest.mark.parametrize("eos", [False, True])
def test_reinforce_action_values_are_the_same_on_both_scoring_paths(eos: bool) -> None:
    torch.manual_seed(0)
    spec = _spec(eos)
    policy = TokenLSTMGenerator(spec, embed_dim=8, hidden_dim=8)
    discriminator = _cnn(spec, tied_highway=True)
    estimator = Reinforce(rollouts=3, chunk_size=50)  # chunks that cut across prefixes
    objective = Minimax()
    fake = policy.sample(6).detach()
    if eos:
        assert bool((fake.lengths < spec.max_len).any())
    values = []
    for scorer in (discriminator, _ForwardOnly(discriminator)):
        torch.manual_seed(5)
        q, rewards = estimator.action_values(fake, scorer, objective, rollout_generator=policy)
        values.append((q, rewards))
    (q_fast, r_fast), (q_plain, r_plain) = values
    mask = fake.mask
    assert float(((q_fast - q_plain).abs() * mask).max()) < TOLERANCE
    assert float((r_fast - r_plain).abs().max()) < TOLERANCE
    assert float(q_fast[mask].std()) > 0  # the values are not all one number: the check has teeth


def test_tied_highway_has_textgan_pytorch_parameter_count() -> None:
    """TextGAN-PyTorch's SeqGAN_D at vocabulary 5000: 4,085,282 parameters with its two-class output.

    Embedding 5000 x 64, convolutions sum(n * (64 w + 1)), one 1720 x 1720 highway matrix with
    bias, and ``feature2out`` 1720 x 2 + 2; a single logit here has 1,721 fewer.
    """
    widths = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20]
    counts = [100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160]
    spec = DomainSpec(kind="discrete", max_len=20, vocab_size=5000)
    tied = CNNDiscriminator(spec, embed_dim=64, filter_sizes=widths, num_filters=counts, tied_highway=True)
    untied = CNNDiscriminator(spec, embed_dim=64, filter_sizes=widths, num_filters=counts)
    features = sum(counts)
    textgan = 5000 * 64 + sum(n * (64 * w + 1) for w, n in zip(widths, counts)) + features * (features + 1) + (features * 2 + 2)
    assert textgan == 4_085_282
    assert sum(p.numel() for p in tied.parameters()) == textgan - (features + 1)
    assert sum(p.numel() for p in untied.parameters()) - sum(p.numel() for p in tied.parameters()) == features * (features + 1)


def test_tied_highway_uses_one_matrix_for_gate_and_transform() -> None:
    torch.manual_seed(0)
    discriminator = _cnn(_spec(eos=False), tied_highway=True)
    highway = discriminator.highway
    assert highway is not None and highway.transform is None
    x = torch.randn(4, 14)
    h = highway.gate(x)
    expected = torch.sigmoid(h) * torch.relu(h) + (1 - torch.sigmoid(h)) * x  # TextGAN-PyTorch's formula
    assert torch.allclose(highway(x), expected)
    with pytest.raises(ValueError, match="tied_highway must be true or false"):
        _cnn(_spec(eos=False), tied_highway="yes")
