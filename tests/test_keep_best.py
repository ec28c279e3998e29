"""output.keep_best: the best evaluated checkpoint is kept, survives pruning and resume, and can be sampled and reused.

The toy run overfits on purpose: maximum likelihood on 32 oracle sequences lowers NLL-test
for a few evaluations, then memorises the training set and NLL-test rises again, so the
best step lies strictly inside the run (checked from the log, not assumed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from test_text_runs import oracle_recipe
from test_trainer import CrashAt, assert_same_run

from seqtk.core import checkpoint as ckpt
from seqtk.core.api import restore, run, sample
from seqtk.core.best import BestKeeper
from seqtk.core.cli import main
from seqtk.core.errors import CheckpointError, RecipeError
from seqtk.core.metrics_log import read_metrics

STEPS = 60


def overfitting(tmp_path: Path, name: str, **output: Any) -> dict[str, Any]:
    """60 MLE steps on 32 sequences; evaluated every 10, checkpointed every 25, one recent checkpoint kept."""
    recipe = oracle_recipe(tmp_path, pretrain={"generator_steps": STEPS}, batch_size=16)
    recipe["domain"]["params"].update(train_samples=32, test_samples=128)
    recipe["eval"] = {"every": 10, "metrics": ["nll-test", "nll-oracle"], "samples": 64}
    recipe["output"] = {
        "dir": str(tmp_path / name),
        "checkpoint_every": 25,
        "keep_checkpoints": 1,
        "samples": 2,
        "keep_best": {"metric": "nll-test"},
        **output,
    }
    return recipe


def evaluations(run_dir: Path) -> list[dict[str, Any]]:
    return [row for row in read_metrics(run_dir / "metrics.jsonl") if row["phase"] == "eval"]


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The uninterrupted run every test compares with."""
    return run(overfitting(tmp_path_factory.mktemp("best"), "straight"))


def test_the_best_checkpoint_is_the_lowest_nll_test_and_survives_pruning(straight: Any) -> None:
    evals = evaluations(straight.run_dir)
    lowest = min(evals, key=lambda row: row["nll-test"])
    assert evals[0]["step"] < lowest["step"] < evals[-1]["step"], "the toy run should improve, then overfit"
    assert lowest["step"] % 25 != 0  # an evaluation step, not a checkpoint_every one: checkpointed because it was best
    record = {"metric": "nll-test", "mode": "min", "value": lowest["nll-test"], "step": lowest["step"], "file": f"step-{lowest['step']:08d}.pt"}
    assert straight.best == record
    directory = straight.run_dir / "checkpoints"
    assert json.loads((directory / ckpt.BEST_FILE).read_text()) == record
    assert json.loads((straight.run_dir / "summary.json").read_text())["best"] == record
    # keep_checkpoints: 1 keeps the newest checkpoint; the best one is spared beside it.
    assert [step for step, _ in ckpt.list_checkpoints(directory)] == [lowest["step"], STEPS]
    state = ckpt.load_checkpoint(directory / record["file"])
    assert state["step"] == lowest["step"] and state["best"] == record
    assert ckpt.load_checkpoint(directory / f"step-{STEPS:08d}.pt")["best"] == record


def test_a_run_resumed_before_and_after_the_best_keeps_it_and_ends_bit_identical(straight: Any, tmp_path: Path) -> None:
    best_step = straight.best["step"]
    crashes = (best_step - 3, STEPS - 5)  # resumes from the checkpoint at 25 (before the best), then from 50 (after it)
    recipe = overfitting(tmp_path, "crashed")
    for crash in crashes:
        with pytest.raises(RuntimeError, match="simulated crash"):
            run(recipe, resume=crash != crashes[0], callbacks=[CrashAt(crash)])
        record = ckpt.read_best_record(tmp_path / "crashed" / "checkpoints")
        assert record is not None and (tmp_path / "crashed" / "checkpoints" / record["file"]).is_file()
    resumed = run(recipe, resume=True)
    assert resumed.best == straight.best
    assert_same_run(straight.run_dir, resumed.run_dir)
    assert sorted(p.name for p in (resumed.run_dir / "checkpoints").iterdir()) == sorted(p.name for p in (straight.run_dir / "checkpoints").iterdir())


def test_a_crash_between_the_checkpoint_and_its_record_leaves_the_record_on_an_existing_file(
    straight: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the new best's checkpoint is saved but before best.json names it: the old best is still there."""
    written = ckpt.write_best_record
    calls = []

    def dies_on_the_third(directory: Path, record: Any) -> None:
        calls.append(record["step"])
        if len(calls) == 3:
            raise RuntimeError("killed between the checkpoint and its record")
        written(directory, record)

    monkeypatch.setattr(ckpt, "write_best_record", dies_on_the_third)
    recipe = overfitting(tmp_path, "torn")
    with pytest.raises(RuntimeError, match="killed between"):
        run(recipe)
    directory = tmp_path / "torn" / "checkpoints"
    record = ckpt.read_best_record(directory)
    assert record["step"] == calls[1] < calls[2] and (directory / record["file"]).is_file()
    monkeypatch.setattr(ckpt, "write_best_record", written)
    resumed = run(recipe, resume=True)
    assert resumed.best == straight.best
    assert_same_run(straight.run_dir, resumed.run_dir)


def test_sample_best_reads_the_best_checkpoint(straight: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    best_step = straight.best["step"]
    assert main(["sample", str(straight.run_dir), "--best", "-n", "5", "--out", str(tmp_path / "best")]) == 0
    printed = Path(capsys.readouterr().out.splitlines()[0])
    assert printed.name == f"samples-step-{best_step:08d}-seed-0.txt"
    by_step = sample(straight.run_dir, 5, out_dir=tmp_path / "by-step", step=best_step)
    assert printed.read_bytes() == by_step[0].read_bytes()
    assert main(["sample", str(straight.run_dir), "--step", str(STEPS), "-n", "5", "--out", str(tmp_path / "last")]) == 0
    last = Path(capsys.readouterr().out.splitlines()[0])
    assert last.name == f"samples-step-{STEPS:08d}-seed-0.txt" and last.read_bytes() != printed.read_bytes()
    parts, _, state = restore(straight.run_dir, best=True)
    saved = ckpt.load_checkpoint(straight.run_dir / "checkpoints" / straight.best["file"])
    assert state["step"] == best_step
    assert all(torch.equal(t, saved["generator"][k]) for k, t in parts.generator.state_dict().items())


def test_init_generator_at_best_starts_from_the_best_weights(straight: Any, tmp_path: Path) -> None:
    """The second run's untrained evaluation is the first run's best one: same weights, same fixed-seed evaluation."""
    for selector in ("best", str(straight.best["step"])):
        recipe = overfitting(tmp_path, f"from-{selector}", keep_best=None)
        recipe["train"]["pretrain"]["generator_steps"] = 1
        recipe["train"]["init_generator"] = f"{straight.run_dir}@{selector}"
        second = run(recipe)
        assert second.initial_metrics["nll-test"] == straight.best["value"]
        assert second.best is None and not (second.run_dir / "checkpoints" / ckpt.BEST_FILE).exists()


def test_without_keep_best_sample_best_and_init_generator_say_which_key_to_set(straight: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = overfitting(tmp_path, "plain", keep_best=None)
    plain["train"]["pretrain"]["generator_steps"] = 2
    result = run(plain)
    assert main(["sample", str(result.run_dir), "--best"]) == 2
    assert "output.keep_best.metric" in capsys.readouterr().err
    again = overfitting(tmp_path, "again", keep_best=None)
    again["train"]["init_generator"] = f"{result.run_dir}@best"
    with pytest.raises(RecipeError, match=r"train\.init_generator: .*kept no best checkpoint.*output\.keep_best"):
        run(again)
    again["train"]["init_generator"] = f"{straight.run_dir}@7"
    with pytest.raises(RecipeError, match=rf"no checkpoint of step 7; it holds steps {straight.best['step']}, {STEPS}"):
        run(again)
    with pytest.raises(CheckpointError, match="kept no best"):
        sample(result.run_dir, 1, best=True)


@pytest.mark.parametrize(
    ("keep_best", "message"),
    [
        ({"metric": "nll-tset"}, r"output\.keep_best\.metric: 'nll-tset' is not one of this recipe's evaluation metrics \(did you mean 'nll-test'\?\); valid: nll-test, nll-oracle"),
        ({"metric": "nll-test", "mode": "lowest"}, r"output\.keep_best\.mode: .*'min', 'max'"),
    ],
)
def test_a_keep_best_the_run_cannot_honour_is_a_recipe_error(tmp_path: Path, keep_best: dict[str, Any], message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        run(overfitting(tmp_path, "bad", keep_best=keep_best))


def test_the_direction_comes_from_the_metric_and_ties_or_nan_never_improve(tmp_path: Path) -> None:
    assert BestKeeper("bleu-2", None, True, tmp_path).mode == "max"
    assert BestKeeper("nll-test", None, False, tmp_path).mode == "min"
    keeper = BestKeeper("bleu-2", "min", True, tmp_path)  # an explicit mode wins
    assert [keeper.offer(step, {"bleu-2": value}) for step, value in enumerate([0.5, 0.4, 0.4, float("nan"), 0.6, 0.3])] == [
        True, True, False, False, False, True,
    ]
    assert keeper.record == {"metric": "bleu-2", "mode": "min", "value": 0.3, "step": 5, "file": "step-00000005.pt"}
