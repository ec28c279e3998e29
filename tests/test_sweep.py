"""``seqtk sweep``: Optuna trials as ordinary runs, sweep-file errors, pruning, two workers, kill -9 and resume."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_trainer import TINY

from seqtk.core.errors import SeqtkError
from seqtk.core.metrics_log import read_metrics
from seqtk.core.sweep import SweepError, load_sweep, override
from seqtk.core.sweep_run import sweep

optuna = pytest.importorskip("optuna")

REPO = Path(__file__).resolve().parents[1]
LR = "train.optimizer.generator.lr"
HIDDEN = "generator.params.hidden_dim"


def write_sweep(tmp_path: Path, steps: int = 13, **changes: Any) -> Path:
    """A tiny recipe (about half a second a trial) and a 4-trial sweep over it, in ``tmp_path``."""
    recipe = json.loads(json.dumps(TINY))
    recipe["train"]["adversarial"]["steps"] = steps
    recipe["output"] = {"dir": "runs/tiny", "checkpoint_every": 4, "samples": 0}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    spec: dict[str, Any] = {
        "sweep": 1,
        "recipe": "tiny.yaml",
        "space": {LR: {"type": "float", "low": 1.0e-4, "high": 1.0e-2, "log": True}, HIDDEN: [4, 8]},
        "metric": "mmd",
        "trials": 4,
        "sampler": {"name": "random", "seed": 1},
        "pruner": "none",
        "output": str(tmp_path / "out"),
        "heartbeat": {"interval": 1, "grace": 2},
    }
    spec.update(changes)
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def study_of(path: Path) -> Any:
    spec = load_sweep(path)
    return optuna.load_study(study_name=spec.study, storage=spec.storage)


def test_override_values_parse_back_to_themselves() -> None:
    assert override(LR, 1e-5) == f"{LR}=1.0e-05"
    assert yaml.safe_load(override("output.dir", "/tmp/a: b #c").split("=", 1)[1]) == "/tmp/a: b #c"


def test_four_trials_end_with_the_best_trials_recipe(tmp_path: Path) -> None:
    path = write_sweep(tmp_path)
    result = sweep(path, log=lambda line: None)
    trials = study_of(path).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    for t in trials:  # each trial is an ordinary run of its own parameters, and its value is that run's final mmd
        run_dir = tmp_path / "out" / f"trial-{t.number:04d}"
        resolved = yaml.safe_load((run_dir / "recipe.yaml").read_text())
        assert resolved["train"]["optimizer"]["generator"]["lr"] == t.params[LR]
        assert resolved["generator"]["params"]["hidden_dim"] == t.params[HIDDEN]
        assert json.loads((run_dir / "summary.json").read_text())["final_metrics"]["mmd"] == pytest.approx(t.value)
        assert t.user_attrs["run_dir"] == run_dir.name and override(LR, t.params[LR]) in t.user_attrs["overrides"]
    assert len({t.params[LR] for t in trials}) == 4
    best = min(trials, key=lambda t: t.value)
    assert result.best is not None and result.best["trial"] == best.number
    written = yaml.safe_load((tmp_path / "out" / "best.yaml").read_text())
    assert written["train"]["optimizer"]["generator"]["lr"] == best.params[LR]
    assert written["generator"]["params"]["hidden_dim"] == best.params[HIDDEN]
    assert written["output"]["dir"] == "runs/tiny"  # trains again in the recipe's own place, not over the trial
    # Running the command again finds the study complete: nothing runs twice.
    again = sweep(path, log=lambda line: None)
    assert again.ran_here == [] and len(study_of(path).trials) == 4


BAD_SWEEP = """\
sweep: 1
recipe: tiny.yaml
space:
  train.optimizer.generator.lrr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
  train.batch_size: {type: int, low: 64, high: 8}
metric: mdd
trials: 4
sampler:
  name: tpee
"""


def test_sweep_file_errors_name_the_key_its_line_and_a_suggestion(tmp_path: Path) -> None:
    write_sweep(tmp_path)
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_SWEEP)
    with pytest.raises(SweepError) as caught:
        load_sweep(path)
    message = str(caught.value)
    assert re.search(r"bad.yaml: space.train.optimizer.generator.lrr: unknown key \(did you mean 'lr'\?\).* \(line 4\)$", message, re.M), message
    assert "bad.yaml: space.train.batch_size.low: low (64) is above high (8) (line 5)" in message
    assert "bad.yaml: sampler.name: unknown sampler 'tpee' (did you mean 'tpe'?); valid: tpe, random, grid (line 9)" in message
    assert "bad.yaml: metric: unknown metric 'mdd' (did you mean 'mmd'?)" in message and "(line 6)" in message


def test_a_value_the_recipe_refuses_at_a_bound_is_a_sweep_error(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, space={LR: {"type": "float", "low": 0.0, "high": 0.1}, "train.batch_size": {"type": "categorical", "choices": [16, "big"]}})
    with pytest.raises(SweepError) as caught:
        load_sweep(path)
    message = str(caught.value)
    assert f"space.{LR}: must be greater than 0, got 0.0 (at low=0.0)" in message
    assert "space.train.batch_size: expected an integer" in message and "(at choice 'big')" in message


def test_a_pruned_trial_stops_its_run_early(tmp_path: Path) -> None:
    # mmd is never below 0: a threshold pruner with upper 0 prunes every trial at its first evaluation after step 0.
    path = write_sweep(tmp_path, trials=2, pruner={"name": "threshold", "upper": 0.0})
    result = sweep(path, log=lambda line: None)
    trials = study_of(path).trials
    assert [t.state.name for t in trials] == ["PRUNED", "PRUNED"]
    assert result.best is None and not (tmp_path / "out" / "best.yaml").exists()
    for t in trials:
        run_dir = tmp_path / "out" / t.user_attrs["run_dir"]
        summary = json.loads((run_dir / "summary.json").read_text())
        pruned_at = max(t.intermediate_values)
        assert summary["stopped_early"]["by"] == "sweep-pruning" and summary["steps"] == pruned_at < 20
        assert max(row["step"] for row in read_metrics(run_dir / "metrics.jsonl")) == pruned_at
        assert t.intermediate_values[pruned_at] == pytest.approx(summary["final_metrics"]["mmd"])


def _worker(path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO.parent)}
    return subprocess.Popen([sys.executable, "-m", "seqtk", "sweep", str(path), "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_workers_share_one_sqlite_study_without_duplicates(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, trials=5)
    workers = [_worker(path), _worker(path)]
    outputs = [w.communicate(timeout=120) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    trials = study_of(path).trials
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == 5
    assert all(t.user_attrs.get("surplus") for t in trials if t.state.name != "COMPLETE")  # a race beyond 5 is given back unrun
    run_dirs = [t.user_attrs["run_dir"] for t in complete]
    assert len(set(run_dirs)) == 5
    assert sorted(p.name for p in (tmp_path / "out").glob("trial-*")) == sorted(run_dirs)
    for name in run_dirs:  # each run directory was trained by exactly one trial, once
        attempts = json.loads((tmp_path / "out" / name / "sweep-trial.json").read_text())["attempts"]
        assert len(attempts) == 1
    ran = [set(re.findall(r"^trial (\d+): .*=", err, re.M)) for _, err in outputs]
    assert all(ran) and not ran[0] & ran[1]  # both workers trained, never the same trial
    assert json.loads(outputs[0][0])["best"]["trial"] == json.loads(outputs[1][0])["best"]["trial"]


def test_a_sweep_killed_mid_trial_resumes_the_trial_from_its_checkpoint(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, steps=150, trials=2)
    first = tmp_path / "out" / "trial-0000"
    worker = _worker(path)
    deadline = time.monotonic() + 90
    try:
        while not list((first / "checkpoints").glob("step-*[1-9]*.pt")):  # a checkpoint after step 0
            assert worker.poll() is None and time.monotonic() < deadline, worker.communicate()
            time.sleep(0.01)
        worker.send_signal(signal.SIGKILL)
    finally:
        worker.wait(timeout=30)
    assert not (first / "summary.json").exists()  # killed mid-trial
    killed = study_of(path).trials[0]
    assert killed.state.name == "RUNNING"

    sweep(path, log=lambda line: None)
    trials = study_of(path).trials
    assert [t.state.name for t in trials].count("COMPLETE") == 2
    assert trials[0].state.name == "FAIL"  # the dead process's trial, retried as a later one
    retry = next(t for t in trials if t.user_attrs.get("first_trial") == 0 and t.number != 0)
    assert retry.state.name == "COMPLETE" and retry.params == killed.params and retry.user_attrs["run_dir"] == "trial-0000"
    assert retry.user_attrs["resumed_from_step"] > 0  # continued, not trained from scratch
    attempts = json.loads((first / "sweep-trial.json").read_text())["attempts"]
    assert [(a["trial"], a["continues"]) for a in attempts] == [(0, False), (retry.number, True)]
    rows = read_metrics(first / "metrics.jsonl")
    keys = [(row["phase"] == "eval", row["step"]) for row in rows]
    assert len(keys) == len(set(keys))  # no step logged twice
    # The retry's curve has no gap: the evaluations before its checkpoint were reported from metrics.jsonl.
    assert sorted(retry.intermediate_values) == [row["step"] for row in rows if row["phase"] == "eval"]
    assert json.loads((first / "summary.json").read_text())["steps"] == 4 + 3 + 150
    # No trial ran twice: the killed trial's folder and one more (numbered by whichever trial
    # Optuna handed out next: the retry or the second fresh trial, depending on timing).
    folders = sorted(p.name for p in (tmp_path / "out").glob("trial-*"))
    assert len(folders) == 2 and folders[0] == "trial-0000"
    assert {t.user_attrs["run_dir"] for t in trials if t.state.name == "COMPLETE"} == set(folders)


def test_a_missing_optuna_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(SeqtkError, match=r"seqtk\[sweep\]"):
        sweep(write_sweep(tmp_path), log=lambda line: None)


def test_the_shipped_sweep_file_and_the_docs_example_are_valid(tmp_path: Path) -> None:
    shipped = load_sweep(REPO / "recipes" / "sweeps" / "quickstart-lr.yaml")
    assert shipped.recipe_path == REPO / "recipes" / "quickstart.yaml" and shipped.direction == "minimize"
    blocks = re.findall(r"```yaml\n(sweep: 1\n.*?)```", (REPO / "docs" / "sweeps.md").read_text(), re.S)
    assert blocks
    for block in blocks:
        document = yaml.safe_load(block)
        document["recipe"] = str((REPO / "recipes" / "sweeps" / document["recipe"]).resolve())
        copy = tmp_path / "doc-sweep.yaml"
        copy.write_text(yaml.safe_dump(document, sort_keys=False))
        load_sweep(copy)


def test_the_grid_sampler_needs_a_finite_space_no_smaller_than_the_trials(tmp_path: Path) -> None:
    with pytest.raises(SweepError, match=rf"space.{LR}: the grid sampler needs every dimension to be finite: give this float a step"):
        load_sweep(write_sweep(tmp_path, sampler="grid"))
    with pytest.raises(SweepError, match=r"trials: the grid holds 2 points, fewer than the 4 trials asked for; set trials: 2"):
        load_sweep(write_sweep(tmp_path, sampler="grid", space={HIDDEN: [4, 8]}))
    assert load_sweep(write_sweep(tmp_path, sampler="grid", trials=2, space={HIDDEN: [4, 8]})).space[0].grid() == [4, 8]
