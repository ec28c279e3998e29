"""Tests of the sines domain, its CSV writer, the LSTM generator and the GRU discriminator."""

from __future__ import annotations

import csv
import math
import os

import numpy as np
import pytest
import torch

from seqtk.core.interfaces import Batch, DomainSpec
from seqtk.plugins.discriminators import GRUDiscriminator
from seqtk.plugins.estimators import Reparam
from seqtk.plugins.generators import LSTMGenerator
from seqtk.plugins.objectives import Minimax
from seqtk.plugins.timeseries import csv_samples
from seqtk.plugins.timeseries.sines import SinesDomain

SPEC = DomainSpec(kind="continuous", max_len=12, features=3, value_range=(0.0, 1.0))


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny recurrent nets run step by step: one thread is faster, and immune to a busy machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# --------------------------------------------------------------------------- sines


def test_sines_shapes_split_range_and_spec():
    domain = SinesDomain(samples=100, length=24, features=5, test_fraction=0.2)
    train, test = domain.load("train"), domain.load("test")
    assert len(train) == 80 and len(test) == 20
    assert train.batch.values.shape == (80, 24, 5) and train.batch.values.dtype == torch.float32
    assert torch.equal(train.batch.lengths, torch.full((80,), 24))
    for split in (train, test):
        assert split.batch.values.min() >= 0.0 and split.batch.values.max() <= 1.0
    assert domain.spec == DomainSpec(kind="continuous", max_len=24, features=5, value_range=(0.0, 1.0))
    assert domain.load("train") is train  # cached
    assert domain.default_metrics == ("mmd", "marginal", "acf", "density", "coverage")


def _recovered_frequencies(values: torch.Tensor) -> torch.Tensor:
    """f of each series, from sin(f t + p) satisfying x[t+1] + x[t-1] = 2 cos(f) x[t] exactly."""
    x = values.double() * 2 - 1  # undo (x + 1) / 2
    around, middle = x[:, 2:] + x[:, :-2], x[:, 1:-1]
    two_cos = (around * middle).sum(1) / (middle * middle).sum(1)
    residual = (around - two_cos.unsqueeze(1) * middle).abs().max()
    assert residual < 1e-5, "every series must be an exact sinusoid"
    return torch.arccos((two_cos / 2).clamp(-1, 1))


@pytest.mark.parametrize("variant, f_high, p_low, p_high", [("code", 0.1, 0.0, 0.1), ("paper", 1.0, -math.pi, math.pi)])
def test_sines_are_the_documented_waves(variant, f_high, p_low, p_high):
    values = SinesDomain(samples=200, length=24, features=5, variant=variant).load("train").batch.values
    frequencies = _recovered_frequencies(values)
    assert frequencies.min() >= 0 and frequencies.max() <= f_high + 1e-3
    assert frequencies.max() > 0.8 * f_high  # the whole range is used
    first = values[:, 0].double() * 2 - 1  # sin(p)
    assert first.min() >= math.sin(max(p_low, -math.pi / 2)) - 1e-6
    assert first.max() <= math.sin(min(p_high, math.pi / 2)) + 1e-6


def _zero_crossings(values: torch.Tensor) -> float:
    centred = values - 0.5
    return float(((centred[:, 1:] * centred[:, :-1]) < 0).float().sum(1).mean())


def test_sines_variants_differ_as_documented():
    code = SinesDomain(samples=200, variant="code").load("train").batch.values
    paper = SinesDomain(samples=200, variant="paper").load("train").batch.values
    # code: f t + p <= 2.4 < pi over 24 steps, so a wave never crosses its midline.
    assert _zero_crossings(code) == 0.0 and code.min() >= 0.5
    assert _zero_crossings(paper) > 3.0
    assert paper.min() < 0.01 and paper.max() > 0.99


def test_sines_are_deterministic_by_seed_and_ignore_torch_rng():
    torch.manual_seed(1)
    a = SinesDomain(samples=20, seed=3).load("test").batch.values
    torch.manual_seed(2)
    b = SinesDomain(samples=20, seed=3).load("test").batch.values
    c = SinesDomain(samples=20, seed=4).load("test").batch.values
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"samples": 1}, "samples"),
        ({"test_fraction": 0.0}, "test_fraction"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"length": 1}, "length"),
        ({"features": 0}, "features"),
        ({"variant": "nope"}, "variant"),
    ],
)
def test_sines_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SinesDomain(**kwargs)


def test_write_samples_csv_header_rows_and_no_temp_file(tmp_path):
    domain = SinesDomain(samples=10, length=4, features=2, plots=False)
    values = torch.rand(3, 4, 2)
    batch = Batch(values=values, lengths=torch.tensor([4, 2, 3]))
    (path,) = domain.write_samples(batch, tmp_path, "step_100")
    assert path == tmp_path / "step_100.csv"
    assert os.listdir(tmp_path) == ["step_100.csv"]  # the temporary file was renamed away
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["sample", "step", "f0", "f1"]
    assert len(rows) == 1 + 4 + 2 + 3
    assert [tuple(map(int, row[:2])) for row in rows[1:4]] == [(0, 0), (0, 1), (0, 2)]
    assert rows[5][:2] == ["1", "0"] and rows[-1][:2] == ["2", "2"]
    assert np.float32(float(rows[6][3])) == values[1, 1, 1].item()  # float32 round-trips exactly


def test_write_samples_draws_pca_and_grid_pictures_beside_the_csv(tmp_path):
    pytest.importorskip("matplotlib")
    domain = SinesDomain(samples=40, length=6, features=2)
    written = domain.write_samples(Batch.full_length(torch.rand(8, 6, 2)), tmp_path, "step_5")
    assert [p.name for p in written] == ["step_5.csv", "step_5-pca.png", "step_5-grid.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written[1:])
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in written)


def test_write_series_csv_is_atomic_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "out.csv"
    target.write_text("old contents\n")

    def broken_replace(src, dst):
        raise OSError("disk gone")

    import seqtk.core.atomic as atomic

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk gone"):
        csv_samples.write_series_csv(np.zeros((2, 3, 1)), np.array([3, 3]), target, ["x"])
    assert target.read_text() == "old contents\n"  # the old file is untouched
    assert os.listdir(tmp_path) == ["out.csv"]  # and no temporary file is left behind


def test_write_series_csv_checks_shapes(tmp_path):
    with pytest.raises(ValueError, match="feature names"):
        csv_samples.write_series_csv(np.zeros((2, 3, 2)), np.array([3, 3]), tmp_path / "a.csv", ["x"])


# --------------------------------------------------------------------------- generator


@pytest.mark.parametrize("feed_previous, num_layers", [(True, 1), (True, 2), (False, 2)])
def test_generator_sample_shape_range_and_gradient(feed_previous, num_layers):
    torch.manual_seed(0)
    generator = LSTMGenerator(SPEC, hidden_dim=16, num_layers=num_layers, feed_previous=feed_previous)
    batch = generator.sample(5)
    assert batch.values.shape == (5, 12, 3)
    assert torch.equal(batch.lengths, torch.full((5,), 12))
    assert batch.values.min() >= 0.0 and batch.values.max() <= 1.0
    batch.values.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in generator.parameters())


def test_generator_value_range_rescales_and_none_is_unbounded():
    torch.manual_seed(0)
    spec = DomainSpec(kind="continuous", max_len=6, features=2, value_range=(-3.0, -1.0))
    values = LSTMGenerator(spec, hidden_dim=8).sample(20).values
    assert values.min() >= -3.0 and values.max() <= -1.0
    generator = LSTMGenerator(DomainSpec(kind="continuous", max_len=6, features=2), hidden_dim=8)
    with torch.no_grad():
        generator.out.bias.fill_(5.0)
    assert generator.sample(4).values.min() > 1.0  # identity output: nothing squashes it into [0, 1]


@pytest.mark.parametrize("feed_previous", [True, False])
def test_generator_draws_lengths_from_the_spec_and_zeroes_the_padding(feed_previous):
    torch.manual_seed(0)
    weights = (0.0, 0.0, 1.0, 0.0, 3.0, 0.0)  # lengths 3 and 5, 1:3
    spec = DomainSpec(kind="continuous", max_len=6, features=2, value_range=(0.0, 1.0), length_weights=weights)
    batch = LSTMGenerator(spec, hidden_dim=8, feed_previous=feed_previous).sample(4000)
    assert set(batch.lengths.tolist()) == {3, 5}
    share_of_5 = (batch.lengths == 5).float().mean().item()
    assert abs(share_of_5 - 0.75) < 4 * math.sqrt(0.75 * 0.25 / 4000)  # binomial, 4 standard errors
    assert torch.all(batch.values[~batch.mask] == 0)
    assert torch.all(batch.values[batch.mask] > 0)  # sigmoid outputs are never exactly 0
    with pytest.raises(ValueError, match="length_weights must hold 6 weights"):
        LSTMGenerator(DomainSpec(kind="continuous", max_len=6, features=2, length_weights=(1.0, 2.0)))


def test_generator_rejects_discrete_domains_and_bad_settings():
    with pytest.raises(ValueError, match="discrete"):
        LSTMGenerator(DomainSpec(kind="discrete", max_len=5, vocab_size=10))
    with pytest.raises(ValueError, match="hidden_dim"):
        LSTMGenerator(SPEC, hidden_dim=0)
    with pytest.raises(ValueError, match="feed_previous"):
        LSTMGenerator(SPEC, feed_previous=False).pretrain_loss(Batch.full_length(torch.rand(2, 12, 3)))


def test_generator_pretraining_on_sines_reduces_the_loss():
    torch.manual_seed(0)
    domain = SinesDomain(samples=80, length=12, features=3, variant="paper")
    data = domain.load("train").batch
    generator = LSTMGenerator(domain.spec, noise_dim=2, hidden_dim=24)
    optimiser = torch.optim.Adam(generator.parameters(), lr=1e-2)
    losses = []
    for _ in range(50):
        loss = generator.pretrain_loss(data)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])


def test_pretrain_loss_ignores_padding():
    torch.manual_seed(0)
    generator = LSTMGenerator(SPEC, hidden_dim=8)
    values = torch.rand(2, 12, 3)
    garbage = values.clone()
    garbage[1, 7:] = float("nan")
    lengths = torch.tensor([12, 7])
    torch.manual_seed(1)
    clean = generator.pretrain_loss(Batch(values=values, lengths=lengths))
    torch.manual_seed(1)
    dirty = generator.pretrain_loss(Batch(values=garbage, lengths=lengths))
    assert torch.isfinite(dirty) and dirty.item() == pytest.approx(clean.item())


def test_reparam_estimator_gives_the_generator_a_gradient():
    torch.manual_seed(0)
    generator = LSTMGenerator(SPEC, hidden_dim=8)
    discriminator = GRUDiscriminator(SPEC, hidden_dim=8, per_step=True)
    real = Batch.full_length(torch.rand(4, 12, 3))
    step = Reparam().generator_step(generator, discriminator, Minimax(), real, step=0, total_steps=1)
    assert step.loss.dim() == 0
    step.loss.backward()
    assert generator.out.weight.grad is not None and generator.out.weight.grad.abs().sum() > 0


# --------------------------------------------------------------------------- discriminator


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("per_step", [False, True])
def test_discriminator_output_shapes(bidirectional, per_step):
    discriminator = GRUDiscriminator(SPEC, hidden_dim=8, num_layers=2, bidirectional=bidirectional, per_step=per_step)
    assert discriminator.per_step is per_step
    batch = Batch(values=torch.rand(4, 12, 3), lengths=torch.tensor([12, 5, 1, 12]))
    scores = discriminator(batch)
    assert scores.shape == ((4, 12) if per_step else (4,))
    if per_step:
        assert torch.equal(scores[1, 5:], torch.zeros(7)) and torch.equal(scores[2, 1:], torch.zeros(11))


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("per_step", [False, True])
def test_padding_does_not_change_scores(bidirectional, per_step):
    torch.manual_seed(0)
    discriminator = GRUDiscriminator(SPEC, hidden_dim=8, bidirectional=bidirectional, per_step=per_step)
    short = torch.rand(1, 5, 3)
    alone = discriminator(Batch.full_length(short))
    padded = torch.cat([short, torch.full((1, 7, 3), 1e3)], dim=1)  # garbage after the real steps
    other = torch.rand(1, 12, 3)
    together = discriminator(Batch(values=torch.cat([padded, other]), lengths=torch.tensor([5, 12])))
    if per_step:
        torch.testing.assert_close(together[0, :5], alone[0])
    else:
        torch.testing.assert_close(together[0], alone[0])
    # The garbage really is in the input: scoring all 12 steps of the row gives something else.
    assert not torch.allclose(discriminator(Batch.full_length(padded)), together[:1])


def test_discrete_discriminator_passes_gradient_to_relaxed_inputs():
    torch.manual_seed(0)
    spec = DomainSpec(kind="discrete", max_len=6, vocab_size=7)
    discriminator = GRUDiscriminator(spec, hidden_dim=8, embed_dim=4)
    logits = torch.randn(3, 6, 7, requires_grad=True)
    relaxed = torch.softmax(logits, dim=-1)
    batch = Batch(values=relaxed.argmax(-1), lengths=torch.tensor([6, 4, 2]), relaxed=relaxed)
    discriminator(batch).sum().backward()
    assert logits.grad is not None and logits.grad[:, 0].abs().sum() > 0
    assert torch.equal(logits.grad[2, 2:], torch.zeros(4, 7))  # padding gets no gradient
    tokens = Batch(values=torch.randint(0, 7, (3, 6)), lengths=torch.tensor([6, 4, 2]))
    assert discriminator(tokens).shape == (3,)
