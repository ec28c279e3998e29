"""Kill -9 trials: a `seqtk run` killed at any moment and resumed loses nothing.

One recipe is trained twice: once without interruption (in this process, the reference),
and once as ``python -m seqtk run`` subprocesses that are sent SIGKILL again and again,
each time at a moment a seeded ``random.Random`` picks or at a chosen event, and resumed
with ``--resume`` after every kill. The last resume runs to the end; then the killed run's
networks, optimiser and RNG states, ``metrics.jsonl`` and sample files must equal the
reference's bit for bit, with no temporary file left anywhere.

The kill moments, in the order the trial uses them:

* ``before-first-checkpoint``: the fresh run, once its first evaluation is logged and
  before any checkpoint exists. ``--resume`` then refuses with exit code 2 (there is
  nothing to resume from) and leaves the directory as it was; ``--overwrite`` starts again;
* ``random``: a random delay after the process has visibly started working (its first
  checkpoint for a fresh run, its first change to ``metrics.jsonl`` for a resumed one, so
  that the interpreter's start-up does not swallow the delay). The delay is a random
  fraction of the time the rest of the run takes, measured on the reference run, so kills
  spread over the whole run on a fast machine or a loaded one;
* ``checkpoint-write``: the moment a checkpoint's temporary file (``.step-*.pt.*.tmp``)
  appears (polled every millisecond). The kill is *proven* to have landed mid-write when
  that file is still there after the process is dead: the rename never happened. The
  generator is wide (hidden_dim 256) so that a checkpoint is about 3 MB and writing and
  fsyncing it takes milliseconds; the kill is retried until one is proven;
* ``resume-start``: the first sign of life of a resumed process (it cut the log back or
  logged its first step), before it writes a checkpoint of its own;
* ``sample-write``: like ``checkpoint-write``, for a sample file's temporary file in
  ``samples/`` (a small CSV: the window is short, so it is tried a few times and reported,
  not required).

What a kill leaves behind, before any resume (checked after every kill):

* every ``checkpoints/step-*.pt`` loads with ``load_checkpoint`` and holds exactly the
  reference's state at that step: a checkpoint is complete or absent (temporary file,
  fsync, rename, fsync of the folder), never half-written;
* every sample file equals the reference's file of the same name, for the same reason;
* temporary files (``.*.tmp``) may remain, but only in the run directory, ``checkpoints/``
  or ``samples/``, which is where a resume deletes them;
* ``metrics.jsonl`` is a byte prefix of the reference's log, at least as long as the
  newest checkpoint's ``log_size``: everything up to that size is complete and durable
  (fsynced before the checkpoint is written). What follows is the killed process's work
  since that checkpoint, identical to the reference's; it normally ends at a line boundary
  (each line reaches the kernel in one ``write``), but a kill is not promised to land
  between lines, so a partial last line is allowed here (``read_metrics`` skips it). A
  resume cuts the log back to ``log_size`` and writes the same lines again, so after the
  last resume the log equals the reference's, with no partial line.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import torch
import yaml
from test_trainer import assert_same_run, tiny

from seqtk.core import checkpoint as ckpt
from seqtk.core.api import run
from seqtk.core.cli import main
from seqtk.core.errors import CheckpointError
from seqtk.core.metrics_log import MetricsLog, read_metrics

#: The trial's seed: it draws every random delay.
TRIAL_SEED = 20240617
#: Bounds on every wait: a fresh process must start Python and torch on a loaded 2-core machine.
EVENT_TIMEOUT_S = 90.0
FINAL_TIMEOUT_S = 180.0
KILL_WAIT_S = 30.0
POLL_S = 0.001
#: A random kill comes after this fraction (drawn uniformly) of the rest of the run's time:
#: early ones first, then late ones.
EARLY, LATE = (0.05, 0.3), (0.3, 0.7)
#: ... but never later than this many steps before the end (a faster process must not finish first).
MARGIN_STEPS = 3
#: The folders a resume clears of temporary files (seqtk.core.api.run), relative to the run directory.
CLEANED_FOLDERS = (Path("."), Path("checkpoints"), Path("samples"))

#: A wide generator (checkpoints of about 3 MB, so a write takes measurable time), a
#: checkpoint every other step, a log line every step, no pictures (they cost a second each).
CHANGES: dict[str, Any] = {
    "domain__params__plots": False,
    "generator__params__hidden_dim": 256,
    "train__adversarial__steps": 60,
    "train__log_every": 1,
    "train__cpu_threads": 1,
    "eval__every": 10,
    "output__checkpoint_every": 2,
}


# --------------------------------------------------------------------------- the reference


def digest(state: dict[str, Any]) -> str:
    """A hash of everything a checkpoint holds but its recipe (whose output.dir differs)."""
    hasher = hashlib.sha256()
    _feed(hasher, {key: value for key, value in state.items() if key != "recipe"})
    return hasher.hexdigest()


def _feed(hasher: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        hasher.update(f"T{tensor.dtype}{tuple(tensor.shape)}".encode())
        hasher.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        hasher.update(f"D{len(value)}".encode())
        for key, item in value.items():
            hasher.update(repr(key).encode())
            _feed(hasher, item)
    elif isinstance(value, (list, tuple)):
        hasher.update(f"L{len(value)}".encode())
        for item in value:
            _feed(hasher, item)
    else:
        hasher.update(repr(value).encode())


@dataclass
class Reference:
    """The uninterrupted run: its directory, its log's bytes and every checkpoint's digest by step."""

    run_dir: Path
    metrics: bytes
    digests: dict[int, str]
    total_steps: int
    step_seconds: float  # this machine's time per step, now: random delays are drawn in steps

    def log_offset(self, step: int) -> int:
        """Where the log's first line for ``step`` starts: a killed run's log passes it when it logs that step."""
        offset = 0
        for line in self.metrics.splitlines(keepends=True):
            if json.loads(line)["step"] >= step:
                return offset
            offset += len(line)
        return offset


class RecordCheckpoints:
    """A callback that digests every checkpoint the reference writes (the run keeps only two)."""

    def __init__(self) -> None:
        self.digests: dict[int, str] = {}

    def on_checkpoint(self, step: int, path: Path) -> None:
        self.digests[step] = digest(ckpt.load_checkpoint(path))


def reference_run(tmp_path: Path) -> Reference:
    recorder = RecordCheckpoints()
    result = run(tiny(tmp_path, "straight", **CHANGES), callbacks=[recorder])
    metrics = (result.run_dir / "metrics.jsonl").read_bytes()
    return Reference(result.run_dir, metrics, recorder.digests, result.steps, result.seconds / result.steps)


# --------------------------------------------------------------------------- processes


class Processes:
    """Starts `seqtk run` subprocesses, each in its own session, and kills any still alive on close."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, recipe_file: Path, *flags: str) -> subprocess.Popen[bytes]:
        self.logs.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "seqtk", "run", str(recipe_file), "--quiet", *flags]
        with open(self.logs / f"stderr-{len(self.started)}.txt", "wb") as stderr:
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
        self.started.append(process)
        return process

    def stderr(self, process: subprocess.Popen[bytes]) -> str:
        return (self.logs / f"stderr-{self.started.index(process)}.txt").read_text(errors="replace")

    @staticmethod
    def kill(process: subprocess.Popen[bytes]) -> None:
        """SIGKILL the process's session (its group: the process and any child) and reap it."""
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=KILL_WAIT_S)

    def close(self) -> None:
        for process in self.started:
            if process.poll() is None:
                self.kill(process)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path / "stderr")
    try:
        yield started
    finally:
        started.close()


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes], what: str) -> bool:
    """Poll ``condition`` every millisecond; False if the process exits first."""
    deadline = time.monotonic() + EVENT_TIMEOUT_S
    while time.monotonic() < deadline:
        if condition():
            return True
        if process.poll() is not None:
            return condition()
        time.sleep(POLL_S)
    raise AssertionError(f"timed out after {EVENT_TIMEOUT_S:.0f} s waiting for {what}")


def temporaries(folder: Path) -> set[str]:
    try:
        return {entry.name for entry in os.scandir(folder) if entry.name.startswith(".") and entry.name.endswith(".tmp")}
    except FileNotFoundError:
        return set()


def file_state(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_size, stat.st_mtime_ns


def newest_step(run_dir: Path) -> int | None:
    found = ckpt.list_checkpoints(run_dir / "checkpoints")
    return found[-1][0] if found else None


def last_logged_step(log: Path) -> int | None:
    complete = log.read_bytes().rpartition(b"\n")[0] if log.exists() else b""
    return json.loads(complete.rpartition(b"\n")[2])["step"] if complete else None


# --------------------------------------------------------------------------- the trial


@dataclass
class Kill:
    kind: str
    newest_checkpoint: int | None  # after the kill
    logged_step: int | None  # the last step in metrics.jsonl: how far the killed process got
    seconds: float  # from the process's start to its kill
    proven: bool | None = None  # for targeted kinds: did the kill land on the event?


@dataclass
class Trial:
    """One run, killed as the test says and resumed after each kill."""

    recipe_file: Path
    run_dir: Path
    reference: Reference
    processes: Processes
    rng: random.Random
    kills: list[Kill] = field(default_factory=list)
    partial_lines: int = 0
    temporaries_left: int = 0

    def kill(self, kind: str, *flags: str, fraction: tuple[float, float] = EARLY) -> Kill:
        """Start ``seqtk run`` with ``flags``, SIGKILL it at the moment ``kind`` names, check what is left behind."""
        checkpoints, samples, log = self.run_dir / "checkpoints", self.run_dir / "samples", self.run_dir / "metrics.jsonl"
        before_log, before_step = file_state(log), newest_step(self.run_dir)
        old = temporaries(checkpoints) | temporaries(samples)  # a resume deletes them: never mistake them for new ones
        seen: set[str] = set()

        def new_temporary(folder: Path) -> Callable[[], bool]:
            def appeared() -> bool:
                seen.update(temporaries(folder) - old)
                return bool(seen)

            return appeared

        def working() -> bool:
            return newest_step(self.run_dir) is not None if before_step is None else file_state(log) != before_log

        started = time.monotonic()
        process = self.processes.start(self.recipe_file, *flags)
        if kind == "before-first-checkpoint":
            reached = wait_for(lambda: (file_state(log) or (0, 0))[0] > 0, process, "the first evaluation's log line")
        elif kind == "random":
            reached = wait_for(working, process, "the run to start working")
            remaining = self.reference.total_steps - (newest_step(self.run_dir) or 0)
            until = time.monotonic() + self.rng.uniform(*fraction) * remaining * self.reference.step_seconds
            near_the_end = self.reference.log_offset(self.reference.total_steps - MARGIN_STEPS)
            while reached and time.monotonic() < until and process.poll() is None and (file_state(log) or (0, 0))[0] < near_the_end:
                time.sleep(POLL_S)
        elif kind == "resume-start":
            reached = wait_for(working, process, "the resumed run's first change to metrics.jsonl")
        elif kind == "checkpoint-write":
            reached = wait_for(new_temporary(checkpoints), process, "a checkpoint's temporary file")
        elif kind == "sample-write":
            reached = wait_for(new_temporary(samples), process, "a sample file's temporary file")
        else:
            raise ValueError(f"unknown kill moment {kind!r}")
        self.processes.kill(process)
        assert reached and process.returncode == -signal.SIGKILL, (
            f"kill #{len(self.kills) + 1} ({kind}): the run ended by itself (exit {process.returncode}) before the kill; "
            f"lengthen train.adversarial.steps\n{self.processes.stderr(process)}"
        )
        kill = Kill(kind, newest_step(self.run_dir), last_logged_step(log), time.monotonic() - started)
        if kind in ("checkpoint-write", "sample-write"):
            folder = checkpoints if kind == "checkpoint-write" else samples
            kill.proven = bool(seen & temporaries(folder))  # still there: killed before the rename
        elif kind == "resume-start":
            kill.proven = kill.newest_checkpoint == before_step
        elif kind == "before-first-checkpoint":
            kill.proven = kill.newest_checkpoint is None
        self.kills.append(kill)
        self.check_left_behind()
        return kill

    def kill_until_proven(self, kind: str, tries: int) -> None:
        """Resume and kill at ``kind`` until one kill is proven to have landed on it (at most ``tries`` times)."""
        for _ in range(tries):
            if self.kill(kind, "--resume").proven:
                return

    def check_left_behind(self) -> None:
        """What any kill may leave: see the module docstring."""
        where = f"after kill #{len(self.kills)} ({self.kills[-1].kind})"
        log_size = 0
        for step, path in ckpt.list_checkpoints(self.run_dir / "checkpoints"):
            state = ckpt.load_checkpoint(path)
            assert state["step"] == step, f"{where}: {path.name} holds step {state['step']}"
            assert digest(state) == self.reference.digests[step], f"{where}: {path.name} differs from the uninterrupted run's"
            log_size = int(state["log_size"])
        log = self.run_dir / "metrics.jsonl"
        written = log.read_bytes() if log.exists() else b""
        assert self.reference.metrics.startswith(written), f"{where}: metrics.jsonl is not a prefix of the uninterrupted run's log"
        assert len(written) >= log_size, f"{where}: metrics.jsonl has {len(written)} bytes, fewer than its checkpoint recorded ({log_size})"
        self.partial_lines += bool(written) and not written.endswith(b"\n")
        samples = self.run_dir / "samples"
        for path in sorted(samples.iterdir()) if samples.is_dir() else ():
            if not path.name.startswith("."):
                assert path.read_bytes() == (self.reference.run_dir / "samples" / path.name).read_bytes(), f"{where}: {path.name} differs"
        for path in self.run_dir.rglob("*.tmp"):
            assert path.parent.relative_to(self.run_dir) in CLEANED_FOLDERS, f"{where}: {path} is where no resume looks"
            self.temporaries_left += 1

    def finish(self) -> None:
        process = self.processes.start(self.recipe_file, "--resume")
        try:
            process.wait(timeout=FINAL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.processes.kill(process)
            raise AssertionError(f"the last resume did not finish in {FINAL_TIMEOUT_S:.0f} s") from None
        assert process.returncode == 0, f"the last resume failed (exit {process.returncode}):\n{self.processes.stderr(process)}"

    def proven(self, kind: str) -> int:
        return sum(bool(k.proven) for k in self.kills if k.kind == kind)

    def summary(self) -> str:
        """One line for the test's output; each kill as kind@newest-checkpoint/last-logged-step, + when proven."""
        moments = ", ".join(f"{k.kind}@{k.newest_checkpoint}/{k.logged_step}{'+' if k.proven else ''} ({k.seconds:.1f} s)" for k in self.kills)
        return (
            f"kill trials: {len(self.kills)} kills in a run of {self.reference.total_steps} steps: {moments}; "
            f"{self.proven('checkpoint-write')} proven mid-checkpoint-write, {self.proven('sample-write')} mid-sample-write; "
            f"{self.temporaries_left} temporary files left by kills, {self.partial_lines} partial log lines"
        )


def test_kill_9_at_random_moments_and_mid_write_then_resume_matches_an_uninterrupted_run(
    tmp_path: Path, processes: Processes, capsys: pytest.CaptureFixture[str]
) -> None:
    """Seven or more SIGKILLs spread over one run, at least one proven mid-checkpoint-write."""
    started = time.monotonic()
    reference = reference_run(tmp_path)
    reference_seconds = time.monotonic() - started
    recipe_file = tmp_path / "killed.yaml"
    recipe_file.write_text(yaml.safe_dump(tiny(tmp_path, "killed", **CHANGES)))
    run_dir = tmp_path / "killed"
    trial = Trial(recipe_file, run_dir, reference, processes, random.Random(TRIAL_SEED))

    if trial.kill("before-first-checkpoint").proven:
        # Nothing to resume from: --resume says so (exit 2, one paragraph) and changes nothing;
        # --overwrite starts again. The CLI is run in this process, where torch is loaded already.
        log = (run_dir / "metrics.jsonl").read_bytes()
        assert main(["run", str(recipe_file), "--quiet", "--resume"]) == 2
        refusal = capsys.readouterr().err
        assert "nothing to resume" in refusal and "Traceback" not in refusal, refusal
        assert (run_dir / "metrics.jsonl").read_bytes() == log
        trial.kill("random", "--overwrite")
    else:
        trial.kill("random", "--resume")
    trial.kill_until_proven("checkpoint-write", tries=6)
    trial.kill("resume-start", "--resume")
    trial.kill_until_proven("sample-write", tries=3)
    trial.kill("random", "--resume", fraction=LATE)
    trial.kill("random", "--resume", fraction=LATE)
    finishing = time.monotonic()
    trial.finish()
    finish_seconds = time.monotonic() - finishing

    assert_same_run(reference.run_dir, run_dir)
    found = ckpt.list_checkpoints(run_dir / "checkpoints")
    assert found and found[-1][0] == reference.total_steps
    for step, path in found:  # every file there loads; the last holds the uninterrupted run's whole state, RNGs included
        assert digest(ckpt.load_checkpoint(path)) == reference.digests[step], path.name
    assert not list(run_dir.rglob("*.tmp")), "a temporary file outlived the resumes"
    log = (run_dir / "metrics.jsonl").read_bytes()
    assert log == reference.metrics and log.endswith(b"\n") and len(read_metrics(run_dir / "metrics.jsonl")) == log.count(b"\n")

    with capsys.disabled():
        print(
            f"\n{trial.summary()}; reference run {reference_seconds:.1f} s, last resume {finish_seconds:.1f} s, "
            f"{time.monotonic() - started:.1f} s in all"
        )
    assert len(trial.kills) >= 7
    assert trial.proven("checkpoint-write") >= 1, "no kill was proven to land mid-checkpoint-write: make the checkpoint bigger"


# --------------------------------------------------------------------------- the log on its own


def test_a_log_cut_short_by_a_kill_reads_without_its_partial_last_line(tmp_path: Path) -> None:
    """A reader of a killed, not yet resumed run sees whole records; a resume then cuts the partial line off."""
    path = tmp_path / "metrics.jsonl"
    log = MetricsLog(path)
    log.write({"step": 1, "loss": 0.5})
    size = log.sync()
    log.write({"step": 2, "loss": 0.25})
    log.close()
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"step": 3, "lo')  # the kill landed mid-line
    assert read_metrics(path) == [{"step": 1, "loss": 0.5}, {"step": 2, "loss": 0.25}]
    resumed = MetricsLog(path)
    resumed.truncate(size)
    resumed.write({"step": 2, "loss": 0.25})
    resumed.close()
    assert path.read_text() == '{"step": 1, "loss": 0.5}\n{"step": 2, "loss": 0.25}\n'
    path.write_text('{"step": 1}\n{"step": \n{"step": 3}\n')
    with pytest.raises(json.JSONDecodeError):  # damage before the last line is not a kill's: it is not hidden
        read_metrics(path)


def test_resuming_refuses_a_log_shorter_than_its_checkpoint_recorded(tmp_path: Path) -> None:
    """Padding a log that lost lines would write NUL bytes into it: the resume stops and says why instead."""
    path = tmp_path / "metrics.jsonl"
    log = MetricsLog(path)
    log.write({"step": 1})
    size = log.sync()
    log.close()
    path.write_text("")  # replaced by an empty copy after the checkpoint
    resumed = MetricsLog(path)
    with pytest.raises(CheckpointError, match=rf"metrics\.jsonl: holds 0 bytes, fewer than the {size} that the checkpoint being resumed recorded.*--overwrite"):
        resumed.truncate(size)
    resumed.close()
    assert path.read_bytes() == b""
