"""``seqtk compare RUN RUN ...``: several runs side by side in the terminal, or as JSON.

For each evaluated metric: its final value (the newest evaluation) and its best value with
the step of the best, "best" in the metric's own direction (``Metric.higher_is_better``,
read from the registry's target: the direction keep_best and early stopping use); values
with no direction (the discriminator's ``d_acc_real``, ``d_auc``, ...) get a final value
only. Then the recipe key paths whose values differ between the runs (``output.dir`` left
out: it always differs and heads each column already), and each run's status and wall time
(``summary.json``'s ``seconds_this_session``: the last session's, as recorded).

A run in progress or interrupted has no ``summary.json`` (or one older than its newest
logged step, once resumed past its end): it is compared on what it logged and marked
unfinished. The run directories are read without torch (``seqtk.core.report.read_run``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Sequence

from seqtk.core.errors import SeqtkError
from seqtk.core.report import RunView, read_run

__all__ = ["CompareError", "RunFigures", "compare", "flatten", "recipe_differences", "render_table"]

#: Recipe keys left out of the differences: where the run went, which the column names.
IGNORED_KEYS = ("output.dir",)


class CompareError(SeqtkError):
    """The runs cannot be compared as asked (an unknown ``--metric``)."""


@dataclass
class MetricFigures:
    final: float | None
    final_step: int | None
    best: float | None
    best_step: int | None
    higher_is_better: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "final": _json_number(self.final),
            "final_step": self.final_step,
            "best": _json_number(self.best),
            "best_step": self.best_step,
            "higher_is_better": self.higher_is_better,
        }


@dataclass
class RunFigures:
    """One run as ``compare`` shows it."""

    path: Path
    label: str
    status: str  # "finished", "stopped early" or "unfinished"
    steps: int | None
    wall_seconds: float | None
    metrics: dict[str, MetricFigures]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "label": self.label,
            "status": self.status,
            "steps": self.steps,
            "wall_seconds": self.wall_seconds,
            "metrics": {name: figures.to_dict() for name, figures in self.metrics.items()},
        }


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"train": {"batch_size": 64}}`` -> ``{"train.batch_size": 64}``; a list is one value."""
    if isinstance(data, dict):
        flat: dict[str, Any] = {}
        for key, value in data.items():
            flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: data}


#: Stands for a key one recipe lacks (an older seqtk wrote it, or a section it left out).
ABSENT = "(absent)"


def recipe_differences(recipes: Sequence[dict[str, Any] | None]) -> dict[str, list[Any]]:
    """Key path -> each run's value, for the key paths whose values are not all equal (``ABSENT`` where a recipe lacks one)."""
    flats = [flatten(recipe or {}) for recipe in recipes]
    keys = list(dict.fromkeys(key for flat in flats for key in flat))
    differing: dict[str, list[Any]] = {}
    for key in keys:
        if key in IGNORED_KEYS:
            continue
        values = [flat.get(key, ABSENT) for flat in flats]
        if any(json.dumps(v, sort_keys=True) != json.dumps(values[0], sort_keys=True) for v in values[1:]):
            differing[key] = values
    return differing


def metric_directions(names: Sequence[str], host: Any = None) -> dict[str, bool | None]:
    """Each metric's ``higher_is_better`` from its registry target; None for a name the registry lacks or a target without one."""
    if host is None:
        from seqtk.core.plugins import PluginHost

        host = PluginHost()
    directions: dict[str, bool | None] = {}
    for name in names:
        direction = None
        try:
            target = host.registry.get("metrics", name).load()
            value = getattr(target, "higher_is_better", None)
            direction = value if isinstance(value, bool) else None
        except SeqtkError:  # not a registered metric (the discriminator's view), or its plugin is missing here
            pass
        directions[name] = direction
    return directions


def figures(view: RunView, directions: dict[str, bool | None]) -> RunFigures:
    """Final and best value of each metric the run evaluated."""
    evaluations = view.evaluations
    metrics: dict[str, MetricFigures] = {}
    names = list(dict.fromkeys(name for record in evaluations for name in view.metric_values(record)))
    for name in names:
        series = [(int(r["step"]), view.metric_values(r)[name]) for r in evaluations if name in view.metric_values(r)]
        final_step, final = series[-1]
        higher = directions.get(name)
        best = best_step = None
        candidates = [(step, value) for step, value in series if not math.isnan(value)]
        if higher is not None and candidates:
            # The earliest step among equals: max/min keep the first they meet.
            best_step, best = (max if higher else min)(candidates, key=lambda item: item[1])
        metrics[name] = MetricFigures(final, final_step, best, best_step, higher)
    summary = view.summary or {}
    finished = view.finished
    status = "unfinished"
    if finished:
        status = "stopped early" if isinstance(summary.get("stopped_early"), dict) else "finished"
    seconds = summary.get("seconds_this_session") if finished else None
    return RunFigures(
        path=view.run_dir,
        label=view.label,
        status=status,
        steps=view.last_step,
        wall_seconds=float(seconds) if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) else None,
        metrics=metrics,
    )


def compare(run_dirs: Sequence[str | Path], *, metric: str | None = None, host: Any = None) -> dict[str, Any]:
    """The comparison as plain data (what ``--json`` prints): ``{"runs": [...], "recipe_differences": {...}}``.

    ``metric`` keeps that metric alone; one no run evaluated raises ``CompareError`` with
    the available names, closest first.
    """
    views = [read_run(path) for path in run_dirs]
    _unique_labels(views)
    available = list(dict.fromkeys(name for view in views for record in view.evaluations for name in view.metric_values(record)))
    if metric is not None and metric not in available:
        close = get_close_matches(metric, available, n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        raise CompareError(f"--metric {metric!r}: no run evaluated it{hint}; available: {', '.join(available) or 'none (no evaluation logged yet)'}")
    wanted = [metric] if metric is not None else available
    directions = metric_directions(wanted, host)
    # The metrics that have a best first; the discriminator's view (no direction) after them.
    wanted = sorted(wanted, key=lambda name: directions[name] is None)
    runs = [figures(view, directions) for view in views]
    for run in runs:
        run.metrics = {name: run.metrics[name] for name in wanted if name in run.metrics}
    return {
        "metrics": wanted,
        "runs": [run.to_dict() for run in runs],
        "recipe_differences": recipe_differences([view.recipe for view in views]),
    }


def _unique_labels(views: list[RunView]) -> None:
    """Two runs of one recipe name are told apart by their directories."""
    names = [view.label for view in views]
    for view in views:
        if names.count(view.label) > 1:
            view.label = str(view.run_dir)


def _json_number(value: float | None) -> float | str | None:
    """JSON has no NaN or infinity: they become the strings metrics.jsonl writes for them."""
    if value is None or math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


# --------------------------------------------------------------------------- the terminal table


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return f"{value:.4g}"


def _value(value: Any) -> str:
    """A recipe value as YAML would show it."""
    if value is ABSENT:
        return ABSENT
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{rest:02d}s" if hours else f"{minutes}m{rest:02d}s"


def render_table(result: dict[str, Any]) -> str:
    """The comparison as aligned text: runs as columns; status, metrics (final, best with its step), recipe differences."""
    runs = result["runs"]
    blank = ["" for _ in runs]
    rows: list[list[str]] = [
        ["run", *(run["label"] for run in runs)],
        ["status", *(run["status"] for run in runs)],
        ["steps", *(str(run["steps"]) if run["steps"] is not None else "-" for run in runs)],
        ["wall time (last session)", *(_duration(run["wall_seconds"]) for run in runs)],
    ]
    titles = {len(rows)}
    rows.append(["metrics", *blank])
    for name in result["metrics"]:
        known = [run["metrics"].get(name) for run in runs]
        direction = next((k["higher_is_better"] for k in known if k and k["higher_is_better"] is not None), None)
        arrow = "" if direction is None else (" (higher is better)" if direction else " (lower is better)")
        rows.append([name + arrow, *blank])
        rows.append(["  final", *(_number(k["final"]) if k else "-" for k in known)])
        if direction is not None:
            rows.append(["  best (step)", *(f"{_number(k['best'])} ({k['best_step']})" if k and k["best_step"] is not None else "-" for k in known)])
    if not result["metrics"]:
        rows.append(["  (no evaluation logged)", *blank])
    titles.add(len(rows))
    rows.append(["recipe differences", *blank])
    differences = result["recipe_differences"]
    rows.extend([f"  {key}", *(_value(v) for v in values)] for key, values in differences.items())
    if not differences:
        rows.append(["  (none)", *blank])
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        if index in titles:
            lines.append("")
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return "\n".join(lines)


def to_json(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2)
