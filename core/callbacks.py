"""Callbacks: everything a run does around its training steps, as replaceable objects.

The trainer trains, evaluates and gathers its state; what happens *around* that (the
progress bar, ``metrics.jsonl``, the samples and pictures of each evaluation, checkpoints,
early stopping, a tracker) is done by callbacks, all of which arrive through the
``seqtk_callbacks`` hook, the built-in ones from the built-in plugin exactly as a third
party's (docs/plugins.md, "Callbacks").

Names and replacement. A callback may have a ``name``. A recipe's ``callbacks.disable``
leaves out the callbacks of those names; a plugin's callback named like one of seqtk's own
plugins' replaces it; two other plugins offering one name are refused (naming both), never
resolved by load order. A callback without a name is simply added.

Ranks. Under torchrun a callback runs on rank 0 only, unless it sets ``all_ranks = True``
(checkpointing does: every rank takes part in gathering a checkpoint). A stop request
(``Run.request_stop``) counts from rank 0, which alone evaluates.

This module imports neither torch nor any built-in plugin, so ``seqtk validate`` can build
callbacks to check their names.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Protocol, Sequence

from seqtk.core.errors import Problem, RecipeError

if TYPE_CHECKING:
    from seqtk.core.best import BestKeeper
    from seqtk.core.metrics_log import MetricsLog
    from seqtk.core.phases import Phase
    from seqtk.core.progress import Progress
    from seqtk.core.recipe import Recipe

#: The order in which the trainer calls a callback's methods (each optional).
METHODS = (
    "setup",  # (run): once, before anything else; keep the Run handle
    "on_run_start",  # (run_dir, recipe)
    "on_resume",  # (checkpoint): after the trainer restored its state from that checkpoint's dict
    "on_step",  # (step, logs): after each step, with its losses (averaged over ranks)
    "on_eval",  # (step, metrics): after each evaluation (and the one before the first step)
    "on_step_end",  # (step): after on_step and any on_eval; checkpointing decides here
    "on_save_checkpoint",  # (checkpoint): add entries to the dict about to be written (rank 0)
    "on_checkpoint",  # (step, path): a checkpoint is on disk
    "on_run_end",  # (run_dir, metrics): the run finished (or stopped early) normally
    "teardown",  # (): always last, also after an error: close files
)


class Run(Protocol):
    """What the trainer lends callbacks (``setup(run)``); the trainer implements it."""

    run_dir: Path
    checkpoint_dir: Path
    recipe: "Recipe"
    total_steps: int
    #: True when this run continues from a checkpoint (``--resume``).
    resuming: bool
    #: Whether a progress bar was asked for (``seqtk run`` on a terminal).
    show_progress: bool
    is_main: bool

    @property
    def step(self) -> int: ...

    @property
    def phase(self) -> "Phase":
        """The phase of the step just trained (of step 0 before any)."""

    @property
    def evaluation(self) -> "Evaluation | None":
        """The latest evaluation (rank 0)."""

    @property
    def stopping(self) -> str | None:
        """Why the run stops after this step (a signal or a stop request), or None."""

    def request_stop(self, by: str, reason: str) -> None:
        """Stop after this step: it is finished, checkpointed, and the run ends normally with ``summary.json`` saying why."""

    def checkpoint_state(self) -> dict[str, Any] | None:
        """The state a checkpoint holds (networks, optimisers, RNG of every rank, ...), with every callback's ``on_save_checkpoint`` applied.

        Every rank must call it (it gathers the ranks' RNG states); rank 0 gets the dict, the others None.
        """

    def checkpoint_written(self, step: int, path: Path) -> None:
        """Tell the other callbacks (``on_checkpoint``) and the trainer (its Ctrl-C message) that ``path`` is on disk."""

    def higher_is_better(self, metric: str) -> bool: ...

    def barrier(self) -> None: ...

    def from_main(self, compute: Any) -> Any: ...

    def write_samples(self, batch: Any, stem: str) -> list[Path]: ...


class Evaluation:
    """One evaluation: the sample metrics, the discriminator's view, the metrics' warnings and the generated batch."""

    def __init__(self, step: int, metrics: dict[str, float], discrimination: dict[str, float], warnings: list[str], samples: Any) -> None:
        self.step, self.metrics, self.discrimination, self.warnings, self.samples = step, metrics, discrimination, warnings, samples

    def record(self) -> dict[str, Any]:
        """The line metrics.jsonl holds for it."""
        return {"step": self.step, "phase": "eval", **self.metrics, **self.discrimination, **({"warnings": self.warnings} if self.warnings else {})}


class Callback:
    """An optional base class: every method a no-op. Plain objects with some of these methods work too."""

    name: str | None = None
    all_ranks: bool = False

    def setup(self, run: Run) -> None:
        self.run = run


# --------------------------------------------------------------------------- built-ins


class ProgressBar(Callback):
    """Step, losses, rate and ETA on stderr (``seqtk.core.progress``)."""

    name = "progress"

    def __init__(self) -> None:
        self._bar: "Progress | None" = None

    def on_step(self, step: int, logs: Mapping[str, float]) -> None:
        if self._bar is None:  # made at the first step, so that a resumed run's rate counts only its own steps
            from seqtk.core.progress import Progress

            self._bar = Progress(self.run.total_steps, step - 1, enabled=self.run.show_progress)
        self._bar.update(step, logs)

    def teardown(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class MetricsLogger(Callback):
    """``metrics.jsonl``: the mean losses every ``train.log_every`` steps, and every evaluation.

    Its size and the loss accumulators go into each checkpoint (``log_size``,
    ``accumulators``), and a resume cuts the log back to that size, so a resumed run's log
    is the uninterrupted run's byte for byte (``seqtk.core.metrics_log``).
    """

    name = "metrics-log"

    def __init__(self, every: int) -> None:
        self.every = every
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self._log: "MetricsLog | None" = None

    def setup(self, run: Run) -> None:
        from seqtk.core.metrics_log import MetricsLog

        super().setup(run)
        self._log = MetricsLog(run.run_dir / "metrics.jsonl")
        if not run.resuming:
            self._log.truncate(0)

    def on_resume(self, checkpoint: Mapping[str, Any]) -> None:
        assert self._log is not None
        if "log_size" not in checkpoint:
            from seqtk.core.errors import CheckpointError

            raise CheckpointError(
                f"{self._log.path}: the checkpoint being resumed records no log size (its run left out the metrics-log callback); "
                "resume with the same callbacks, or start again with --overwrite"
            )
        self._log.truncate(int(checkpoint["log_size"]))
        accumulators = checkpoint.get("accumulators") or {"sums": {}, "counts": {}}
        self.sums, self.counts = dict(accumulators["sums"]), dict(accumulators["counts"])

    def on_step(self, step: int, logs: Mapping[str, float]) -> None:
        assert self._log is not None
        for key, value in logs.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value)
            self.counts[key] = self.counts.get(key, 0) + 1
        if step % self.every == 0 or step == self.run.total_steps:
            means = {k: self.sums[k] / self.counts[k] for k in self.sums}
            self.sums, self.counts = {}, {}
            self._log.write({"step": step, "phase": self.run.phase.name, **means})

    def on_eval(self, step: int, metrics: Mapping[str, float]) -> None:
        assert self._log is not None and self.run.evaluation is not None
        self._log.write(self.run.evaluation.record())

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        assert self._log is not None
        checkpoint["log_size"] = self._log.sync()
        checkpoint["accumulators"] = {"sums": dict(self.sums), "counts": dict(self.counts)}

    def teardown(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


class SampleWriter(Callback):
    """``samples/step-N.*``: the first ``output.samples`` sequences of each evaluation, in the domain's format, with its pictures."""

    name = "samples"

    def __init__(self, count: int) -> None:
        self.count = count

    def on_eval(self, step: int, metrics: Mapping[str, float]) -> None:
        evaluation = self.run.evaluation
        if self.count and evaluation is not None and evaluation.samples is not None:
            fake = evaluation.samples
            self.run.write_samples(fake.index(_arange(min(self.count, fake.size))), f"step-{step:08d}")


def _arange(n: int) -> Any:
    import torch

    return torch.arange(n)


class Checkpointing(Callback):
    """Decides when to checkpoint and writes the file; the trainer gathers what goes in it (``Run.checkpoint_state``).

    Checkpoints every ``output.checkpoint_every`` steps, at the last step, at a step the run
    stops after (Ctrl-C, a stop request), and at each new best evaluation
    (``output.keep_best``). Writes are atomic (``seqtk.core.checkpoint``); rank 0 writes
    while the other ranks wait at a barrier, so none moves on (or exits) before the
    checkpoint is complete on disk.
    """

    name = "checkpoint"
    all_ranks = True

    def __init__(self, every: int, keep: int, best_metric: str | None, best_mode: str | None) -> None:
        self.every, self.keep = every, keep
        self.best_metric, self.best_mode = best_metric, best_mode
        self.best: "BestKeeper | None" = None
        self._new_best = False

    def setup(self, run: Run) -> None:
        from seqtk.core.best import BestKeeper

        super().setup(run)
        metric = self.best_metric
        self.best = BestKeeper(metric, self.best_mode, metric is not None and run.higher_is_better(metric), run.checkpoint_dir)

    def on_resume(self, checkpoint: Mapping[str, Any]) -> None:
        assert self.best is not None
        self.best.restore(checkpoint.get("best"), writes_files=self.run.is_main)

    def on_eval(self, step: int, metrics: Mapping[str, float]) -> None:
        best = self.best
        assert best is not None
        if best.enabled:  # rank 0 judges (it alone evaluates) and tells every rank, since all take part in the checkpoint
            self._new_best = bool(self.run.from_main(lambda: best.offer(step, metrics)))

    def on_step_end(self, step: int) -> None:
        due = (step > 0 and step % self.every == 0) or step == self.run.total_steps or self.run.stopping is not None
        if due or self._new_best:
            self._new_best = False
            self.save(step)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        assert self.best is not None
        checkpoint["best"] = self.best.record

    def save(self, step: int) -> None:
        from seqtk.core import checkpoint as ckpt

        assert self.best is not None
        state = self.run.checkpoint_state()
        path = ckpt.checkpoint_path(self.run.checkpoint_dir, step)
        try:
            if state is not None:
                ckpt.save_checkpoint(path, state)
                # In this order, so that a kill at any moment leaves best.json naming a file that exists.
                self.best.saved(step)
                ckpt.prune_checkpoints(self.run.checkpoint_dir, self.keep, protect=self.best.spared())
        finally:
            self.run.barrier()
        self.run.checkpoint_written(step, path)


class EarlyStopping(Callback):
    """Stops a run whose metric has not improved for ``patience`` evaluations in a row.

    An evaluation improves when it beats the best so far by more than ``min_delta`` in the
    metric's direction (``mode``, or the metric's own ``higher_is_better``). The stop comes
    after the step of that evaluation, which is checkpointed; ``summary.json`` says why
    (``stopped_early``). Its count is kept in checkpoints, so a resumed run stops where the
    uninterrupted one does.
    """

    name = "early-stopping"

    def __init__(self, metric: str, patience: int, min_delta: float = 0.0, mode: str | None = None) -> None:
        self.metric, self.patience, self.min_delta, self.mode = metric, patience, min_delta, mode
        self.best: float | None = None
        self.best_step: int | None = None
        self.bad_evaluations = 0

    def setup(self, run: Run) -> None:
        super().setup(run)
        if self.mode is None:
            self.mode = "max" if run.higher_is_better(self.metric) else "min"

    def on_eval(self, step: int, metrics: Mapping[str, float]) -> None:
        if self.metric not in metrics:
            return
        value = float(metrics[self.metric])
        if self._improves(value):
            self.best, self.best_step, self.bad_evaluations = value, step, 0
            return
        self.bad_evaluations += 1
        if self.bad_evaluations >= self.patience:
            self.run.request_stop(
                self.name or "early-stopping",
                f"{self.metric} did not improve on its best ({self.best:.6g} at step {self.best_step}, {self.mode}) "
                f"for {self.bad_evaluations} evaluations (patience {self.patience})",
            )

    def _improves(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        return value > self.best + self.min_delta if self.mode == "max" else value < self.best - self.min_delta

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint.setdefault("callbacks", {})[self.name] = {"best": self.best, "best_step": self.best_step, "bad_evaluations": self.bad_evaluations}

    def on_resume(self, checkpoint: Mapping[str, Any]) -> None:
        saved = (checkpoint.get("callbacks") or {}).get(self.name)
        if saved is not None:
            self.best, self.best_step, self.bad_evaluations = saved["best"], saved["best_step"], int(saved["bad_evaluations"])


# --------------------------------------------------------------------------- arranging


def arrange(offered: Sequence[tuple[str, bool, Any]], disabled: Iterable[str], source: str) -> list[Any]:
    """The callbacks of a run from (plugin, is seqtk's own, callback) in offering order.

    A callback named like one of seqtk's own replaces it in place; two other plugins' callbacks
    with one name are an error naming both; names in ``disabled`` are left out (an unknown one
    is an error at ``callbacks.disable`` with the valid names).
    """
    chosen: list[tuple[str, bool, Any]] = []
    where: dict[str, int] = {}
    for plugin, own, callback in offered:
        name = getattr(callback, "name", None)
        if not isinstance(name, str) or not name:
            chosen.append((plugin, own, callback))
            continue
        if name not in where:
            where[name] = len(chosen)
            chosen.append((plugin, own, callback))
            continue
        earlier_plugin, earlier_own, _ = chosen[where[name]]
        if earlier_own and not own:
            chosen[where[name]] = (plugin, own, callback)
        elif own and not earlier_own:
            continue  # a plugin already replaced seqtk's own
        else:
            raise RecipeError(
                source,
                [Problem("callbacks", f"plugins {earlier_plugin!r} and {plugin!r} both offer a callback named {name!r}; block one of them (SEQTK_BLOCK_PLUGINS) or disable the name in callbacks.disable")],
            )
    names = [n for n in where]
    problems = []
    for index, name in enumerate(disabled):
        if name not in where:
            problems.append(Problem(f"callbacks.disable.{index}", f"no callback is named {name!r}; valid: {', '.join(names) or 'none'}"))
    if problems:
        raise RecipeError(source, problems)
    skip = set(disabled)
    return [callback for _, _, callback in chosen if getattr(callback, "name", None) not in skip]


def warn_unknown_methods(callbacks: Iterable[Any]) -> None:
    """A method that looks like a misspelt callback method (``on_evaluate``) would never be called: say so once."""
    from difflib import get_close_matches

    for callback in callbacks:
        for attr in dir(type(callback)):
            if attr.startswith("on_") and attr not in METHODS:
                close = get_close_matches(attr, METHODS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                warnings.warn(f"callback {type(callback).__qualname__} defines {attr!r}, which the trainer never calls{hint}", stacklevel=3)
