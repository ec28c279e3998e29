"""Pictures that show whether synthetic series look like real ones, saved as PNG.

Two pictures, both used by the time-series domains after training:

- a PCA scatter (TimeGAN's visualisation, Yoon et al., NeurIPS 2019): every sequence is
  reduced to its per-step mean over features, a ``[T]`` vector, and projected onto the
  first two principal components *of the real data*; synthetic points that cover the real
  cloud suggest the generator has matched the real distribution, a clump in one corner
  suggests mode collapse;
- a grid of example series: a few real sequences beside a few synthetic ones, each panel
  one sequence with every feature as a line, on one shared y-range so that shape and
  scale can be compared at a glance.

matplotlib is an optional dependency (``pip install 'seqtk[plot]'``). It is imported only
inside the functions that draw, with ``matplotlib.figure.Figure`` on the Agg canvas and
never ``pyplot``: no global figure state, no display needed, safe in worker processes and
on headless servers. :func:`write_pictures` skips quietly (one warning per process) when
matplotlib is missing, so a training run never fails for lack of it. Every PNG is written
atomically (``seqtk.core.atomic``).

t-SNE is not offered: the lean libraries that implement it (scikit-learn, openTSNE) are
heavy dependencies for one picture.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from seqtk.core.interfaces import Batch
from seqtk.plugins.pictures import INSTALL_HINT, new_figure, no_pictures, plotting_available, save_png, side_by_side

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.figure import Figure

__all__ = ["plotting_available", "pca_coordinates", "write_pca", "write_series_grid", "write_pictures"]

#: Resolution of the saved PNGs (dots per inch); figures are sized in inches.
DEFAULT_DPI = 100
#: Above this many features the grid shows no legend (it would hide the panels).
MAX_LEGEND_FEATURES = 10


# --------------------------------------------------------------------------- availability


def _require_matplotlib(caller: str) -> None:
    if not plotting_available():
        raise ImportError(f"{caller} needs matplotlib, which is not installed; {INSTALL_HINT}")


# --------------------------------------------------------------------------- PCA


def pca_coordinates(
    real: np.ndarray,
    real_lengths: np.ndarray,
    fake: np.ndarray,
    fake_lengths: np.ndarray,
    *,
    max_points: int = 1000,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project real and synthetic sequences onto the real data's first two principal components.

    ``real`` ``[N, T, F]`` and ``fake`` ``[M, T', F]`` with lengths ``[N]`` / ``[M]``; values
    past a sequence's length are padding and never read (they may be NaN). Returns
    ``(real_2d [n, 2], fake_2d [m, 2], explained_variance_ratio [2])``, float64.

    Representation (TimeGAN): each sequence becomes its per-step mean over features, a
    vector over steps ``0 .. L - 1`` where ``L`` is the longest real length. Steps past a
    sequence's own length are filled with that step's mean over the real sequences valid
    there, so a short sequence sits at the real average on the steps it lacks instead of
    at an arbitrary padding value. Synthetic steps at or past ``L`` are dropped: no real
    sequence reaches them, so the real components carry no weight there.

    At most ``max_points`` sequences of each side are kept, drawn without replacement by
    ``np.random.default_rng(seed)`` (real first, then synthetic), in their original order.
    The PCA is fitted (numpy SVD of the centred data) on the kept real sequences only and
    both sides are projected with it, so the axes describe the real data and synthetic
    points are judged against them. Each component's sign is fixed by making its
    largest-magnitude loading positive, so the picture is the same on every machine.
    ``explained_variance_ratio`` is the share of the real data's total variance along each
    component (zero when the real data has no variance).

    Synthetic sequences with a non-finite value on a valid step get NaN coordinates (a
    diverged generator still gets a picture); non-finite real values raise ``ValueError``.
    """
    real, real_lengths = _check_series("real", real, real_lengths)
    fake, fake_lengths = _check_series("fake", fake, fake_lengths)
    if real.shape[2] != fake.shape[2]:
        raise ValueError(
            f"pca_coordinates: real has {real.shape[2]} features, fake {fake.shape[2]}; "
            "pass series of the same dataset"
        )
    if max_points < 2:
        raise ValueError(f"pca_coordinates: max_points must be at least 2, got {max_points}")
    if real.shape[0] < 2:
        raise ValueError(f"pca_coordinates: needs at least 2 real sequences to fit a PCA, got {real.shape[0]}")
    rng = np.random.default_rng(seed)
    keep_real = _subsample(real.shape[0], max_points, rng)
    keep_fake = _subsample(fake.shape[0], max_points, rng)
    real, real_lengths = real[keep_real], real_lengths[keep_real]
    fake, fake_lengths = fake[keep_fake], fake_lengths[keep_fake]

    steps = int(real_lengths.max())
    if steps == 0:
        raise ValueError("pca_coordinates: every real sequence has length 0; nothing to project")
    real_means, real_valid = _per_step_means(real, real_lengths, steps)
    _check_finite_real(real_means, real_valid)
    fill = _step_fill(real_means, real_valid)
    real_rep = np.where(real_valid, real_means, fill)
    fake_means, fake_valid = _per_step_means(fake, fake_lengths, steps)
    fake_rep = np.where(fake_valid, fake_means, fill)

    centre = real_rep.mean(axis=0)
    components, ratio = _principal_components(real_rep - centre)
    with np.errstate(invalid="ignore", over="ignore"):
        fake_2d = (fake_rep - centre) @ components.T
    fake_2d[~np.isfinite(fake_2d).all(axis=1)] = np.nan
    return (real_rep - centre) @ components.T, fake_2d, ratio


def _check_series(name: str, values: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate one side; return float64 values and int64 lengths."""
    values = np.asarray(values, dtype=np.float64)
    lengths = np.asarray(lengths)
    if values.ndim != 3:
        raise ValueError(f"{name} values must be [samples, steps, features], got shape {values.shape}")
    if lengths.ndim != 1 or lengths.shape[0] != values.shape[0]:
        raise ValueError(f"{name} lengths must be [samples] with {values.shape[0]} entries, got shape {lengths.shape}")
    if lengths.size and not np.array_equal(lengths, np.round(lengths)):
        raise ValueError(f"{name} lengths must be whole numbers of steps")
    lengths = lengths.astype(np.int64)
    if (lengths < 0).any() or (lengths > values.shape[1]).any():
        raise ValueError(f"{name} lengths must lie in [0, {values.shape[1]}] (the padded length)")
    return values, lengths


def _subsample(count: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of at most ``limit`` of ``count`` items, without replacement, in original order."""
    if count <= limit:
        return np.arange(count)
    return np.sort(rng.choice(count, size=limit, replace=False))


def _valid_mask(lengths: np.ndarray, steps: int) -> np.ndarray:
    return np.arange(steps)[None, :] < lengths[:, None]


def _per_step_means(values: np.ndarray, lengths: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """``([N, steps] per-step mean over features, [N, steps] valid mask)``; padding never read."""
    count, available, _ = values.shape
    used = min(available, steps)
    valid = _valid_mask(np.minimum(lengths, used), steps)
    clean = np.where(valid[:, :used, None], values[:, :used], 0.0)  # padding may be NaN: drop it first
    means = np.zeros((count, steps))
    with np.errstate(invalid="ignore", over="ignore"):
        means[:, :used] = clean.mean(axis=2)
    return means, valid


def _check_finite_real(means: np.ndarray, valid: np.ndarray) -> None:
    bad = valid & ~np.isfinite(means)
    if bad.any():
        row, step = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"pca_coordinates: real sequence {row} has a non-finite value at step {step}; "
            "clean or drop such rows before plotting"
        )


def _step_fill(means: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``[steps]``: each step's mean over the real sequences valid there (every step has one)."""
    totals = np.where(valid, means, 0.0).sum(axis=0)
    return totals / valid.sum(axis=0)


def _principal_components(centred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``([2, D] unit loadings, [2] explained variance ratios)`` of already centred rows.

    Fewer than two components exist when ``D == 1``: the missing one is all zeros, with
    ratio 0, so its coordinate is 0 for every point.
    """
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    components = np.zeros((2, centred.shape[1]))
    power = np.zeros(2)
    kept = min(2, vt.shape[0])
    components[:kept] = vt[:kept]
    power[:kept] = singular[:kept] ** 2
    for row in components[:kept]:
        if row[np.argmax(np.abs(row))] < 0:
            row *= -1.0
    total = float(np.sum(singular**2))
    ratio = power / total if total > 0 else np.zeros(2)
    return components, ratio


# --------------------------------------------------------------------------- figures


def _pca_figure(
    real_2d: np.ndarray, fake_2d: np.ndarray, ratio: np.ndarray, title: str, real_total: int, fake_total: int
) -> "Figure":
    figure = new_figure(6.0, 5.0)
    axes = figure.add_subplot()
    shown = np.isfinite(fake_2d).all(axis=1)
    real_label = f"real ({len(real_2d)} of {real_total})" if len(real_2d) < real_total else f"real ({real_total})"
    fake_label = f"synthetic ({int(shown.sum())} of {fake_total})" if shown.sum() < fake_total else f"synthetic ({fake_total})"
    if not shown.all():
        fake_label += f", {int((~shown).sum())} non-finite not shown"
    axes.scatter(real_2d[:, 0], real_2d[:, 1], s=12, alpha=0.45, color="tab:blue", label=real_label, linewidths=0)
    axes.scatter(
        fake_2d[shown, 0], fake_2d[shown, 1], s=12, alpha=0.45, color="tab:orange", label=fake_label, linewidths=0
    )
    axes.set_xlabel(f"PC1 ({100 * ratio[0]:.1f}% of real variance)")
    axes.set_ylabel(f"PC2 ({100 * ratio[1]:.1f}% of real variance)")
    axes.set_title(title)
    axes.legend(loc="best", fontsize="small")
    return figure


def write_pca(
    real: np.ndarray,
    real_lengths: np.ndarray,
    fake: np.ndarray,
    fake_lengths: np.ndarray,
    path: Path,
    *,
    title: str = "PCA: real vs synthetic",
    max_points: int = 1000,
    seed: int = 0,
    dpi: int = DEFAULT_DPI,
) -> Path:
    """Save a scatter of :func:`pca_coordinates` (real in blue, synthetic in orange) to ``path``.

    The axis labels give each component's share of the real variance; the legend counts
    the points shown. Raises ``ImportError`` when matplotlib is missing.
    """
    _require_matplotlib("write_pca")
    real_2d, fake_2d, ratio = pca_coordinates(
        real, real_lengths, fake, fake_lengths, max_points=max_points, seed=seed
    )
    figure = _pca_figure(real_2d, fake_2d, ratio, title, len(real_lengths), len(fake_lengths))
    return save_png(figure, path, dpi)


def _shared_limits(sides: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float] | None:
    """One y-range over the valid, finite values of every shown sequence, with a 5% margin."""
    finite = [
        values[:length][np.isfinite(values[:length])]
        for side_values, side_lengths in sides
        for values, length in zip(side_values, side_lengths)
    ]
    pooled = np.concatenate(finite) if finite else np.empty(0)
    if pooled.size == 0:
        return None
    low, high = float(pooled.min()), float(pooled.max())
    margin = 0.05 * (high - low) if high > low else max(abs(low) * 0.05, 0.5)
    return low - margin, high + margin


def _grid_figure(
    real: np.ndarray,
    real_lengths: np.ndarray,
    fake: np.ndarray,
    fake_lengths: np.ndarray,
    feature_names: Sequence[str],
    examples: int,
    seed: int,
) -> "Figure":
    rng = np.random.default_rng(seed)
    real_rows, fake_rows = _subsample(len(real), examples, rng), _subsample(len(fake), examples, rng)
    shown = [(real[real_rows], real_lengths[real_rows]), (fake[fake_rows], fake_lengths[fake_rows])]
    figure, grid, panels = side_by_side(8.0, ("real", "synthetic"), (len(real_rows), len(fake_rows)), "step")
    limits = _shared_limits(shown)
    for column, row, axes in panels:
        indices, (values, lengths) = (real_rows, fake_rows)[column], shown[column]
        _draw_series(axes, values[row], int(lengths[row]), feature_names)
        axes.text(
            0.01, 0.97, f"#{int(indices[row])}, {int(lengths[row])} steps", transform=axes.transAxes,
            va="top", ha="left", fontsize="x-small",
        )
    if limits is not None:
        grid[0, 0].set_ylim(*limits)  # shared: applies to every panel
    if len(feature_names) <= MAX_LEGEND_FEATURES:
        handles, labels = grid[0, 0].get_legend_handles_labels()
        if handles:
            figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 5), fontsize="small")
    return figure


def _draw_series(axes, values: np.ndarray, length: int, feature_names: Sequence[str]) -> None:
    """One line per feature over the valid steps only; non-finite values leave gaps."""
    steps = np.arange(length)
    valid = values[:length]
    valid = np.where(np.isfinite(valid), valid, np.nan)
    for feature, name in enumerate(feature_names):
        axes.plot(steps, valid[:, feature], linewidth=1.0, label=name)


def write_series_grid(
    real: np.ndarray,
    real_lengths: np.ndarray,
    fake: np.ndarray,
    fake_lengths: np.ndarray,
    path: Path,
    *,
    feature_names: Sequence[str],
    examples: int = 4,
    seed: int = 0,
    dpi: int = DEFAULT_DPI,
    ylabel: str | None = None,
) -> Path:
    """Save a grid of example series: ``examples`` rows, real on the left, synthetic on the right.

    The sequences are drawn without replacement by ``np.random.default_rng(seed)`` (real
    first), each panel plots every feature of one sequence over its valid steps, and all
    panels share one y-range so that levels and amplitudes compare directly. A side with
    fewer than ``examples`` sequences leaves its lower panels empty. ``ylabel`` names the
    units (for example "scaled to the training range" when features differ in units).
    Raises ``ImportError`` when matplotlib is missing.
    """
    _require_matplotlib("write_series_grid")
    real, real_lengths = _check_series("real", real, real_lengths)
    fake, fake_lengths = _check_series("fake", fake, fake_lengths)
    for name, values in (("real", real), ("fake", fake)):
        if values.shape[2] != len(feature_names):
            raise ValueError(
                f"write_series_grid: {len(feature_names)} feature names for {values.shape[2]} {name} features; "
                "pass one name per feature"
            )
    if examples < 1:
        raise ValueError(f"write_series_grid: examples must be at least 1, got {examples}")
    figure = _grid_figure(real, real_lengths, fake, fake_lengths, list(feature_names), examples, seed)
    if ylabel:
        figure.supylabel(ylabel, fontsize="small")
    return save_png(figure, path, dpi)


# --------------------------------------------------------------------------- both


def _to_numpy(batch: Batch, side: str) -> tuple[np.ndarray, np.ndarray]:
    if batch.values.dim() != 3:
        raise ValueError(f"write_pictures: {side} batch must hold continuous [B, T, F] values, got {tuple(batch.values.shape)}")
    values = batch.values.detach().to("cpu", torch.float64).numpy()
    lengths = batch.lengths.detach().to("cpu", torch.int64).numpy()
    return values, lengths


def write_pictures(
    real: Batch,
    fake: Batch,
    directory: Path,
    stem: str,
    *,
    feature_names: Sequence[str],
    seed: int = 0,
    dpi: int = DEFAULT_DPI,
) -> list[Path]:
    """Write ``<stem>-pca.png`` and ``<stem>-grid.png`` into ``directory``; return their paths.

    Without matplotlib nothing is written and ``[]`` is returned, with one warning per
    process that says how to install it: a run must not fail for want of its pictures.
    The PCA picture is left out when fewer than two real sequences exist.
    """
    if not plotting_available():
        return no_pictures()
    real_values, real_lengths = _to_numpy(real, "real")
    fake_values, fake_lengths = _to_numpy(fake, "fake")
    directory = Path(directory)
    written = []
    if pca_possible(real_lengths):
        written.append(write_pca(real_values, real_lengths, fake_values, fake_lengths, directory / f"{stem}-pca.png", seed=seed, dpi=dpi))
    written.append(write_series_grid(
        real_values, real_lengths, fake_values, fake_lengths, directory / f"{stem}-grid.png",
        feature_names=feature_names, seed=seed, dpi=dpi,
    ))
    return written


def pca_possible(real_lengths: np.ndarray) -> bool:
    """Whether the real side can fit a 2-D PCA: at least two sequences with a valid step.

    A tiny test split (a dataset of a handful of series) cannot; the PCA picture is then
    left out rather than failing the run that asked for it.
    """
    return int((np.asarray(real_lengths) > 0).sum()) >= 2
