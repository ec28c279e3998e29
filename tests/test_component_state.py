"""Components with state (issue 15, item 2): kept in checkpoints, restored on --resume, equal on every rank.

The stateful component is the objective of a test plugin, tests/stateful_objective_plugin.py
(a Fisher GAN whose Lagrange multiplier moves at every critic update), loaded by name through
``SEQTK_PLUGINS`` as a user's plugin module would be.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from seqtk.core import checkpoint as ckpt
from seqtk.core.api import run
from seqtk.core.errors import CheckpointError
from seqtk.core.plugins import PluginHost

from test_trainer import CrashAt, final_state, tiny

TESTS = Path(__file__).resolve().parent
PLUGIN = "stateful_objective_plugin"
PRETRAIN_D = 3  # tiny()'s discriminator pretraining steps: each is one critic update


@pytest.fixture(autouse=True)
def plugin_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every PluginHost (and every ``seqtk`` subprocess) loads the test plugin by its module name."""
    monkeypatch.setenv("SEQTK_PLUGINS", PLUGIN)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def fisher(tmp_path: Path, name: str, objective: str = "fisher-test", **changes: Any) -> dict[str, Any]:
    """tiny() with the stateful objective, one cheap metric and one thread."""
    recipe = tiny(tmp_path, name, train__cpu_threads=1, **changes)
    recipe["objective"] = {"name": objective, "params": {"rho": 0.5}}
    recipe["domain"]["params"]["samples"] = 128
    recipe["eval"].update(metrics=["mmd"], samples=32)
    return recipe


def objective_state(run_dir: Path) -> dict[str, Any]:
    return final_state(run_dir)["components"]["objective"]


def assert_same_weights_state_and_log(a: Path, b: Path) -> None:
    state_a, state_b = final_state(a), final_state(b)
    assert state_a["step"] == state_b["step"]
    for net in ("generator", "discriminator"):
        for key, tensor in state_a[net].items():
            assert torch.equal(tensor, state_b[net][key]), f"{net}.{key} differs"
    objective_a, objective_b = state_a["components"]["objective"], state_b["components"]["objective"]
    assert objective_a["updates"] == objective_b["updates"]
    assert torch.equal(objective_a["multiplier"], objective_b["multiplier"]), (objective_a, objective_b)
    assert (a / "metrics.jsonl").read_bytes() == (b / "metrics.jsonl").read_bytes()


# --------------------------------------------------------------------------- plain data only


def test_plain_state_passes_what_a_safe_checkpoint_reads_back(tmp_path: Path) -> None:
    state = {"lam": torch.tensor(1.5), "n": 3, "t": 0.5, "on": True, "name": "x", "none": None, "nested": {"k": [1, (2.0, "b")], 4: torch.ones(2)}}
    assert ckpt.plain_state(state, "objective 'x'") == state
    ckpt.save_checkpoint(tmp_path / "step-00000001.pt", {"components": {"objective": state}})
    back = ckpt.load_checkpoint(tmp_path / "step-00000001.pt")["components"]["objective"]  # weights_only=True
    assert torch.equal(back["lam"], state["lam"]) and back["nested"]["k"] == [1, (2.0, "b")] and back["none"] is None


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({"lam": np.zeros(2)}, r"its state holds a numpy\.ndarray at state_dict\(\)\['lam'\]; a checkpoint keeps only tensors"),
        ({"lam": np.float64(0.5)}, r"numpy\.float64 at state_dict\(\)\['lam'\]"),  # a float subclass: pickled as numpy's
        ({"seen": [1, {2, 3}]}, r"a set at state_dict\(\)\['seen'\]\[1\]"),
        ({"by": {(1, 2): 0.5}}, r"a key \(1, 2\) \(tuple\) at state_dict\(\)\['by'\]; keys must be str or int"),
        ([1.0], r"state_dict\(\) returned a list, not a dict; return \{\} when there is no state"),
    ],
)
def test_state_that_a_safe_checkpoint_cannot_hold_is_refused_naming_the_component(state: Any, expected: str) -> None:
    with pytest.raises(CheckpointError, match=r"^objective 'fisher' \(pkg\.Fisher\): .*" + expected):
        ckpt.plain_state(state, "objective 'fisher' (pkg.Fisher)")


def test_a_run_whose_objective_keeps_a_numpy_array_stops_at_its_first_checkpoint_naming_it(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"objective 'fisher-numpy' \(stateful_objective_plugin\.NumpyStateObjective\): its state holds a numpy\.ndarray"):
        run(fisher(tmp_path, "numpy", objective="fisher-numpy"), host=PluginHost())
    assert not ckpt.list_checkpoints(tmp_path / "numpy" / "checkpoints"), "a checkpoint that cannot be read back was written"


# --------------------------------------------------------------------------- resume


def test_kill_9_then_resume_restores_the_objectives_state_bit_for_bit(tmp_path: Path) -> None:
    changes = {"train__adversarial__steps": 60, "output__checkpoint_every": 10, "eval__every": 30}
    run(fisher(tmp_path, "straight", **changes), host=PluginHost())
    straight = objective_state(tmp_path / "straight")
    assert straight["updates"] == PRETRAIN_D + 60 and straight["multiplier"] != 0  # one update per critic step
    recipe_file = tmp_path / "killed.yaml"
    recipe_file.write_text(yaml.safe_dump(fisher(tmp_path, "killed", **changes)))
    command = [sys.executable, "-m", "seqtk", "run", str(recipe_file), "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    checkpoints = tmp_path / "killed" / "checkpoints"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        found = ckpt.list_checkpoints(checkpoints)
        if found and found[-1][0] >= 20:
            break
        time.sleep(0.01)
    process.kill()  # SIGKILL: no handler runs, no last checkpoint
    _, stderr = process.communicate(timeout=30)
    killed_at = ckpt.list_checkpoints(checkpoints)[-1][0]
    assert 20 <= killed_at < 4 + PRETRAIN_D + 60, f"the run was not killed mid-way: {stderr.decode()[-2000:]}"
    at_kill = ckpt.load_checkpoint(checkpoints / f"step-{killed_at:08d}.pt")["components"]["objective"]
    assert at_kill["updates"] == killed_at - 4  # the checkpoint holds the state the run had at that step
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_weights_state_and_log(tmp_path / "straight", tmp_path / "killed")


def test_a_checkpoint_written_before_components_kept_state_still_resumes(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(fisher(tmp_path, "old"), host=PluginHost(), callbacks=[CrashAt(14)])
    path = ckpt.list_checkpoints(tmp_path / "old" / "checkpoints")[-1][1]
    state = ckpt.load_checkpoint(path)
    assert state["step"] == 12 and state["components"]["objective"]["updates"] == 12 - 4
    del state["components"], state["format"]  # as seqtk wrote it before this key existed
    ckpt.save_checkpoint(path, state)
    run(fisher(tmp_path, "old"), host=PluginHost(), resume=True)
    # The objective kept the state it was built with at step 12: it counts the 8 updates since.
    assert objective_state(tmp_path / "old")["updates"] == 20 - 12


# --------------------------------------------------------------------------- torchrun

LAUNCH_TIMEOUT_S = 240


def test_under_two_ranks_every_rank_holds_rank_0s_state(tmp_path: Path) -> None:
    """Each rank's critic sees its own rows (their constraints differ), yet all end each step with rank 0's multiplier."""
    recipe = fisher(tmp_path, "ddp", train__adversarial__steps=6, output__checkpoint_every=100, eval__every=100, train__device="cpu")
    recipe_file = tmp_path / "ddp.yaml"
    recipe_file.write_text(yaml.safe_dump(recipe))
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone"]
    command = [*launcher, str(TESTS / f"{PLUGIN}.py"), str(recipe_file), str(tmp_path / "ranks")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, env=env)
    try:
        output, _ = process.communicate(timeout=LAUNCH_TIMEOUT_S)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # workers left by a failure (they also stop when torchrun is gone)
        process.wait(timeout=30)
    assert process.returncode == 0, output
    ranks = [torch.load(tmp_path / "ranks" / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert ranks[0]["last_constraint"] != ranks[1]["last_constraint"], "both ranks scored the same rows: the test shows nothing"
    states = [rank["objective"] for rank in ranks]
    assert states[0]["updates"] == states[1]["updates"] == PRETRAIN_D + 6
    assert torch.equal(states[0]["multiplier"], states[1]["multiplier"]) and states[0]["multiplier"] != 0
    for key, tensor in ranks[0]["discriminator"].items():
        assert torch.equal(tensor, ranks[1]["discriminator"][key]), key
    saved = objective_state(tmp_path / "ddp")  # what rank 0 checkpointed is what every rank holds
    assert torch.equal(saved["multiplier"], states[0]["multiplier"]) and saved["updates"] == states[0]["updates"]
