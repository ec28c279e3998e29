"""Numeric tests of the time-series metrics (MMD, marginal Wasserstein, autocorrelation)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import wasserstein_distance

from seqtk.core.interfaces import Batch
from seqtk.plugins.timeseries.metrics import (
    MMD,
    AutocorrelationDistance,
    MarginalDistance,
    autocorrelation,
    mmd_rbf,
    wasserstein_1d,
)


def batch(values, lengths=None) -> Batch:
    values = torch.as_tensor(np.asarray(values), dtype=torch.float32)
    if lengths is None:
        return Batch.full_length(values)
    return Batch(values=values, lengths=torch.as_tensor(lengths))


# --------------------------------------------------------------------------- marginal


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wasserstein_1d_matches_scipy_for_unequal_sizes(seed):
    rng = np.random.default_rng(seed)
    u, v = rng.normal(size=37), rng.normal(0.5, 2.0, size=101)
    assert wasserstein_1d(u, v) == pytest.approx(wasserstein_distance(u, v), rel=1e-12, abs=1e-12)


def test_marginal_distance_is_mean_of_per_feature_scipy_distances_on_valid_steps():
    rng = np.random.default_rng(3)
    real_values = rng.normal(size=(7, 6, 2))
    fake_values = rng.uniform(size=(11, 4, 2))
    real_lengths, fake_lengths = rng.integers(1, 7, size=7), rng.integers(1, 5, size=11)
    real_values[0, real_lengths[0]:] = 1e6  # padding must be ignored
    real, fake = batch(real_values, real_lengths), batch(fake_values, fake_lengths)
    expected = []
    for f in range(2):
        u = np.concatenate([real.values[i, : real_lengths[i], f].double().numpy() for i in range(7)])
        v = np.concatenate([fake.values[i, : fake_lengths[i], f].double().numpy() for i in range(11)])
        expected.append(wasserstein_distance(u, v))
    assert MarginalDistance()(real, fake) == pytest.approx(np.mean(expected), rel=1e-10)


def test_marginal_distance_of_a_shift_is_the_shift():
    values = np.random.default_rng(4).uniform(size=(20, 5, 3))
    assert MarginalDistance()(batch(values), batch(values)) == pytest.approx(0.0, abs=1e-12)
    assert MarginalDistance()(batch(values), batch(values + 0.25)) == pytest.approx(0.25, rel=1e-6)


# --------------------------------------------------------------------------- MMD


def test_mmd_two_point_example_by_hand():
    # Pooled {0, 1}: one pair, squared distance 1 = median; k = exp(-d^2 / 1).
    assert mmd_rbf(torch.tensor([[0.0]]), torch.tensor([[1.0]])) == pytest.approx(2 - 2 * math.exp(-1))
    assert MMD()(batch([[[0.0]]]), batch([[[1.0]]])) == pytest.approx(2 - 2 * math.exp(-1))


def test_mmd_is_zero_for_identical_sets_and_grows_with_a_shift():
    values = np.random.default_rng(5).normal(size=(50, 6, 2))
    metric = MMD()
    assert metric(batch(values), batch(values)) == pytest.approx(0.0, abs=1e-10)
    distances = [metric(batch(values), batch(values + shift)) for shift in (0.1, 0.5, 2.0)]
    assert 0 < distances[0] < distances[1] < distances[2]


def test_mmd_uses_first_max_samples_rows_and_ignores_padding():
    rng = np.random.default_rng(6)
    values = rng.normal(size=(10, 4, 1))
    padded = values.copy()
    padded[:, 3:] = 99.0
    lengths = np.full(10, 3)
    short = batch(values[:, :3])
    assert MMD()(batch(padded, lengths), short) == pytest.approx(0.0, abs=1e-10)
    # Rows past max_samples are never looked at.
    tail_changed = values.copy()
    tail_changed[5:] += 10.0
    assert MMD(max_samples=5)(batch(values), batch(tail_changed)) == pytest.approx(0.0, abs=1e-10)


def test_mmd_rejects_bad_max_samples():
    with pytest.raises(ValueError, match="max_samples"):
        MMD(max_samples=1)


# --------------------------------------------------------------------------- autocorrelation


def test_alternating_series_has_lag1_autocorrelation_near_minus_one():
    series = np.tile([1.0, -1.0], 12)[None, :, None]  # length 24
    acf = autocorrelation(batch(series), max_lag=2)[0, :, 0]
    assert acf[0].item() == pytest.approx(-23 / 24)  # biased estimator: (L - k) / L
    assert acf[1].item() == pytest.approx(22 / 24)


def test_autocorrelation_matches_the_direct_formula_and_respects_lengths():
    rng = np.random.default_rng(7)
    values = rng.normal(size=(3, 10, 2))
    lengths = np.array([10, 6, 2])
    acf = autocorrelation(batch(values, lengths), max_lag=3)
    for i, length in enumerate(lengths):
        for f in range(2):
            x = values[i, :length, f].astype(np.float32).astype(np.float64)
            c = x - x.mean()
            for k in range(1, 4):
                expected = (c[: length - k] * c[k:]).sum() / (c * c).sum() if k < length else 0.0
                assert acf[i, k - 1, f].item() == pytest.approx(expected, abs=1e-12)


def test_constant_series_have_zero_autocorrelation():
    acf = autocorrelation(batch(np.full((2, 8, 1), 0.3)), max_lag=3)
    assert torch.equal(acf, torch.zeros(2, 3, 1, dtype=torch.float64))


def test_acf_distance_zero_for_identical_data_and_positive_otherwise():
    rng = np.random.default_rng(8)
    smooth = np.cumsum(rng.normal(size=(30, 24, 2)), axis=1)  # random walks: strong autocorrelation
    noise = rng.normal(size=(30, 24, 2))  # white noise: near zero
    metric = AutocorrelationDistance(max_lag=5)
    assert metric(batch(smooth), batch(smooth)) == 0.0
    assert metric(batch(smooth), batch(noise)) > 0.3


def test_acf_rejects_bad_max_lag():
    with pytest.raises(ValueError, match="max_lag"):
        AutocorrelationDistance(max_lag=0)


def test_metrics_declare_lower_is_better_and_continuous():
    for metric in (MMD(), MarginalDistance(), AutocorrelationDistance()):
        assert metric.higher_is_better is False
