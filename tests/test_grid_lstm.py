"""The grid-lstm generator and discriminator: values on the grid, gradients through the draws, a likelihood that keeps modes apart."""

from __future__ import annotations

import pytest
import torch

from seqtk.core.interfaces import Batch, DomainSpec
from seqtk.plugins.discriminators import GRUDiscriminator
from seqtk.plugins.estimators import Reparam
from seqtk.plugins.generators import LSTMGenerator
from seqtk.plugins.grid_lstm import ONE_HOTS, GridLSTMDiscriminator, GridLSTMGenerator, grid_indices
from seqtk.plugins.objectives import Minimax

SPEC = DomainSpec(kind="continuous", max_len=6, features=2, value_range=(0.0, 1.0))


def test_grid_indices_are_the_nearest_grid_values_clipped():
    # 5 values on [0, 1]: 0, .25, .5, .75, 1
    values = torch.tensor([0.0, 0.1, 0.13, 0.5, 0.74, 1.0, -3.0, 7.0])
    assert grid_indices(values, 0.0, 1.0, 5).tolist() == [0, 0, 1, 2, 3, 4, 0, 4]
    # MIDI pitch scaled by 127 lands exactly on a 128-value grid
    pitches = torch.arange(128, dtype=torch.float32) / 127.0
    assert torch.equal(grid_indices(pitches, 0.0, 1.0, 128), torch.arange(128))


def test_samples_lie_on_the_grids_and_carry_gradients():
    generator = GridLSTMGenerator(spec=SPEC, bins=[5, 3], embed_dim=4, hidden_dim=8, head_dim=8)
    batch = generator.sample(32)
    assert batch.values.shape == (32, 6, 2) and torch.equal(batch.lengths, torch.full((32,), 6))
    for k, count in enumerate((5, 3)):
        grid = torch.linspace(0.0, 1.0, count)
        distances = (batch.values[..., k].unsqueeze(-1) - grid).abs().min(-1).values
        assert distances.max().item() == 0.0  # exactly a grid value, not near one
    batch.values.sum().backward()  # straight-through: the relaxation's gradient reaches the heads
    assert all(head[0].weight.grad is not None and head[0].weight.grad.abs().sum() > 0 for head in generator.heads)
    with torch.no_grad():
        assert not generator.sample(4).values.requires_grad


def test_variable_lengths_are_drawn_and_padding_is_zero():
    spec = DomainSpec(kind="continuous", max_len=4, features=1, value_range=(0.0, 1.0), length_weights=(0.0, 1.0, 0.0, 0.0))
    batch = GridLSTMGenerator(spec=spec, bins=4, embed_dim=2, hidden_dim=4, head_dim=4).sample(8)
    assert torch.equal(batch.lengths, torch.full((8,), 2))
    assert batch.values[:, 2:].abs().sum().item() == 0.0


@pytest.mark.parametrize(
    "params, message",
    [({"bins": 1}, "bins must be an integer >= 2"), ({"bins": [4, 4, 4]}, "one per feature"), ({"temperature": 0}, "temperature")],
)
def test_bad_parameters_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        GridLSTMGenerator(spec=SPEC, **params)


def test_bad_domains_are_refused():
    with pytest.raises(ValueError, match="value_range"):
        GridLSTMGenerator(spec=DomainSpec(kind="continuous", max_len=3, features=1))
    with pytest.raises(ValueError, match="discrete"):
        GridLSTMGenerator(spec=DomainSpec(kind="discrete", max_len=3, vocab_size=5))


def _two_mode_data(n: int) -> Batch:
    """Feature 0 is 0 or 1 at random (independently per step); feature 1 repeats feature 0 of the same step."""
    first = torch.randint(0, 2, (n, 6)).float()
    return Batch.full_length(torch.stack([first, first], dim=-1))


def test_teacher_forced_likelihood_learns_modes_that_regression_averages():
    """Maximum likelihood keeps both modes and the within-step dependency; the LSTM's squared error averages them.

    Each step's feature 0 is 0 or 1 with probability 1/2, so the best NLL per feature is
    (ln 2 + 0) / 2 = 0.347 (feature 1 is then certain).
    """
    torch.manual_seed(0)
    grid = GridLSTMGenerator(spec=SPEC, bins=5, embed_dim=4, hidden_dim=16, head_dim=16)
    regression = LSTMGenerator(spec=SPEC, hidden_dim=16)
    for model in (grid, regression):
        optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
        for _ in range(60):
            loss = model.pretrain_loss(_two_mode_data(32))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        values = grid.sample(400).values
        averaged = regression.sample(400).values
    # both modes, in about equal shares, and feature 1 always equals feature 0
    share_of_ones = (values[..., 0] == 1.0).float().mean().item()
    assert 0.35 < share_of_ones < 0.65 and ((values[..., 0] == 0.0) | (values[..., 0] == 1.0)).all()
    assert (values[..., 0] == values[..., 1]).float().mean().item() > 0.98
    # the regression generator sits between the modes, near their mean of 0.5
    assert (averaged[..., 0] - 0.5).abs().mean().item() < 0.2
    assert grid.pretrain_loss(_two_mode_data(256)).item() < 0.40


def test_an_adversarial_step_changes_the_generator_through_the_draws():
    torch.manual_seed(1)
    generator = GridLSTMGenerator(spec=SPEC, bins=5, embed_dim=4, hidden_dim=8, head_dim=8)
    discriminator = GRUDiscriminator(spec=SPEC, hidden_dim=8)
    step = Reparam().generator_step(generator, discriminator, Minimax(non_saturating=True), _two_mode_data(16), step=0, total_steps=1)
    step.loss.backward()
    assert generator.rnn.weight_hh_l0.grad is not None and generator.rnn.weight_hh_l0.grad.abs().sum() > 0


def test_the_discriminator_reads_the_generators_one_hots_with_the_same_scores():
    torch.manual_seed(2)
    generator = GridLSTMGenerator(spec=SPEC, bins=[5, 3], embed_dim=4, hidden_dim=8, head_dim=8)
    discriminator = GridLSTMDiscriminator(spec=SPEC, bins=[5, 3], embed_dim=4, hidden_dim=8)
    fake = generator.sample(16)
    assert fake.extras[ONE_HOTS].shape == (16, 6, 8)
    plain = Batch(values=fake.values.detach(), lengths=fake.lengths)  # what a discriminator update sees (no one-hots)
    for sent, rebuilt in zip(discriminator.one_hots(fake), discriminator.one_hots(plain)):
        assert torch.equal(sent.detach(), rebuilt)
    scores = discriminator(fake)
    assert torch.allclose(scores, discriminator(plain), atol=1e-6)
    # the gradient reaches the probability of every grid value, not only the drawn one
    one_hots = fake.extras[ONE_HOTS]
    one_hots.retain_grad()
    scores.sum().backward()
    assert (one_hots.grad[..., :5] != 0).all()


def test_discriminator_padding_never_changes_a_score_and_bad_bins_are_named():
    torch.manual_seed(3)
    discriminator = GridLSTMDiscriminator(spec=SPEC, bins=4, embed_dim=3, hidden_dim=6, values=False)
    values = torch.rand(2, 6, 2)
    short = Batch(values=values, lengths=torch.tensor([3, 6]))
    changed = values.clone()
    changed[0, 3:] = torch.rand(3, 2)
    assert torch.equal(discriminator(short), discriminator(Batch(values=changed, lengths=short.lengths)))
    with pytest.raises(ValueError, match="grid-lstm discriminator: bins"):
        GridLSTMDiscriminator(spec=SPEC, bins=[4])


def test_sampled_log_probs_equal_the_teacher_forced_likelihood_of_the_same_values():
    """What maligan weighs (the draws' log-probs) is the model's likelihood of the sample, step by step."""
    torch.manual_seed(4)
    spec = DomainSpec(kind="continuous", max_len=5, features=2, value_range=(0.0, 1.0), length_weights=(0.0, 0.0, 0.5, 0.0, 0.5))
    generator = GridLSTMGenerator(spec=spec, bins=[5, 3], embed_dim=4, hidden_dim=8, head_dim=8)
    with torch.no_grad():
        fake = generator.sample(12)
        scored = generator.log_likelihoods(fake).sum(-1)
    assert fake.log_probs is not None and set(fake.lengths.tolist()) <= {3, 5}
    torch.testing.assert_close(fake.log_probs, scored, atol=1e-5, rtol=0)
    assert (fake.log_probs[~fake.mask] == 0).all()
