"""TimeGAN's post-hoc discriminative and predictive scores: behaviour on known cases.

Tiny networks and few steps keep this fast; the cases are chosen so that the right answer
is clear by construction (same process -> near 0; sines versus zeros -> near 0.5).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqtk.core.interfaces import Batch, DomainSpec
from seqtk.core.registry import Entry
from seqtk.plugins.timeseries.posthoc import (
    DiscriminativeScore,
    PredictiveScore,
    discriminative_score,
    predictive_score,
    repeated,
)
from seqtk.plugins.timeseries.sines import sine_waves

FAST = dict(lr=1e-2, batch_size=32)


def sines(n: int, seed: int, features: int = 4, length: int = 16) -> torch.Tensor:
    return torch.from_numpy(sine_waves(n, length, features, "code", np.random.default_rng(seed)))


def spec(features: int = 4, length: int = 16) -> DomainSpec:
    return DomainSpec(kind="continuous", max_len=length, features=features, value_range=(0.0, 1.0))


@pytest.fixture(scope="module")
def real() -> torch.Tensor:
    return sines(300, seed=0)


# --------------------------------------------------------------------------- discriminative


def test_discriminative_is_near_zero_for_two_draws_of_the_same_process(real):
    other = sines(300, seed=1)
    assert discriminative_score(real, other, steps=80, seed=0, **FAST) < 0.15


@pytest.mark.parametrize("kind", ["zeros", "noise"])
def test_discriminative_is_near_half_for_clearly_different_data(real, kind):
    fake = torch.zeros_like(real) if kind == "zeros" else torch.rand(real.shape, generator=torch.Generator().manual_seed(3))
    assert discriminative_score(real, fake, steps=80, seed=0, **FAST) > 0.35


def test_discriminative_needs_two_rows_per_side_and_one_step_per_row(real):
    with pytest.raises(ValueError, match="at least 2 fake"):
        discriminative_score(real, real[:1], steps=1)
    with pytest.raises(ValueError, match="at least one step"):
        discriminative_score(real[:4], real[:4], torch.tensor([16, 0, 16, 16]), None, steps=1)
    with pytest.raises(ValueError, match="features"):
        discriminative_score(real, real[..., :2], steps=1)


# --------------------------------------------------------------------------- predictive


def test_predictive_trained_on_the_real_data_beats_training_on_noise(real):
    noise = torch.rand(real.shape, generator=torch.Generator().manual_seed(3))
    own = predictive_score(real, real, steps=100, seed=0, **FAST)
    other = predictive_score(real, noise, steps=100, seed=0, **FAST)
    assert own < other - 0.05


def test_predictive_needs_two_features(real):
    with pytest.raises(ValueError, match="at least 2 features"):
        predictive_score(real[..., :1], real[..., :1], steps=1)
    with pytest.raises(ValueError, match="at least 2 features"):
        PredictiveScore(spec=spec(features=1))


def test_predictive_mae_of_an_untrained_net_matches_a_hand_computation():
    """One Adam step on identical data; rebuild the same net and compute the masked MAE by hand."""
    x = sines(6, seed=5, features=2, length=5)
    lengths = torch.tensor([5, 3, 1, 4, 2, 5])
    score = predictive_score(x, x, lengths, lengths, steps=1, batch_size=6, lr=1e-9, seed=7)
    torch.manual_seed(7)
    gru, out = torch.nn.GRU(1, 1, batch_first=True), torch.nn.Linear(1, 1)
    per_row = []
    with torch.no_grad():
        for row, n in zip(x, lengths.tolist()):
            if n < 2:
                continue  # no predicted step
            states, _ = gru(row[None, : n - 1, :1])
            pred = torch.sigmoid(out(states)).squeeze()
            per_row.append(float((pred - row[1:n, 1]).abs().mean()))
    assert score == pytest.approx(np.mean(per_row), abs=1e-6)


# --------------------------------------------------------------------------- shared behaviour


@pytest.mark.parametrize("score", [discriminative_score, predictive_score])
def test_padding_and_extra_columns_do_not_change_the_score(score):
    x, y = sines(40, seed=2), sines(40, seed=3)
    gen = torch.Generator().manual_seed(4)
    lx, ly = torch.randint(2, 13, (40,), generator=gen), torch.randint(2, 11, (40,), generator=gen)
    clean = score(x, y, lx, ly, steps=20, seed=1, **FAST)

    def garbage(v: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        wide = torch.cat([v, torch.full((v.shape[0], 5, v.shape[2]), 7.0)], dim=1)
        past = torch.arange(wide.shape[1]).unsqueeze(0) >= lengths.unsqueeze(1)
        noise = torch.randn(wide.shape, generator=gen) * 100
        noise[0, -1, 0] = float("nan")
        return torch.where(past.unsqueeze(-1), noise, wide)

    assert score(garbage(x, lx), garbage(y, ly), lx, ly, steps=20, seed=1, **FAST) == clean


@pytest.mark.parametrize("score", [discriminative_score, predictive_score])
def test_deterministic_for_a_seed_and_leaves_global_rng_alone(real, score):
    x, y = real[:60], sines(60, seed=9)
    before = torch.get_rng_state()
    first = score(x, y, steps=15, seed=3, **FAST)
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(123)  # a different global state must not matter
    assert score(x, y, steps=15, seed=3, **FAST) == first


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"batch_size": True}, "batch_size must be an integer >= 1"),
        ({"lr": -1.0}, "lr must be a finite number > 0"),
        ({"lr": float("nan")}, "lr must be a finite number > 0"),
        ({"seed": -1}, "seed must be an integer >= 0"),
    ],
)
@pytest.mark.parametrize("score", [discriminative_score, predictive_score])
def test_bad_training_parameters_are_rejected(real, score, kwargs, message):
    with pytest.raises(ValueError, match=message):
        score(real, real, **kwargs)


def test_repeated_returns_mean_and_population_std_over_consecutive_seeds():
    seen = []

    def fn(seed: int) -> float:
        seen.append(seed)
        return float(seed * seed)

    mean, std = repeated(fn, 3, seed=2)
    assert seen == [2, 3, 4]
    assert mean == pytest.approx(29 / 3)
    assert std == pytest.approx(np.std([4.0, 9.0, 16.0]))
    assert repeated(lambda s: 0.25, 1) == (0.25, 0.0)
    with pytest.raises(ValueError, match="repeats"):
        repeated(fn, 0)


# --------------------------------------------------------------------------- metrics


@pytest.mark.parametrize(
    "name, cls, fn",
    [("discriminative", DiscriminativeScore, discriminative_score), ("predictive", PredictiveScore, predictive_score)],
)
def test_metric_builds_from_the_registry_and_averages_its_repeats(real, name, cls, fn):
    entry = Entry(kind="metrics", name=name, target=f"seqtk.plugins.timeseries.posthoc:{cls.__name__}", plugin="seqtk")
    params = {"steps": 10, "batch_size": 32, "lr": 1e-2, "repeats": 2, "seed": 5}
    assert entry.check_params(params) == []
    assert entry.check_params({"step": 10})  # a typo is caught before building
    metric = entry.build({"spec": spec(), "domain": None}, params)
    assert isinstance(metric, cls) and metric.higher_is_better is False
    x, y = real[:50], sines(50, seed=8)
    lengths = torch.randint(3, 17, (50,), generator=torch.Generator().manual_seed(1))
    value = metric(Batch(values=x, lengths=lengths), Batch.full_length(y))
    expected = np.mean([fn(x, y, lengths, None, steps=10, batch_size=32, lr=1e-2, seed=s) for s in (5, 6)])
    assert value == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("cls", [DiscriminativeScore, PredictiveScore])
@pytest.mark.parametrize("bad", [{"steps": 0}, {"repeats": 0}, {"lr": 0.0}, {"batch_size": -3}, {"seed": 1.5}])
def test_metric_constructor_rejects_bad_parameters(cls, bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        cls(spec(), **bad)


def test_metric_rejects_a_discrete_domain():
    with pytest.raises(ValueError, match="continuous"):
        DiscriminativeScore(DomainSpec(kind="discrete", max_len=5, vocab_size=10))
