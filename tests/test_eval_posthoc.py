"""TimeGAN's post-hoc scores as evaluation metrics of a run (issue 14, item 6).

The trainer evaluates under ``torch.no_grad()`` and a forked RNG; the post-hoc GRUs of
``discriminative`` and ``predictive`` must still train there, and must leave the run's
random state and its generator exactly as a run without them would.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Iterator

import pytest
import torch

from seqtk.core import checkpoint as ckpt
from seqtk.core.api import run
from seqtk.core.metrics_log import read_metrics
from seqtk.core.plugins import PluginHost
from seqtk.plugins.timeseries.posthoc import discriminative_score, predictive_score

POSTHOC = ("discriminative", "predictive")


def recipe(tmp_path: Path, name: str, metrics: list[str] | None) -> dict[str, Any]:
    """A sines GAN small enough to train and evaluate three times in a few seconds."""
    return {
        "seqtk": 1,
        "name": name,
        "seed": 5,
        "domain": {"name": "sines", "params": {"samples": 160, "length": 8, "features": 2, "plots": False}},
        "preset": "rgan",
        "generator": {"params": {"hidden_dim": 8, "noise_dim": 4}},
        "discriminator": {"params": {"hidden_dim": 8}},
        "train": {"batch_size": 16, "adversarial": {"steps": 9}, "log_every": 3, "cpu_threads": 1},
        "eval": {"every": 4, "samples": 32, "metrics": metrics},
        "output": {"dir": str(tmp_path / name), "checkpoint_every": 100, "samples": 0},
    }


@pytest.fixture
def fast_host(monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginHost]:
    """The installed plugins, with the post-hoc networks trained 25 steps instead of thousands.

    Only the registry defaults change: the recipe still names ``discriminative`` and
    ``predictive``, built and called by the trainer exactly as in a real run.
    """
    host = PluginHost()
    table = host.registry._entries["metrics"]
    for name in POSTHOC:
        monkeypatch.setitem(table, name, dataclasses.replace(table[name], defaults={"steps": 25, "batch_size": 16}))
    yield host


def evaluations(run_dir: Path) -> list[dict[str, Any]]:
    return [row for row in read_metrics(run_dir / "metrics.jsonl") if row["phase"] == "eval"]


def final_checkpoint(run_dir: Path) -> dict[str, Any]:
    return ckpt.load_checkpoint(ckpt.list_checkpoints(run_dir / "checkpoints")[-1][1])


@pytest.mark.filterwarnings("ignore::seqtk.core.interfaces.MetricWarning")  # the default metrics' coverage of a 9-step GAN
def test_posthoc_metrics_run_in_evaluation_and_leave_training_untouched(tmp_path: Path, fast_host: PluginHost) -> None:
    scored = run(recipe(tmp_path, "scored", list(POSTHOC)), host=fast_host)
    evals = evaluations(scored.run_dir)
    assert [row["step"] for row in evals] == [0, 4, 8, 9]
    for row in evals:
        assert 0.0 <= row["discriminative"] <= 0.5, row
        assert 0.0 <= row["predictive"] <= 1.0, row  # MAE of a sigmoid against values in [0, 1]
    assert set(scored.metrics) == set(POSTHOC)
    summary = json.loads((scored.run_dir / "summary.json").read_text())
    assert summary["final_metrics"] == scored.metrics

    # The same run without them: every network, optimiser and random state ends identical.
    plain = run(recipe(tmp_path, "plain", None), host=fast_host)
    assert "discriminative" not in plain.metrics
    with_scores, without = final_checkpoint(scored.run_dir), final_checkpoint(plain.run_dir)
    for net in ("generator", "discriminator"):
        for key, tensor in with_scores[net].items():
            assert torch.equal(tensor, without[net][key]), f"{net}.{key} differs"
    for key, tensor in with_scores["g_optimizer"]["state"][0].items():
        assert torch.equal(torch.as_tensor(tensor), torch.as_tensor(without["g_optimizer"]["state"][0][key]))
    assert torch.equal(with_scores["rng"]["torch"], without["rng"]["torch"])

    # Reproducible: the same recipe scores the same numbers, bit for bit.
    again = run(recipe(tmp_path, "again", list(POSTHOC)), host=fast_host)
    assert [{k: row[k] for k in POSTHOC} for row in evaluations(again.run_dir)] == [{k: row[k] for k in POSTHOC} for row in evals]


@pytest.mark.parametrize("score", [discriminative_score, predictive_score])
def test_scores_train_under_no_grad_without_touching_the_global_rng(score: Any) -> None:
    generator = torch.Generator().manual_seed(1)
    real, fake = torch.rand(20, 6, 2, generator=generator), torch.rand(20, 6, 2, generator=generator) * 0.5
    expected = score(real, fake, steps=15, batch_size=8, seed=3)
    torch.manual_seed(11)
    before = torch.random.get_rng_state()
    with torch.no_grad():
        inside = score(real, fake, steps=15, batch_size=8, seed=3)
        assert not torch.is_grad_enabled()  # the caller's grad mode is back
    assert torch.equal(torch.random.get_rng_state(), before)
    assert inside == expected
