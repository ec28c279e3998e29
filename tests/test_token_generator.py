"""TokenLSTMGenerator: exact sampling, EOS handling, relaxations, pretraining and rollouts.

Distributions are compared with the generator's own teacher-forced probabilities
(``next_token_logits``, one ``nn.LSTM`` call), which is an independent path from the
hand-stepped cell that sampling uses; chi-square tests run on fixed seeds.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from seqtk.core.interfaces import Batch, DomainSpec
from seqtk.plugins.tokens.generator import TokenLSTMGenerator

PAD, BOS, EOS = 0, 1, 2
ALPHA = 1e-4
TEXT = DomainSpec(
    kind="discrete", max_len=6, vocab_size=7, pad_id=PAD, bos_id=BOS, eos_id=EOS, unsampled_ids=(PAD, BOS)
)
ORACLE = DomainSpec(kind="discrete", max_len=5, vocab_size=6)


def make(spec: DomainSpec = TEXT, **params: object) -> TokenLSTMGenerator:
    torch.manual_seed(11)
    return TokenLSTMGenerator(spec, embed_dim=8, hidden_dim=12, **params)  # type: ignore[arg-type]


def p_value(counts: np.ndarray, probs: np.ndarray) -> float:
    expected = probs * counts.sum()
    big = expected >= 5
    observed = np.append(counts[big], counts[~big].sum())
    wanted = np.append(expected[big], expected[~big].sum())
    if wanted[-1] == 0:
        observed, wanted = observed[:-1], wanted[:-1]
    return float(stats.chisquare(observed, wanted * observed.sum() / wanted.sum()).pvalue)


def token_log_probs(generator: TokenLSTMGenerator, batch: Batch) -> torch.Tensor:
    """``[B, T]`` teacher-forced log-probability of each token (0 past the length)."""
    logits = generator.next_token_logits(batch.values)
    values = batch.values.masked_fill(~batch.mask, 3)  # any sampleable id; masked below
    chosen = torch.log_softmax(logits, -1).gather(2, values.unsqueeze(-1)).squeeze(-1)
    return torch.where(batch.mask, chosen, torch.zeros(()))


# --------------------------------------------------------------------------- construction


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"embed_dim": 0}, "embed_dim"),
        ({"hidden_dim": 2.5}, "hidden_dim"),
        ({"num_layers": 0}, "num_layers"),
        ({"dropout": 1.0}, "dropout"),
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -1}, "temperature"),
    ],
)
def test_bad_parameters_are_rejected(params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TokenLSTMGenerator(TEXT, **params)


def test_bad_specs_are_rejected() -> None:
    with pytest.raises(ValueError, match="continuous"):
        TokenLSTMGenerator(DomainSpec(kind="continuous", max_len=4, features=2))
    with pytest.raises(ValueError, match="every token"):
        TokenLSTMGenerator(DomainSpec(kind="discrete", max_len=4, vocab_size=2, unsampled_ids=(0, 1)))
    with pytest.raises(ValueError, match="eos_id"):
        TokenLSTMGenerator(DomainSpec(kind="discrete", max_len=4, vocab_size=5, eos_id=2, unsampled_ids=(2,)))
    with pytest.raises(ValueError, match="outside"):
        TokenLSTMGenerator(DomainSpec(kind="discrete", max_len=4, vocab_size=5, unsampled_ids=(5,)))
    with pytest.raises(ValueError, match="n must"):
        make().sample(0)
    with pytest.raises(ValueError, match="inverse_temperature"):
        make().sample_relaxed(3, 0.0)


def test_the_start_input_is_its_own_embedding_row() -> None:
    generator = make()
    assert generator.embed.num_embeddings == TEXT.vocab_size + 1
    assert generator.start_id == TEXT.vocab_size
    assert generator.out.out_features == TEXT.vocab_size
    assert "logit_mask" not in generator.state_dict()


# --------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("grad", [True, False], ids=["with-grad", "no-grad"])
def test_samples_respect_eos_padding_and_unsampled_ids(grad: bool) -> None:
    # Without gradients sampling takes another path (reused buffers, bias folded into the product).
    generator = make()
    with torch.set_grad_enabled(grad):
        batch = generator.sample(3000)
    values, lengths, mask = batch.values, batch.lengths, batch.mask
    assert values.shape == (3000, TEXT.max_len) and lengths.shape == (3000,)
    assert bool(((lengths >= 1) & (lengths <= TEXT.max_len)).all())
    assert bool((values[~mask] == PAD).all())
    assert not bool(((values == BOS) | (values == PAD))[mask].any())
    is_eos = (values == EOS) & mask
    ended = lengths < TEXT.max_len
    # A row shorter than max_len ends with EOS, and EOS appears nowhere else.
    last = values.gather(1, (lengths - 1).unsqueeze(1)).squeeze(1)
    assert bool((last[ended] == EOS).all())
    assert bool((is_eos.sum(1) == (last == EOS).long()).all())
    assert bool(ended.any()) and bool((~ended).any())
    assert batch.log_probs is not None and bool((batch.log_probs[~mask] == 0).all())


@pytest.mark.parametrize("num_layers", [1, 2])
def test_log_probs_equal_the_teacher_forced_ones(num_layers: int) -> None:
    generator = make(num_layers=num_layers, temperature=1.7)
    batch = generator.sample(200)
    torch.testing.assert_close(batch.log_probs, token_log_probs(generator, batch), atol=1e-5, rtol=1e-5)
    # ... and so the pretraining NLL of a sampled batch is minus their mean.
    expected = -batch.log_probs.sum() / batch.lengths.sum()
    torch.testing.assert_close(generator.pretrain_loss(batch), expected, atol=1e-5, rtol=1e-5)


def test_log_probs_carry_gradients_to_every_parameter() -> None:
    generator = make(num_layers=2, dropout=0.1)
    batch = generator.sample(32)
    batch.log_probs.sum().backward()
    for name, parameter in generator.named_parameters():
        assert parameter.grad is not None and bool(torch.isfinite(parameter.grad).all()), name
        if name != "embed.weight":
            assert float(parameter.grad.abs().sum()) > 0, name


def test_joint_distribution_of_the_first_two_tokens_is_exact() -> None:
    generator = make(ORACLE)
    vocab = ORACLE.vocab_size
    with torch.no_grad():
        batch = generator.sample(60_000)
        pairs = batch.values[:, 0] * vocab + batch.values[:, 1]
        counts = torch.bincount(pairs, minlength=vocab * vocab).numpy()
        grid = torch.stack(torch.meshgrid(torch.arange(vocab), torch.arange(vocab), indexing="ij"), -1).reshape(-1, 2)
        full = torch.cat([grid, torch.zeros(len(grid), ORACLE.max_len - 2, dtype=torch.long)], 1)
        log_p = torch.log_softmax(generator.next_token_logits(full).double(), -1)
        joint = (log_p[:, 0].gather(1, grid[:, :1]) + log_p[:, 1].gather(1, grid[:, 1:])).exp().squeeze(1).numpy()
    assert abs(joint.sum() - 1) < 1e-9
    assert p_value(counts, joint) > ALPHA
    assert bool((batch.lengths == ORACLE.max_len).all())


def test_sampling_stops_when_every_row_has_ended() -> None:
    generator = make()
    with torch.no_grad():
        generator.out.bias[EOS] = 50.0  # EOS almost surely first
    batch = generator.sample(16)
    assert bool((batch.lengths == 1).all())
    assert bool((batch.values[:, 0] == EOS).all()) and bool((batch.values[:, 1:] == PAD).all())
    assert batch.log_probs.shape == (16, TEXT.max_len)
    relaxed = generator.sample_relaxed(16, 5.0)
    assert relaxed.relaxed.shape == (16, TEXT.max_len, TEXT.vocab_size)
    assert bool((relaxed.relaxed[:, 1:] == 0).all())


def test_seeded_sampling_repeats() -> None:
    generator = make()
    torch.manual_seed(5)
    first = generator.sample(50)
    torch.manual_seed(5)
    second = generator.sample(50)
    assert torch.equal(first.values, second.values) and torch.equal(first.lengths, second.lengths)


def test_relaxed_samples() -> None:
    generator = make()
    batch = generator.sample_relaxed(400, 3.0)
    relaxed, mask = batch.relaxed, batch.mask
    assert relaxed is not None and relaxed.shape == (400, TEXT.max_len, TEXT.vocab_size)
    torch.testing.assert_close(relaxed.sum(-1)[mask], torch.ones(int(mask.sum())))
    assert bool((relaxed[~mask] == 0).all())
    assert bool((relaxed[..., [PAD, BOS]] == 0).all())
    # The hard token fed forward is the relaxation's argmax (softmax is monotone).
    assert torch.equal(relaxed.argmax(-1)[mask], batch.values[mask])
    torch.testing.assert_close(batch.log_probs, token_log_probs(generator, batch), atol=1e-5, rtol=1e-5)
    weights = torch.randn(TEXT.vocab_size)
    (relaxed * weights).sum().backward()
    assert float(generator.out.weight.grad.abs().sum()) > 0


def test_relaxed_tokens_follow_the_model() -> None:
    generator = make()
    with torch.no_grad():
        first = generator.sample_relaxed(40_000, 1.0).values[:, 0]
        probs = torch.softmax(generator.next_token_logits(torch.zeros(1, 1, dtype=torch.long))[0, 0].double(), -1)
    counts = torch.bincount(first, minlength=TEXT.vocab_size).numpy()
    keep = probs.numpy() > 0
    assert p_value(counts[keep], probs.numpy()[keep]) > ALPHA


# --------------------------------------------------------------------------- pretraining


def test_pretrain_loss_is_the_masked_mean_nll_and_ignores_padding() -> None:
    generator = make()
    values = torch.tensor([[3, 4, 2, 0, 0, 0], [5, 5, 6, 3, 4, 2], [6, 2, 0, 0, 0, 0]])
    lengths = torch.tensor([3, 6, 2])
    batch = Batch(values=values, lengths=lengths)
    log_p = torch.log_softmax(generator.next_token_logits(values), -1).detach()
    by_hand = -sum(float(log_p[b, t, values[b, t]]) for b in range(3) for t in range(int(lengths[b]))) / 11
    assert generator.pretrain_loss(batch).item() == pytest.approx(by_hand, rel=1e-5)
    junk = values.clone()
    junk[0, 3:] = torch.tensor([1, 6, 5])  # BOS (probability 0) and other junk in the padding
    assert generator.pretrain_loss(Batch(values=junk, lengths=lengths)).item() == pytest.approx(by_hand, rel=1e-5)


def test_pretraining_lowers_the_nll_of_the_data() -> None:
    generator = make()
    data = Batch(values=torch.tensor([[3, 4, 5, 2, 0, 0], [6, 5, 4, 3, 2, 0]]).repeat(8, 1), lengths=torch.tensor([4, 5]).repeat(8))
    optimiser = torch.optim.Adam(generator.parameters(), lr=0.05)
    before = generator.pretrain_loss(data).item()
    for _ in range(40):
        optimiser.zero_grad()
        generator.pretrain_loss(data).backward()
        optimiser.step()
    after = generator.pretrain_loss(data).item()
    assert before > 1.5 and after < 0.5 * before


# --------------------------------------------------------------------------- rollouts


def test_rollouts_keep_prefixes_and_complete_with_valid_sequences() -> None:
    generator = make()
    batch = generator.sample(9)
    rollouts = generator.rollouts(batch.detach(), 5, chunk_size=7)
    steps = TEXT.max_len
    assert rollouts.values.shape == (steps - 1, 5, 9, steps)
    assert rollouts.lengths.shape == rollouts.sampled.shape == (steps - 1, 5, 9)
    for t in range(1, steps):
        prefix = rollouts.values[t - 1, :, :, :t]
        assert torch.equal(prefix, batch.values[:, :t].expand_as(prefix))
        assert torch.equal(rollouts.sampled[t - 1], (t < batch.lengths).expand(5, 9))
    flat = rollouts.batch()
    assert flat.size == (steps - 1) * 5 * 9
    mask = flat.mask
    assert bool((flat.values[~mask] == PAD).all())
    assert not bool(((flat.values == PAD) | (flat.values == BOS))[mask].any())
    ended = flat.lengths < steps
    last = flat.values.gather(1, (flat.lengths - 1).unsqueeze(1)).squeeze(1)
    assert bool((last[ended] == EOS).all())
    assert bool((((flat.values == EOS) & mask).sum(1) == (last == EOS).long()).all())
    # Prefixes that already hold the whole sequence are copies of it.
    done = ~rollouts.sampled
    assert bool(done.any())
    copies = rollouts.values[done]
    originals = batch.values.expand(steps - 1, 5, 9, steps)[done]
    assert torch.equal(copies, originals)
    assert torch.equal(rollouts.lengths[done], batch.lengths.expand(steps - 1, 5, 9)[done])


@pytest.mark.parametrize("chunk_size", [None, 3001])
def test_rollout_continuations_follow_the_model(chunk_size: int | None) -> None:
    """Position t of a completion of prefix t, and the pair (t, t+1), match the model's probabilities."""
    generator = make(ORACLE)
    prefix = torch.tensor([[3, 1, 4, 0, 5]])
    with torch.no_grad():
        rollouts = generator.rollouts(Batch.full_length(prefix), 20_000, chunk_size=chunk_size)
    vocab = ORACLE.vocab_size
    for t in (1, 2, 3):
        completions = rollouts.values[t - 1, :, 0]
        pairs = completions[:, t] * vocab + completions[:, t + 1]
        counts = torch.bincount(pairs, minlength=vocab * vocab).numpy()
        grid = torch.stack(torch.meshgrid(torch.arange(vocab), torch.arange(vocab), indexing="ij"), -1).reshape(-1, 2)
        seqs = torch.cat([prefix[:, :t].expand(len(grid), t), grid, torch.zeros(len(grid), ORACLE.max_len - t - 2, dtype=torch.long)], 1)
        with torch.no_grad():
            log_p = torch.log_softmax(generator.next_token_logits(seqs).double(), -1)
        joint = (log_p[:, t].gather(1, grid[:, :1]) + log_p[:, t + 1].gather(1, grid[:, 1:])).exp().squeeze(1).numpy()
        assert p_value(counts, joint) > ALPHA, t
    last = rollouts.values[ORACLE.max_len - 2, :, 0, -1]
    with torch.no_grad():
        probs = torch.softmax(generator.next_token_logits(prefix)[0, -1].double(), -1).numpy()
    assert p_value(torch.bincount(last, minlength=vocab).numpy(), probs) > ALPHA


def test_rollouts_of_a_narrower_batch_are_padded_to_max_len() -> None:
    generator = make()
    # Row 0 ended at once; row 1 holds two tokens (a length counts as the end, EOS or not).
    batch = Batch(values=torch.tensor([[2, 0], [4, 5]]), lengths=torch.tensor([1, 2]))
    rollouts = generator.rollouts(batch, 2)
    assert rollouts.values.shape == (TEXT.max_len - 1, 2, 2, TEXT.max_len)
    assert not bool(rollouts.sampled[:, :, 0].any())
    assert bool(rollouts.sampled[0, :, 1].all()) and not bool(rollouts.sampled[1:, :, 1].any())
    assert torch.equal(rollouts.values[0, :, 1, :1], torch.tensor([[4], [4]]))
    assert torch.equal(rollouts.values[2, 0, 1], torch.tensor([4, 5, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match="chunk_size"):
        generator.rollouts(batch, 2, chunk_size=0)
    with pytest.raises(ValueError, match="n must"):
        generator.rollouts(batch, 0)
