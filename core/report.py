"""``seqtk report``: one self-contained HTML page about one or more run directories.

What a run directory holds is read here (recipe, environment, summary, metrics log,
samples); the curves are drawn by ``seqtk.core.report_plots`` and the page is assembled by
``seqtk.core.report_html``. Samples are the domain's business: each run's domain, restored
from the newest checkpoint with its generator, returns report items from
``Domain.report_samples`` (``seqtk.core.report_items``), so this module knows no domain.

A run in progress or one that was interrupted has no ``summary.json`` and possibly a last
log line cut short by a kill: the page is made from what is there and says so.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import yaml

from seqtk.core.atomic import atomic_write_text
from seqtk.core.environment import ENVIRONMENT_FILE, describe_environment
from seqtk.core.errors import SeqtkError
from seqtk.core.report_items import Note

__all__ = ["ReportError", "RunView", "read_run", "build_report", "write_report"]

PLOT_HINT = "pip install 'seqtk[plot]'"


class ReportError(SeqtkError):
    """A report cannot be made (not a run directory, matplotlib missing)."""


@dataclass
class RunView:
    """Everything the page shows about one run, read from its directory."""

    run_dir: Path
    label: str
    recipe: dict[str, Any] | None
    recipe_text: str
    environment: dict[str, Any] | None
    summary: dict[str, Any] | None
    records: list[dict[str, Any]]
    unreadable_lines: int = 0
    samples: list[Any] = field(default_factory=list)

    @property
    def evaluations(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("phase") == "eval"]

    @property
    def training(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("phase") != "eval"]

    @property
    def last_step(self) -> int | None:
        steps = [int(r["step"]) for r in self.records if isinstance(r.get("step"), (int, float))]
        return max(steps) if steps else None

    @property
    def finished(self) -> bool:
        """True when ``summary.json`` exists and covers the newest logged step (a resumed run may be past it)."""
        if self.summary is None:
            return False
        last = self.last_step
        return last is None or int(self.summary.get("steps", 0)) >= last

    def status(self) -> str:
        """One sentence on where the run stands."""
        last = self.last_step
        at = f"step {last}" if last is not None else "its first logged step"
        if self.finished:
            assert self.summary is not None
            text = f"finished after {self.summary.get('steps')} steps"
            seconds = self.summary.get("seconds_this_session")
            if isinstance(seconds, (int, float)):
                text += f" ({seconds:.1f} s in its last session)"
            stopped = self.summary.get("stopped_early")
            if isinstance(stopped, dict):
                text += f"; stopped early at step {stopped.get('step')} by {stopped.get('by')}: {stopped.get('reason')}"
            return text
        text = (
            f"in progress or interrupted: no summary.json yet, newest record at {at}; "
            "the numbers below are the newest logged ones, not final (an interrupted run continues with seqtk run RECIPE --resume)"
        )
        if self.summary is not None:
            text = f"resumed past its earlier end (summary.json says {self.summary.get('steps')} steps): " + text
        return text

    @staticmethod
    def metric_values(record: dict[str, Any] | None) -> dict[str, float]:
        if record is None:
            return {}
        return {k: float(v) for k, v in record.items() if k not in ("step", "phase") and logged_number(v) is not None}

    def initial_metrics(self) -> dict[str, float]:
        """The evaluation before training (step 0), from the log, else from summary.json."""
        first = next((r for r in self.evaluations if r.get("step") == 0), None)
        if first is None and self.summary:
            return {k: float(v) for k, v in (self.summary.get("initial_metrics") or {}).items() if logged_number(v) is not None}
        return self.metric_values(first)

    def final_metrics(self) -> tuple[int | None, dict[str, float]]:
        """The newest evaluation's step and values."""
        evaluations = self.evaluations
        if not evaluations:
            return None, {}
        return int(evaluations[-1]["step"]), self.metric_values(evaluations[-1])


def logged_number(value: Any) -> float | None:
    """A logged value as a float ('nan' and 'inf' strings included: the log writes them so), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value)
    return None


def read_run(run_dir: str | Path) -> RunView:
    """A run directory's files, without torch; raises ``ReportError`` when ``run_dir`` is not one."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir}: no such directory; give a run directory written by 'seqtk run' (output.dir of its recipe)")
    recipe_path, log_path = run_dir / "recipe.yaml", run_dir / "metrics.jsonl"
    if not recipe_path.is_file() and not log_path.is_file():
        raise ReportError(
            f"{run_dir}: not a run directory (it holds neither recipe.yaml nor metrics.jsonl); "
            "give a folder written by 'seqtk run', e.g. runs/quickstart"
        )
    recipe_text = recipe_path.read_text(encoding="utf-8") if recipe_path.is_file() else ""
    try:
        recipe = yaml.safe_load(recipe_text) if recipe_text else None
    except yaml.YAMLError as exc:
        raise ReportError(f"{recipe_path}: not readable YAML: {exc}") from None
    records, bad = _read_log(log_path)
    name = recipe.get("name") if isinstance(recipe, dict) else None
    return RunView(
        run_dir=run_dir,
        label=str(name or run_dir.name),
        recipe=recipe if isinstance(recipe, dict) else None,
        recipe_text=recipe_text,
        environment=_read_json(run_dir / ENVIRONMENT_FILE),
        summary=_read_json(run_dir / "summary.json"),
        records=records,
        unreadable_lines=bad,
    )


def _read_log(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Every record of ``metrics.jsonl`` that parses, and how many lines did not (a kill cuts the last one short)."""
    if not path.is_file():
        return [], 0
    records, bad = [], 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(record, dict) and "step" in record:
            records.append(record)
        else:
            bad += 1
    return records, bad


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def sample_items(view: RunView, host: Any, count: int) -> list[Any]:
    """The domain's report items for ``view``: its domain and generator restored from the newest checkpoint, else the domain alone.

    Never raises for the run's sake: what cannot be shown becomes a ``Note`` saying why.
    """
    from seqtk.core import checkpoint as ckpt

    notes: list[Any] = []
    domain, generator = None, None
    if ckpt.list_checkpoints(view.run_dir / "checkpoints"):
        try:
            from seqtk.core.api import restore

            parts, _, _ = restore(view.run_dir, host=host)
            domain, generator = parts.domain, parts.generator
        except Exception as exc:  # noqa: BLE001 - a broken checkpoint must not stop the page
            notes.append(Note(f"The newest checkpoint could not be restored ({exc}); samples are shown without the generator."))
    if domain is None and view.recipe is not None:
        try:
            from seqtk.core.assemble import build_component
            from seqtk.core.recipe import load_recipe

            recipe = load_recipe(view.recipe, host=host)
            domain = build_component(recipe, host.registry, "domain", {})
        except Exception as exc:  # noqa: BLE001
            notes.append(Note(f"The run's domain could not be built from its recipe.yaml ({exc})."))
    if domain is None:
        from seqtk.core.report_items import sample_pictures

        return notes + sample_pictures(view.run_dir)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            items = list(domain.report_samples(view.run_dir, generator=generator, count=count))
    except Exception as exc:  # noqa: BLE001
        items = [Note(f"{type(domain).__name__}.report_samples failed: {type(exc).__name__}: {exc}")]
    return notes + items


def build_report(run_dirs: Sequence[str | Path], *, host: Any = None, samples: int = 8) -> str:
    """The HTML page for ``run_dirs`` (several runs: curves overlaid, one samples section each)."""
    from seqtk.core.report_html import render_page

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ReportError(f"seqtk report draws its curves with matplotlib, which is not installed: {PLOT_HINT}") from None
    if not run_dirs:
        raise ReportError("seqtk report: give at least one run directory")
    views = [read_run(d) for d in run_dirs]
    _unique_labels(views)
    if host is None:
        from seqtk.core.plugins import PluginHost

        host = PluginHost()
    for view in views:
        view.samples = sample_items(view, host, samples)
    return render_page(views, now=describe_environment(None, host))


def write_report(run_dirs: Sequence[str | Path], out: str | Path, *, host: Any = None, samples: int = 8) -> Path:
    """Write the page to ``out`` atomically; returns the path."""
    out = Path(out)
    page = build_report(run_dirs, host=host, samples=samples)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, page)
    return out


def _unique_labels(views: list[RunView]) -> None:
    """Two runs of one recipe name are told apart by their directories in legends."""
    names = [v.label for v in views]
    for view in views:
        if names.count(view.label) > 1:
            view.label = f"{view.label} ({view.run_dir})"
