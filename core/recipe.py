"""Loading a recipe: YAML (safe) -> overrides -> preset -> schema -> registry checks.

Every mistake is collected and reported together, each as
``recipe.yaml: key.path: what is wrong (did you mean ...) (line N)``, before any
component is imported or any tensor exists.
"""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from seqtk.core import schema
from seqtk.core.errors import Problem, RecipeError, RegistryError, UnknownNameError
from seqtk.core.plugins import PluginHost
from seqtk.core.registry import CONDITION_WORDS, PRESET_PARTS, Registry
from seqtk.core.textfiles import NotUtf8Error, decode_utf8

#: Recipe section -> registry kind.
SECTION_KINDS: dict[str, str] = {
    "domain": "domains",
    "generator": "generators",
    "discriminator": "discriminators",
    "objective": "objectives",
    "estimator": "estimators",
    "model": "models",
}
#: Sections a ``model`` replaces: it owns its networks, losses and phases.
MODEL_REPLACES: tuple[str, ...] = ("generator", "discriminator", "objective", "estimator")


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

    @property
    def uses_model(self) -> bool:
        """Whether a ``model`` (which owns its networks and phases) replaces the generator/discriminator/objective/estimator."""
        return self.data.model.name is not None

    def to_dict(self) -> dict[str, Any]:
        """The fully resolved recipe (defaults filled in), as written to the run directory.

        Component sections the recipe does not use (``model`` in a GAN recipe, the GAN's
        four parts in a model recipe) are left out, so that recipes and checkpoint
        fingerprints from before models existed read exactly as they did.
        """
        data = _plain(asdict(self.data))
        for section in SECTION_KINDS:
            if data[section]["name"] is None and not data[section]["params"]:
                del data[section]
        return data

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
    validation exactly like ``seqtk run --set``. Path parameters (the registry's
    ``path_params`` and ``train.init_generator``) come back absolute: relative values
    written in the file are taken from the file's folder, those set by ``overrides`` or
    given in a mapping from the working directory (see ``PathOrigins``).
    """
    host = host or PluginHost()
    overrides = tuple(overrides)
    lines: dict[str, int] = {}
    recipe_dir: Path | None = None
    if isinstance(source, Mapping):
        label = "<recipe>"
        try:
            document = copy.deepcopy(dict(source))
        except RecursionError:
            raise RecipeError(label, [Problem("", "nested too deeply; a recipe is a few levels deep")]) from None
    else:
        label = str(source)
        document, lines = _read_yaml(Path(source))
        recipe_dir = Path(source).absolute().parent
    problems: list[Problem] = []
    written = _path_keys_written(document)
    overridden = _apply_overrides(document, overrides, problems)
    origins = PathOrigins(recipe_dir, written, frozenset(overridden))
    recipe = _validate(document, label, host, problems, origins)
    if problems:
        raise RecipeError(label, [_one_line(_locate(p, lines, overridden)) for p in problems])
    assert recipe is not None
    recipe.overrides = overrides
    return recipe


def _one_line(problem: Problem) -> Problem:
    """The problem with unprintable characters (newlines, tabs, NULs) escaped: one problem, one line."""
    return Problem(_printable(problem.path), _printable(problem.message), problem.line)


def _printable(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def _locate(problem: Problem, lines: Mapping[str, int], overridden: set[str]) -> Problem:
    """Say where a problem is: "(set by --set)" or the line of its key (or its parent's)."""
    if any(problem.path == path or problem.path.startswith(path + ".") for path in overridden):
        return Problem(problem.path, problem.message + " (set by --set)")
    path = problem.path
    while path and path not in lines:
        path = path.rpartition(".")[0]
    return Problem(problem.path, problem.message, lines.get(path, problem.line))


#: The most values (mappings, lists and scalars, counted as often as aliases repeat them)
#: a recipe may expand to. Real recipes hold a few hundred; anchors that multiply past
#: this ("a billion laughs") would stall every step that walks the recipe.
MAX_VALUES = 100_000
#: 100 opening brackets in a row: far deeper than any recipe, and the start of a file that
#: would take PyYAML minutes to reject.
_DEEP_FLOW = re.compile(r"(?:[\[{][ \t\r\n]*){100}")


class LocatedYamlError(ValueError):
    """YAML that cannot be read, as problems with their lines (for any file read like a recipe)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


def parse_located_yaml(text: str, what: str) -> tuple[Any, Any]:
    """``text`` parsed safely, with the node tree that gives each key's line (``_key_lines``).

    One parser for recipes and the files that name them (sweep files), so both refuse the
    same hostile inputs the same way: bracket runs PyYAML would take minutes over, nesting
    too deep to read, duplicate keys and alias loops. ``what`` ("a recipe") ends the messages.
    """
    deep = _DEEP_FLOW.search(text)
    if deep:  # PyYAML's scanner slows quadratically on such runs before it fails: refuse them first
        line = text.count("\n", 0, deep.start()) + 1
        raise LocatedYamlError([Problem("", f"invalid YAML: brackets nested too deeply at line {line}; {what} is a few levels deep")])
    try:
        return _parse(text)
    except yaml.YAMLError as exc:
        raise LocatedYamlError([Problem("", _yaml_message(exc, text))]) from None
    except RecursionError:
        raise LocatedYamlError([Problem("", f"invalid YAML: nested too deeply to read; {what} is a few levels deep")]) from None
    except _StructureError as exc:
        raise LocatedYamlError([_one_line(p) for p in exc.problems]) from None


def _read_yaml(path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    label = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RecipeError(label, [Problem("", "no such recipe file")]) from None
    except OSError as exc:
        raise RecipeError(label, [Problem("", f"cannot read: {exc.strerror or exc}")]) from None
    try:
        text = decode_utf8(data, drop_bom=False)
    except NotUtf8Error as exc:
        raise RecipeError(label, [Problem("", _not_utf8_message(exc))]) from None
    try:
        document, root = parse_located_yaml(text, "a recipe")
    except LocatedYamlError as exc:
        raise RecipeError(label, exc.problems) from None
    if document is None or root is None:
        raise RecipeError(label, [Problem("", "the recipe is empty; start from recipes/quickstart.yaml")])
    if not isinstance(document, dict):
        where = f" (line {root.start_mark.line + 1})"
        raise RecipeError(label, [Problem("", f"a recipe must be a mapping of sections (key: value lines), got {_kind(document)}{where}")])
    return document, _key_lines(root)


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "an integer", float: "a number", bool: "a boolean"}.get(type(value), type(value).__name__)


def _not_utf8_message(exc: NotUtf8Error) -> str:
    hint = "it looks like UTF-16: re-save it as UTF-8" if exc.looks_like == "UTF-16" else "re-save it as UTF-8 (is this a recipe?)"
    return f"not UTF-8 text: byte {exc.byte!r} at line {exc.line}, column {exc.column}; {hint}"


class _StructureError(Exception):
    """Problems found in the YAML node graph before any value is built."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        self.problems = problems


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, whose value errors are YAML errors located at their node.

    The safe constructors let some values escape as bare Python exceptions: an impossible
    date (``2021-02-30``), ``!!int abc``, ``!!timestamp 2001-12-14x``, ``!!bool maybe``.
    """

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, AttributeError, KeyError, IndexError, OverflowError) as exc:
            tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
            shown = repr(node.value) if isinstance(node, yaml.ScalarNode) else "this value"
            reason = f": {exc}" if isinstance(exc, ValueError) and str(exc) else ""
            raise yaml.constructor.ConstructorError(
                None, None, f"{shown} is not a valid {tag} value{reason}", node.start_mark
            ) from None


def _parse(text: str) -> tuple[Any, yaml.Node | None]:
    """Parse once: compose the node graph, check its structure, then build plain values (safely).

    Duplicate keys, alias loops and alias bombs are refused on the nodes, before a value is
    built; python/* tags are refused by the safe constructor, so nothing in a recipe runs.
    """
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        problems = _structure_problems(root)
        if problems:
            raise _StructureError(problems)
        return loader.construct_document(root), root
    finally:
        loader.dispose()


def _structure_problems(root: yaml.Node) -> list[Problem]:
    """Keys given twice in one mapping (YAML keeps the last one silently), alias loops, alias bombs."""
    problems: list[Problem] = []
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def walk(node: yaml.Node, path: str) -> int:
        """The number of values ``node`` expands to (aliases counted each time they are used)."""
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in active:
            raise _StructureError([Problem(path, f"an alias is used inside the value it names, an endless value (line {node.start_mark.line + 1}); remove the loop")])
        active.add(id(node))
        size = 1
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                child = path
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                    child = f"{path}.{schema.key_text(key_node.value)}" if path else schema.key_text(key_node.value)
                    line = key_node.start_mark.line + 1
                    if key_node.value in seen:
                        problems.append(
                            Problem(
                                child,
                                f"is given twice (first on line {seen[key_node.value]}); YAML would silently keep only "
                                "this second one: remove one of them",
                                line,
                            )
                        )
                    seen.setdefault(key_node.value, line)
                size += walk(key_node, child) + walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            size += sum(walk(item, f"{path}.{index}" if path else str(index)) for index, item in enumerate(node.value))
        active.discard(id(node))
        sizes[id(node)] = size
        return size

    total = walk(root, "")
    if total > MAX_VALUES:
        problems.append(
            Problem(
                "",
                f"anchors and aliases expand this recipe to {total} values, more than the {MAX_VALUES} a recipe may hold; "
                "write the values out instead of repeating aliases",
            )
        )
    return problems


def _yaml_message(exc: yaml.YAMLError, text: str = "") -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    if isinstance(exc, yaml.reader.ReaderError):  # a control character: the reader knows only its offset
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        where, problem = f" at line {line}, column {column}", f"character {exc.character!r} is not allowed in YAML text"
    if "could not determine a constructor" in str(exc):
        problem = problem.replace("tag:yaml.org,2002:", "!!")
        problem = f"{problem}; YAML tags that build Python objects are refused (only plain YAML is read)"
    elif "'\\t'" in problem:
        problem = f"{problem}; YAML indents with spaces, never tabs"
    elif problem.startswith("mapping values are not allowed"):
        problem = f"{problem}; check the indentation of this line against the lines above it"
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark is not None and (mark is None or context_mark.line != mark.line):
        problem = f"{problem} ({context} that starts at line {context_mark.line + 1}, column {context_mark.column + 1})"
    return f"invalid YAML{where}: {problem}"


def _key_lines(root: yaml.Node) -> dict[str, int]:
    """Map each key path ("train.batch_size") to the line it is written on.

    Each node is visited once: a value reached again through an alias keeps the lines of
    its first appearance, and the walk stays linear in the size of the file.
    """
    lines: dict[str, int] = {}
    visited: set[int] = set()

    def walk(node: yaml.Node, path: str) -> None:
        if id(node) in visited:
            return
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    child = f"{path}.{schema.key_text(key_node.value)}" if path else schema.key_text(key_node.value)
                    lines.setdefault(child, key_node.start_mark.line + 1)
                    walk(value_node, child)

    walk(root, "")
    return lines


# --------------------------------------------------------------------------- overrides


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into its key path and YAML-parsed value."""
    key, sep, raw = text.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(part.strip() for part in parts):
        raise ValueError(f"expected KEY.PATH=VALUE, got {text!r}")
    if _DEEP_FLOW.search(raw):
        raise ValueError(f"value of {key!r} has brackets nested too deeply")
    try:
        value = _parse(raw)[0] if raw.strip() else ""
    except _StructureError as exc:
        raise ValueError(f"value of {key!r}: {'; '.join(p.message for p in exc.problems)}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"value of {key!r} is not valid YAML: {_yaml_message(exc, raw)}") from None
    except RecursionError:
        raise ValueError(f"value of {key!r} is nested too deeply to read") from None
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


# --------------------------------------------------------------------------- relative paths


#: Recipe keys that hold a path besides the components' own ``path_params``.
CORE_PATH_KEYS: tuple[str, ...] = ("train.init_generator",)


@dataclass(frozen=True)
class PathOrigins:
    """Which folder each relative path of a recipe is relative to.

    A path written in a recipe file is relative to that file's folder, so a recipe keeps
    working from any working directory and beside the data it ships with; one typed with
    ``--set``, or given in a mapping, is relative to the working directory, as any path
    typed on a command line. ``output.dir`` is not a path parameter: run directories stay
    relative to the working directory (``runs/NAME``).
    """

    recipe_dir: Path | None
    written: frozenset[str]
    overridden: frozenset[str]

    def base(self, key: str) -> Path:
        """The folder a relative value of ``key`` ("domain.params.train") is relative to."""
        set_on_command_line = any(key == path or key.startswith(path + ".") for path in self.overridden)
        if self.recipe_dir is None or key not in self.written or set_on_command_line:
            return Path.cwd()  # --set, a mapping, or a value a preset filled in
        return self.recipe_dir


def _path_keys_written(document: Mapping[str, Any]) -> frozenset[str]:
    """Key paths of component params and core path keys the file itself sets (before ``--set``)."""
    keys = set()
    for section in SECTION_KINDS:
        params = document.get(section, {}).get("params") if isinstance(document.get(section), dict) else None
        if isinstance(params, dict):
            keys.update(f"{section}.params.{key}" for key in params if isinstance(key, str))
    for key in CORE_PATH_KEYS:
        parent, _, leaf = key.rpartition(".")
        if isinstance(document.get(parent), dict) and leaf in document[parent]:
            keys.add(key)
    return frozenset(keys)


def absolute_path(value: str, base: Path) -> str:
    """``value`` (``~`` expanded) as an absolute path, relative ones taken from ``base``.

    Raises ``ValueError`` for a value no file system accepts (a NUL character, a symlink loop).
    """
    path = Path(value)
    try:
        path = path.expanduser()
    except RuntimeError:  # ~user of an unknown user: the plugin will report the missing file
        pass
    if path.is_absolute():
        return str(path)
    try:
        return str((base / path).resolve())
    except (OSError, RuntimeError, ValueError) as exc:
        raise ValueError(f"is not a usable path ({exc})") from None


def _resolve_paths(recipe: Recipe, registry: Registry, origins: PathOrigins) -> list[Problem]:
    """Make every path parameter absolute, so that what runs, what ``recipe.yaml`` in the run
    directory records and the resume fingerprint are the same from any working directory."""
    problems: list[Problem] = []

    def resolved(key: str, value: Any) -> Any:
        if not isinstance(value, str) or not value.strip():
            return value  # null, or a value the component itself rejects
        try:
            return absolute_path(value, origins.base(key))
        except ValueError as exc:
            problems.append(Problem(key, str(exc)))
            return value

    for section, kind in SECTION_KINDS.items():
        component = recipe.component(section)
        if component.name is None:
            continue
        for key in sorted(registry.get(kind, component.name).path_params):
            if key in component.params:
                component.params[key] = resolved(f"{section}.params.{key}", component.params[key])
    train = recipe.data.train
    train.init_generator = resolved("train.init_generator", train.init_generator)  # the one CORE_PATH_KEYS entry
    return problems


# --------------------------------------------------------------------------- validation


def _validate(document: dict[str, Any], label: str, host: PluginHost, problems: list[Problem], origins: PathOrigins) -> Recipe | None:
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
    if recipe.uses_model:
        _check_model_recipe(document, data, problems)
    else:
        _check_schedule(data, problems)
    _check_components(recipe, host.registry, problems, report_missing=preset_ok)
    if not problems:  # plugins see only recipes the core accepts, so they need no defensive code
        problems.extend(_resolve_paths(recipe, host.registry, origins))
    if not problems:
        problems.extend(host.validate_recipe(recipe))
    if not problems and recipe.data.callbacks.disable:  # the plugins' callbacks for this recipe decide which names exist
        try:
            host.callbacks(recipe)
        except RecipeError as exc:
            problems.extend(exc.problems)
    return recipe


def _check_model_recipe(document: Mapping[str, Any], data: schema.RecipeData, problems: list[Problem]) -> None:
    """A model owns its networks, losses and phases: the sections it replaces would be silently ignored, so they are refused."""
    for section in (*MODEL_REPLACES, "preset"):
        if document.get(section) is not None:
            problems.append(Problem(section, f"a recipe with a 'model' has no {section!r}: the model owns its networks, losses and phases; remove it"))
    # Compared with the defaults, not looked up in the document: a run's resolved recipe
    # (which `seqtk sample` reads back) spells every default out.
    for key, default in (("pretrain", schema.Pretrain()), ("adversarial", schema.Adversarial())):
        if getattr(data.train, key) != default:
            problems.append(
                Problem(f"train.{key}", "a recipe with a 'model' takes its phases' lengths from the model's params (see `seqtk list models`); remove it")
            )


def _check_schedule(data: schema.RecipeData, problems: list[Problem]) -> None:
    """A run of zero steps trains nothing and writes no checkpoint to resume or sample from."""
    train = data.train
    if train.pretrain.generator_steps + train.pretrain.discriminator_phase_steps + train.adversarial.steps == 0:
        problems.append(
            Problem(
                "train.adversarial.steps",
                "the recipe trains for 0 steps in all (train.pretrain.generator_steps, train.pretrain.discriminator_steps "
                "and train.adversarial.steps are all 0), so nothing would be trained or checkpointed; set one of them to at least 1",
            )
        )


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
            if section == "model" or (section in MODEL_REPLACES and recipe.uses_model):
                continue  # a recipe names either a model or the four parts of a GAN
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
        _check_keep_best(recipe.data.output.keep_best, metric_names, problems)
        _check_evaluated("callbacks.early_stopping.metric", recipe.data.callbacks.early_stopping.metric, metric_names, problems)
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
    if "domain" in provided:
        _check_conditions(registry, entries, provided["domain"], problems)
    if "domain" in provided and "continuous" not in provided["domain"]:  # instance noise and R1 blur or differentiate real values
        problems.extend(recipe.data.train.adversarial.continuous_only("train.adversarial"))


def _check_conditions(registry: Any, entries: Mapping[str, Any], domain_words: frozenset[str], problems: list[Problem]) -> None:
    """A conditional domain's generator and discriminator (or model) must accept each of its conditions.

    A network that ignored the condition would train and evaluate without error and
    produce samples that ignore it: refused here instead, naming the components that can.
    """
    conditions = domain_words & CONDITION_WORDS
    if not conditions:
        return
    for section in ("model", "generator", "discriminator"):
        entry = entries.get(section)
        if entry is None:
            continue
        missing = sorted(conditions - entry.accepts)
        if missing:
            able = [e.name for e in registry.entries(entry.kind) if conditions <= e.accepts]
            hint = f"; {entry.kind} that can: {', '.join(able)}" if able else f"; no installed {entry.kind[:-1]} can"
            problems.append(Problem(f"{section}.name", f"{entry.label} cannot use the domain's {', '.join(missing)} condition (it accepts {', '.join(sorted(entry.accepts)) or 'none'}){hint}"))


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
        problems.append(Problem(f"{path}.{schema.key_text(key)}" if key != "" else path, message))


def _check_keep_best(keep: schema.KeepBest, metric_names: list[str], problems: list[Problem]) -> None:
    """The best checkpoint is chosen by a metric the run evaluates (``eval.metrics`` or the domain's defaults)."""
    _check_evaluated("output.keep_best.metric", keep.metric, metric_names, problems)


def _check_evaluated(path: str, metric: str | None, metric_names: list[str], problems: list[Problem]) -> None:
    """``metric`` (at ``path``) is one the run evaluates, or None."""
    if metric is None or metric in metric_names:
        return
    close = difflib.get_close_matches(metric, metric_names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    problems.append(Problem(path, f"{metric!r} is not one of this recipe's evaluation metrics{hint}; valid: {', '.join(metric_names) or 'none'}"))


def _domain_default_metrics(entry: Any, problems: list[Problem]) -> tuple[str, ...]:
    try:
        return tuple(getattr(entry.load(), "default_metrics", ()))
    except RegistryError as exc:
        problems.append(Problem("domain.name", str(exc)))
        return ()
