"""Data-parallel training under torchrun (gloo on CPU): equivalence, synchronised ranks, resume, two nodes.

Every test that launches torchrun bounds each launch with a timeout and kills the whole
process group (torchrun and its workers) when it fails, so no worker outlives a test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import torch
import yaml

from seqtk.core import checkpoint as ckpt
from seqtk.core.api import run
from seqtk.core.batches import BatchStream
from seqtk.core.distributed import Distributed
from seqtk.core.errors import SeqtkError
from seqtk.core.interfaces import Batch, SequenceData
from seqtk.core.metrics_log import read_metrics

from test_text_runs import oracle_recipe
from test_trainer import assert_same_run, tiny

WORKER = Path(__file__).with_name("ddp_worker.py")
LAUNCH_TIMEOUT_S = 240

# --------------------------------------------------------------------------- helpers


def oracle_mle(tmp_path: Path, name: str, steps: int = 12) -> dict[str, Any]:
    """Maximum likelihood on the oracle: no noise anywhere, so ranks differ only in their rows."""
    recipe = oracle_recipe(tmp_path, pretrain={"generator_steps": steps}, adversarial={"steps": 0}, device="cpu", log_every=1)
    recipe["eval"].update(every=6, samples=128)
    recipe["output"].update(dir=str(tmp_path / name), checkpoint_every=6, samples=4)
    return recipe


def write_recipe(tmp_path: Path, recipe: dict[str, Any], name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def torchrun(*args: str, nproc: int = 2, standalone: bool = True) -> list[str]:
    launcher = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}"]
    return [*launcher, *(["--standalone"] if standalone else []), *args]


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQTK_")}
    env["OMP_NUM_THREADS"] = "1"
    env["GLOO_SOCKET_IFNAME"] = "lo"  # every "node" is this machine: talk over loopback
    return env


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (torchrun's workers; each in a session of its own)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@contextlib.contextmanager
def launched(command: list[str]) -> Iterator[subprocess.Popen[str]]:
    """torchrun and its workers, all killed when the block ends, however it ends."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, env=environment())
    try:
        yield process
    finally:
        workers = children(process.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        for worker in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker, signal.SIGKILL)
        process.wait(timeout=30)


def launch(command: list[str]) -> str:
    """Run to completion (bounded); the output, or a failure that shows it."""
    with launched(command) as process:
        try:
            output, _ = process.communicate(timeout=LAUNCH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{' '.join(command)} ran past {LAUNCH_TIMEOUT_S} s")
        assert process.returncode == 0, output
        return output


def networks(run_dir: Path) -> dict[str, Any]:
    return ckpt.load_checkpoint(ckpt.list_checkpoints(run_dir / "checkpoints")[-1][1])


# --------------------------------------------------------------------------- without torchrun


def test_without_torchrun_variables_there_is_one_process() -> None:
    assert Distributed.from_environment({}) == Distributed()
    assert Distributed.from_environment({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == Distributed(1, 4, 1, launched=True)
    with pytest.raises(SeqtkError, match="RANK=5 is outside WORLD_SIZE=2"):
        Distributed.from_environment({"RANK": "5", "WORLD_SIZE": "2"})
    with pytest.raises(SeqtkError, match="expected integers as torchrun sets them"):
        Distributed.from_environment({"RANK": "zero", "WORLD_SIZE": "2"})


@pytest.mark.parametrize("world", [2, 3])
def test_ranks_draw_disjoint_rows_that_together_are_the_single_process_batch(world: int) -> None:
    data = SequenceData(Batch.full_length(torch.arange(10.0).reshape(10, 1, 1)))
    single = BatchStream(data, batch_size=4 * world, seed=7)
    ranks = [BatchStream(data, batch_size=4, seed=7, rank=r, world_size=world) for r in range(world)]
    for _ in range(6):  # several epochs: 10 rows, global batches of 8 or 12 straddle them
        expected = single.next_indices()
        shares = [stream.next_indices() for stream in ranks]
        assert all(len(share) == 4 for share in shares)
        assert torch.equal(torch.stack(shares, dim=1).reshape(-1), expected)  # rank r holds rows r, r+world, ...


def test_one_process_draws_what_it_always_drew() -> None:
    """world_size 1 keeps the original stream, so single-process results are unchanged."""
    data = SequenceData(Batch.full_length(torch.arange(6.0).reshape(6, 1, 1)))
    stream = BatchStream(data, batch_size=4, seed=3)
    generator = torch.Generator().manual_seed(3)
    order = torch.cat([torch.randperm(6, generator=generator) for _ in range(2)])
    assert torch.equal(torch.cat([stream.next_indices(), stream.next_indices()]), order[:8])


# --------------------------------------------------------------------------- torchrun on CPU (gloo)

#: Two ranks with half the batch each against one process with the whole batch, after 12
#: Adam steps at lr 0.01 (measured: 1.1e-6; summation order is the only difference).
EQUIVALENCE_ATOL = 1e-5


def test_two_ranks_with_half_batches_match_one_process_with_the_whole_batch(tmp_path: Path) -> None:
    single = run(oracle_mle(tmp_path, "single"))
    recipe = write_recipe(tmp_path, oracle_mle(tmp_path, "ddp"), "ddp")
    launch(torchrun("-m", "seqtk", "run", str(recipe), "--quiet", "--set", "train.batch_size=16"))
    one, two = networks(single.run_dir), networks(tmp_path / "ddp")
    assert one["step"] == two["step"] == 12 and two["world_size"] == 2
    for key, tensor in one["generator"].items():
        torch.testing.assert_close(two["generator"][key], tensor, rtol=0, atol=EQUIVALENCE_ATOL, msg=f"generator.{key}")
    # The logged losses are the ranks' mean, i.e. the whole batch's loss; rank 0 alone wrote the log.
    rows_one, rows_two = read_metrics(single.run_dir / "metrics.jsonl"), read_metrics(tmp_path / "ddp" / "metrics.jsonl")
    assert [(r["step"], r["phase"]) for r in rows_one] == [(r["step"], r["phase"]) for r in rows_two]
    for a, b in zip(rows_one, rows_two):
        for key in a.keys() - {"step", "phase"}:
            assert b[key] == pytest.approx(a[key], rel=1e-5), (a, b)
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == ["checkpoints", "environment.json", "metrics.jsonl", "recipe.yaml", "samples", "summary.json"]


def wgan_gp(tmp_path: Path, name: str) -> dict[str, Any]:
    return tiny(
        tmp_path,
        name,
        objective="wgan-gp",
        train__device="cpu",
        train__adversarial={"steps": 40, "discriminator_steps": 2},
        output__checkpoint_every=4,
    )


@pytest.fixture(scope="module")
def wgan_reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One uninterrupted two-rank WGAN-GP run: its recipe, and each rank's final networks."""
    tmp_path = tmp_path_factory.mktemp("wgan")
    recipe = write_recipe(tmp_path, wgan_gp(tmp_path, "straight"), "wgan")
    launch(torchrun(str(WORKER), str(recipe), str(tmp_path / "ranks")))
    return tmp_path, recipe


def assert_ranks_identical(folder: Path, world: int = 2) -> None:
    states = [torch.load(folder / f"rank{r}.pt", weights_only=True) for r in range(world)]
    for net in ("generator", "discriminator"):
        for key, tensor in states[0][net].items():
            for other in states[1:]:
                assert torch.equal(other[net][key], tensor), f"{net}.{key} differs between ranks"


def test_wgan_gp_penalty_trains_under_ddp_with_ranks_in_step(wgan_reference: tuple[Path, Path]) -> None:
    tmp_path, _ = wgan_reference
    assert_ranks_identical(tmp_path / "ranks")
    rows = [r for r in read_metrics(tmp_path / "straight" / "metrics.jsonl") if r["phase"] == "adversarial"]
    assert rows and all(r["d_penalty"] > 0 and r["d_penalty"] == r["d_penalty"] for r in rows)
    # The critic learns to tell real from fake: its loss (fake minus real score) falls below zero.
    assert rows[-1]["d_loss"] < rows[0]["d_loss"] and rows[-1]["d_loss"] < 0


def test_early_stopping_under_two_ranks_stops_every_rank_at_the_single_process_step(tmp_path: Path) -> None:
    """Rank 0 alone evaluates; its stop request must reach rank 1 at the same step, or rank 1 would hang in the next all-reduce."""
    from test_callbacks import NEVER_IMPROVES

    stopping = {"early_stopping": NEVER_IMPROVES}
    single = run(tiny(tmp_path, "single", train__device="cpu", callbacks=stopping))
    assert single.steps == 15  # evaluations at 0 (the best), 10 and 15: patience 2 runs out at 15
    recipe = write_recipe(tmp_path, tiny(tmp_path, "ddp", train__device="cpu", callbacks=stopping), "ddp")
    launch(torchrun(str(WORKER), str(recipe), str(tmp_path / "ranks")))
    assert_ranks_identical(tmp_path / "ranks")
    ranks = [torch.load(tmp_path / "ranks" / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert [r["step"] for r in ranks] == [15, 15]
    assert ranks[0]["stopped"] == ranks[1]["stopped"] == single.stopped_early and single.stopped_early["by"] == "early-stopping"
    assert ckpt.list_checkpoints(tmp_path / "ddp" / "checkpoints")[-1][0] == 15


def test_reinforce_rollouts_train_under_ddp_with_ranks_in_step(tmp_path: Path) -> None:
    recipe = oracle_mle(tmp_path, "seqgan", steps=10)
    recipe["train"]["pretrain"]["discriminator_steps"] = 4
    recipe["train"]["adversarial"] = {"steps": 8}
    recipe["eval"]["every"] = 9
    launch(torchrun(str(WORKER), str(write_recipe(tmp_path, recipe, "seqgan")), str(tmp_path / "ranks")))
    assert_ranks_identical(tmp_path / "ranks")
    rows = read_metrics(tmp_path / "seqgan" / "metrics.jsonl")
    adversarial = [r for r in rows if r["phase"] == "adversarial"]
    assert len(adversarial) == 8 and all("g_loss" in r and "reward" in r for r in adversarial)


def test_a_model_with_its_own_phases_and_optimisers_trains_under_ddp_with_ranks_in_step(tmp_path: Path) -> None:
    """TimeGAN: five optimisers over three module groups, a discriminator that steps only sometimes."""
    from test_timegan import tiny as timegan_recipe

    recipe = timegan_recipe(tmp_path, "timegan", autoencoder_steps=4, supervisor_steps=3, joint_steps=3)
    recipe["train"].update(batch_size=16, log_every=1, device="cpu")
    recipe["eval"].update(every=10, samples=32)
    launch(torchrun(str(WORKER), str(write_recipe(tmp_path, recipe, "timegan")), str(tmp_path / "ranks")))
    assert_ranks_identical(tmp_path / "ranks")  # the sampling view (G, S, R) and the critic view (E, D): all five networks
    phases = [r["phase"] for r in read_metrics(tmp_path / "timegan" / "metrics.jsonl") if r["phase"] != "eval"]
    assert phases == ["autoencoder"] * 4 + ["supervisor"] * 3 + ["joint"] * 3


def test_two_nodes_on_one_machine_train_like_two_local_ranks(tmp_path: Path, wgan_reference: tuple[Path, Path]) -> None:
    """Two torchrun launches, one per "node", meeting by c10d rendezvous on 127.0.0.1."""
    reference_dir, _ = wgan_reference
    recipe = write_recipe(tmp_path, wgan_gp(tmp_path, "nodes"), "nodes")
    endpoint = f"127.0.0.1:{free_port()}"
    node = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc_per_node=1",
        "--rdzv_backend=c10d", f"--rdzv_endpoint={endpoint}", "--rdzv_id=seqtk-test", "--max_restarts=0",
        "-m", "seqtk", "run", str(recipe), "--quiet",
    ]  # fmt: skip
    with launched(node) as first, launched(node) as second:
        outputs = []
        for process in (first, second):
            try:
                outputs.append(process.communicate(timeout=LAUNCH_TIMEOUT_S)[0])
            except subprocess.TimeoutExpired:
                pytest.fail(f"a node ran past {LAUNCH_TIMEOUT_S} s")
        assert first.returncode == 0 and second.returncode == 0, "\n".join(outputs)
    assert sum("run directory:" in output for output in outputs) == 1, "exactly one node (global rank 0) reports"
    assert_same_run(reference_dir / "straight", tmp_path / "nodes")


def test_the_documented_torchrun_commands_parse() -> None:
    """Every torchrun line in docs/scaling.md is accepted by torchrun's own parser and runs seqtk."""
    import shlex

    from docblocks import REPO, blocks
    from torch.distributed.run import get_args_parser

    commands = [
        line for block in blocks(REPO / "docs" / "scaling.md", "bash") for line in block.code.splitlines() if "torchrun" in line
    ]
    assert len(commands) >= 4
    for line in commands:
        words = shlex.split(line)
        words = words[words.index("torchrun") + 1 :]
        args = get_args_parser().parse_args(words)
        assert args.module and args.training_script == "seqtk" and args.training_script_args[0] == "run", line


def _worker_of_rank(launcher_pid: int, rank: int) -> int:
    """The pid of torchrun's worker with RANK=rank."""
    for pid in children(launcher_pid):
        with contextlib.suppress(OSError):
            if f"RANK={rank}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                return pid
    raise AssertionError(f"no worker with RANK={rank} under pid {launcher_pid}")


def _wait_for_checkpoint(process: subprocess.Popen[str], checkpoints: Path, step: int) -> None:
    deadline = time.monotonic() + LAUNCH_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        found = ckpt.list_checkpoints(checkpoints)
        if found and found[-1][0] >= step:
            return
        time.sleep(0.005)
    pytest.fail(f"no checkpoint at step {step} or later appeared")


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds torchrun's workers through /proc")
def test_a_two_rank_job_stopped_then_killed_resumes_to_the_uninterrupted_job(tmp_path: Path, wgan_reference: tuple[Path, Path]) -> None:
    """Two interruptions of one two-rank job, each resumed, ending bit for bit where the uninterrupted job ends.

    1. SIGTERM reaches rank 1 alone (a pre-empted node): the ranks agree at the end of the
       step, both checkpoint that step, and rank 0 alone reports it.
    2. SIGKILL of torchrun: its workers live in sessions of their own, so each must notice
       its launcher is gone and die too, rather than go on writing beside the resume.
    """
    reference_dir, _ = wgan_reference
    recipe = write_recipe(tmp_path, wgan_gp(tmp_path, "interrupted"), "interrupted")
    checkpoints = tmp_path / "interrupted" / "checkpoints"
    command = torchrun("-m", "seqtk", "run", str(recipe), "--quiet")

    with launched(command) as process:
        _wait_for_checkpoint(process, checkpoints, 8)
        os.kill(_worker_of_rank(process.pid, 1), signal.SIGTERM)
        output, _ = process.communicate(timeout=LAUNCH_TIMEOUT_S)
    stopped_at = ckpt.list_checkpoints(checkpoints)[-1][0]
    assert process.returncode != 0 and 8 <= stopped_at < 47, output
    assert output.count("received: saved a checkpoint") == 1, output  # rank 1, which got the signal, stays quiet
    assert f"another rank's stop signal received: saved a checkpoint at step {stopped_at}" in output, output

    with launched([*command, "--resume"]) as process:
        _wait_for_checkpoint(process, checkpoints, stopped_at + 12)
        workers = children(process.pid)
        assert len(workers) == 2
        os.kill(process.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not any(alive(w) for w in workers), "a worker outlived its launcher"
    killed_at = ckpt.list_checkpoints(checkpoints)[-1][0]
    assert stopped_at < killed_at < 47, f"the job was not killed mid-way (newest checkpoint: step {killed_at})"
    for _, path in ckpt.list_checkpoints(checkpoints):
        ckpt.load_checkpoint(path)  # complete, whenever the kill came

    launch([*command, "--resume"])
    assert_same_run(reference_dir / "straight", tmp_path / "interrupted")
