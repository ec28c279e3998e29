"""The catalogue of components: names -> lazy import targets, defaults and capabilities.

Plugins fill it from YAML fragments (``registry.yaml`` for the built-ins) during the
``seqtk_register`` hook. Nothing is imported until a component is built, so listing the
catalogue never imports torch. Recipes name components; only the registry knows where
their code lives.
"""

from __future__ import annotations

import functools
import inspect
import typing
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import yaml

from seqtk.core import typecheck
from seqtk.core.errors import RegistryError, UnknownNameError

KINDS: tuple[str, ...] = ("domains", "generators", "discriminators", "objectives", "estimators", "models", "metrics")
#: The four parts of a GAN that a preset combines (the domain and metrics stay the user's).
PRESET_PARTS: tuple[str, ...] = ("generator", "discriminator", "objective", "estimator")
FRAGMENT_VERSION = 1

_ENTRY_KEYS = {"target", "summary", "defaults", "requires", "provides", "provides_by_param", "path_params", "extra"}
_PRESET_KEYS = {"summary", *PRESET_PARTS}
#: Arguments the trainer passes itself; they never appear in a recipe's params.
INJECTED_ARGUMENTS = frozenset({"spec", "domain", "generator"})


@dataclass(frozen=True)
class Entry:
    """One registered component."""

    kind: str
    name: str
    target: str
    plugin: str
    summary: str = ""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    requires: frozenset[str] = frozenset()
    provides: frozenset[str] = frozenset()
    #: Capabilities that depend on a parameter's value: ``{param: {value: words}}``. A
    #: domain whose ``representation`` decides whether its values are continuous or
    #: discrete declares both here, and the recipe check sees the words of the value the
    #: recipe chose (or the default), still before anything is built.
    provides_by_param: Mapping[str, Mapping[str, frozenset[str]]] = field(default_factory=dict)
    extra: str | None = None
    #: Parameters whose values are file or folder paths. A relative value written in a
    #: recipe file is resolved against that file's folder when the recipe is loaded (one
    #: given with ``--set`` or in a mapping, against the working directory), so the
    #: component itself only ever sees absolute paths and never guesses a base.
    path_params: frozenset[str] = frozenset()

    @property
    def label(self) -> str:
        return f"{self.kind[:-1]} {self.name!r}"

    def load(self) -> Callable[..., Any]:
        """Import the target; a missing optional dependency says how to install it."""
        module_name, _, attr = self.target.partition(":")
        try:
            module = import_module(module_name)
        except ImportError as exc:
            hint = f"; install it with: {self.extra}" if self.extra else ""
            raise RegistryError(
                f"{self.label} (plugin {self.plugin!r}) cannot be imported from {self.target!r}: {exc}{hint}"
            ) from exc
        try:
            obj = module
            for part in attr.split("."):
                obj = getattr(obj, part)
        except AttributeError as exc:
            raise RegistryError(
                f"{self.label} (plugin {self.plugin!r}): {module_name!r} has no attribute {attr!r}"
            ) from exc
        return obj

    def parameters(self) -> dict[str, inspect.Parameter]:
        """The parameters a recipe may set (the target's signature, less injected ones)."""
        return _settable(inspect.signature(self.load()))

    def check_params(self, params: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Problems with ``params`` as (param name or "", message); empty when they fit.

        Runs before any tensor exists: names, required values and simple types are checked
        against the target's signature and type hints.
        """
        from difflib import get_close_matches

        target = self.load()
        signature = inspect.signature(target)
        accepted = _settable(signature)
        hints = _type_hints(target)
        takes_any_keyword = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
        unknown_paths = sorted(self.path_params - set(accepted))
        if unknown_paths and not takes_any_keyword:  # the plugin's fragment is wrong, not the recipe
            raise RegistryError(
                f"{self.label} (plugin {self.plugin!r}) declares path_params {', '.join(map(repr, unknown_paths))}, "
                f"which {self.target} does not take; valid: {', '.join(accepted) or 'none'}"
            )
        problems: list[tuple[str, str]] = []
        merged = {**self.defaults, **params}
        if not takes_any_keyword:
            for key in params:
                if key in INJECTED_ARGUMENTS:
                    problems.append((key, "is set by seqtk itself and cannot appear in params"))
                elif key not in accepted:
                    close = get_close_matches(str(key), list(accepted), n=1)  # YAML keys may be numbers or null
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    valid = ", ".join(accepted) or "none"
                    problems.append((key, f"unknown parameter for {self.label}{hint}; valid: {valid}"))
        for key, p in accepted.items():
            if p.default is inspect.Parameter.empty and key not in merged:
                problems.append((key, f"{self.label} needs this parameter"))
        for key, value in merged.items():
            if key in accepted and key in hints:
                message = typecheck.check(value, hints[key])
                if message:
                    problems.append((key, message))
        for key, table in self.provides_by_param.items():
            value = self._chosen(key, params)
            if str(value) not in table:
                problems.append((key, f"must be one of {', '.join(map(repr, table))}, got {value!r}"))
        return problems

    def provides_for(self, params: Mapping[str, Any]) -> frozenset[str]:
        """``provides`` plus the words ``provides_by_param`` gives for these params (or the defaults)."""
        words = set(self.provides)
        for key, table in self.provides_by_param.items():
            value = self._chosen(key, params)
            words |= table.get(str(value), frozenset())
        return frozenset(words)

    def all_provides(self) -> frozenset[str]:
        """Every word this entry can provide with some params (for "provided by" hints)."""
        return frozenset(self.provides).union(*(w for table in self.provides_by_param.values() for w in table.values()))

    def _chosen(self, key: str, params: Mapping[str, Any]) -> Any:
        if key in params:
            return params[key]
        if key in self.defaults:
            return self.defaults[key]
        parameter = self.parameters().get(key)
        return None if parameter is None or parameter.default is inspect.Parameter.empty else parameter.default

    def build(self, injected: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
        """Call the target with the injected arguments it accepts plus defaults and params."""
        factory = self.load()
        signature = inspect.signature(factory)
        given = {k: v for k, v in injected.items() if k in signature.parameters}
        return factory(**given, **{**self.defaults, **params})


@dataclass(frozen=True)
class Preset:
    """A named combination of generator, discriminator, objective and estimator."""

    name: str
    plugin: str
    summary: str
    parts: Mapping[str, Mapping[str, Any]]  # part -> {"name": ..., "params": {...}}


def _settable(signature: inspect.Signature) -> dict[str, inspect.Parameter]:
    return {
        name: p
        for name, p in signature.parameters.items()
        if name not in INJECTED_ARGUMENTS and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


def _type_hints(target: Callable[..., Any]) -> dict[str, Any]:
    """The target's parameter hints; resolved once per target, as every recipe check asks again."""
    try:
        return _cached_type_hints(target)
    except TypeError:  # an unhashable callable object: resolve it every time
        return _resolve_type_hints(target)


def _resolve_type_hints(target: Callable[..., Any]) -> dict[str, Any]:
    function = target.__init__ if inspect.isclass(target) else target
    try:
        return typing.get_type_hints(function)
    except Exception:  # unresolvable annotations: fall back to no type checking
        return {}


_cached_type_hints = functools.lru_cache(maxsize=512)(_resolve_type_hints)


class Registry:
    """Components by kind and name, plus presets. One instance per plugin host: no globals."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
        self._presets: dict[str, Preset] = {}
        self._sources: dict[tuple[str, str], str] = {}

    # ----------------------------------------------------------- filling

    def add(
        self,
        kind: str,
        name: str,
        target: str,
        *,
        plugin: str,
        summary: str = "",
        defaults: Mapping[str, Any] | None = None,
        requires: Iterable[str] = (),
        provides: Iterable[str] = (),
        extra: str | None = None,
        provides_by_param: Mapping[str, Mapping[str, Iterable[str]]] | None = None,
        path_params: Iterable[str] = (),
    ) -> Entry:
        """Register one component. Refuses a name that is already taken, naming both plugins."""
        entry = _make_entry(
            kind,
            name,
            target,
            plugin,
            summary,
            defaults,
            requires,
            provides,
            extra,
            where=plugin,
            provides_by_param=provides_by_param,
            path_params=path_params,
        )
        self._check_free([entry], [])
        self._entries[kind][name] = entry
        return entry

    def load_fragment(self, source: str | Path, *, plugin: str) -> None:
        """Register every entry of a YAML fragment, all or nothing.

        ``source`` is a path to a YAML file; a fragment is validated whole before any of
        its entries is added, so a broken fragment leaves the registry as it was.
        """
        path = Path(source)
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise RegistryError(f"{path}: cannot read registry fragment of plugin {plugin!r}: {exc}") from exc
        except yaml.YAMLError as exc:
            raise RegistryError(f"{path}: invalid YAML in registry fragment of plugin {plugin!r}: {exc}") from exc
        entries, presets = parse_fragment(document, plugin=plugin, where=str(path))
        self._check_free(entries, presets)
        for entry in entries:
            self._entries[entry.kind][entry.name] = entry
        for preset in presets:
            self._presets[preset.name] = preset

    def remove_plugin(self, plugin: str) -> None:
        """Forget everything ``plugin`` registered (used when its registration fails midway)."""
        for entries in self._entries.values():
            for name in [n for n, e in entries.items() if e.plugin == plugin]:
                del entries[name]
        for name in [n for n, p in self._presets.items() if p.plugin == plugin]:
            del self._presets[name]

    def _check_free(self, entries: list[Entry], presets: list[Preset]) -> None:
        for entry in entries:
            taken = self._entries[entry.kind].get(entry.name)
            if taken is not None:
                raise RegistryError(
                    f"{entry.label} is registered twice: by plugin {taken.plugin!r} and by plugin "
                    f"{entry.plugin!r}; uninstall or block one of them (SEQTK_BLOCK_PLUGINS)"
                )
        for preset in presets:
            taken_preset = self._presets.get(preset.name)
            if taken_preset is not None:
                raise RegistryError(
                    f"preset {preset.name!r} is registered twice: by plugin {taken_preset.plugin!r} and by "
                    f"plugin {preset.plugin!r}; uninstall or block one of them (SEQTK_BLOCK_PLUGINS)"
                )

    # ----------------------------------------------------------- reading

    def get(self, kind: str, name: str) -> Entry:
        """The entry ``name`` of ``kind``; an unknown name raises with the closest valid ones."""
        if kind not in self._entries:
            raise UnknownNameError("kinds", kind, KINDS)
        try:
            return self._entries[kind][name]
        except (KeyError, TypeError):
            raise UnknownNameError(kind, name, self._entries[kind]) from None

    def names(self, kind: str) -> list[str]:
        return sorted(self._entries[kind])

    def entries(self, kind: str) -> list[Entry]:
        return [self._entries[kind][n] for n in self.names(kind)]

    def preset(self, name: str) -> Preset:
        try:
            return self._presets[name]
        except (KeyError, TypeError):
            raise UnknownNameError("presets", name, self._presets) from None

    def presets(self) -> list[Preset]:
        return [self._presets[n] for n in sorted(self._presets)]

    def __contains__(self, item: tuple[str, str]) -> bool:
        kind, name = item
        return name in self._entries.get(kind, {})


def parse_fragment(document: Any, *, plugin: str, where: str) -> tuple[list[Entry], list[Preset]]:
    """Validate a fragment document and turn it into entries and presets (nothing registered)."""
    if not isinstance(document, dict):
        raise RegistryError(f"{where}: a registry fragment must be a mapping of kinds to entries")
    version = document.get("seqtk-registry", FRAGMENT_VERSION)
    if version != FRAGMENT_VERSION:
        raise RegistryError(
            f"{where}: seqtk-registry: fragment format {version!r} is not supported (this seqtk reads {FRAGMENT_VERSION})"
        )
    unknown = set(document) - set(KINDS) - {"presets", "seqtk-registry"}
    if unknown:
        raise RegistryError(
            f"{where}: unknown section(s) {', '.join(sorted(map(str, unknown)))}; valid: {', '.join(KINDS)}, presets"
        )
    entries: list[Entry] = []
    for kind in KINDS:
        section = document.get(kind) or {}
        if not isinstance(section, dict):
            raise RegistryError(f"{where}: {kind}: expected a mapping of names to entries")
        for name, body in section.items():
            path = f"{where}: {kind}.{name}"
            if not isinstance(body, dict):
                raise RegistryError(f"{path}: expected a mapping with at least 'target'")
            extra_keys = set(body) - _ENTRY_KEYS
            if extra_keys:
                raise RegistryError(f"{path}: unknown key(s) {', '.join(sorted(extra_keys))}; valid: {', '.join(sorted(_ENTRY_KEYS))}")
            entries.append(
                _make_entry(
                    kind,
                    name,
                    body.get("target"),
                    plugin,
                    body.get("summary", ""),
                    body.get("defaults"),
                    body.get("requires", ()),
                    body.get("provides", ()),
                    body.get("extra"),
                    where=path,
                    provides_by_param=body.get("provides_by_param"),
                    path_params=body.get("path_params") or (),
                )
            )
    presets = [_make_preset(name, body, plugin, f"{where}: presets.{name}") for name, body in (document.get("presets") or {}).items()]
    return entries, presets


def _make_entry(
    kind: str,
    name: Any,
    target: Any,
    plugin: str,
    summary: Any,
    defaults: Any,
    requires: Any,
    provides: Any,
    extra: Any,
    *,
    where: str,
    provides_by_param: Any = None,
    path_params: Any = (),
) -> Entry:
    if kind not in KINDS:
        raise UnknownNameError("kinds", kind, KINDS)
    if not isinstance(name, str) or not name:
        raise RegistryError(f"{where}: component names must be non-empty strings, got {name!r}")
    if not isinstance(target, str) or target.count(":") != 1 or not all(target.split(":")):
        raise RegistryError(f"{where}: target must be 'module:attribute', got {target!r}")
    if defaults is not None and not isinstance(defaults, dict):
        raise RegistryError(f"{where}: defaults must be a mapping, got {defaults!r}")
    for label, words in (("requires", requires), ("provides", provides), ("path_params", path_params)):
        if isinstance(words, str) or not all(isinstance(w, str) for w in words):
            raise RegistryError(f"{where}: {label} must be a list of strings, got {words!r}")
    by_param: dict[str, dict[str, frozenset[str]]] = {}
    if provides_by_param is not None:
        if not isinstance(provides_by_param, dict):
            raise RegistryError(f"{where}: provides_by_param must map a parameter to {{value: [words]}}, got {provides_by_param!r}")
        for key, table in provides_by_param.items():
            if not isinstance(table, dict) or not table:
                raise RegistryError(f"{where}: provides_by_param.{key} must map each value of {key!r} to a list of words, got {table!r}")
            for value, words in table.items():
                if isinstance(words, str) or not isinstance(words, (list, tuple)) or not all(isinstance(w, str) for w in words):
                    raise RegistryError(f"{where}: provides_by_param.{key}.{value} must be a list of strings, got {words!r}")
            by_param[str(key)] = {str(value): frozenset(words) for value, words in table.items()}
    return Entry(
        kind=kind,
        name=name,
        target=target,
        plugin=plugin,
        summary=str(summary or ""),
        defaults=dict(defaults or {}),
        requires=frozenset(requires),
        provides=frozenset(provides),
        provides_by_param=by_param,
        extra=extra,
        path_params=frozenset(path_params),
    )


def _make_preset(name: Any, body: Any, plugin: str, where: str) -> Preset:
    if not isinstance(body, dict):
        raise RegistryError(f"{where}: expected a mapping of parts ({', '.join(PRESET_PARTS)})")
    unknown = set(body) - _PRESET_KEYS
    if unknown:
        raise RegistryError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(_PRESET_KEYS))}")
    parts: dict[str, dict[str, Any]] = {}
    for part in PRESET_PARTS:
        value = body.get(part)
        if value is None:
            continue
        if isinstance(value, str):
            value = {"name": value}
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            raise RegistryError(f"{where}.{part}: expected a component name or {{name: ..., params: {{...}}}}")
        parts[part] = {"name": value["name"], "params": dict(value.get("params") or {})}
    return Preset(name=str(name), plugin=plugin, summary=str(body.get("summary", "")), parts=parts)
