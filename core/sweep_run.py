"""Running a sweep on Optuna: each trial is an ordinary seqtk run in its own directory.

Why the loop looks the way it does:

* Trials run through ``seqtk.core.api.run`` (what ``seqtk run`` calls), with one extra
  callback (``PruningReporter``) that reports every evaluation to Optuna and, when the
  pruner says so, stops the run cleanly with ``Run.request_stop``: the stop step is
  checkpointed and the trial is marked PRUNED.
* The study lives in a database (SQLite beside the output folder unless the sweep file
  names another URL) with Optuna's heartbeat: a trial left RUNNING by a dead process goes
  stale after the grace period and ``RetryHeartbeatStaleTrialCallback`` queues a copy with
  the same parameters and user attributes. The copy finds its run directory in the
  ``run_dir`` user attribute and resumes it from its last checkpoint (``--resume``), so a
  killed trial is neither lost nor trained again from scratch. Ctrl-C queues the copy at
  once.
* ``trials`` counts COMPLETE and PRUNED trials of the whole study, however many workers
  share it: a worker starts a trial only while finished plus running trials fall short of
  it, waits while the rest are running elsewhere, and a trial that two workers asked for
  at the same instant beyond the count is given back unrun (FAIL, user attribute
  ``surplus``). Running the command again after a kill finishes what is missing.
"""

from __future__ import annotations

import inspect
import json
import math
import sys
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import yaml

from seqtk.core.atomic import atomic_write_text
from seqtk.core.callbacks import Callback
from seqtk.core.errors import RecipeError, SeqtkError, TrainingError
from seqtk.core.plugins import PluginHost
from seqtk.core.sweep import Dimension, Sweep, load_sweep

#: User attributes of a trial (Optuna's ``trial.user_attrs``).
ATTR_RUN_DIR = "run_dir"  # relative to the sweep's output folder; copied into a retry, which continues it
ATTR_FIRST = "first_trial"  # the trial that started the run directory
ATTR_OVERRIDES = "overrides"
ATTR_RESUMED = "resumed_from_step"
ATTR_SURPLUS = "surplus"
ATTR_ERROR = "error"
TRIAL_FILE = "sweep-trial.json"


class SweepInterrupted(SeqtkError):
    """Ctrl-C during a trial: its checkpoint is saved and the trial queued to continue."""

    exit_code = 130


class _TrialFailed(Exception):
    """A trial that failed on its own (a diverging run, a combination the recipe refuses): the sweep goes on."""


class _Surplus(Exception):
    """A trial asked for beyond ``trials`` by two workers at once: given back unrun."""


@dataclass
class SweepResult:
    """What a finished sweep hands back (and ``--json`` prints)."""

    study: str
    storage: str
    metric: str
    direction: str
    trials: list[dict[str, Any]]
    best: dict[str, Any] | None = None
    best_recipe: Path | None = None
    output: Path | None = None
    ran_here: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "storage": self.storage,
            "metric": self.metric,
            "direction": self.direction,
            "output": str(self.output),
            "best": self.best,
            "best_recipe": str(self.best_recipe) if self.best_recipe else None,
            "trials": self.trials,
        }


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise SeqtkError("seqtk sweep needs Optuna, which is not installed: pip install 'seqtk[sweep]' (or pip install 'optuna>=3.6')") from None
    return optuna


class PruningReporter(Callback):
    """Reports each evaluation of ``metric`` to the Optuna trial and stops the run when the pruner says so.

    On a resumed run (a retried trial) it first reports the evaluations the checkpoint
    already holds (read back from ``metrics.jsonl``), so the trial's curve has no gap.
    """

    name = "sweep-pruning"

    def __init__(self, trial: Any, metric: str) -> None:
        self.trial, self.metric = trial, metric
        self.pruned_at: int | None = None
        self.resumed_from: int | None = None

    def on_resume(self, checkpoint: Mapping[str, Any]) -> None:
        from seqtk.core.metrics_log import read_metrics

        self.resumed_from = int(checkpoint["step"])
        path = self.run.run_dir / "metrics.jsonl"
        for row in read_metrics(path) if path.is_file() else []:
            if row.get("phase") == "eval" and int(row["step"]) <= self.resumed_from:
                self._report(int(row["step"]), row.get(self.metric))

    def on_eval(self, step: int, metrics: Mapping[str, float]) -> None:
        value = metrics.get(self.metric)
        self._report(step, value)
        if step > 0 and self.pruned_at is None and self.trial.should_prune():
            self.pruned_at = step
            shown = f"{value:.4g}" if isinstance(value, (int, float)) else "n/a"
            self.run.request_stop(self.name, f"Optuna's pruner stopped trial {self.trial.number} at step {step} ({self.metric} {shown})")

    def _report(self, step: int, value: Any) -> None:
        if isinstance(value, (int, float)) and math.isfinite(value):
            self.trial.report(float(value), step)


# --------------------------------------------------------------------------- Optuna objects


def _storage(optuna: Any, sweep: Sweep) -> Any:
    """An RDB storage with heartbeat and retry of stale trials (keyword names of Optuna >= 3.6 and >= 4.9 alike)."""
    retry_class = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) or optuna.storages.RetryFailedTrialCallback
    params = inspect.signature(optuna.storages.RDBStorage.__init__).parameters
    callback_key = "heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in params else "failed_trial_callback"
    kwargs: dict[str, Any] = {"heartbeat_interval": sweep.heartbeat_interval, "grace_period": sweep.grace_period, callback_key: retry_class()}
    if sweep.storage.startswith("sqlite"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}  # several workers on one file wait for its lock
        database = sweep.storage.split(":///", 1)[-1]
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    last: Exception | None = None
    for attempt in range(5):  # two workers creating the tables at once: the loser tries again
        try:
            return optuna.storages.RDBStorage(sweep.storage, **kwargs)
        except ImportError as exc:
            raise SeqtkError(f"{sweep.source}: storage: {sweep.storage}: a database driver is missing ({exc})") from None
        except Exception as exc:  # SQLAlchemy's errors: a bad URL, a database that cannot be reached
            last = exc
            time.sleep(0.2 * (attempt + 1))
    raise SeqtkError(f"{sweep.source}: storage: cannot open {sweep.storage}: {str(last).splitlines()[0] if last else ''}")


def _sampler(optuna: Any, sweep: Sweep, seed_offset: int) -> Any:
    settings = dict(sweep.sampler)
    name = settings.pop("name")
    seed = settings.pop("seed", 0)
    seed = None if seed is None else seed + seed_offset
    if name == "grid":
        grid = {dim.key: dim.grid() for dim in sweep.space}
        return optuna.samplers.GridSampler(grid, seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, **settings)


def _pruner(optuna: Any, sweep: Sweep) -> Any:
    settings = dict(sweep.pruner)
    name = settings.pop("name")
    if name == "none":
        return optuna.pruners.NopPruner()
    made = {"median": optuna.pruners.MedianPruner, "hyperband": optuna.pruners.HyperbandPruner, "threshold": optuna.pruners.ThresholdPruner}
    return made[name](**settings)


def _suggest(trial: Any, dim: Dimension) -> Any:
    if dim.kind == "categorical":
        return trial.suggest_categorical(dim.key, list(dim.choices))
    if dim.kind == "int":
        return trial.suggest_int(dim.key, int(dim.low), int(dim.high), step=int(dim.step or 1), log=dim.log)
    return trial.suggest_float(dim.key, float(dim.low), float(dim.high), step=dim.step, log=dim.log)


@contextmanager
def _quiet_optuna(optuna: Any) -> Iterator[None]:
    """Optuna's own log lines and experimental-feature warnings off: the sweep prints its own one line per trial."""
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(before)


# --------------------------------------------------------------------------- the loop


def sweep(path: str | Path, *, host: PluginHost | None = None, log: Callable[[str], None] | None = None) -> SweepResult:
    """Run (or continue) the sweep of a sweep file until its study holds ``trials`` finished trials.

    Returns every trial of the study and the best one; writes the best trial's recipe to
    ``OUTPUT/best.yaml``. Raises ``SweepError`` for a bad sweep file before any trial runs.
    """
    host = host or PluginHost()
    log = log or (lambda line: print(line, flush=True))
    spec = load_sweep(path, host=host)
    optuna = _optuna()
    with _quiet_optuna(optuna):
        storage = _storage(optuna, spec)
        existing = _existing_trials(optuna, storage, spec.study)
        study = optuna.create_study(
            study_name=spec.study,
            storage=storage,
            sampler=_sampler(optuna, spec, existing),
            pruner=_pruner(optuna, spec),
            direction=spec.direction,
            load_if_exists=True,
        )
        if study.direction.name.lower() != spec.direction:
            raise SeqtkError(
                f"{spec.source}: direction: study {spec.study!r} in {spec.storage} was created to {study.direction.name.lower()}; "
                "use another study name to optimise the other way"
            )
        spec.output.mkdir(parents=True, exist_ok=True)
        ran = _optimise(optuna, study, spec, host, log)
        return _finish(optuna, study, spec, ran)


def _existing_trials(optuna: Any, storage: Any, name: str) -> int:
    """How many trials the study holds already: a resumed sweep's sampler draws past its first run's draws."""
    try:
        return len(optuna.load_study(study_name=name, storage=storage).trials)
    except KeyError:
        return 0


def _optimise(optuna: Any, study: Any, spec: Sweep, host: PluginHost, log: Callable[[str], None]) -> list[int]:
    states = optuna.trial.TrialState
    ran: list[int] = []
    failed_in_a_row = 0
    waiting_said = False
    while True:
        optuna.storages.fail_stale_trials(study)  # a dead worker's trial: failed, and a copy queued
        trials = study.get_trials(deepcopy=False)
        done = sum(t.state in (states.COMPLETE, states.PRUNED) for t in trials)
        running = sum(t.state == states.RUNNING for t in trials)
        if done >= spec.trials:
            return ran
        if done + running >= spec.trials:  # the rest run elsewhere: wait for them to finish (or to go stale and come back)
            if not waiting_said:
                log(f"waiting for {running} trial(s) running in other workers (or left by a killed one: retried after {spec.grace_period} s)")
                waiting_said = True
            time.sleep(min(spec.heartbeat_interval, 2))
            continue
        waiting_said = False
        outcome: dict[str, Any] = {}
        study.optimize(lambda trial: _objective(optuna, study, trial, spec, host, log, outcome), n_trials=1, catch=(_TrialFailed, _Surplus), gc_after_trial=False)
        if "number" in outcome:
            ran.append(outcome["number"])
        if outcome.get("failed"):
            failed_in_a_row += 1
            if failed_in_a_row >= max(3, spec.trials):
                raise SeqtkError(f"{spec.source}: {failed_in_a_row} trials failed in a row; the last: {outcome['failed']}")
        elif "number" in outcome:
            failed_in_a_row = 0


def _objective(optuna: Any, study: Any, trial: Any, spec: Sweep, host: PluginHost, log: Callable[[str], None], outcome: dict[str, Any]) -> float:
    from seqtk.core import checkpoint as ckpt
    from seqtk.core.api import RunDirectoryError, run
    from seqtk.core.trainer import Interrupted

    states = optuna.trial.TrialState
    ahead = sum(t.number < trial.number and t.state in (states.COMPLETE, states.PRUNED, states.RUNNING, states.WAITING) for t in study.get_trials(deepcopy=False))
    if ahead >= spec.trials:
        trial.set_user_attr(ATTR_SURPLUS, True)
        raise _Surplus(f"trial {trial.number} is beyond the {spec.trials} trials of the study (another worker asked at the same time); not run")
    outcome["number"] = trial.number
    params = {dim.key: _suggest(trial, dim) for dim in spec.space}
    attrs = trial.user_attrs
    relative = attrs.get(ATTR_RUN_DIR) or f"trial-{trial.number:04d}"
    first = int(attrs.get(ATTR_FIRST, trial.number))
    run_dir = spec.output / relative
    overrides = spec.overrides(params, run_dir)
    trial.set_user_attr(ATTR_RUN_DIR, relative)
    trial.set_user_attr(ATTR_FIRST, first)
    trial.set_user_attr(ATTR_OVERRIDES, spec.overrides(params))
    continuing = first != trial.number
    has_checkpoint = continuing and (run_dir / "checkpoints").is_dir() and bool(ckpt.list_checkpoints(run_dir / "checkpoints"))
    _record_attempt(run_dir, spec, trial.number, params, overrides, continuing)
    shown = ", ".join(f"{k}={_short(v)}" for k, v in params.items())
    how = f" (continues trial {first}'s run from its last checkpoint)" if has_checkpoint else f" (restarts trial {first}'s run: it left no checkpoint)" if continuing else ""
    log(f"trial {trial.number}: {shown}{how}")
    reporter = PruningReporter(trial, spec.metric)
    started = time.perf_counter()
    try:
        # A run's own warnings (a collapsing early evaluation, say) would repeat for every trial: counted
        # on the trial's line instead; each evaluation's warnings stay in the trial's metrics.jsonl.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = run(spec.recipe_path, overrides, resume=has_checkpoint, overwrite=continuing and not has_checkpoint, host=host, callbacks=[reporter])
    except (Interrupted, KeyboardInterrupt):
        _requeue(optuna, study, trial, params)
        raise SweepInterrupted(
            f"sweep interrupted during trial {trial.number} ({run_dir}); its last checkpoint is kept and the trial is queued: "
            f"run the same command again to continue the sweep"
        ) from None
    except RunDirectoryError as exc:
        raise SeqtkError(
            f"{run_dir} already holds a run that study {spec.study!r} ({spec.storage}) did not start: another sweep wrote it; "
            f"remove it, or give this sweep another 'output' folder ({exc})"
        ) from None
    except (TrainingError, RecipeError) as exc:
        trial.set_user_attr(ATTR_ERROR, str(exc).splitlines()[0])
        outcome["failed"] = str(exc)
        log(f"trial {trial.number}: failed: {str(exc).splitlines()[0]}")
        raise _TrialFailed(str(exc)) from None
    seconds = time.perf_counter() - started
    if caught:
        first = str(caught[0].message)
        seconds_note = f"{seconds:.1f} s; {len(caught)} warning(s): {first[:60] + '...' if len(first) > 60 else first}"
    else:
        seconds_note = f"{seconds:.1f} s"
    if reporter.resumed_from is not None:
        trial.set_user_attr(ATTR_RESUMED, reporter.resumed_from)
    trial.set_user_attr("steps", result.steps)
    stopped = result.stopped_early or {}
    if reporter.pruned_at is None and stopped.get("by") == PruningReporter.name:  # pruned before a kill, retried: still pruned
        reporter.pruned_at = int(stopped.get("step", result.steps))
    if reporter.pruned_at is not None:
        log(f"trial {trial.number}: pruned at step {reporter.pruned_at} ({seconds_note})")
        raise optuna.TrialPruned(f"pruned at step {reporter.pruned_at}")
    value = result.metrics.get(spec.metric)
    if value is None or not math.isfinite(value):
        outcome["failed"] = f"{spec.metric} is {value!r} at the end of the run"
        trial.set_user_attr(ATTR_ERROR, outcome["failed"])
        log(f"trial {trial.number}: failed: {outcome['failed']}")
        raise _TrialFailed(outcome["failed"])
    log(f"trial {trial.number}: {spec.metric} {value:.4g} ({seconds_note})")
    return float(value)


def _record_attempt(run_dir: Path, spec: Sweep, number: int, params: Mapping[str, Any], overrides: list[str], continuing: bool) -> None:
    """``sweep-trial.json`` in the run directory: which trials ran in it, with which parameters and overrides."""
    path = run_dir / TRIAL_FILE
    record = json.loads(path.read_text()) if continuing and path.is_file() else {"study": spec.study, "sweep": str(spec.source), "attempts": []}
    record["attempts"].append({"trial": number, "params": dict(params), "overrides": overrides, "continues": continuing})
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")


def _requeue(optuna: Any, study: Any, trial: Any, params: Mapping[str, Any]) -> None:
    """Queue a copy of an interrupted trial (same parameters and user attributes), as a stale trial's retry is queued."""
    study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.WAITING, params=dict(params), distributions=dict(trial.distributions), user_attrs=dict(trial.user_attrs)
        )
    )


# --------------------------------------------------------------------------- results


def _finish(optuna: Any, study: Any, spec: Sweep, ran: list[int]) -> SweepResult:
    states = optuna.trial.TrialState
    rows = [_row(t, states) for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)]
    result = SweepResult(spec.study, spec.storage, spec.metric, spec.direction, rows, output=spec.output, ran_here=ran)
    complete = [t for t in study.get_trials(deepcopy=False, states=(states.COMPLETE,))]
    if complete:
        best = study.best_trial
        result.best = {"trial": best.number, "value": best.value, "params": dict(best.params), "run_dir": str(spec.output / best.user_attrs.get(ATTR_RUN_DIR, ""))}
        result.best_recipe = write_best_recipe(spec, best.number, best.value, dict(best.params), Path(result.best["run_dir"]))
    return result


def write_best_recipe(spec: Sweep, number: int, value: float, params: Mapping[str, Any], run_dir: Path) -> Path:
    """``OUTPUT/best.yaml``: the best trial's resolved recipe (validated again), training into the base recipe's own output.dir."""
    from seqtk.core.recipe import load_recipe

    recipe = load_recipe(spec.recipe_path, spec.overrides(params))
    header = (
        f"# The best trial of seqtk sweep {spec.source.name} (study {spec.study!r}): trial {number}, {spec.metric} = {value:.6g} ({spec.direction}).\n"
        f"# Its run directory: {run_dir}. Train it again with: seqtk run {spec.output / 'best.yaml'}\n"
    )
    path = spec.output / "best.yaml"
    atomic_write_text(path, header + yaml.safe_dump(recipe.to_dict(), sort_keys=False))
    return path


def _row(trial: Any, states: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"trial": trial.number, "state": trial.state.name.lower(), "value": trial.value if trial.state == states.COMPLETE else None, "params": dict(trial.params)}
    attrs = trial.user_attrs
    if trial.intermediate_values:
        step = max(trial.intermediate_values)
        row["last_report"] = {"step": step, "value": trial.intermediate_values[step]}
    for key in (ATTR_RUN_DIR, ATTR_RESUMED, ATTR_ERROR, ATTR_SURPLUS, "steps"):
        if key in attrs:
            row[key] = attrs[key]
    if attrs.get(ATTR_FIRST, trial.number) != trial.number:
        row["continues_trial"] = attrs[ATTR_FIRST]
    return row


def _shown_path(path: Path | str) -> str:
    """A path relative to the working directory when it is below it (what the user typed), else absolute."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def format_table(result: SweepResult) -> str:
    """The summary table: one line per trial (number, state, value, parameters, note)."""
    keys = sorted({k for row in result.trials for k in row["params"]})
    header = ["trial", "state", result.metric, *keys, "note"]
    lines = [header]
    for row in result.trials:
        if row["value"] is not None:
            value = f"{row['value']:.4g}"
        elif "last_report" in row and row["state"] == "pruned":
            value = f"{row['last_report']['value']:.4g} @{row['last_report']['step']}"
        else:
            value = "-"
        notes = []
        if "continues_trial" in row:
            notes.append(f"continues trial {row['continues_trial']}" + (f" from step {row[ATTR_RESUMED]}" if ATTR_RESUMED in row else ""))
        if row.get(ATTR_SURPLUS):
            notes.append("surplus, not run")
        elif row["state"] == "fail" and ATTR_ERROR not in row:
            notes.append("killed or interrupted: retried as a later trial")
        if ATTR_ERROR in row:
            notes.append(row[ATTR_ERROR][:60])
        if result.best and row["trial"] == result.best["trial"]:
            notes.append("best")
        lines.append([str(row["trial"]), row["state"], value, *(_short(row["params"].get(k, "")) for k in keys), "; ".join(notes)])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines)


def run_command(path: Path, *, as_json: bool = False, host: PluginHost | None = None) -> int:
    """``seqtk sweep FILE [--json]``: run the sweep, then print the table and the best trial (or JSON)."""
    log = (lambda line: print(line, file=sys.stderr, flush=True)) if as_json else None
    result = sweep(path, host=host, log=log)
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    print(f"\nstudy {result.study!r} ({result.storage}): {len(result.trials)} trial(s), {result.direction} {result.metric}")
    print(format_table(result))
    if result.best is not None:
        print(f"best: trial {result.best['trial']}, {result.metric} {result.best['value']:.4g}; recipe written to {_shown_path(result.best_recipe or '')}")
    else:
        print("no trial completed, so no best recipe was written")
    return 0
