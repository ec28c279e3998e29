"""The trainer end to end: improvement, exact resume, Ctrl-C, divergence, run directories."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import torch

from seqtk.core import checkpoint as ckpt
from seqtk.core.api import RunDirectoryError, run, sample
from seqtk.core.cli import main
from seqtk.core.errors import CheckpointError, RecipeError, TrainingError
from seqtk.core.hookspecs import hookimpl
from seqtk.core.interfaces import Objective, Scores
from seqtk.core.metrics_log import read_metrics
from seqtk.core.plugins import PluginHost
from seqtk.core.trainer import Interrupted

#: A recipe small enough to train in a second or two, touching every phase. No pictures:
#: drawing two PNGs per evaluation would cost more than the training (one test draws them).
TINY: dict[str, Any] = {
    "seqtk": 1,
    "name": "tiny",
    "seed": 3,
    "domain": {"name": "sines", "params": {"samples": 256, "length": 8, "features": 2, "plots": False}},
    "preset": "rgan",
    "generator": {"params": {"hidden_dim": 8, "noise_dim": 4, "feed_previous": True}},
    "discriminator": {"params": {"hidden_dim": 8}},
    "train": {
        "batch_size": 16,
        "pretrain": {"generator_steps": 4, "discriminator_steps": 3},
        "adversarial": {"steps": 13},
        "log_every": 2,
    },
    "eval": {"every": 5, "samples": 64},
    "output": {"checkpoint_every": 4, "samples": 4},
}


def tiny(tmp_path: Path, name: str, **changes: Any) -> dict[str, Any]:
    recipe = json.loads(json.dumps(TINY))
    recipe["output"]["dir"] = str(tmp_path / name)
    for path, value in changes.items():
        node = recipe
        *parents, leaf = path.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return recipe


def final_state(run_dir: Path) -> dict[str, Any]:
    return ckpt.load_checkpoint(ckpt.list_checkpoints(run_dir / "checkpoints")[-1][1])


def assert_same_run(a: Path, b: Path) -> None:
    """Bit-identical networks, optimisers, metrics log and samples."""
    state_a, state_b = final_state(a), final_state(b)
    assert state_a["step"] == state_b["step"]
    for net in ("generator", "discriminator"):
        for key, tensor in state_a[net].items():
            assert torch.equal(tensor, state_b[net][key]), f"{net}.{key} differs"
    for key, tensor in state_a["g_optimizer"]["state"][0].items():
        assert torch.equal(torch.as_tensor(tensor), torch.as_tensor(state_b["g_optimizer"]["state"][0][key]))
    assert (a / "metrics.jsonl").read_bytes() == (b / "metrics.jsonl").read_bytes()
    samples_a = sorted(p.name for p in (a / "samples").iterdir())
    assert samples_a == sorted(p.name for p in (b / "samples").iterdir())
    for name in samples_a:
        assert (a / "samples" / name).read_bytes() == (b / "samples" / name).read_bytes()


class CrashAt:
    """A callback that fails the run after a given step, like a process dying there."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step(self, step: int, logs: Any) -> None:
        if step == self.step:
            raise RuntimeError("simulated crash")


def test_training_improves_every_metric_and_writes_the_run_directory(tmp_path: Path, capsys) -> None:
    recipe = tiny(tmp_path, "improve", train__adversarial__steps=200, train__pretrain={})
    recipe["domain"]["params"] = {"samples": 512, "length": 24, "features": 5}
    recipe["generator"]["params"] = {"hidden_dim": 16, "noise_dim": 4, "feed_previous": False}
    recipe["discriminator"]["params"] = {"hidden_dim": 16}
    recipe["train"]["optimizer"] = {"generator": {"lr": 0.002}, "discriminator": {"lr": 0.002}}
    recipe["eval"] = {"every": 100, "samples": 128}
    recipe_file = tmp_path / "improve.yaml"
    recipe_file.write_text(json.dumps(recipe))
    assert main(["run", str(recipe_file), "--quiet"]) == 0
    run_dir = tmp_path / "improve"
    summary = json.loads((run_dir / "summary.json").read_text())
    for name in ("mmd", "marginal", "acf"):
        assert summary["final_metrics"][name] < 0.6 * summary["initial_metrics"][name], name
    evals = [r for r in read_metrics(run_dir / "metrics.jsonl") if r["phase"] == "eval"]
    assert [r["step"] for r in evals] == [0, 100, 200]
    assert (run_dir / "recipe.yaml").is_file()
    # Samples and, with matplotlib, the PCA and grid pictures beside them.
    pictures = ("-grid.png", "-pca.png") if importlib.util.find_spec("matplotlib") else ()
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == sorted(
        f"step-{step:08d}{suffix}" for step in (0, 100, 200) for suffix in (".csv", *pictures)
    )
    printed = capsys.readouterr().out
    assert "mmd" in printed and "untrained" in printed


def test_log_lines_cover_every_phase(tmp_path: Path) -> None:
    result = run(tiny(tmp_path, "phases"))
    records = read_metrics(result.run_dir / "metrics.jsonl")
    phases = [r["phase"] for r in records if r["phase"] != "eval"]
    assert phases[:2] == ["pretrain_generator", "pretrain_generator"]
    assert "pretrain_discriminator" in phases and phases[-1] == "adversarial"
    assert "g_pretrain_loss" in records[1] and all("d_loss" in r for r in records if r["phase"] == "adversarial")
    assert result.steps == 4 + 3 + 13
    assert len(ckpt.list_checkpoints(result.run_dir / "checkpoints")) == 2  # keep_checkpoints


def test_resume_after_a_crash_is_bit_identical(tmp_path: Path) -> None:
    run(tiny(tmp_path, "straight"))
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(tiny(tmp_path, "crashed"), callbacks=[CrashAt(14)])
    # The crash came after the checkpoint at 12: steps 13-14 are lost and replayed.
    assert ckpt.list_checkpoints(tmp_path / "crashed" / "checkpoints")[-1][0] == 12
    run(tiny(tmp_path, "crashed"), resume=True)
    assert_same_run(tmp_path / "straight", tmp_path / "crashed")


def test_resume_across_the_pretraining_boundary(tmp_path: Path) -> None:
    run(tiny(tmp_path, "straight"))
    with pytest.raises(RuntimeError):
        run(tiny(tmp_path, "crashed"), callbacks=[CrashAt(6)])  # inside D pretraining
    run(tiny(tmp_path, "crashed"), resume=True)
    assert_same_run(tmp_path / "straight", tmp_path / "crashed")


def test_ctrl_c_checkpoints_the_current_step_and_resume_finishes_identically(tmp_path: Path) -> None:
    class PressCtrlC:
        def on_step(self, step: int, logs: Any) -> None:
            if step == 9:
                signal.raise_signal(signal.SIGINT)

    run(tiny(tmp_path, "straight"))
    before = signal.getsignal(signal.SIGINT)  # Python's default, or SIG_IGN when started in the background
    with pytest.raises(Interrupted, match="--resume") as caught:
        run(tiny(tmp_path, "interrupted"), callbacks=[PressCtrlC()])
    assert caught.value.exit_code == 130
    assert ckpt.list_checkpoints(tmp_path / "interrupted" / "checkpoints")[-1][0] == 9
    assert signal.getsignal(signal.SIGINT) is before  # handler restored
    run(tiny(tmp_path, "interrupted"), resume=True)
    assert_same_run(tmp_path / "straight", tmp_path / "interrupted")


def test_resume_can_extend_training(tmp_path: Path) -> None:
    run(tiny(tmp_path, "long", train__adversarial__steps=20))
    run(tiny(tmp_path, "extended", train__adversarial__steps=13))
    run(tiny(tmp_path, "extended", train__adversarial__steps=20), resume=True)
    a, b = final_state(tmp_path / "long"), final_state(tmp_path / "extended")
    assert a["step"] == b["step"] == 27
    assert all(torch.equal(t, b["generator"][k]) for k, t in a["generator"].items())


def test_resume_refuses_a_checkpoint_of_another_recipe(tmp_path: Path) -> None:
    run(tiny(tmp_path, "one"))
    with pytest.raises(CheckpointError, match="different recipe"):
        run(tiny(tmp_path, "one", seed=4), resume=True)


def test_resume_without_a_run_and_rerun_without_overwrite_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RunDirectoryError, match="nothing to resume"):
        run(tiny(tmp_path, "empty"), resume=True)
    run(tiny(tmp_path, "twice"))
    with pytest.raises(RunDirectoryError, match="--overwrite"):
        run(tiny(tmp_path, "twice"))
    (tmp_path / "twice" / "notes.txt").write_text("mine")
    run(tiny(tmp_path, "twice"), overwrite=True)
    assert (tmp_path / "twice" / "notes.txt").read_text() == "mine"  # only seqtk's files go


def test_resume_skips_a_corrupt_newest_checkpoint(tmp_path: Path) -> None:
    run(tiny(tmp_path, "straight"))
    with pytest.raises(RuntimeError):
        run(tiny(tmp_path, "crashed"), callbacks=[CrashAt(14)])
    newest = ckpt.list_checkpoints(tmp_path / "crashed" / "checkpoints")[-1][1]
    newest.write_bytes(newest.read_bytes()[:100])  # truncated, as by a failing disk
    with pytest.warns(UserWarning, match="truncated"):
        run(tiny(tmp_path, "crashed"), resume=True)
    assert_same_run(tmp_path / "straight", tmp_path / "crashed")


class NaNAfter(Objective):
    """The minimax loss until call ``after``, then NaN: a diverging run."""

    def __init__(self, after: int = 5) -> None:
        self.after, self.calls = after, 0

    def discriminator_loss(self, real: Scores, fake: Scores) -> torch.Tensor:
        self.calls += 1
        loss = real.mean(torch.nn.functional.softplus(-real.values)) + fake.mean(torch.nn.functional.softplus(fake.values))
        return loss * float("nan") if self.calls > self.after else loss

    def generator_loss(self, fake: Scores, real: Scores | None = None) -> torch.Tensor:
        return fake.mean(torch.nn.functional.softplus(-fake.values))


class NaNPlugin:
    @hookimpl
    def seqtk_register(self, registry: Any) -> None:
        registry.add("objectives", "nan-after", f"{__name__}:NaNAfter", plugin="nan")


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    host = PluginHost(plugins=[NaNPlugin()])
    recipe = tiny(tmp_path, "nan", objective={"name": "nan-after", "params": {"after": 10}})
    with pytest.raises(TrainingError, match=r"diverged at step 15: the discriminator loss is nan.*step-00000012\.pt.*intact"):
        run(recipe, host=host)
    state = final_state(tmp_path / "nan")
    assert state["step"] == 12
    assert all(torch.isfinite(t).all() for t in state["generator"].values())


def test_sample_writes_new_sequences_from_the_last_checkpoint(tmp_path: Path, capsys) -> None:
    result = run(tiny(tmp_path, "sampled"))
    out = tmp_path / "generated"
    paths = sample(result.run_dir, 10, out_dir=out, seed=1)
    lines = paths[0].read_text().splitlines()
    assert lines[0] == "sample,step,f0,f1" and len(lines) == 1 + 10 * 8
    assert main(["sample", str(result.run_dir), "-n", "3", "--out", str(out), "--seed", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("samples-step-00000020-seed-1.csv")
    with pytest.raises(RunDirectoryError):
        sample(tmp_path / "nowhere", 3)


def test_hostile_checkpoint_is_refused_without_running_its_payload(tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"

    class Payload:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (Path.touch, (marker,))

    path = tmp_path / "evil.pt"
    torch.save({"format": 1, "generator": Payload()}, path)
    with pytest.raises(CheckpointError, match="refused"):
        ckpt.load_checkpoint(path)
    assert not marker.exists()


def test_newer_checkpoint_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.pt"
    torch.save({"format": ckpt.FORMAT_VERSION + 1}, path)
    with pytest.raises(CheckpointError, match="newer seqtk"):
        ckpt.load_checkpoint(path)


def test_rng_state_round_trips_through_a_safe_checkpoint(tmp_path: Path) -> None:
    import random

    import numpy as np

    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    state = ckpt.capture_rng_state()
    path = tmp_path / "rng.pt"
    ckpt.save_checkpoint(path, {"rng": state})
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    ckpt.restore_rng_state(ckpt.load_checkpoint(path)["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_atomic_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    from seqtk.core.atomic import atomic_open, atomic_write_text

    target = tmp_path / "out" / "file.txt"
    atomic_write_text(target, "first")
    atomic_write_text(target, "second")
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write("half of a third")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "second"
    assert [p.name for p in target.parent.iterdir()] == ["file.txt"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would create it, not mkstemp's 0600


def test_pretraining_a_generator_that_cannot_be_pretrained_is_a_recipe_error(tmp_path: Path) -> None:
    from seqtk.core.errors import RecipeError

    recipe = tiny(tmp_path, "nopretrain")
    recipe["generator"]["params"]["feed_previous"] = False
    with pytest.raises(RecipeError, match=r"train\.pretrain\.generator_steps: cannot use the teacher-forced loss: .*feed_previous"):
        run(recipe)
    assert not (tmp_path / "nopretrain").exists()


def test_a_dataset_smaller_than_one_batch_still_trains(tmp_path: Path) -> None:
    from seqtk.core.batches import BatchStream
    from seqtk.core.interfaces import Batch, SequenceData

    stream = BatchStream(SequenceData(Batch.full_length(torch.arange(5.0).reshape(5, 1, 1))), batch_size=12, seed=0)
    rows = stream.next_indices()
    assert len(rows) == 12 and sorted(rows[:5].tolist()) == [0, 1, 2, 3, 4]  # whole epochs, each shuffled
    result = run(tiny(tmp_path, "small", domain={"name": "sines", "params": {"samples": 6, "length": 8, "features": 2}}))
    # One held-out series: density and coverage have no neighbourhood to measure and say NaN.
    assert result.steps == 20 and all(v == v for name, v in result.metrics.items() if name not in ("density", "coverage"))
    assert result.metrics["coverage"] != result.metrics["coverage"]


def test_kill_9_mid_run_then_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    """A real SIGKILL of a `seqtk run` process: nothing is lost, nothing is half-written."""
    import subprocess
    import sys
    import time

    import yaml

    changes = {"train__adversarial__steps": 100, "train__cpu_threads": 1, "output__checkpoint_every": 10, "eval__every": 50}
    run(tiny(tmp_path, "straight", **changes))
    recipe_file = tmp_path / "killed.yaml"
    recipe_file.write_text(yaml.safe_dump(tiny(tmp_path, "killed", **changes)))
    command = [sys.executable, "-m", "seqtk", "run", str(recipe_file), "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    checkpoints = tmp_path / "killed" / "checkpoints"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        found = ckpt.list_checkpoints(checkpoints)
        if found and found[-1][0] >= 30:
            break
        time.sleep(0.01)
    process.kill()
    process.wait(timeout=30)
    killed_at = ckpt.list_checkpoints(checkpoints)[-1][0]
    assert 30 <= killed_at < 120, "the run was not killed mid-way"
    (checkpoints / ".step-00000999.pt.abc.tmp").write_bytes(b"half")  # as if killed mid-write
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(tmp_path / "straight", tmp_path / "killed")
    assert not list((tmp_path / "killed").rglob("*.tmp")), "a temporary file outlived the resume"


def test_init_generator_starts_from_another_runs_generator(tmp_path: Path) -> None:
    """A second run started from the first's generator begins where the first ended."""
    first = run(tiny(tmp_path, "first"), progress=False)
    second = run(
        tiny(tmp_path, "second", train__init_generator=str(first.run_dir), train__pretrain={"generator_steps": 0}, train__adversarial={"steps": 1}),
        progress=False,
    )
    assert second.initial_metrics == first.metrics
    fresh = run(tiny(tmp_path, "fresh", train__pretrain={"generator_steps": 0}, train__adversarial={"steps": 1}), progress=False)
    assert fresh.initial_metrics != first.metrics


def test_init_generator_that_does_not_fit_is_a_recipe_error(tmp_path: Path) -> None:
    first = run(tiny(tmp_path, "first", train__adversarial={"steps": 1}), progress=False)
    wider = tiny(tmp_path, "wider", train__init_generator=str(first.run_dir))
    wider["generator"]["params"]["hidden_dim"] = 12
    with pytest.raises(RecipeError, match=r"train\.init_generator: .*does not fit"):
        run(wider, progress=False)
    with pytest.raises(RecipeError, match=r"train\.init_generator: .*holds no checkpoint"):
        run(tiny(tmp_path, "nothing", train__init_generator=str(tmp_path)), progress=False)


def test_supervised_weight_adds_the_teacher_forced_loss_to_adversarial_updates(tmp_path: Path) -> None:
    """With the auxiliary term the next-step error falls during the adversarial phase; without it, it is not computed."""
    with_term = tiny(tmp_path, "supervised", train__pretrain={"generator_steps": 0, "discriminator_steps": 0}, train__adversarial={"steps": 60, "supervised_weight": 10.0})
    run(with_term)
    logged = [r["g_supervised"] for r in read_metrics(tmp_path / "supervised" / "metrics.jsonl") if "g_supervised" in r]
    assert len(logged) == 30  # every log line of the adversarial phase (log_every 2)
    assert sum(logged[-5:]) < 0.7 * sum(logged[:5])

    run(tiny(tmp_path, "plain", train__pretrain={"generator_steps": 0, "discriminator_steps": 0}, train__adversarial={"steps": 6}))
    assert not any("g_supervised" in r for r in read_metrics(tmp_path / "plain" / "metrics.jsonl"))


def test_supervised_weight_needs_a_generator_with_a_teacher_forced_loss(tmp_path: Path) -> None:
    recipe = tiny(tmp_path, "nosupervised", train__pretrain={"generator_steps": 0}, train__adversarial={"steps": 4, "supervised_weight": 1.0})
    recipe["generator"]["params"]["feed_previous"] = False
    with pytest.raises(RecipeError, match=r"train\.adversarial\.supervised_weight: cannot use the teacher-forced loss: .*feed_previous"):
        run(recipe)


def test_pretraining_can_use_its_own_generator_learning_rate(tmp_path: Path) -> None:
    """RelGAN's schedule: a large rate for maximum likelihood, the optimizer's own for the adversarial phase."""
    run(tiny(tmp_path, "lr", train__pretrain={"generator_steps": 4, "discriminator_steps": 0, "generator_lr": 0.05}, train__adversarial={"steps": 4}))
    states = {step: ckpt.load_checkpoint(path) for step, path in ckpt.list_checkpoints(tmp_path / "lr" / "checkpoints")}
    assert [group["lr"] for group in states[4]["g_optimizer"]["param_groups"]] == [0.05]  # the last pretraining step
    assert [group["lr"] for group in states[8]["g_optimizer"]["param_groups"]] == [1e-3]  # train.optimizer.generator.lr
    with pytest.raises(RecipeError, match="train.pretrain.generator_lr"):
        run(tiny(tmp_path, "bad", train__pretrain={"generator_lr": 0}))
