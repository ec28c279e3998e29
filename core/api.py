"""The Python API behind the CLI, for notebooks and scripts.

    from seqtk import run
    result = run("recipes/quickstart.yaml", overrides=["train.adversarial.steps=50"])
    result.run_dir, result.metrics

Everything ``seqtk run`` does goes through ``run``; the CLI only parses arguments and
prints errors.
"""

from __future__ import annotations

import difflib

import gc
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from seqtk.core.atomic import atomic_write_text, remove_stale_temporaries
from seqtk.core.errors import SeqtkError
from seqtk.core.plugins import PluginHost
from seqtk.core.recipe import Recipe, load_recipe

#: What a run directory holds; --overwrite removes exactly these, nothing a user put there.
RUN_FILES = ("recipe.yaml", "metrics.jsonl", "summary.json", "environment.json")
RUN_FOLDERS = ("checkpoints", "samples")


class RunDirectoryError(SeqtkError):
    """The run directory already holds a run and neither resume nor overwrite was asked."""


@dataclass
class RunResult:
    """What a finished run hands back."""

    run_dir: Path
    metrics: dict[str, float]
    initial_metrics: dict[str, float]
    steps: int
    seconds: float
    recipe: Recipe = field(repr=False)
    #: The best evaluation by ``output.keep_best`` (metric, mode, value, step, file), None when the recipe keeps none.
    best: dict[str, Any] | None = None
    #: What the metrics warned about the final evaluation (``Metric.warning``; mode collapse, say).
    warnings: list[str] = field(default_factory=list)
    #: Set when a callback ended the run before its last step (early stopping): ``{by, reason, step}``.
    stopped_early: dict[str, Any] | None = None


def validate(
    source: str | Path | Mapping[str, Any] | Recipe, overrides: Iterable[str] = (), *, host: PluginHost | None = None
) -> Recipe:
    """Load and check a recipe without running it; raises ``RecipeError``."""
    if isinstance(source, Recipe):
        return source
    return load_recipe(source, overrides, host=host)


def run(
    source: str | Path | Mapping[str, Any] | Recipe,
    overrides: Iterable[str] = (),
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = False,
    host: PluginHost | None = None,
    callbacks: Iterable[Any] = (),
) -> RunResult:
    """Train a recipe into its run directory and return the final metrics.

    Launched by torchrun, every process calls this; they train data-parallel, rank 0 alone
    touches the run directory, and only rank 0's result holds metrics.
    """
    host = host or PluginHost()
    recipe = validate(source, overrides, host=host)  # before importing torch: a recipe error is reported at once

    from seqtk.core.assemble import resolve_device
    from seqtk.core.distributed import Distributed, process_group
    from seqtk.core.trainer import Trainer
    run_dir = recipe.run_dir()
    dist = Distributed.from_environment()
    device = dist.device(resolve_device(recipe.data.train.device, recipe.source))
    with process_group(dist, device):
        dist.from_main(lambda: _check_run_dir(run_dir, resume=resume, overwrite=overwrite))
        # Build everything before touching the directory: a recipe that fails to build must
        # leave an earlier run (and the file system) exactly as it was.
        recording = [*callbacks, _EnvironmentRecord(device, host)]
        trainer = Trainer(recipe, host.registry, run_dir, callbacks=host.callbacks(recipe, extra=recording), progress=progress, dist=dist)
        if dist.is_main:
            _prepare_run_dir(run_dir, recipe, resume=resume)
        started = time.perf_counter()
        try:
            metrics = trainer.fit(resume=resume)
            seconds = time.perf_counter() - started
            result = RunResult(run_dir, metrics, trainer.state.initial_metrics, trainer.state.step, seconds, recipe, stopped_early=trainer.state.stopped)
            if dist.is_main:
                result.warnings = _final_warnings(run_dir)
                result.best = _best_record(run_dir, recipe)
        finally:
            # Under torchrun the trainer holds DistributedDataParallel wrappers: they must be
            # gone before their process group is destroyed, or a rank can abort at exit
            # ("terminate called without an active exception") after a finished run.
            del trainer
            gc.collect()
        if dist.is_main:
            _write_summary(result)
        return result


def _prepare_run_dir(run_dir: Path, recipe: Recipe, *, resume: bool) -> None:
    if resume:  # a process killed mid-write leaves its temporary file behind
        for folder in (run_dir, *(run_dir / name for name in RUN_FOLDERS)):
            remove_stale_temporaries(folder)
    else:
        _clear_run_dir(run_dir)
        atomic_write_text(run_dir / "recipe.yaml", yaml.safe_dump(recipe.to_dict(), sort_keys=False))


class _EnvironmentRecord:
    """``environment.json``: versions, device and plugins of this session (``seqtk.core.environment``), for ``seqtk report``.

    A callback, so that a resume writes it only once the checkpoint has been restored: a
    resume refused for a bad checkpoint leaves the run directory exactly as it was.
    """

    name = None  # seqtk's own record, not a callback a recipe disables or a plugin replaces

    def __init__(self, device: Any, host: PluginHost) -> None:
        self.device, self.host = device, host

    def setup(self, run: Any) -> None:
        self.run = run

    def on_run_start(self, run_dir: Path, recipe: Any) -> None:
        if not self.run.resuming:
            self._write(resumed=False)

    def on_resume(self, checkpoint: Any) -> None:
        self._write(resumed=True)

    def _write(self, *, resumed: bool) -> None:
        from seqtk.core.environment import ENVIRONMENT_FILE, describe_environment

        text = json.dumps(describe_environment(self.device, self.host, resumed=resumed), indent=2) + "\n"
        atomic_write_text(self.run.run_dir / ENVIRONMENT_FILE, text)


def _check_run_dir(run_dir: Path, *, resume: bool, overwrite: bool) -> None:
    holds_run = any((run_dir / name).exists() for name in (*RUN_FILES, *RUN_FOLDERS))
    if resume and not holds_run:
        raise RunDirectoryError(f"{run_dir}: nothing to resume: this run directory holds no run")
    if not resume and holds_run and not overwrite:
        raise RunDirectoryError(
            f"{run_dir}: already holds a run; continue it with --resume, start again with --overwrite, "
            "or choose another directory with --set output.dir=PATH"
        )


def _clear_run_dir(run_dir: Path) -> None:
    """Remove a previous run's files (only those seqtk writes) and create the directory."""
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)
    for name in RUN_FOLDERS:
        shutil.rmtree(run_dir / name, ignore_errors=True)
    run_dir.mkdir(parents=True, exist_ok=True)


def _write_summary(result: RunResult) -> None:
    summary = {
        "name": result.recipe.name,
        "steps": result.steps,
        "seconds_this_session": round(result.seconds, 3),
        "initial_metrics": result.initial_metrics,
        "final_metrics": result.metrics,
        "warnings": result.warnings,
    }
    if result.best is not None:
        summary["best"] = result.best
    if result.stopped_early is not None:
        summary["stopped_early"] = result.stopped_early
    atomic_write_text(result.run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")


def _best_record(run_dir: Path, recipe: Recipe) -> dict[str, Any] | None:
    """The best checkpoint's record (``checkpoints/best.json``, kept by the checkpoint callback), when ``output.keep_best`` asks for one."""
    from seqtk.core import checkpoint as ckpt

    if recipe.data.output.keep_best.metric is None:
        return None
    return ckpt.read_best_record(run_dir / "checkpoints")


def _final_warnings(run_dir: Path) -> list[str]:
    """The warnings of the run's last evaluation, read back from metrics.jsonl.

    The log, not the trainer, is asked so that a run resumed after its last evaluation
    reports them too: a resume rewrites the log exactly, and keeps the records before it.
    """
    from seqtk.core.metrics_log import read_metrics

    path = run_dir / "metrics.jsonl"
    if not path.is_file():  # the metrics-log callback was disabled or replaced
        return []
    evaluations = [row for row in read_metrics(path) if row.get("phase") == "eval"]
    return list(evaluations[-1].get("warnings", [])) if evaluations else []


def restore(
    run_dir: str | Path, *, seed: int = 0, host: PluginHost | None = None, best: bool = False, step: int | None = None
) -> tuple[Any, Recipe, dict[str, Any]]:
    """The parts of a run, rebuilt from its newest checkpoint with the generator's weights loaded (their average, when the run kept one: ``train.ema``).

    ``best`` takes the best checkpoint instead (the run's recipe set ``output.keep_best``),
    ``step`` the checkpoint of that step. Returns ``(parts, recipe, checkpoint_state)``; the
    generator is in eval mode and the domain holds its fitted state (vocabulary, scaler), so
    a script can draw samples and score them exactly as ``seqtk sample`` and the run's
    evaluations do. Seeds every RNG with ``seed`` first.
    """
    from seqtk.core import checkpoint as ckpt
    from seqtk.core.assemble import assemble, resolve_device
    from seqtk.core.trainer import seed_everything

    run_dir = Path(run_dir)
    found = ckpt.list_checkpoints(run_dir / "checkpoints")
    if not found:
        raise RunDirectoryError(f"{run_dir}: no checkpoint to sample from (is this a run directory?)")
    if best and step is not None:
        raise SeqtkError("choose the best checkpoint or a step, not both")
    path = ckpt.find_checkpoint(run_dir, "best" if best else step if step is not None else "last")
    state = ckpt.load_checkpoint(path, required=ckpt.SAMPLE_KEYS)
    host = host or PluginHost()
    recipe = load_recipe(state["recipe"], host=host)
    recipe.source = str(path)
    device = resolve_device(recipe.data.train.device, recipe.source)
    seed_everything(seed)
    parts = assemble(recipe, host.registry, device, domain_state=state["domain"])
    # A run that kept an average of its generator's weights (train.ema) evaluated and sampled from it: so does this.
    average = state.get("generator_ema")
    if average is not None:
        ckpt.load_weights(parts.generator, average.get("weights") if isinstance(average, Mapping) else average, path, "generator_ema")
    else:
        ckpt.load_weights(parts.generator, state["generator"], path, "generator")
    parts.generator.eval()
    return parts, recipe, state


def sample(
    run_dir: str | Path,
    count: int,
    *,
    out_dir: str | Path | None = None,
    seed: int = 0,
    host: PluginHost | None = None,
    best: bool = False,
    step: int | None = None,
    label: str | None = None,
    conditions: str | Path | None = None,
) -> list[Path]:
    """Generate ``count`` sequences from a run's newest checkpoint (``best``: its best, ``step``: that step's), in the domain's format.

    For a class-conditional domain every sample is of class ``label`` (a class name or
    index) when given, else the samples follow the test split's labels in order; the
    domain writes each sample's condition beside it. ``conditions`` names a file of
    conditions in the domain's format (``Domain.read_conditions``): ``count`` samples are
    drawn for each, in the file's order.
    """
    import torch

    from seqtk.core.trainer import sample_in_chunks

    if count < 1:
        raise SeqtkError(f"--count must be at least 1, got {count}")
    parts, recipe, state = restore(run_dir, seed=seed, host=host, best=best, step=step)
    if conditions is not None:
        if label is not None:
            raise SeqtkError("choose --label or --conditions, not both")
        try:
            condition = parts.domain.read_conditions(Path(conditions)).repeat(count)
        except NotImplementedError as exc:
            raise SeqtkError(f"--conditions: {exc}") from None
        count = condition.size
    else:
        condition = _sampling_condition(parts.domain, count, label)
    with torch.no_grad():
        batch = sample_in_chunks(parts.generator, count, recipe.data.train.batch_size * 16, condition)
    target = Path(out_dir) if out_dir is not None else Path(run_dir) / "generated"
    return parts.domain.write_samples(batch, target, f"samples-step-{state['step']:08d}-seed-{seed}")


def _sampling_condition(domain: Any, count: int, label: str | None) -> Any:
    """The conditions ``seqtk sample`` draws for: ``label`` for every row, or the test split's in order; None when unconditional."""
    import torch

    from seqtk.core.conditioning import cycled
    from seqtk.core.interfaces import Condition

    conditions = domain.spec.conditions
    if conditions is None or not conditions.words:
        if label is not None:
            raise SeqtkError("--label: this run's domain is unconditional; leave --label out")
        return None
    if label is None:
        return cycled(domain.load("test").batch.condition, count)
    if not conditions.num_classes:
        raise SeqtkError("--label: this run's domain conditions on static features or contexts, not on class labels")
    names = list(conditions.class_names) or [str(k) for k in range(conditions.num_classes)]
    if label in names:
        index = names.index(label)
    elif label.isdigit() and int(label) < conditions.num_classes:
        index = int(label)
    else:
        close = difflib.get_close_matches(label, names, n=3)
        hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
        raise SeqtkError(f"--label: unknown class {label!r}{hint}; valid: {', '.join(names)} or an index 0..{conditions.num_classes - 1}")
    return Condition(labels=torch.full((count,), index, dtype=torch.long))
