"""Tests of the real-vs-synthetic pictures: PCA numbers against an eigh reference, PNG files."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import torch

from seqtk.core.interfaces import Batch
from seqtk.plugins import pictures
from seqtk.plugins.timeseries import plots
from seqtk.plugins.timeseries.plots import (
    pca_coordinates,
    plotting_available,
    write_pca,
    write_pictures,
    write_series_grid,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DPI = 30  # small files, fast tests


def series(count: int, steps: int, features: int, seed: int, variable: bool = False):
    """Random walks ``[count, steps, features]`` and lengths (all full unless ``variable``)."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(count, steps, features)).cumsum(axis=1)
    lengths = rng.integers(1, steps + 1, size=count) if variable else np.full(count, steps)
    if variable:
        lengths[0] = steps  # the longest real length sets the PCA dimension
    return values, lengths


def reference_pca(real, real_lengths, fake, fake_lengths):
    """Independent computation: loops for the representation, eigh of the covariance for the PCA."""
    steps = int(max(real_lengths))

    def means(values, lengths):
        out = np.full((len(values), steps), np.nan)
        for i, (row, length) in enumerate(zip(values, lengths)):
            for t in range(min(int(length), steps)):
                out[i, t] = np.mean(row[t])
        return out

    real_m, fake_m = means(real, real_lengths), means(fake, fake_lengths)
    fill = np.nanmean(real_m, axis=0)
    real_m = np.where(np.isnan(real_m), fill, real_m)
    fake_m = np.where(np.isnan(fake_m), fill, fake_m)
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(real_m, rowvar=False))
    order = np.argsort(eigenvalues)[::-1][:2]
    loadings = eigenvectors[:, order]
    for k in range(2):  # sign convention: largest-|value| loading positive
        if loadings[np.argmax(np.abs(loadings[:, k])), k] < 0:
            loadings[:, k] *= -1
    centre = real_m.mean(axis=0)
    ratio = eigenvalues[order] / eigenvalues.sum()
    return (real_m - centre) @ loadings, (fake_m - centre) @ loadings, ratio


def assert_png(path, min_side: int = 50) -> None:
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] >= min_side and image.shape[1] >= min_side
    assert image.std() > 0  # something was drawn, not a blank canvas


def no_temporaries(directory) -> None:
    assert [p.name for p in directory.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"] == []


# --------------------------------------------------------------------------- PCA numbers


@pytest.mark.parametrize("variable", [False, True])
def test_pca_matches_eigh_of_the_real_covariance(variable):
    real, real_lengths = series(40, 12, 3, seed=1, variable=variable)
    fake, fake_lengths = series(25, 12, 3, seed=2, variable=variable)
    got_real, got_fake, got_ratio = pca_coordinates(real, real_lengths, fake, fake_lengths)
    want_real, want_fake, want_ratio = reference_pca(real, real_lengths, fake, fake_lengths)
    assert got_real.shape == (40, 2) and got_fake.shape == (25, 2)
    np.testing.assert_allclose(got_real, want_real, atol=1e-9)
    np.testing.assert_allclose(got_fake, want_fake, atol=1e-9)
    np.testing.assert_allclose(got_ratio, want_ratio, rtol=1e-10)
    assert got_ratio[0] >= got_ratio[1] > 0 and got_ratio.sum() <= 1


def test_pca_is_fitted_on_real_only_and_real_points_are_centred():
    real, real_lengths = series(30, 8, 2, seed=3)
    fake, fake_lengths = series(30, 8, 2, seed=4)
    real_2d, fake_2d, ratio = pca_coordinates(real, real_lengths, fake, fake_lengths)
    np.testing.assert_allclose(real_2d.mean(axis=0), 0.0, atol=1e-12)
    # moving the synthetic cloud moves its points but not the real ones or the axes
    real_2d_b, fake_2d_b, ratio_b = pca_coordinates(real, real_lengths, fake + 100.0, fake_lengths)
    np.testing.assert_array_equal(real_2d, real_2d_b)
    np.testing.assert_array_equal(ratio, ratio_b)
    assert not np.allclose(fake_2d, fake_2d_b)


def test_pca_sign_is_fixed_by_the_loadings_not_the_data():
    real, real_lengths = series(30, 10, 2, seed=5)
    fake, fake_lengths = series(20, 10, 2, seed=6)
    real_2d, fake_2d, ratio = pca_coordinates(real, real_lengths, fake, fake_lengths)
    neg_real, neg_fake, neg_ratio = pca_coordinates(-real, real_lengths, -fake, fake_lengths)
    np.testing.assert_allclose(neg_real, -real_2d, atol=1e-9)
    np.testing.assert_allclose(neg_fake, -fake_2d, atol=1e-9)
    np.testing.assert_allclose(neg_ratio, ratio, rtol=1e-12)


def test_padding_past_lengths_changes_nothing():
    real, real_lengths = series(20, 9, 3, seed=7, variable=True)
    fake, fake_lengths = series(15, 9, 3, seed=8, variable=True)
    clean = pca_coordinates(real, real_lengths, fake, fake_lengths)

    def spoil(values, lengths, extra_steps):
        spoilt = np.concatenate([values, np.zeros((len(values), extra_steps, values.shape[2]))], axis=1)
        pad = np.arange(spoilt.shape[1])[None, :] >= lengths[:, None]
        spoilt[pad] = np.nan
        spoilt[pad & (np.arange(spoilt.shape[1])[None, :] % 2 == 0)] = 1e30
        return spoilt

    spoilt = pca_coordinates(spoil(real, real_lengths, 3), real_lengths, spoil(fake, fake_lengths, 5), fake_lengths)
    for a, b in zip(clean, spoilt):
        np.testing.assert_array_equal(a, b)


def test_synthetic_longer_or_shorter_than_real_is_cut_or_filled():
    real, real_lengths = series(20, 6, 2, seed=9)
    fake, fake_lengths = series(10, 6, 2, seed=10)
    base = pca_coordinates(real, real_lengths, fake, fake_lengths)
    longer = np.concatenate([fake, np.full((10, 4, 2), 7.0)], axis=1)  # steps no real sequence reaches
    np.testing.assert_array_equal(pca_coordinates(real, real_lengths, longer, np.full(10, 10))[1], base[1])
    shorter = pca_coordinates(real, real_lengths, fake[:, :4], np.full(10, 4))[1]
    want = reference_pca(real, real_lengths, fake, np.full(10, 4))[1]  # filled from step 4 on
    np.testing.assert_allclose(shorter, want, atol=1e-9)


def test_subsampling_is_seeded_and_bounded():
    real, real_lengths = series(50, 7, 2, seed=11)
    fake, fake_lengths = series(60, 7, 2, seed=12)
    a = pca_coordinates(real, real_lengths, fake, fake_lengths, max_points=20, seed=3)
    b = pca_coordinates(real, real_lengths, fake, fake_lengths, max_points=20, seed=3)
    c = pca_coordinates(real, real_lengths, fake, fake_lengths, max_points=20, seed=4)
    assert a[0].shape == (20, 2) and a[1].shape == (20, 2)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    # the kept real rows are a subset, in order, and the PCA is the one of that subset
    keep = np.sort(np.random.default_rng(3).choice(50, size=20, replace=False))
    ref = reference_pca(real[keep], real_lengths[keep], fake[:1], fake_lengths[:1])
    np.testing.assert_allclose(a[0], ref[0], atol=1e-9)
    # within the limit nothing is dropped and the seed is irrelevant
    full = [pca_coordinates(real, real_lengths, fake, fake_lengths, seed=s) for s in (0, 1)]
    np.testing.assert_array_equal(full[0][0], full[1][0])
    assert full[0][0].shape == (50, 2) and full[0][1].shape == (60, 2)


def test_non_finite_synthetic_rows_get_nan_coordinates_and_others_are_unchanged():
    real, real_lengths = series(20, 6, 2, seed=13)
    fake, fake_lengths = series(5, 6, 2, seed=14)
    base = pca_coordinates(real, real_lengths, fake, fake_lengths)[1]
    fake[2, 3, 1] = np.nan
    fake[4, 0, 0] = np.inf
    got = pca_coordinates(real, real_lengths, fake, fake_lengths)[1]
    assert np.isnan(got[[2, 4]]).all()
    np.testing.assert_array_equal(got[[0, 1, 3]], base[[0, 1, 3]])


def test_single_step_data_gives_a_zero_second_component():
    real, real_lengths = series(10, 1, 2, seed=15)
    real_2d, fake_2d, ratio = pca_coordinates(real, real_lengths, real[:3], real_lengths[:3])
    np.testing.assert_array_equal(ratio, [1.0, 0.0])
    np.testing.assert_array_equal(real_2d[:, 1], 0.0)
    np.testing.assert_allclose(np.abs(real_2d[:, 0]), np.abs(real.mean(axis=2)[:, 0] - real.mean()), atol=1e-12)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(real=np.zeros((4, 5))), "real values must be [samples, steps, features], got shape (4, 5)"),
        (dict(fake_lengths=np.array([5, 5])), "fake lengths must be [samples] with 3 entries, got shape (2,)"),
        (dict(real_lengths=np.array([5, 6, 5, 5])), "real lengths must lie in [0, 5] (the padded length)"),
        (dict(fake=np.zeros((3, 5, 3))), "pca_coordinates: real has 2 features, fake 3"),
        (dict(real=np.zeros((1, 5, 2)), real_lengths=np.array([5])), "needs at least 2 real sequences"),
        (dict(real_lengths=np.zeros(4, dtype=int)), "every real sequence has length 0"),
        (dict(max_points=1), "max_points must be at least 2, got 1"),
    ],
)
def test_bad_inputs_are_rejected_with_a_clear_message(change, message):
    args = dict(
        real=np.zeros((4, 5, 2)), real_lengths=np.full(4, 5), fake=np.zeros((3, 5, 2)), fake_lengths=np.full(3, 5)
    )
    max_points = change.pop("max_points", 1000)
    args.update(change)
    with pytest.raises(ValueError) as caught:
        pca_coordinates(args["real"], args["real_lengths"], args["fake"], args["fake_lengths"], max_points=max_points)
    assert message in str(caught.value)


def test_non_finite_real_value_names_the_sequence_and_step():
    real, real_lengths = series(4, 5, 2, seed=16)
    real[2, 3, 0] = np.nan
    with pytest.raises(ValueError, match="real sequence 2 has a non-finite value at step 3"):
        pca_coordinates(real, real_lengths, real, real_lengths)


# --------------------------------------------------------------------------- figures


def test_write_pca_writes_a_png_atomically(tmp_path):
    real, real_lengths = series(30, 8, 2, seed=17, variable=True)
    fake, fake_lengths = series(30, 8, 2, seed=18, variable=True)
    target = tmp_path / "out" / "pca.png"
    assert write_pca(real, real_lengths, fake, fake_lengths, target, dpi=DPI) == target
    assert_png(target)
    first = target.read_bytes()
    write_pca(real, real_lengths, fake, fake_lengths, target, title="again", dpi=DPI)  # overwrite in place
    assert_png(target)
    assert target.read_bytes() != first
    no_temporaries(target.parent)


def test_pca_figure_plots_the_computed_points():
    real, real_lengths = series(12, 6, 2, seed=19)
    fake, fake_lengths = series(9, 6, 2, seed=20)
    fake[0, 0, 0] = np.nan
    real_2d, fake_2d, ratio = pca_coordinates(real, real_lengths, fake, fake_lengths)
    figure = plots._pca_figure(real_2d, fake_2d, ratio, "t", 12, 9)
    (axes,) = figure.axes
    real_points, fake_points = (c.get_offsets() for c in axes.collections)
    np.testing.assert_allclose(real_points, real_2d)
    np.testing.assert_allclose(fake_points, fake_2d[1:])
    labels = [t.get_text() for t in axes.get_legend().get_texts()]
    assert labels == ["real (12)", "synthetic (8 of 9), 1 non-finite not shown"]
    assert axes.get_xlabel() == f"PC1 ({100 * ratio[0]:.1f}% of real variance)"


def test_series_grid_panels_show_valid_steps_on_shared_limits():
    real, real_lengths = series(6, 10, 3, seed=21, variable=True)
    fake, fake_lengths = series(2, 10, 3, seed=22, variable=True)
    real[np.arange(10)[None, :] >= real_lengths[:, None]] = 1e6  # padding must not stretch the y-range
    figure = plots._grid_figure(real, real_lengths, fake, fake_lengths, ["a", "b", "c"], examples=4, seed=0)
    grid = np.array(figure.axes).reshape(4, 2)
    rng = np.random.default_rng(0)
    real_rows = np.sort(rng.choice(6, size=4, replace=False))
    for row, index in enumerate(real_rows):
        lines = grid[row, 0].get_lines()
        assert [line.get_label() for line in lines] == ["a", "b", "c"]
        for feature, line in enumerate(lines):
            np.testing.assert_array_equal(line.get_xdata(), np.arange(real_lengths[index]))
            np.testing.assert_array_equal(line.get_ydata(), real[index, : real_lengths[index], feature])
    for row in range(2):  # both synthetic sequences, in order; the panels below are empty
        np.testing.assert_array_equal(grid[row, 1].get_lines()[0].get_ydata(), fake[row, : fake_lengths[row], 0])
    assert not grid[2, 1].axison and not grid[3, 1].axison
    shown = np.concatenate(
        [real[i, : real_lengths[i]].ravel() for i in real_rows] + [fake[i, : fake_lengths[i]].ravel() for i in range(2)]
    )
    low, high = grid[0, 0].get_ylim()
    assert all(axes.get_ylim() == (low, high) for axes in grid[:2].ravel())
    assert low < shown.min() and high > shown.max() and high - low < 1.2 * (shown.max() - shown.min())


def test_write_series_grid_writes_a_png(tmp_path):
    real, real_lengths = series(5, 12, 2, seed=23, variable=True)
    fake, fake_lengths = series(5, 12, 2, seed=24, variable=True)
    target = tmp_path / "grid.png"
    write_series_grid(real, real_lengths, fake, fake_lengths, target, feature_names=["x", "y"], examples=3, dpi=DPI)
    assert_png(target)
    no_temporaries(tmp_path)


def test_series_grid_needs_one_name_per_feature(tmp_path):
    real, real_lengths = series(3, 4, 2, seed=25)
    with pytest.raises(ValueError, match=r"write_series_grid: 3 feature names for 2 real features; pass one name"):
        write_series_grid(real, real_lengths, real, real_lengths, tmp_path / "g.png", feature_names=["a", "b", "c"])
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- write_pictures


def batches():
    real, real_lengths = series(16, 8, 2, seed=26, variable=True)
    fake, fake_lengths = series(16, 8, 2, seed=27, variable=True)
    as_batch = lambda v, n: Batch(values=torch.as_tensor(v, dtype=torch.float32), lengths=torch.as_tensor(n))  # noqa: E731
    return as_batch(real, real_lengths), as_batch(fake, fake_lengths)


def test_write_pictures_writes_both_pngs(tmp_path):
    real, fake = batches()
    paths = write_pictures(real, fake, tmp_path / "pics", "step-100", feature_names=["u", "v"], dpi=DPI)
    assert paths == [tmp_path / "pics" / "step-100-pca.png", tmp_path / "pics" / "step-100-grid.png"]
    for path in paths:
        assert_png(path)
    assert sorted(p.name for p in (tmp_path / "pics").iterdir()) == ["step-100-grid.png", "step-100-pca.png"]


def test_write_pictures_rejects_token_batches(tmp_path):
    tokens = Batch.full_length(torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"real batch must hold continuous \[B, T, F\] values, got \(3, 4\)"):
        write_pictures(tokens, tokens, tmp_path, "x", feature_names=["a"])


def test_without_matplotlib_write_pictures_skips_and_warns_once(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    monkeypatch.setattr(pictures, "_MISSING_WARNED", False)
    assert plotting_available() is False
    real, fake = batches()
    with pytest.warns(UserWarning, match=r"matplotlib is not installed.*pip install 'seqtk\[plot\]'"):
        assert write_pictures(real, fake, tmp_path, "s", feature_names=["u", "v"]) == []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert write_pictures(real, fake, tmp_path, "s", feature_names=["u", "v"]) == []
    assert caught == []
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ImportError, match=r"write_pca needs matplotlib"):
        write_pca(np.zeros((2, 3, 1)), np.full(2, 3), np.zeros((2, 3, 1)), np.full(2, 3), tmp_path / "p.png")


def test_write_pictures_respects_a_patched_availability_check(tmp_path, monkeypatch):
    monkeypatch.setattr(plots, "plotting_available", lambda: False)
    monkeypatch.setattr(pictures, "_MISSING_WARNED", False)
    real, fake = batches()
    with pytest.warns(UserWarning):
        assert write_pictures(real, fake, tmp_path, "s", feature_names=["u", "v"]) == []
    assert list(tmp_path.iterdir()) == []


def test_plotting_available_when_installed():
    assert plotting_available() is True
