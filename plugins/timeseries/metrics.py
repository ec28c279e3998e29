"""Distribution metrics for real-valued series: lower is better for all of them.

All take a real (held-out) and a generated :class:`~seqtk.core.interfaces.Batch` on the
CPU, ignore padding (``Batch.mask``), compute in float64 and return a Python float.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import numpy as np
import torch
from torch import Tensor

from seqtk.core.interfaces import Batch, Metric
from seqtk.core.params import PositiveInt, Range, checked

__all__ = ["MMD", "MarginalDistance", "AutocorrelationDistance", "mmd_rbf", "wasserstein_1d", "autocorrelation"]


# --------------------------------------------------------------------------- helpers


def _masked_values(batch: Batch, steps: int | None = None) -> Tensor:
    """``[B, steps, F]`` float64 values with padding zeroed (and zero-padded to ``steps``)."""
    values = batch.values.detach().to(torch.float64)
    values = values.masked_fill(~batch.mask.to(values.device).unsqueeze(-1), 0.0)
    if steps is not None and steps > values.shape[1]:
        pad = values.new_zeros(values.shape[0], steps - values.shape[1], values.shape[2])
        values = torch.cat([values, pad], dim=1)
    return values


def _check_features(real: Batch, fake: Batch, metric: str) -> None:
    if real.values.dim() != 3 or fake.values.dim() != 3:
        raise ValueError(f"{metric}: expects continuous [B, T, F] batches")
    if real.values.shape[2] != fake.values.shape[2]:
        raise ValueError(f"{metric}: real has {real.values.shape[2]} features, fake {fake.values.shape[2]}")
    if real.size == 0 or fake.size == 0:
        raise ValueError(f"{metric}: needs at least one real and one generated sequence")


# --------------------------------------------------------------------------- MMD


def mmd_rbf(x: Tensor, y: Tensor) -> float:
    """Squared MMD between samples ``x`` ``[n, d]`` and ``y`` ``[m, d]``, RBF kernel, biased.

    Kernel ``k(a, b) = exp(-||a - b||^2 / median)``, where ``median`` is the median of the
    squared distances over all distinct pairs of the pooled set (the median heuristic;
    this is the Gaussian kernel with ``2 sigma^2 = median``). Estimator: the V-statistic

    .. math::  \\mathrm{MMD}^2_b = \\overline{K_{xx}} + \\overline{K_{yy}} - 2\\,\\overline{K_{xy}}

    (means over all pairs, diagonals included), which is the squared RKHS distance between
    the two empirical mean embeddings and so never negative, unlike the unbiased
    U-statistic. Gretton et al., "A Kernel Two-Sample Test", JMLR 2012, eq. 5.
    """
    pooled = torch.cat([x, y]).to(torch.float64)
    sq = torch.cdist(pooled, pooled).pow(2)
    upper = torch.triu_indices(len(pooled), len(pooled), offset=1)
    median = sq[upper[0], upper[1]].median() if upper.shape[1] else sq.new_tensor(0.0)
    bandwidth = median if median > 0 else sq.new_tensor(1.0)  # all points equal: any bandwidth gives 0
    kernel = torch.exp(-sq / bandwidth)
    n = len(x)
    value = kernel[:n, :n].mean() + kernel[n:, n:].mean() - 2 * kernel[:n, n:].mean()
    return max(float(value), 0.0)


@checked("mmd")
class MMD(Metric):
    """Maximum mean discrepancy between real and generated sequences (see :func:`mmd_rbf`).

    Each sequence is one point: its ``T * F`` values flattened, padding zeroed. Only the
    first ``max_samples`` sequences of each side are used (cost grows with its square).
    """

    higher_is_better: ClassVar[bool] = False

    def __init__(self, max_samples: Annotated[int, Range(2)] = 1000) -> None:
        self.max_samples = max_samples

    def __call__(self, real: Batch, fake: Batch) -> float:
        _check_features(real, fake, "mmd")
        steps = max(real.steps, fake.steps)
        x = _masked_values(real.index(torch.arange(min(real.size, self.max_samples))), steps)
        y = _masked_values(fake.index(torch.arange(min(fake.size, self.max_samples))), steps)
        return mmd_rbf(x.flatten(1), y.flatten(1))


# --------------------------------------------------------------------------- marginals


def wasserstein_1d(u: np.ndarray, v: np.ndarray) -> float:
    """Wasserstein-1 distance between two 1-D empirical distributions of any sizes.

    .. math::  W_1(u, v) = \\int_{-\\infty}^{\\infty} |F_u(x) - F_v(x)|\\, dx

    evaluated exactly: both CDFs are step functions, constant between consecutive points
    of the pooled sorted sample, so the integral is a finite sum (the same formula as
    ``scipy.stats.wasserstein_distance``).
    """
    u = np.sort(np.asarray(u, dtype=np.float64).ravel())
    v = np.sort(np.asarray(v, dtype=np.float64).ravel())
    if u.size == 0 or v.size == 0:
        raise ValueError("wasserstein_1d: both samples must be non-empty")
    points = np.sort(np.concatenate([u, v]))
    widths = np.diff(points)
    cdf_u = np.searchsorted(u, points[:-1], side="right") / u.size
    cdf_v = np.searchsorted(v, points[:-1], side="right") / v.size
    return float(np.sum(np.abs(cdf_u - cdf_v) * widths))


class MarginalDistance(Metric):
    """Mean over features of the Wasserstein-1 distance between value distributions.

    For each feature, every valid step of every sequence is pooled into one sample per
    side; the metric ignores time entirely (pair it with ``acf`` and ``mmd``), but says at
    once whether the generator produces the right range and histogram of values.
    """

    higher_is_better: ClassVar[bool] = False

    def __call__(self, real: Batch, fake: Batch) -> float:
        _check_features(real, fake, "marginal")
        real_values = real.values.detach().to(torch.float64)[real.mask].numpy()  # [N, F]
        fake_values = fake.values.detach().to(torch.float64)[fake.mask].numpy()
        if len(real_values) == 0 or len(fake_values) == 0:
            raise ValueError("marginal: a batch has no valid steps")
        distances = [wasserstein_1d(real_values[:, f], fake_values[:, f]) for f in range(real_values.shape[1])]
        return float(np.mean(distances))


# --------------------------------------------------------------------------- autocorrelation


def autocorrelation(batch: Batch, max_lag: int) -> Tensor:
    """``[B, max_lag, F]`` float64 autocorrelations at lags ``1 .. max_lag`` of each series.

    Per sequence and feature, over its ``L`` valid steps, with its own mean ``mu``:

    .. math::  r_k = \\frac{\\sum_{t=0}^{L-1-k} (x_t - \\mu)(x_{t+k} - \\mu)}{\\sum_{t=0}^{L-1} (x_t - \\mu)^2}

    the standard (biased, always in [-1, 1]) sample autocorrelation, as in statsmodels'
    ``acf``. Constant series, and lags ``k >= L``, give 0.
    """
    values = _masked_values(batch)
    mask = batch.mask.to(values.device).unsqueeze(-1).to(values.dtype)
    count = mask.sum(1, keepdim=True).clamp_min(1.0)
    centred = (values - values.sum(1, keepdim=True) / count) * mask
    variance = centred.pow(2).sum(1)  # [B, F]
    lags = []
    for k in range(1, max_lag + 1):
        if k >= values.shape[1]:
            lags.append(torch.zeros_like(variance))
            continue
        lags.append((centred[:, :-k] * centred[:, k:]).sum(1))
    products = torch.stack(lags, dim=1)  # [B, K, F]
    constant = _is_constant(values, batch.mask.to(values.device)).unsqueeze(1)  # [B, 1, F]
    denominator = torch.where(constant, torch.ones_like(variance.unsqueeze(1)), variance.unsqueeze(1))
    return torch.where(constant, torch.zeros_like(products), products / denominator)


def _is_constant(values: Tensor, mask: Tensor) -> Tensor:
    """``[B, F]`` true where a series' valid steps all hold the same value (or there are none)."""
    valid = mask.unsqueeze(-1)
    high = values.masked_fill(~valid, -torch.inf).amax(1)
    low = values.masked_fill(~valid, torch.inf).amin(1)
    return ~(high > low)


@checked("acf")
class AutocorrelationDistance(Metric):
    """Mean absolute difference between real and generated mean autocorrelation functions.

    For each side, :func:`autocorrelation` is averaged over sequences, giving one value per
    feature and lag ``1 .. max_lag``; the metric is the mean absolute difference of those
    values. It measures temporal dynamics, which the marginal distance ignores.
    """

    higher_is_better: ClassVar[bool] = False

    def __init__(self, max_lag: PositiveInt = 5) -> None:
        self.max_lag = max_lag

    def __call__(self, real: Batch, fake: Batch) -> float:
        _check_features(real, fake, "acf")
        real_acf = autocorrelation(real, self.max_lag).mean(0)
        fake_acf = autocorrelation(fake, self.max_lag).mean(0)
        return float((real_acf - fake_acf).abs().mean())
