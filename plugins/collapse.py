"""Density and coverage: do the samples spread over the real data, or collapse onto a few modes?

Naeem, Oh, Uh, Choi and Yoo, "Reliable Fidelity and Diversity Metrics for Generative
Models", ICML 2020. Each real point ``X_i`` (of ``N``) gets a ball around it whose radius
``r_i`` is the distance to its k-th nearest *other* real point; for the ``M`` generated
points ``Y_j``:

- **density** ``= 1 / (k M) * sum_j sum_i [ ||Y_j - X_i|| <= r_i ]``: how many real
  neighbourhoods a sample falls in, on average, over ``k``. About 1 when the samples are
  distributed like the real data, below 1 when they fall in sparse places, above 1 when
  they crowd into dense ones. Unbounded above.
- **coverage** ``= 1 / N * sum_i [ min_j ||Y_j - X_i|| <= r_i ]``: the share of real
  neighbourhoods that hold at least one sample, in ``[0, 1]``. Two samples of one
  distribution score about ``1 - 2^-k`` (0.97 for ``k = 5`` when ``M = N``); a generator
  that collapses onto a few modes leaves most neighbourhoods empty and scores near 0.

Balls are closed (``<=``), so a real point with ``k`` exact duplicates (radius 0) is still
covered by a sample equal to it; the reference implementation (``prdc``) uses ``<`` and
differs only on such ties.

Both need points in a space where distance means likeness: an *embedding* of each
sequence as one vector. :func:`embedder_for` picks it: a domain that defines
``knn_embedding(real, fake)`` embeds its own sequences (the music domain: a feature
vector per piece); any other continuous domain gets :func:`scaled_windows` (each series
scaled per feature with the real set's minimum and maximum, then flattened).

The real-versus-real figure (:func:`real_coverage`) says what coverage the held-out data
itself reaches: one half of it, chosen by a fixed seed, covers the other. Only when that
figure is high is a low coverage evidence of collapse rather than of too few or too
scattered real points, so :class:`Coverage` warns (:meth:`Coverage.warning`) only then.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Callable, ClassVar

import torch
from torch import Tensor

from seqtk.core.interfaces import Batch, DomainSpec, Metric
from seqtk.core.params import PositiveInt, Range, checked

__all__ = [
    "COLLAPSE_METRICS",
    "DEFAULT_K",
    "WARN_BELOW",
    "TRUSTED_FROM",
    "Coverage",
    "Density",
    "density_coverage",
    "embedder_for",
    "knn_radii",
    "real_coverage",
    "scaled_columns",
    "scaled_windows",
]

#: The registry names of the two metrics, for domains' ``default_metrics``.
COLLAPSE_METRICS: tuple[str, ...] = ("density", "coverage")
#: Neighbours per ball, as in the paper's experiments.
DEFAULT_K = 5
#: :meth:`Coverage.warning` speaks when coverage falls below this ...
WARN_BELOW = 0.5
#: ... while one half of the real data covers the other at least this well.
TRUSTED_FROM = 0.8
#: Seed of the fixed split of the real set into halves for :func:`real_coverage`.
REAL_SPLIT_SEED = 0

#: ``(real, fake) -> (real points [N, D], fake points [M, D])``, float64, same space.
Embedder = Callable[[Batch, Batch], tuple[Tensor, Tensor]]


# --------------------------------------------------------------------------- k-NN


def _check_points(real: Tensor, fake: Tensor) -> None:
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"density/coverage: expects [N, D] and [M, D] points, got {tuple(real.shape)} and {tuple(fake.shape)}")
    if not (bool(torch.isfinite(real).all()) and bool(torch.isfinite(fake).all())):
        raise ValueError("density/coverage: the embedded points hold NaN or infinity")


def knn_radii(points: Tensor, k: int) -> Tensor:
    """``[N]``: each point's distance to its ``k``-th nearest other point (needs ``N > k``).

    The ``k + 1`` smallest distances of a row include the point's own 0, so the largest of
    them is the k-th nearest *other* point's, duplicates counted as separate points.
    """
    if k < 1 or points.shape[0] <= k:
        raise ValueError(f"knn_radii: needs k >= 1 and more than k points, got k={k} and {points.shape[0]} points")
    distances = torch.cdist(points, points)
    return distances.topk(k + 1, dim=1, largest=False).values[:, -1]


def density_coverage(real: Tensor, fake: Tensor, k: int = DEFAULT_K) -> tuple[float, float]:
    """Density and coverage of ``fake`` ``[M, D]`` with respect to ``real`` ``[N, D]`` (module docstring).

    ``k`` is lowered to ``N - 1`` when there are too few real points for it; with fewer
    than 2 real points, or no generated point, both are NaN (nothing to judge).
    """
    _check_points(real, fake)
    real, fake = real.to(torch.float64), fake.to(torch.float64)
    k = min(k, real.shape[0] - 1)
    if k < 1 or fake.shape[0] == 0:
        return math.nan, math.nan
    radii = knn_radii(real, k)
    inside = torch.cdist(real, fake) <= radii.unsqueeze(1)  # [N, M]: sample j in ball i
    density = inside.sum().item() / (k * fake.shape[0])
    coverage = inside.any(dim=1).double().mean().item()
    return float(density), float(coverage)


def real_coverage(real: Tensor, k: int = DEFAULT_K, seed: int = REAL_SPLIT_SEED) -> float:
    """Coverage of one half of ``real`` by the other: what the real data itself reaches.

    The rows are shuffled by a private generator seeded with ``seed`` (the caller's random
    state is untouched) and cut in two; the first half is the reference (its balls), the
    second the candidates. NaN with fewer than 4 rows.
    """
    count = real.shape[0]
    if count < 4:
        return math.nan
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    half = count // 2
    return density_coverage(real[order[:half]], real[order[half : 2 * half]], k)[1]


# --------------------------------------------------------------------------- embeddings


def scaled_columns(real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
    """Both sets min-max scaled per column with the *real* set's range (constant columns shifted only).

    Scaling by the real data alone keeps the space fixed whatever the generator does, so a
    generator cannot shrink its distances by producing extreme values.
    """
    low, high = real.amin(0), real.amax(0)
    span = torch.where(high > low, high - low, torch.ones_like(high))
    return (real - low) / span, (fake - low) / span


def scaled_windows(real: Batch, fake: Batch) -> tuple[Tensor, Tensor]:
    """Continuous series as points: scaled per feature with the real set's range, then flattened.

    Each feature is min-max scaled with the minimum and maximum of the real series' valid
    steps (as TimeGAN scales its data), padding past a series' length is zeroed, both sides
    are zero-padded to the longer length, and each series becomes one ``T * F`` vector.
    Distances then compare whole shapes (frequency, phase, level) step by step, with every
    feature weighted alike whatever its units.
    """
    for name, batch in (("real", real), ("generated", fake)):
        if batch.values.dim() != 3:
            raise ValueError(f"density/coverage: expects continuous [B, T, F] values, the {name} batch has shape {tuple(batch.values.shape)}")
    if real.values.shape[2] != fake.values.shape[2]:
        raise ValueError(f"density/coverage: real has {real.values.shape[2]} features, generated {fake.values.shape[2]}")
    steps = max(real.values.shape[1], fake.values.shape[1])
    real_mask = real.mask.to(real.values.device)
    valid = real.values.detach().to(torch.float64)[real_mask]  # [steps in all, F]
    if valid.shape[0] == 0:
        return real.values.new_zeros(real.size, 0, dtype=torch.float64), fake.values.new_zeros(fake.size, 0, dtype=torch.float64)
    low, high = valid.amin(0), valid.amax(0)
    span = torch.where(high > low, high - low, torch.ones_like(high))

    def points(batch: Batch) -> Tensor:
        values = (batch.values.detach().to(torch.float64) - low) / span
        values = values.masked_fill(~batch.mask.to(values.device).unsqueeze(-1), 0.0)
        values = torch.nn.functional.pad(values, (0, 0, 0, steps - values.shape[1]))
        return values.flatten(1)

    return points(real), points(fake)


def embedder_for(domain: Any, spec: DomainSpec, metric: str) -> Embedder:
    """The domain's own ``knn_embedding(real, fake)`` if it has one, else :func:`scaled_windows` for continuous values."""
    own = getattr(domain, "knn_embedding", None)
    if callable(own):
        return own
    if spec.kind == "continuous":
        return scaled_windows
    raise ValueError(
        f"{metric}: needs continuous values or a domain that embeds its sequences as vectors "
        f"(a knn_embedding(real, fake) method, as the music domain has); {type(domain).__name__} has neither"
    )


# --------------------------------------------------------------------------- metrics


@checked(lambda self: self.name)
class _KNNMetric(Metric):
    """The embedding and ``k`` shared by :class:`Density` and :class:`Coverage`."""

    name: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = True

    def __init__(self, domain: Any, spec: DomainSpec, k: PositiveInt = DEFAULT_K) -> None:
        self.embed = embedder_for(domain, spec, self.name)
        self.k = k

    @classmethod
    def applies_to(cls, domain: type, provides: frozenset[str]) -> bool:
        """Domains :func:`embedder_for` can embed: continuous ones, or one with its own ``knn_embedding``."""
        return "continuous" in provides or callable(getattr(domain, "knn_embedding", None))

    def _points(self, real: Batch, fake: Batch) -> tuple[Tensor, Tensor]:
        real_points, fake_points = self.embed(real, fake)
        return real_points.to(torch.float64).cpu(), fake_points.to(torch.float64).cpu()


class Density(_KNNMetric):
    """Naeem et al.'s density of the samples in the real data's k-NN balls (module docstring).

    About 1 for samples distributed like the held-out data; below 1 when samples fall
    outside the real data (poor fidelity). Embedding: the domain's ``knn_embedding`` or,
    for continuous series, each window scaled per feature by the real set's range and
    flattened (:func:`scaled_windows`). ``k`` neighbours per ball (5).
    """

    name: ClassVar[str] = "density"

    def __call__(self, real: Batch, fake: Batch) -> float:
        return density_coverage(*self._points(real, fake), self.k)[0]


@checked("coverage")
class Coverage(_KNNMetric):
    """Naeem et al.'s coverage: the share of real k-NN balls that hold a sample (module docstring).

    In ``[0, 1]``, higher is better; about ``1 - 2^-k`` for a generator that matches the
    data, near 0 for one collapsed onto a few modes. Each call also measures the held-out
    data against itself (:func:`real_coverage`), so :meth:`warning` can tell collapse from
    a real set too small or too scattered for the metric. Embedding as for :class:`Density`.

    ``warn_below`` (0.5) and ``trusted_from`` (0.8): :meth:`warning` speaks when coverage
    is below ``warn_below`` while the real-versus-real coverage is at least ``trusted_from``.
    """

    name: ClassVar[str] = "coverage"

    def __init__(
        self,
        domain: Any,
        spec: DomainSpec,
        k: PositiveInt = DEFAULT_K,
        warn_below: Annotated[float, Range(0, 1)] = WARN_BELOW,
        trusted_from: Annotated[float, Range(0, 1)] = TRUSTED_FROM,
    ) -> None:
        super().__init__(domain, spec, k)
        self.warn_below, self.trusted_from = float(warn_below), float(trusted_from)
        #: The real-versus-real coverage of the last call (NaN before any, or when too few real rows).
        self.real_coverage = math.nan

    def __call__(self, real: Batch, fake: Batch) -> float:
        real_points, fake_points = self._points(real, fake)
        self.real_coverage = real_coverage(real_points, self.k)
        return density_coverage(real_points, fake_points, self.k)[1]

    def warning(self, value: float) -> str | None:
        """Mode collapse: coverage below ``warn_below`` while the real data covers itself well."""
        if not (math.isfinite(value) and math.isfinite(self.real_coverage)):
            return None
        if value >= self.warn_below or self.real_coverage < self.trusted_from:
            return None
        return (
            f"{value:.3f}, below {self.warn_below:g}: the samples reach only {value:.0%} of the held-out data's "
            f"{self.k}-nearest-neighbour balls, while one half of the held-out data reaches {self.real_coverage:.0%} "
            "of the other's; the generator may have collapsed onto a few modes (look at the samples, "
            "train longer, or try a stabiliser)"
        )
