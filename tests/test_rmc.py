"""RelationalMemoryGenerator (rmc): RelGAN's relational memory core behind the shared token loop.

The loop itself (EOS, padding, relaxations, rollouts) is tested in depth on token-lstm
(test_token_generator.py); here the same properties are checked on the relational core,
plus the core's own equations and that a tiny rmc learns.
"""

from __future__ import annotations

import pytest
import torch
from test_token_generator import BOS, EOS, ORACLE, PAD, TEXT, p_value, token_log_probs

from seqtk.core.interfaces import Batch, DomainSpec
from seqtk.plugins.tokens.rmc import RelationalMemory, RelationalMemoryGenerator, RowsLayerNorm

ALPHA = 1e-4


def make(spec: DomainSpec = TEXT, **params: object) -> RelationalMemoryGenerator:
    torch.manual_seed(3)
    options = {"embed_dim": 8, "mem_slots": 2, "head_size": 4, "num_heads": 2} | params
    return RelationalMemoryGenerator(spec, **options)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- construction


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"embed_dim": 0}, "embed_dim"),
        ({"mem_slots": 0}, "mem_slots"),
        ({"head_size": 2.5}, "head_size"),
        ({"num_heads": True}, "num_heads"),
        ({"temperature": 0.0}, "temperature"),
        ({"init": "norml"}, "did you mean 'normal'"),
    ],
)
def test_bad_parameters_are_rejected(params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RelationalMemoryGenerator(TEXT, **params)


def test_bad_specs_name_the_rmc() -> None:
    with pytest.raises(ValueError, match="rmc generator: .*continuous"):
        RelationalMemoryGenerator(DomainSpec(kind="continuous", max_len=4, features=2))
    with pytest.raises(ValueError, match="rmc generator: inverse_temperature"):
        make().sample_relaxed(3, -1.0)


def test_defaults_are_relgans_sizes() -> None:
    generator = RelationalMemoryGenerator(ORACLE)
    assert generator.memory.mem_size == 512 and generator.out.in_features == 512  # 1 slot x 2 heads x 256


# --------------------------------------------------------------------------- the core


def test_initial_memory_is_the_padded_identity() -> None:
    core = RelationalMemory(input_size=3, mem_slots=3, head_size=2, num_heads=2)
    expected = torch.zeros(3, 4)
    expected[:3, :3] = torch.eye(3)
    assert torch.equal(core.initial_state(5), expected.expand(5, 3, 4))
    wide = RelationalMemory(input_size=3, mem_slots=5, head_size=1, num_heads=2)  # more slots than units: truncated
    assert torch.equal(wide.initial_state(1)[0], torch.eye(5)[:, :2])


def test_gates_follow_the_lstm_like_update() -> None:
    """With zero gate weights, i = sigmoid(0) and f = sigmoid(1): m' = i * tanh(candidate) + f * m."""
    torch.manual_seed(0)
    core = RelationalMemory(input_size=3, mem_slots=2, head_size=3, num_heads=2)
    with torch.no_grad():
        core.gate_input.weight.zero_()
        core.gate_memory.weight.zero_()
    x, memory = torch.randn(4, 3), torch.randn(4, 2, 6)
    new = core(x, memory)
    # The candidate is the new memory minus the carried part, divided by the input gate.
    candidate = (new - torch.sigmoid(torch.tensor(1.0)) * memory) / 0.5
    assert bool((candidate.abs() < 1).all())  # a tanh
    # Memory rows are the first rows of LN(LN(r + attention(r)) + MLP(...)) on r = [memory; W x].
    rows = torch.cat([memory, core.input_projection(x).unsqueeze(1)], 1)
    rows = core.attention_norm(rows + core._attend(rows))
    rows = core.mlp_norm(rows + core.mlp(rows))
    torch.testing.assert_close(candidate, torch.tanh(rows[:, :2]), atol=1e-5, rtol=1e-4)


def test_rows_layer_norm_normalises_rows_and_units_together() -> None:
    norm = RowsLayerNorm(4)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]))
        norm.bias.fill_(0.5)
    x = torch.randn(3, 2, 4) * 5 + 2
    with torch.no_grad():
        y = (norm(x) - 0.5) / norm.weight
    flat = y.reshape(3, -1)
    torch.testing.assert_close(flat.mean(1), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(flat.var(1, unbiased=False), torch.ones(3), atol=1e-4, rtol=0)
    assert float(y[:, 0].mean(-1).abs().max()) > 1e-3  # a single row is not centred on its own


# --------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("grad", [True, False], ids=["with-grad", "no-grad"])
def test_samples_respect_eos_padding_and_unsampled_ids(grad: bool) -> None:
    generator = make()
    with torch.set_grad_enabled(grad):
        batch = generator.sample(2000)
    values, lengths, mask = batch.values, batch.lengths, batch.mask
    assert values.shape == (2000, TEXT.max_len)
    assert bool((values[~mask] == PAD).all())
    assert not bool(((values == BOS) | (values == PAD))[mask].any())
    ended = lengths < TEXT.max_len
    last = values.gather(1, (lengths - 1).unsqueeze(1)).squeeze(1)
    assert bool((last[ended] == EOS).all())
    assert bool((((values == EOS) & mask).sum(1) == (last == EOS).long()).all())
    assert bool(ended.any()) and bool((~ended).any())
    assert batch.log_probs is not None and bool((batch.log_probs[~mask] == 0).all())


def test_log_probs_equal_the_teacher_forced_ones() -> None:
    generator = make(temperature=1.7)
    batch = generator.sample(200)
    torch.testing.assert_close(batch.log_probs, token_log_probs(generator, batch), atol=1e-5, rtol=1e-5)
    expected = -batch.log_probs.sum() / batch.lengths.sum()
    torch.testing.assert_close(generator.pretrain_loss(batch), expected, atol=1e-5, rtol=1e-5)


def test_first_token_distribution_is_the_models() -> None:
    generator = make(ORACLE)
    with torch.no_grad():
        first = generator.sample(30_000).values[:, 0]
        probs = torch.softmax(generator.next_token_logits(torch.zeros(1, 1, dtype=torch.long))[0, 0].double(), -1)
    assert p_value(torch.bincount(first, minlength=ORACLE.vocab_size).numpy(), probs.numpy()) > ALPHA


def test_relaxed_samples_carry_gradients_to_every_parameter() -> None:
    generator = make()
    batch = generator.sample_relaxed(300, 3.0)
    relaxed, mask = batch.relaxed, batch.mask
    assert relaxed is not None and relaxed.shape == (300, TEXT.max_len, TEXT.vocab_size)
    torch.testing.assert_close(relaxed.sum(-1)[mask], torch.ones(int(mask.sum())))
    assert bool((relaxed[~mask] == 0).all()) and bool((relaxed[..., [PAD, BOS]] == 0).all())
    assert torch.equal(relaxed.argmax(-1)[mask], batch.values[mask])
    torch.testing.assert_close(batch.log_probs, token_log_probs(generator, batch), atol=1e-5, rtol=1e-5)
    (relaxed * torch.randn(TEXT.vocab_size)).sum().backward()
    for name, parameter in generator.named_parameters():
        assert parameter.grad is not None and float(parameter.grad.abs().sum()) > 0, name


# --------------------------------------------------------------------------- training and rollouts


CORPUS = ((3, 4, 5, 2), (6, 5, 4, 3, 2))


def fit(generator: RelationalMemoryGenerator, data: Batch, steps: int) -> list[float]:
    """Teacher-forced Adam steps on ``data``; the loss before each step."""
    optimiser = torch.optim.Adam(generator.parameters(), lr=0.02)
    losses = []
    for _ in range(steps):
        loss = generator.pretrain_loss(data)
        losses.append(loss.item())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return losses


def test_a_tiny_rmc_learns_a_toy_corpus() -> None:
    generator = make()
    rows = [list(sentence) + [PAD] * (TEXT.max_len - len(sentence)) for sentence in CORPUS]
    data = Batch(values=torch.tensor(rows * 8), lengths=torch.tensor([len(s) for s in CORPUS] * 8))
    losses = fit(generator, data, 60)
    assert losses[0] > 1.5 and losses[-1] < 0.3 * losses[0]
    with torch.no_grad():
        samples = generator.sample(200)
    written = [tuple(row[:length]) for row, length in zip(samples.values.tolist(), samples.lengths.tolist())]
    assert sum(sentence in CORPUS for sentence in written) >= 150  # a fresh model writes almost none


def test_rollouts_keep_prefixes_and_follow_the_model() -> None:
    generator = make(ORACLE)
    prefix = torch.tensor([[3, 1, 4, 0, 5]])
    with torch.no_grad():
        rollouts = generator.rollouts(Batch.full_length(prefix), 20_000, chunk_size=7000)
        for t in (1, 3):
            assert torch.equal(rollouts.values[t - 1, :, 0, :t], prefix[:, :t].expand(20_000, t))
            completions = rollouts.values[t - 1, :, 0, t]
            probs = torch.softmax(generator.next_token_logits(prefix)[0, t].double(), -1).numpy()
            assert p_value(torch.bincount(completions, minlength=ORACLE.vocab_size).numpy(), probs) > ALPHA, t
