"""Sweep files: what ``seqtk sweep`` reads, checked in full before any trial runs.

A sweep file names a base recipe and a search space over its key paths; every mistake
is reported the way a recipe's are, ``sweep.yaml: space.train.optimizer.generator.lr:
what is wrong (line N)``. The space is checked against the recipe schema up front: the
base recipe is validated with each bound and each choice of each dimension, so a
misspelt key path or a value the recipe refuses fails at start, not at trial 12.

This module imports neither torch nor Optuna (``seqtk.core.sweep_run`` runs the study).
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from seqtk.core.errors import Problem, RecipeError
from seqtk.core.plugins import PluginHost
from seqtk.core.recipe import LocatedYamlError, Recipe, _key_lines, load_recipe, parse_located_yaml
from seqtk.core.textfiles import NotUtf8Error, decode_utf8

SWEEP_VERSION = 1
SAMPLERS = ("tpe", "random", "grid")
#: Each pruner's settings and their types (Optuna's own names and defaults).
PRUNERS: dict[str, dict[str, type]] = {
    "median": {"n_startup_trials": int, "n_warmup_steps": int, "interval_steps": int},
    "hyperband": {"min_resource": int, "max_resource": int, "reduction_factor": int},
    "threshold": {"lower": float, "upper": float, "n_warmup_steps": int, "interval_steps": int},
    "none": {},
}
SAMPLER_SETTINGS: dict[str, dict[str, type]] = {
    "tpe": {"seed": int, "n_startup_trials": int},
    "random": {"seed": int},
    "grid": {"seed": int},
}
KEYS = ("sweep", "recipe", "set", "space", "metric", "direction", "trials", "sampler", "pruner", "output", "study", "storage", "heartbeat")
DIRECTIONS = ("minimize", "maximize")
#: PyYAML reads ``1e-4`` (no dot) as text; in a bound or a choice it is clearly a number.
_FLOAT_TEXT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


class SweepError(RecipeError):
    """A sweep file that cannot run; every problem located by key path and line."""


@dataclass(frozen=True)
class Dimension:
    """One key path of the search space."""

    key: str
    kind: str  # float, int or categorical
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()

    def probes(self) -> list[tuple[str, Any]]:
        """The values the recipe is validated with up front: both bounds, or every choice."""
        if self.kind == "categorical":
            return [(f"choice {c!r}", c) for c in self.choices]
        return [(f"low={self.low!r}", self.low), (f"high={self.high!r}", self.high)]

    def grid(self) -> list[Any] | None:
        """Every value of this dimension, or None when it is continuous (no step)."""
        if self.kind == "categorical":
            return list(self.choices)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step is None:
            return None
        count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        return [round(self.low + i * self.step, 12) for i in range(count)]


@dataclass
class Sweep:
    """A checked sweep file. Paths are absolute; ``recipe`` is the base recipe validated with ``fixed``."""

    source: Path
    recipe_path: Path
    fixed: dict[str, Any]
    space: list[Dimension]
    metric: str
    direction: str
    trials: int
    sampler: dict[str, Any]
    pruner: dict[str, Any]
    output: Path
    study: str
    storage: str
    heartbeat_interval: int
    grace_period: int
    recipe: Recipe = field(repr=False)

    def overrides(self, params: Mapping[str, Any], run_dir: Path | None = None) -> list[str]:
        """The ``--set`` strings of one trial: the fixed values, the trial's params, and its run directory."""
        values = {**self.fixed, **params}
        if run_dir is not None:
            values["output.dir"] = str(run_dir)
        return [override(key, value) for key, value in values.items()]


def override(key: str, value: Any) -> str:
    """``key=value`` with the value written as YAML, so that it parses back to itself (``1.0e-05``, a quoted path)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 30).strip()
    if text.endswith("\n..."):
        text = text[: -len("\n...")]
    elif text.endswith("..."):
        text = text[:-3].strip()
    return f"{key}={text}"


# --------------------------------------------------------------------------- reading


def load_sweep(path: str | Path, *, host: PluginHost | None = None) -> Sweep:
    """Read and check a sweep file, the base recipe and the space; raise ``SweepError``."""
    host = host or PluginHost()
    path = Path(path)
    label = str(path)
    document, lines = _read(path)
    problems: list[Problem] = []
    checker = _Checker(document, problems)
    sweep = checker.sweep(path, host)
    if problems:
        located = [_located(p, lines) for p in problems]
        raise SweepError(label, sorted(located, key=lambda p: p.line if p.line is not None else 1 << 30))  # in file order
    assert sweep is not None
    return sweep


def _located(problem: Problem, lines: Mapping[str, int]) -> Problem:
    key = problem.path
    while key and key not in lines:
        key = key.rpartition(".")[0]
    return Problem(problem.path, problem.message, problem.line or lines.get(key))


def _read(path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    label = str(path)
    try:
        text = decode_utf8(path.read_bytes(), drop_bom=True)
    except FileNotFoundError:
        raise SweepError(label, [Problem("", "no such sweep file")]) from None
    except OSError as exc:
        raise SweepError(label, [Problem("", f"cannot read: {exc.strerror or exc}")]) from None
    except NotUtf8Error as exc:
        raise SweepError(label, [Problem("", f"not UTF-8 text: byte {exc.byte!r} at line {exc.line}; re-save it as UTF-8")]) from None
    try:
        document, root = parse_located_yaml(text, "a sweep file")
    except LocatedYamlError as exc:
        raise SweepError(label, exc.problems) from None
    if not isinstance(document, dict) or root is None:
        raise SweepError(label, [Problem("", "a sweep file must be a mapping (recipe:, space:, metric:, trials: ...); see docs/sweeps.md")])
    return document, _key_lines(root)


def _unknown(kind: str, name: Any, valid: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(str(name), list(valid), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {kind} {name!r}{hint}; valid: {', '.join(valid)}"


def _number(value: Any, integer: bool = False) -> float | int | None:
    """``value`` as a number (``1e-4`` written without a dot counts), or None when it is none."""
    if isinstance(value, str) and not integer and _FLOAT_TEXT.match(value.strip()):
        return float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if integer and not isinstance(value, int):
        return None
    return value


class _Checker:
    """Collects every problem of one sweep file (never stops at the first)."""

    def __init__(self, document: dict[str, Any], problems: list[Problem]) -> None:
        self.doc, self.problems = document, problems

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def sweep(self, path: Path, host: PluginHost) -> Sweep | None:
        doc = self.doc
        for key in doc:
            if key not in KEYS:
                self.add(str(key), _unknown("key", key, KEYS))
        version = doc.get("sweep")
        if version is None:
            self.add("sweep", f"missing sweep file version; add 'sweep: {SWEEP_VERSION}' at the top")
        elif version != SWEEP_VERSION:
            self.add("sweep", f"unsupported sweep file version {version!r}; this seqtk reads version {SWEEP_VERSION}")
        base = path.absolute().parent
        recipe_path = self._recipe_path(base)
        fixed = self._fixed()
        space = self._space()
        trials = self._positive("trials", doc.get("trials"), required=True)
        sampler = self._choice("sampler", doc.get("sampler", "tpe"), SAMPLER_SETTINGS)
        pruner = self._choice("pruner", doc.get("pruner", "median"), PRUNERS)
        if sampler and sampler["name"] == "grid":
            for dim in space:
                if dim.grid() is None:
                    self.add(f"space.{dim.key}", "the grid sampler needs every dimension to be finite: give this float a step, or use choices")
            size = math.prod(len(dim.grid() or ()) for dim in space)
            if trials is not None and space and 0 < size < trials:
                self.add("trials", f"the grid holds {size} points, fewer than the {trials} trials asked for; set trials: {size}")
        study = doc.get("study", path.stem)
        if not isinstance(study, str) or not study.strip():
            self.add("study", f"expected a study name (text), got {study!r}")
            study = path.stem
        output = doc.get("output", f"runs/sweeps/{study}")
        if not isinstance(output, str) or not output.strip():
            self.add("output", f"expected a folder for the trials' run directories, got {output!r}")
            output = f"runs/sweeps/{study}"
        output_dir = Path(output).expanduser().absolute()  # like a recipe's output.dir: relative to the working directory
        storage = doc.get("storage")
        if storage is None:
            storage = f"sqlite:///{output_dir.parent / (output_dir.name + '.db')}"
        elif not isinstance(storage, str) or "://" not in storage:
            self.add("storage", f"expected a database URL Optuna accepts (sqlite:///sweep.db, postgresql://user@host/db), got {storage!r}")
        interval, grace = self._heartbeat()
        if recipe_path is None:
            return None
        recipe = self._base_recipe(recipe_path, fixed, host)
        if recipe is None:
            return None
        for dim in space:
            self._probe(recipe_path, fixed, dim, host)
        metric, direction = self._metric(recipe, host)
        if self.problems:
            return None
        assert trials is not None and sampler is not None and pruner is not None and metric is not None
        return Sweep(path.absolute(), recipe_path, fixed, space, metric, direction, trials, sampler, pruner, output_dir, study, storage, interval, grace, recipe)

    # ---------------------------------------------------------------- parts

    def _recipe_path(self, base: Path) -> Path | None:
        value = self.doc.get("recipe")
        if value is None:
            self.add("recipe", "missing: the base recipe's path (relative to this file), e.g. recipe: ../quickstart.yaml")
            return None
        if not isinstance(value, str) or not value.strip():
            self.add("recipe", f"expected a recipe file's path, got {value!r}")
            return None
        found = (base / Path(value).expanduser()).resolve()
        if not found.is_file():
            self.add("recipe", f"no such recipe file: {found} (a relative path is taken from the sweep file's folder)")
            return None
        return found

    def _fixed(self) -> dict[str, Any]:
        value = self.doc.get("set", {}) or {}
        if not isinstance(value, dict):
            self.add("set", "expected a mapping of recipe key paths to values, e.g. train.adversarial.steps: 200")
            return {}
        return {str(k): v for k, v in value.items()}

    def _space(self) -> list[Dimension]:
        value = self.doc.get("space")
        if not isinstance(value, dict) or not value:
            self.add("space", "expected a mapping of recipe key paths to ranges, e.g. train.optimizer.generator.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}")
            return []
        fixed = self.doc.get("set") if isinstance(self.doc.get("set"), dict) else {}
        dims = []
        for key, spec in value.items():
            where = f"space.{key}"
            if not isinstance(key, str) or not key.strip() or "=" in key:
                self.add(where, "expected a recipe key path such as train.optimizer.generator.lr")
                continue
            if key in fixed:
                self.add(where, f"is also fixed in 'set' ({key}: {fixed[key]!r}); a key is either searched or fixed")
            dim = self._dimension(where, key, spec)
            if dim is not None:
                dims.append(dim)
        return dims

    def _dimension(self, where: str, key: str, spec: Any) -> Dimension | None:
        if isinstance(spec, list):  # [a, b, c] is short for {type: categorical, choices: [a, b, c]}
            spec = {"type": "categorical", "choices": spec}
        if not isinstance(spec, dict):
            self.add(where, "expected {type: float|int, low: ..., high: ...} or {type: categorical, choices: [...]} (or a list of choices)")
            return None
        kind = spec.get("type")
        allowed = {"float": ("type", "low", "high", "log", "step"), "int": ("type", "low", "high", "log", "step"), "categorical": ("type", "choices")}
        if kind not in allowed:
            self.add(f"{where}.type", _unknown("type", kind, tuple(allowed)) if kind is not None else "missing: float, int or categorical")
            return None
        before = len(self.problems)
        for name in spec:
            if name not in allowed[kind]:
                self.add(f"{where}.{name}", _unknown(f"setting of a {kind} range", name, allowed[kind]))
        if kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, list) or not choices:
                self.add(f"{where}.choices", "expected a non-empty list of values")
                return None
            out = []
            for index, choice in enumerate(choices):
                number = _number(choice)
                choice = number if isinstance(choice, str) and number is not None else choice
                if choice is not None and not isinstance(choice, (bool, int, float, str)):
                    self.add(f"{where}.choices.{index}", f"a choice must be a number, text, true/false or null (Optuna stores it), got {choice!r}")
                elif choice in out:
                    self.add(f"{where}.choices.{index}", f"{choice!r} is listed twice")
                out.append(choice)
            return Dimension(key, kind, choices=tuple(out)) if len(self.problems) == before else None
        integer = kind == "int"
        low, high = (_number(spec.get(b), integer) for b in ("low", "high"))
        for bound, number in (("low", low), ("high", high)):
            if number is None:
                given = spec.get(bound)
                what = "missing" if given is None else f"got {given!r}"
                self.add(f"{where}.{bound}", f"expected {'an integer' if integer else 'a number'}; {what}")
        log = spec.get("log", False)
        if not isinstance(log, bool):
            self.add(f"{where}.log", f"expected true or false, got {log!r}")
        step = spec.get("step")
        if step is not None:
            step = _number(step, integer)
            if step is None or step <= 0:
                self.add(f"{where}.step", f"expected a positive {'integer' if integer else 'number'}, got {spec.get('step')!r}")
            elif log is True:
                self.add(f"{where}.step", "a range is either stepped or on a log scale, not both (Optuna refuses it)")
        if low is not None and high is not None:
            if low > high:
                self.add(f"{where}.low", f"low ({low!r}) is above high ({high!r})")
            elif log is True and low <= 0:
                self.add(f"{where}.low", f"a log-scale range must start above 0, got low={low!r}")
        if len(self.problems) != before:
            return None
        return Dimension(key, kind, low=low, high=high, log=bool(log), step=step)

    def _positive(self, key: str, value: Any, required: bool = False) -> int | None:
        if value is None:
            if required:
                self.add(key, "missing: how many trials to finish (completed and pruned ones count), e.g. trials: 20")
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.add(key, f"expected a positive integer, got {value!r}")
            return None
        return value

    def _choice(self, key: str, value: Any, table: dict[str, dict[str, type]]) -> dict[str, Any] | None:
        """``name`` or ``{name: ..., setting: value}`` for the sampler and the pruner."""
        spec = {"name": value} if isinstance(value, str) else value
        if not isinstance(spec, dict) or "name" not in spec:
            self.add(key, f"expected a name ({', '.join(table)}) or a mapping with one, e.g. {{name: {next(iter(table))}}}")
            return None
        name = spec["name"]
        if name not in table:
            self.add(f"{key}.name" if isinstance(value, dict) else key, _unknown(key, name, tuple(table)))
            return None
        ok = True
        for setting, given in spec.items():
            if setting == "name":
                continue
            kind = table[name].get(setting)
            if kind is None:
                self.add(f"{key}.{setting}", _unknown(f"setting of the {name} {key}", setting, tuple(table[name]) or ("none",)))
                ok = False
            elif _number(given, integer=kind is int) is None and not (given is None and setting == "seed") and not (given == "auto" and setting == "max_resource"):
                self.add(f"{key}.{setting}", f"expected {'an integer' if kind is int else 'a number'}, got {given!r}")
                ok = False
        return {k: (_number(v) if isinstance(v, str) and v != "auto" else v) for k, v in spec.items() if k != "name"} | {"name": name} if ok else None

    def _heartbeat(self) -> tuple[int, int]:
        spec = self.doc.get("heartbeat", {}) or {}
        if not isinstance(spec, dict):
            self.add("heartbeat", "expected {interval: SECONDS, grace: SECONDS}")
            return 10, 30
        for name in spec:
            if name not in ("interval", "grace"):
                self.add(f"heartbeat.{name}", _unknown("heartbeat setting", name, ("interval", "grace")))
        interval, grace = spec.get("interval", 10), spec.get("grace", None)
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            self.add("heartbeat.interval", f"expected whole seconds (at least 1), got {interval!r}")
            interval = 10
        grace = 3 * interval if grace is None else grace
        if isinstance(grace, bool) or not isinstance(grace, int) or grace <= interval:
            self.add("heartbeat.grace", f"expected whole seconds longer than the interval ({interval}), got {grace!r}")
            grace = 3 * interval
        return interval, grace

    # ---------------------------------------------------------------- against the recipe

    def _base_recipe(self, recipe_path: Path, fixed: dict[str, Any], host: PluginHost) -> Recipe | None:
        try:
            return load_recipe(recipe_path, [override(k, v) for k, v in fixed.items()], host=host)
        except RecipeError as exc:
            for p in exc.problems:
                key = next((k for k in fixed if p.path == k or p.path.startswith(k + ".")), None)
                if key is not None:
                    self.add(f"set.{key}", _plain(p.message))
                else:  # the recipe itself is wrong: say where in the recipe
                    self.problems.append(Problem("recipe", p.render(str(recipe_path))))
            return None

    def _probe(self, recipe_path: Path, fixed: dict[str, Any], dim: Dimension, host: PluginHost) -> None:
        """Validate the recipe with each bound (or choice) of ``dim``: a bad key path or value fails here."""
        seen: set[str] = set()
        for label, value in dim.probes():
            values = {**fixed, dim.key: value}
            try:
                load_recipe(recipe_path, [override(k, v) for k, v in values.items()], host=host)
            except RecipeError as exc:
                for p in exc.problems:
                    message = _plain(p.message)
                    if message in seen:
                        continue  # the same complaint at low and high (an unknown key): once
                    seen.add(message)
                    own = p.path == dim.key or p.path.startswith(dim.key + ".") or dim.key.startswith(p.path + ".")
                    at = "" if "unknown" in message or "not a mapping" in message else f" (at {label})"
                    self.add(f"space.{dim.key}", f"{message}{at}" if own else f"{p.path}: {message}{at}")

    def _metric(self, recipe: Recipe, host: PluginHost) -> tuple[str | None, str]:
        metric = self.doc.get("metric")
        evaluated = list(recipe.data.eval.metrics or getattr(host.registry.get("domains", recipe.data.domain.name).load(), "default_metrics", ()))
        direction = self.doc.get("direction")
        if direction is not None and direction not in DIRECTIONS:
            self.add("direction", _unknown("direction", direction, DIRECTIONS))
            direction = None
        if metric is None or metric not in evaluated:
            what = "missing: the metric to optimise" if metric is None else _unknown("metric", metric, evaluated).replace("; valid:", "; this recipe evaluates:")
            self.add("metric", what if metric is not None else f"{what}; this recipe evaluates: {', '.join(evaluated) or 'none'}")
            return None, direction or "minimize"
        if direction is None:
            higher = bool(getattr(host.registry.get("metrics", metric).load(), "higher_is_better", False))
            direction = "maximize" if higher else "minimize"
        return metric, direction


def _plain(message: str) -> str:
    """A recipe problem's message without the "(set by --set)" that overrides earn: here the sweep file set it."""
    return message.removesuffix(" (set by --set)")
