"""Loading a recipe: YAML (safe) -> overrides -> preset -> schema -> registry checks.

Every mistake is collected and reported together, each as
``recipe.yaml: key.path: what is wrong (did you mean ...) (line N)``, before any
component is imported or any tensor exists.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from seqtk.core import schema
from seqtk.core.errors import Problem, RecipeError, RegistryError, UnknownNameError
from seqtk.core.plugins import PluginHost
from seqtk.core.registry import PRESET_PARTS, Registry

#: Recipe section -> registry kind.
SECTION_KINDS: dict[str, str] = {
    "domain": "domains",
    "generator": "generators",
    "discriminator": "discriminators",
    "objective": "objectives",
    "estimator": "estimators",
}


@dataclass
class Recipe:
    """A validated recipe: typed sections plus where it came from."""

    data: schema.RecipeData
    source: str
    overrides: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.data.name

    def component(self, section: str) -> schema.Component:
        return getattr(self.data, section)

    def to_dict(self) -> dict[str, Any]:
        """The fully resolved recipe (defaults filled in), as written to the run directory."""
        return _plain(asdict(self.data))

    def run_dir(self) -> Path:
        return Path(self.data.output.dir.replace("{name}", self.data.name))


def _plain(value: Any) -> Any:
    """Tuples become lists so that the resolved recipe is ordinary YAML."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# --------------------------------------------------------------------------- entry points


def load_recipe(
    source: str | Path | Mapping[str, Any],
    overrides: Iterable[str] = (),
    *,
    host: PluginHost | None = None,
) -> Recipe:
    """Load and validate a recipe from a file path or a mapping; raise ``RecipeError``.

    ``overrides`` are ``key.path=value`` strings (values parsed as YAML), applied before
    validation exactly like ``seqtk run --set``.
    """
    host = host or PluginHost()
    overrides = tuple(overrides)
    lines: dict[str, int] = {}
    if isinstance(source, Mapping):
        label, document = "<recipe>", copy.deepcopy(dict(source))
    else:
        label = str(source)
        document, lines = _read_yaml(Path(source))
    problems: list[Problem] = []
    overridden = _apply_overrides(document, overrides, problems)
    recipe = _validate(document, label, host, problems)
    if problems:
        raise RecipeError(label, [_locate(p, lines, overridden) for p in problems])
    assert recipe is not None
    recipe.overrides = overrides
    return recipe


def _locate(problem: Problem, lines: Mapping[str, int], overridden: set[str]) -> Problem:
    """Say where a problem is: "(set by --set)" or the line of its key (or its parent's)."""
    if any(problem.path == path or problem.path.startswith(path + ".") for path in overridden):
        return Problem(problem.path, problem.message + " (set by --set)")
    path = problem.path
    while path and path not in lines:
        path = path.rpartition(".")[0]
    return Problem(problem.path, problem.message, lines.get(path, problem.line))


def _read_yaml(path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(label, [Problem("", "no such recipe file")]) from None
    except UnicodeDecodeError as exc:
        raise RecipeError(label, [Problem("", f"not UTF-8 text (byte {exc.start}): is this a recipe?")]) from None
    except OSError as exc:
        raise RecipeError(label, [Problem("", f"cannot read: {exc.strerror or exc}")]) from None
    try:
        document = yaml.safe_load(text)
        lines = _key_lines(text)
    except yaml.YAMLError as exc:
        raise RecipeError(label, [Problem("", _yaml_message(exc))]) from None
    if document is None:
        raise RecipeError(label, [Problem("", "the recipe is empty; start from recipes/quickstart.yaml")])
    if not isinstance(document, dict):
        raise RecipeError(label, [Problem("", f"a recipe must be a mapping of sections, got {type(document).__name__}")])
    return document, lines


def _yaml_message(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    if "could not determine a constructor" in str(exc):
        problem = f"{problem}; YAML tags that build Python objects are refused (only plain YAML is read)"
    return f"invalid YAML{where}: {problem}"


def _key_lines(text: str) -> dict[str, int]:
    """Map each key path ("train.batch_size") to the line it is written on."""
    lines: dict[str, int] = {}

    def walk(node: yaml.Node, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    child = f"{path}.{key_node.value}" if path else str(key_node.value)
                    lines.setdefault(child, key_node.start_mark.line + 1)
                    walk(value_node, child)

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        walk(root, "")
    return lines


# --------------------------------------------------------------------------- overrides


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into its key path and YAML-parsed value."""
    key, sep, raw = text.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(part.strip() for part in parts):
        raise ValueError(f"expected KEY.PATH=VALUE, got {text!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ValueError(f"value of {key!r} is not valid YAML: {_yaml_message(exc)}") from None
    return [part.strip() for part in parts], value


def _apply_overrides(document: dict[str, Any], overrides: Iterable[str], problems: list[Problem]) -> set[str]:
    overridden: set[str] = set()
    for text in overrides:
        try:
            parts, value = parse_override(text)
        except ValueError as exc:
            problems.append(Problem("--set", str(exc)))
            continue
        node = document
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                problems.append(Problem(".".join(parts[: depth + 1]), f"is not a mapping, cannot set {'.'.join(parts)} (set by --set)"))
                break
            node = child
        else:
            node[parts[-1]] = value
            overridden.add(".".join(parts))
    return overridden


# --------------------------------------------------------------------------- validation


def _validate(document: dict[str, Any], label: str, host: PluginHost, problems: list[Problem]) -> Recipe | None:
    version = document.get("seqtk")
    if version is None:
        problems.append(Problem("seqtk", f"missing schema version; add 'seqtk: {schema.SCHEMA_VERSION}' at the top"))
        document = {**document, "seqtk": schema.SCHEMA_VERSION}  # reported once; check the rest
    elif isinstance(version, int) and not isinstance(version, bool) and version > schema.SCHEMA_VERSION:
        problems.append(
            Problem("seqtk", f"this recipe uses schema version {version}; this seqtk reads version {schema.SCHEMA_VERSION}: upgrade seqtk")
        )
        return None
    elif version != schema.SCHEMA_VERSION:
        problems.append(Problem("seqtk", f"unsupported schema version {version!r}; use {schema.SCHEMA_VERSION}"))
        return None
    for section in SECTION_KINDS:  # `generator: lstm` is short for `generator: {name: lstm}`
        if isinstance(document.get(section), str):
            document[section] = {"name": document[section]}
    preset_ok = _expand_preset(document, host.registry, problems)
    data = schema.convert(schema.RecipeData, document, "", problems)
    if data is None:
        return None
    recipe = Recipe(data=data, source=label)
    _check_components(recipe, host.registry, problems, report_missing=preset_ok)
    if not problems:  # plugins see only recipes the core accepts, so they need no defensive code
        problems.extend(host.validate_recipe(recipe))
    return recipe


def _expand_preset(document: dict[str, Any], registry: Registry, problems: list[Problem]) -> bool:
    """Fill generator/discriminator/objective/estimator from ``preset``; the recipe wins.

    Returns False when the preset itself is unknown (its parts are then not "missing").
    """
    name = document.get("preset")
    if name is None:
        return True
    try:
        preset = registry.preset(name)
    except (UnknownNameError, TypeError) as exc:
        problems.append(Problem("preset", str(exc)))
        return False
    for part in PRESET_PARTS:
        given = document.get(part)
        default = preset.parts.get(part)
        if default is None or (given is not None and not isinstance(given, dict)):
            continue
        given = given or {}
        if given.get("name") not in (None, default["name"]):
            continue  # a different component replaces the preset's one entirely
        params = given.get("params")
        merged = {**default["params"], **params} if isinstance(params, dict) else params if params is not None else dict(default["params"])
        document[part] = {**given, "name": default["name"], "params": merged}
    return True


def _check_components(recipe: Recipe, registry: Registry, problems: list[Problem], *, report_missing: bool = True) -> None:
    """Names exist, parameters fit signatures, and every capability required is provided."""
    entries = {}
    for section, kind in SECTION_KINDS.items():
        component = recipe.component(section)
        if component.name is None:
            if report_missing or section not in PRESET_PARTS:
                hint = " or a 'preset'" if section in PRESET_PARTS else ""
                article = "an" if kind[0] in "aeiou" else "a"
                valid = ", ".join(registry.names(kind)) or "none installed"
                problems.append(Problem(f"{section}.name", f"missing: name {article} {kind[:-1]}{hint}; valid: {valid}"))
            continue
        try:
            entry = registry.get(kind, component.name)
        except UnknownNameError as exc:
            problems.append(Problem(f"{section}.name", str(exc)))
            continue
        entries[section] = entry
        _check_params(entry, component.params, f"{section}.params", problems)
    metric_entries = []
    if "domain" in entries:
        metric_names = recipe.data.eval.metrics
        if metric_names is None:
            metric_names = list(_domain_default_metrics(entries["domain"], problems))
        for index, metric in enumerate(metric_names):
            try:
                metric_entries.append((f"eval.metrics.{index}", registry.get("metrics", metric)))
            except UnknownNameError as exc:
                problems.append(Problem(f"eval.metrics.{index}", str(exc)))
    provided = {section: entry.provides_for(recipe.component(section).params) for section, entry in entries.items()}
    for path, entry in [*((f"{s}.name", e) for s, e in entries.items()), *metric_entries]:
        others = set().union(*(p for s, p in provided.items() if f"{s}.name" != path))
        missing = sorted(entry.requires - others)
        if missing:
            offer = sorted(
                offer for kind in SECTION_KINDS.values() for e in registry.entries(kind) if (offer := _provider(e, set(missing)))
            )
            hint = f"; provided by: {', '.join(offer)}" if offer else ""
            problems.append(Problem(path, f"{entry.label} requires {', '.join(missing)}, which no other component of this recipe provides{hint}"))


def _provider(entry: Any, missing: set[str]) -> str:
    """How ``entry`` could provide ``missing``: its label, plus the parameter value it takes ("" if it cannot)."""
    if missing <= entry.provides:
        return f"{entry.kind[:-1]} {entry.name!r}"
    for key, table in entry.provides_by_param.items():
        for value, words in table.items():
            if missing <= entry.provides | words:
                return f"{entry.kind[:-1]} {entry.name!r} with {key}: {value}"
    return ""


def _check_params(entry: Any, params: Mapping[str, Any], path: str, problems: list[Problem]) -> None:
    try:
        found = entry.check_params(params)
    except RegistryError as exc:
        problems.append(Problem(path.rsplit(".", 1)[0] + ".name", str(exc)))
        return
    for key, message in found:
        problems.append(Problem(f"{path}.{key}" if key else path, message))


def _domain_default_metrics(entry: Any, problems: list[Problem]) -> tuple[str, ...]:
    try:
        return tuple(getattr(entry.load(), "default_metrics", ()))
    except RegistryError as exc:
        problems.append(Problem("domain.name", str(exc)))
        return ()
