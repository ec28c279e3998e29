"""``seqtk compare`` (issue 16, item 4): final and best metrics, recipe differences and wall time of several runs.

Hand-made run directories give exact expected tables and JSON; two tiny real runs check
that what compare reads agrees with what the runs wrote.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from seqtk.core.api import run
from seqtk.core.cli import main
from seqtk.core.compare import compare, recipe_differences, render_table
from seqtk.core.metrics_log import read_metrics
from seqtk.core.plugins import PluginHost

from test_trainer import tiny


def make_run(root: Path, name: str, recipe: dict[str, Any], records: list[dict[str, Any]], summary: dict[str, Any] | None, tail: str = "") -> Path:
    """A run directory written by hand: recipe.yaml, metrics.jsonl (plus ``tail``, a line cut short by a kill) and maybe summary.json."""
    run_dir = root / name
    run_dir.mkdir()
    (run_dir / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records) + tail)
    if summary is not None:
        (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


def recipe(name: str, seed: int, lr: float, **extra: Any) -> dict[str, Any]:
    return {
        "seqtk": 1,
        "name": name,
        "seed": seed,
        "train": {"batch_size": 16, "optimizer": {"generator": {"lr": lr, "betas": [0.5, 0.999]}}},
        "output": {"dir": f"runs/{name}"},
        **extra,
    }


@pytest.fixture
def two_runs(tmp_path: Path) -> tuple[Path, Path]:
    a = make_run(
        tmp_path,
        "a",
        recipe("a", 0, 0.001),
        [
            {"step": 0, "phase": "eval", "mmd": 0.5, "coverage": 0.1, "d_auc": 0.9},
            {"step": 10, "phase": "adversarial", "d_loss": 1.2, "g_loss": 0.8},
            {"step": 10, "phase": "eval", "mmd": 0.2, "coverage": 0.6, "d_auc": 0.7},
            {"step": 20, "phase": "adversarial", "d_loss": 1.3, "g_loss": 0.7},
            {"step": 20, "phase": "eval", "mmd": 0.3, "coverage": 0.5, "d_auc": 0.6, "warnings": ["coverage: low"]},
        ],
        {"name": "a", "steps": 20, "seconds_this_session": 12.5, "final_metrics": {"mmd": 0.3, "coverage": 0.5}},
    )
    b = make_run(
        tmp_path,
        "b",
        recipe("b", 1, 0.002, callbacks={"tensorboard": {"enabled": True}}),
        [
            {"step": 0, "phase": "eval", "mmd": 0.4, "coverage": "nan", "d_auc": 0.8},
            {"step": 10, "phase": "eval", "mmd": 0.1, "coverage": 0.3, "d_auc": 0.5},
        ],
        None,
        tail='{"step": 20, "phase": "adv',  # killed mid-write
    )
    return a, b


EXPECTED_TABLE = """\
run                              a         b
status                           finished  unfinished
steps                            20        10
wall time (last session)         12.5 s    -

metrics
mmd (lower is better)
  final                          0.3       0.1
  best (step)                    0.2 (10)  0.1 (10)
coverage (higher is better)
  final                          0.5       0.3
  best (step)                    0.6 (10)  0.3 (10)
d_auc
  final                          0.6       0.5

recipe differences
  name                           a         b
  seed                           0         1
  train.optimizer.generator.lr   0.001     0.002
  callbacks.tensorboard.enabled  (absent)  true"""


def test_the_table_of_hand_made_runs(two_runs: tuple[Path, Path], host: PluginHost) -> None:
    assert render_table(compare(two_runs, host=host)) == EXPECTED_TABLE


def test_json_holds_final_best_steps_directions_and_differences(two_runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    a, b = two_runs
    assert main(["compare", str(a), str(b), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["metrics"] == ["mmd", "coverage", "d_auc"]
    first, second = result["runs"]
    assert (first["label"], first["status"], first["steps"], first["wall_seconds"]) == ("a", "finished", 20, 12.5)
    assert (second["label"], second["status"], second["steps"], second["wall_seconds"]) == ("b", "unfinished", 10, None)
    assert first["metrics"]["mmd"] == {"final": 0.3, "final_step": 20, "best": 0.2, "best_step": 10, "higher_is_better": False}
    assert first["metrics"]["coverage"] == {"final": 0.5, "final_step": 20, "best": 0.6, "best_step": 10, "higher_is_better": True}
    assert first["metrics"]["d_auc"] == {"final": 0.6, "final_step": 20, "best": None, "best_step": None, "higher_is_better": None}
    # A NaN is never the best; the run's last evaluation is its final one.
    assert second["metrics"]["coverage"] == {"final": 0.3, "final_step": 10, "best": 0.3, "best_step": 10, "higher_is_better": True}
    assert result["recipe_differences"] == {
        "name": ["a", "b"],
        "seed": [0, 1],
        "train.optimizer.generator.lr": [0.001, 0.002],
        "callbacks.tensorboard.enabled": ["(absent)", True],
    }


def test_one_metric(two_runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", *map(str, two_runs), "--metric", "coverage", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["metrics"] == ["coverage"] and all(list(r["metrics"]) == ["coverage"] for r in result["runs"])
    assert main(["compare", *map(str, two_runs), "--metric", "mmd"]) == 0
    table = capsys.readouterr().out
    assert "mmd (lower is better)" in table and "coverage" not in table and "d_auc" not in table


def test_an_unknown_metric_exits_2_with_the_close_and_the_available_names(two_runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", *map(str, two_runs), "--metric", "covrage"]) == 2
    err = capsys.readouterr().err
    assert "--metric 'covrage': no run evaluated it (did you mean 'coverage'?)" in err
    assert "available: mmd, coverage, d_auc" in err


def test_not_a_run_directory_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["compare", str(tmp_path / "empty")]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_stopped_early_and_resumed_past_the_summary(tmp_path: Path, host: PluginHost) -> None:
    evals = [{"step": s, "phase": "eval", "mmd": v} for s, v in ((0, 0.5), (5, 0.5), (10, 0.5))]
    stopped = make_run(tmp_path, "stopped", recipe("s", 0, 0.001), evals, {"steps": 10, "seconds_this_session": 75, "stopped_early": {"by": "early-stopping", "step": 10}})
    resumed = make_run(tmp_path, "resumed", recipe("s", 0, 0.001), evals, {"steps": 5, "seconds_this_session": 3})
    result = compare([stopped, resumed], host=host)
    assert [(r["status"], r["wall_seconds"]) for r in result["runs"]] == [("stopped early", 75), ("unfinished", None)]
    # Equal values: the earliest step is the best; same recipe name: the directories label the columns.
    assert [r["metrics"]["mmd"]["best_step"] for r in result["runs"]] == [0, 0]
    assert [r["label"] for r in result["runs"]] == [str(stopped), str(resumed)]
    assert result["recipe_differences"] == {}
    table = render_table(result)
    assert "1m15s" in table and "(none)" in table


def test_recipe_differences_compare_whole_lists_and_ignore_the_run_directory() -> None:
    one = {"a": {"b": [1, 2], "c": 1}, "output": {"dir": "x"}}
    two = {"a": {"b": [1, 3], "c": 1}, "output": {"dir": "y"}}
    assert recipe_differences([one, two]) == {"a.b": [[1, 2], [1, 3]]}


def test_two_tiny_real_runs(tmp_path: Path, host: PluginHost) -> None:
    first = run(tiny(tmp_path, "one", train__adversarial__steps=6))
    second = run(tiny(tmp_path, "two", train__adversarial__steps=6, seed=4, train__optimizer={"generator": {"lr": 0.002}}))
    result = compare([first.run_dir, second.run_dir], host=host)
    assert result["recipe_differences"] == {"seed": [3, 4], "train.optimizer.generator.lr": [0.001, 0.002]}
    for figures, done in zip(result["runs"], (first, second)):
        assert figures["status"] == "finished" and figures["steps"] == done.steps == 13
        summary = json.loads((done.run_dir / "summary.json").read_text())
        assert figures["wall_seconds"] == summary["seconds_this_session"]
        assert {name: m["final"] for name, m in figures["metrics"].items() if name in done.metrics} == done.metrics
        evaluations = [r for r in read_metrics(done.run_dir / "metrics.jsonl") if r["phase"] == "eval"]
        mmd = [(r["step"], r["mmd"]) for r in evaluations if not math.isnan(r["mmd"])]
        best_step, best = min(mmd, key=lambda item: item[1])
        assert (figures["metrics"]["mmd"]["best"], figures["metrics"]["mmd"]["best_step"]) == (best, best_step)
        assert figures["metrics"]["coverage"]["higher_is_better"] is True
