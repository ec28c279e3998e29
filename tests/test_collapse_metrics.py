"""Density and coverage (Naeem et al. 2020) and the mode-collapse warning (issue 14, item 4)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
import torch

from seqtk.core.cli import main
from seqtk.core.interfaces import Batch, DomainSpec, MetricWarning
from seqtk.core.metrics_log import read_metrics
from seqtk.plugins.collapse import Coverage, Density, density_coverage, knn_radii, real_coverage, scaled_windows
from seqtk.plugins.music.embedding import HISTOGRAM_SIZE, piece_vector
from seqtk.plugins.music.notes import Note, Piece

CONTINUOUS = DomainSpec(kind="continuous", max_len=6, features=2, value_range=(0.0, 1.0))


def brute_force(real: list[list[float]], fake: list[list[float]], k: int) -> tuple[float, float]:
    """Density and coverage by the paper's definitions, with plain loops (closed balls)."""
    radii = []
    for i, x in enumerate(real):
        others = sorted(math.dist(x, z) for j, z in enumerate(real) if j != i)
        radii.append(others[k - 1])
    inside = [[math.dist(x, y) <= radii[i] for y in fake] for i, x in enumerate(real)]
    density = sum(sum(row) for row in inside) / (k * len(fake))
    coverage = sum(any(row) for row in inside) / len(real)
    return density, coverage


def series(values: torch.Tensor) -> Batch:
    return Batch.full_length(values)


def test_density_and_coverage_match_a_hand_computation_on_a_tiny_set() -> None:
    generator = torch.Generator().manual_seed(4)
    real, fake = torch.rand(6, 2, generator=generator), torch.rand(5, 2, generator=generator) * 1.5
    expected = brute_force(real.tolist(), fake.tolist(), k=2)
    density, coverage = density_coverage(real, fake, k=2)
    assert density == pytest.approx(expected[0], abs=1e-12) and coverage == pytest.approx(expected[1], abs=1e-12)
    assert 0.0 < coverage < 1.0 and density > 0.0  # the draw exercises both sides of the balls
    radii = [sorted(math.dist(x, z) for j, z in enumerate(real.tolist()) if j != i)[1] for i, x in enumerate(real.tolist())]
    assert knn_radii(real.double(), 2).tolist() == pytest.approx(radii, abs=1e-12)


def test_a_point_on_a_balls_edge_counts_and_one_just_outside_does_not() -> None:
    real = torch.tensor([[0.0], [1.0], [3.0]], dtype=torch.float64)  # radii for k = 1: 1, 1, 2
    assert density_coverage(real, torch.tensor([[2.0]]), k=1) == (2 / 1, 2 / 3)  # in the balls of 1 and 3
    assert density_coverage(real, torch.tensor([[-1.0]]), k=1) == (1.0, 1 / 3)  # on the edge of 0's ball
    assert density_coverage(real, torch.tensor([[-1.0 - 1e-9]], dtype=torch.float64), k=1) == (0.0, 0.0)


def test_identical_sets_are_covered_completely_and_a_collapsed_set_hardly_at_all() -> None:
    points = torch.randn(200, 8, generator=torch.Generator().manual_seed(0))
    assert density_coverage(points, points)[1] == 1.0
    collapsed = points[:1].repeat(200, 1)
    density, coverage = density_coverage(points, collapsed)
    assert coverage <= 0.05
    # One half of the real set covers the other well, which is what makes a warning trustworthy.
    assert real_coverage(points) >= 0.8


def test_samples_from_the_real_distribution_score_about_one_minus_two_to_the_minus_k() -> None:
    generator = torch.Generator().manual_seed(1)
    real, fake = torch.randn(1000, 4, generator=generator), torch.randn(1000, 4, generator=generator)
    density, coverage = density_coverage(real, fake, k=5)
    assert coverage == pytest.approx(1 - 2**-5, abs=0.03)
    assert density == pytest.approx(1.0, abs=0.1)


def test_too_few_real_points_lower_k_and_a_single_point_gives_nan() -> None:
    real = torch.tensor([[0.0], [1.0], [3.0]])
    assert density_coverage(real, torch.tensor([[2.0]]), k=5) == density_coverage(real, torch.tensor([[2.0]]), k=2)
    assert all(math.isnan(v) for v in density_coverage(real[:1], real))
    assert math.isnan(real_coverage(real))


def test_windows_are_scaled_per_feature_by_the_real_range() -> None:
    generator = torch.Generator().manual_seed(2)
    real, fake = torch.rand(40, 6, 2, generator=generator), torch.rand(40, 6, 2, generator=generator) * 0.7
    stretch = torch.tensor([1000.0, 1.0])  # feature 0 in other units: must not dominate
    plain = density_coverage(*scaled_windows(series(real), series(fake)))
    stretched = density_coverage(*scaled_windows(series(real * stretch), series(fake * stretch)))
    assert stretched == pytest.approx(plain, abs=1e-12)
    real_points, _ = scaled_windows(series(real), series(fake))
    assert real_points.shape == (40, 12) and real_points.min() >= 0.0 and real_points.max() <= 1.0


def test_padding_past_a_series_length_does_not_change_the_embedding() -> None:
    values = torch.rand(4, 6, 2, generator=torch.Generator().manual_seed(3))
    lengths = torch.tensor([6, 3, 6, 2])
    noisy = values.clone()
    noisy[1, 3:] = 99.0
    noisy[3, 2:] = -5.0
    clean = scaled_windows(Batch(values, lengths), Batch(values, lengths))
    dirty = scaled_windows(Batch(noisy, lengths), Batch(noisy, lengths))
    assert torch.equal(clean[0], dirty[0]) and torch.equal(clean[1], dirty[1])


def test_coverage_warns_of_collapse_only_when_the_real_data_covers_itself() -> None:
    generator = torch.Generator().manual_seed(5)
    real = torch.rand(120, 6, 2, generator=generator)
    healthy = torch.rand(120, 6, 2, generator=generator)
    collapsed = real[:1].repeat(120, 1, 1)
    metric = Coverage(None, CONTINUOUS)
    assert Density(None, CONTINUOUS).higher_is_better and metric.higher_is_better

    value = metric(series(real), series(collapsed))
    assert value <= 0.05 and metric.real_coverage >= 0.8
    message = metric.warning(value)
    assert message is not None and "collapsed" in message and f"{value:.3f}, below 0.5" in message

    value = metric(series(real), series(healthy))
    assert value >= 0.8 and metric.warning(value) is None

    # Real data that does not cover itself well (too scattered for k = 5): no verdict.
    metric(series(real), series(collapsed))
    metric.real_coverage = 0.79
    assert metric.warning(0.0) is None
    # Too few real rows to split in halves: no real-versus-real figure, no verdict.
    value = metric(series(real[:3]), series(collapsed[:3]))
    assert math.isnan(metric.real_coverage) and metric.warning(value) is None
    assert Coverage(None, CONTINUOUS, warn_below=0.0).warning(0.0) is None  # threshold 0: never warn


def test_bad_parameters_and_domains_are_refused_with_the_key() -> None:
    with pytest.raises(ValueError, match=r"density: k must be an integer >= 1, got 0"):
        Density(None, CONTINUOUS, k=0)
    with pytest.raises(ValueError, match=r"coverage: warn_below must be a number in \[0, 1\], got 2"):
        Coverage(None, CONTINUOUS, warn_below=2)
    discrete = DomainSpec(kind="discrete", max_len=5, vocab_size=10)
    with pytest.raises(ValueError, match=r"coverage: needs continuous values or a domain that embeds its sequences"):
        Coverage(object(), discrete)


def test_music_pieces_become_histograms_and_features() -> None:
    piece = Piece([Note(0.0, 1.0, 60), Note(1.0, 0.5, 64), Note(1.5, 0.25, 67)])
    vector = piece_vector(piece)
    assert vector.shape == (HISTOGRAM_SIZE + 8,)
    pitch_classes, intervals, durations = vector[:12], vector[12:25], vector[25:HISTOGRAM_SIZE]
    assert pitch_classes.tolist() == pytest.approx([1 / 3 if c in (0, 4, 7) else 0.0 for c in range(12)])
    assert intervals.tolist() == pytest.approx([0.5 if i in (3, 4) else 0.0 for i in range(13)])  # C-E 4, E-G 3
    # Each bin holds lengths up to and including its edge: a sixteenth, an eighth, a quarter.
    assert durations.tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3, 0, 0, 0])
    assert vector[HISTOGRAM_SIZE] == 7.0  # pitch range G4 - C4
    assert piece_vector(Piece([])).tolist() == [0.0] * (HISTOGRAM_SIZE + 8)


def test_a_length_rounded_off_its_grid_value_stays_in_its_duration_bin() -> None:
    # Event values pass through a min-max scaling and back: an eighth decodes as 0.49999999.
    exact = piece_vector(Piece([Note(0.0, 0.5, 60), Note(0.5, 1.0, 62)]))
    rounded = piece_vector(Piece([Note(0.0, 0.5 - 1e-9, 60), Note(0.5, 1.0 + 1e-9, 62)]))
    assert rounded[25:HISTOGRAM_SIZE].tolist() == exact[25:HISTOGRAM_SIZE].tolist() == [0, 0.5, 0.5, 0, 0, 0]


def music_recipe(tmp_path: Path, representation: str) -> dict[str, Any]:
    preset = {"events": "c-rnn-gan", "tokens": "relgan-lstm"}[representation]
    return {
        "seqtk": 1,
        "name": f"music-{representation}",
        "seed": 0,
        "domain": {"name": "music", "params": {"source": "builtin", "builtin_count": 40, "representation": representation, "notes": 8, "pianoroll": False}},
        "preset": preset,
        "train": {"batch_size": 16, "adversarial": {"steps": 2}, "cpu_threads": 1},
        "eval": {"every": 2, "samples": 48},
        "output": {"dir": str(tmp_path / representation), "samples": 0},
    }


@pytest.mark.filterwarnings("ignore::seqtk.core.interfaces.MetricWarning")  # two steps cannot learn the corpus
@pytest.mark.parametrize("representation", ["events", "tokens"])
def test_music_runs_report_density_and_coverage_in_both_representations(tmp_path: Path, representation: str) -> None:
    from seqtk.core.api import run

    result = run(music_recipe(tmp_path, representation))
    assert 0.0 <= result.metrics["coverage"] <= 1.0 and result.metrics["density"] >= 0.0
    assert "music-distance" in result.metrics


def test_a_collapsed_sines_run_says_so_on_stderr_in_the_log_and_in_the_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A few adversarial steps leave the generator drawing one shape; the user hears of it."""
    recipe = {
        "seqtk": 1,
        "name": "collapsed",
        "seed": 0,
        "domain": {"name": "sines", "params": {"samples": 300, "length": 8, "features": 2, "plots": False}},
        "preset": "rgan",
        "generator": {"params": {"hidden_dim": 8, "noise_dim": 2}},
        "discriminator": {"params": {"hidden_dim": 8}},
        "train": {"batch_size": 16, "adversarial": {"steps": 4}, "cpu_threads": 1},
        "eval": {"every": 4, "samples": 60},
        "output": {"dir": str(tmp_path / "run"), "samples": 0},
    }
    recipe_file = tmp_path / "collapsed.yaml"
    recipe_file.write_text(json.dumps(recipe))
    assert main(["run", str(recipe_file), "--quiet"]) == 0  # the CLI shows warnings as "seqtk: warning: ..."
    printed = capsys.readouterr()
    assert re.search(r"seqtk: warning: step 4: coverage: 0\.\d+, below 0\.5: .* collapsed", printed.err)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["final_metrics"]["coverage"] < 0.5
    (warning,) = summary["warnings"]
    assert warning.startswith("coverage: ") and "collapsed" in warning
    evals = [row for row in read_metrics(tmp_path / "run" / "metrics.jsonl") if row["phase"] == "eval"]
    assert "warnings" not in evals[0]  # step 0 judges the untrained generator: no verdict
    assert evals[-1]["warnings"] == summary["warnings"]
    assert f"  warning: {warning}" in printed.out
    assert printed.err.count("seqtk: warning: step") == 1  # once per evaluation, not at step 0


def test_the_api_raises_a_metric_warning_python_can_filter(tmp_path: Path) -> None:
    from seqtk.core.api import run

    recipe = music_recipe(tmp_path, "events")
    recipe["eval"]["metrics"] = ["coverage"]
    with pytest.warns(MetricWarning, match=r"step 2: coverage: 0\.\d+, below 0\.5"):
        result = run(recipe)
    assert result.warnings and result.warnings[0].startswith("coverage: ")
