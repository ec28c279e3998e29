"""The catalogue of components: names -> lazy import targets, defaults and capabilities.

Plugins fill it from YAML fragments (``registry.yaml`` for the built-ins) during the
``seqtk_register`` hook. Nothing is imported until a component is built, so listing the
catalogue never imports torch. Recipes name components; only the registry knows where
their code lives.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import typing
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import yaml

from seqtk.core import typecheck
from seqtk.core.errors import ClashedNameError, RegistryError, UnknownNameError

KINDS: tuple[str, ...] = ("domains", "generators", "discriminators", "objectives", "estimators", "models", "metrics")
#: The four parts of a GAN that a preset combines (the domain and metrics stay the user's).
PRESET_PARTS: tuple[str, ...] = ("generator", "discriminator", "objective", "estimator")
FRAGMENT_VERSION = 1

#: The capability words of conditioning. A domain that provides one of them gives every
#: sequence that kind of condition; the generator and the discriminator of its recipe must
#: ``accept`` it (their entries' ``accepts``), or the recipe is refused.
CONDITION_WORDS = frozenset({"label", "static", "context"})

_ENTRY_KEYS = {"target", "summary", "defaults", "requires", "provides", "provides_by_param", "path_params", "extra", "accepts"}
_PRESET_KEYS = {"summary", *PRESET_PARTS}
#: Arguments the trainer passes itself; they never appear in a recipe's params.
INJECTED_ARGUMENTS = frozenset({"spec", "domain", "generator"})


@dataclass(frozen=True)
class Origin:
    """The loaded plugin that registered an entry, as the plugin host knows it.

    ``name`` is the plugin's own name (its entry point's name, or the module named in
    ``SEQTK_PLUGINS``): exactly what ``SEQTK_BLOCK_PLUGINS`` and ``--no-plugin`` take. The
    ``plugin=`` label a fragment is loaded with is chosen by the plugin itself and may
    differ, so messages that tell a user what to block quote this name instead.
    """

    name: str
    distribution: str | None = None
    version: str | None = None
    #: seqtk's own plugin: blocking it would remove every built-in, so no message offers that.
    own: bool = False

    def describe(self) -> str:
        if self.distribution is None:
            return f"plugin {self.name!r}"
        return f"plugin {self.name!r} (package {' '.join(filter(None, (self.distribution, self.version)))})"


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
    #: The conditions (``label``, ``static``, ``context``) a generator or discriminator can
    #: use. A recipe whose domain provides a condition word needs both to accept it.
    accepts: frozenset[str] = frozenset()
    extra: str | None = None
    #: Parameters whose values are file or folder paths. A relative value written in a
    #: recipe file is resolved against that file's folder when the recipe is loaded (one
    #: given with ``--set`` or in a mapping, against the working directory), so the
    #: component itself only ever sees absolute paths and never guesses a base.
    path_params: frozenset[str] = frozenset()
    #: Which loaded plugin registered it (None for a registry filled outside a plugin host).
    origin: Origin | None = None

    @property
    def label(self) -> str:
        return f"{self.kind[:-1]} {self.name!r}"

    @property
    def owner(self) -> str:
        """The name that blocks this entry's plugin (the ``plugin=`` label when no host loaded it)."""
        return self.origin.name if self.origin is not None else self.plugin

    def load(self) -> Callable[..., Any]:
        """Import the target; a missing optional dependency says how to install it."""
        module_name, _, attr = self.target.partition(":")
        try:
            module = import_module(module_name)
        except ImportError as exc:
            hint = f"; install it with: {self.extra}" if self.extra else ""
            raise RegistryError(
                f"{self.label} (plugin {self.owner!r}) cannot be imported from {self.target!r}: {exc}{hint}"
            ) from exc
        try:
            obj = module
            for part in attr.split("."):
                obj = getattr(obj, part)
        except AttributeError as exc:
            raise RegistryError(
                f"{self.label} (plugin {self.owner!r}): {module_name!r} has no attribute {attr!r}"
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
                f"{self.label} (plugin {self.owner!r}) declares path_params {', '.join(map(repr, unknown_paths))}, "
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
    origin: Origin | None = None

    @property
    def label(self) -> str:
        return f"preset {self.name!r}"

    @property
    def owner(self) -> str:
        return self.origin.name if self.origin is not None else self.plugin


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
        return typing.get_type_hints(function, include_extras=True)  # keep declarations (seqtk.core.params)
    except Exception:  # unresolvable annotations: fall back to no type checking
        return {}


_cached_type_hints = functools.lru_cache(maxsize=512)(_resolve_type_hints)


@dataclass(frozen=True)
class Clash:
    """A name that two or more plugins registered; ``claimants`` in a fixed order (by plugin)."""

    kind: str  # a kind of KINDS, or "presets"
    name: str
    claimants: tuple[Entry | Preset, ...]

    @property
    def owners(self) -> list[str]:
        return [c.owner for c in self.claimants]

    @property
    def message(self) -> str:
        return clash_message(self)


def clash_message(clash: Clash) -> str:
    """Name every plugin (and package) that claims the name, and how to keep one of them.

    The plugin names quoted are exactly what ``SEQTK_BLOCK_PLUGINS`` and ``--no-plugin`` take.
    """
    label = clash.claimants[0].label
    who = " and ".join(c.origin.describe() if c.origin is not None else f"plugin {c.owner!r}" for c in clash.claimants)
    own = [c.owner for c in clash.claimants if c.origin is not None and c.origin.own]
    choices = []
    for keep in clash.claimants:
        others = [c.owner for c in clash.claimants if c is not keep]
        if any(name in own for name in others):
            continue  # blocking seqtk's own plugin would remove every built-in: not a way to choose
        flags = " ".join(f"--no-plugin {name}" for name in others)
        blocked = ", ".join(repr(name) for name in others)
        choices.append(f"to use the one from {keep.owner!r}, block {blocked} with SEQTK_BLOCK_PLUGINS={','.join(others)} or seqtk {flags}")
    if own:
        choices.append(f"the others can be used only under another name, as blocking seqtk's own plugin {own[0]!r} removes every built-in")
    return f"{label} is registered by {who}; seqtk will not choose between them: {'; '.join(choices)}"


def _order(item: Entry | Preset) -> tuple[str, str]:
    """Claimants are listed by plugin name, so no message depends on which loaded first."""
    return (item.owner, item.plugin)


class Registry:
    """Components by kind and name, plus presets. One instance per plugin host: no globals.

    A name registered by two plugins resolves to neither: both stay recorded as a clash,
    ``get`` refuses the name naming both plugins, and every other name of both plugins
    stays usable. So the outcome never depends on plugin names or load order.
    """

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
        self._presets: dict[str, Preset] = {}
        # Clashed names live here instead of in _entries / _presets (never in both).
        self._clashed: dict[str, dict[str, list[Entry]]] = {kind: {} for kind in KINDS}
        self._clashed_presets: dict[str, list[Preset]] = {}
        self._origin: Origin | None = None

    # ----------------------------------------------------------- filling

    @contextlib.contextmanager
    def registering(self, origin: Origin) -> Iterator[None]:
        """Stamp every entry and preset added inside the block with ``origin`` (the plugin host does this)."""
        previous, self._origin = self._origin, origin
        try:
            yield
        finally:
            self._origin = previous

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
        accepts: Iterable[str] = (),
    ) -> Entry:
        """Register one component. A name another plugin took becomes a clash (see the class)."""
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
            accepts=accepts,
        )
        entry = dataclasses.replace(entry, origin=self._origin)
        self._check_not_own_duplicate([entry], [])
        self._claim(self._entries[kind], self._clashed[kind], entry)
        return entry

    def load_fragment(self, source: str | Path, *, plugin: str) -> None:
        """Register every entry of a YAML fragment, all or nothing.

        ``source`` is a path to a YAML file; a fragment is validated whole before any of
        its entries is added, so a broken fragment leaves the registry as it was. A name
        another plugin also registered is recorded as a clash; the fragment's other names
        are registered as usual.
        """
        path = Path(source)
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise RegistryError(f"{path}: cannot read registry fragment of plugin {plugin!r}: {exc}") from exc
        except yaml.YAMLError as exc:
            raise RegistryError(f"{path}: invalid YAML in registry fragment of plugin {plugin!r}: {exc}") from exc
        entries, presets = parse_fragment(document, plugin=plugin, where=str(path))
        entries = [dataclasses.replace(e, origin=self._origin) for e in entries]
        presets = [dataclasses.replace(p, origin=self._origin) for p in presets]
        self._check_not_own_duplicate(entries, presets)
        for entry in entries:
            self._claim(self._entries[entry.kind], self._clashed[entry.kind], entry)
        for preset in presets:
            self._claim(self._presets, self._clashed_presets, preset)

    def remove_plugin(self, plugin: str) -> None:
        """Forget everything ``plugin`` registered (used when its registration fails midway).

        ``plugin`` is the name blocking takes (the ``plugin=`` label for entries added
        outside a plugin host). A clash it took part in resolves to the remaining plugin
        when only one is left.
        """
        for table, clashed in [*((self._entries[k], self._clashed[k]) for k in KINDS), (self._presets, self._clashed_presets)]:
            for name in [n for n, item in table.items() if item.owner == plugin]:
                del table[name]
            for name, claimants in list(clashed.items()):
                left = [c for c in claimants if c.owner != plugin]
                if len(left) > 1:
                    clashed[name] = left
                else:
                    del clashed[name]
                    if left:
                        table[name] = left[0]

    @staticmethod
    def _claim(table: dict[str, Any], clashed: dict[str, list[Any]], item: Entry | Preset) -> None:
        if item.name in clashed:
            clashed[item.name] = sorted([*clashed[item.name], item], key=_order)
        elif item.name in table:
            clashed[item.name] = sorted([table.pop(item.name), item], key=_order)
        else:
            table[item.name] = item

    def _check_not_own_duplicate(self, entries: list[Entry], presets: list[Preset]) -> None:
        """A plugin registering one name twice is a bug in that plugin, not a clash between two."""
        for item in [*entries, *presets]:
            if isinstance(item, Entry):
                taken = [self._entries[item.kind].get(item.name), *self._clashed[item.kind].get(item.name, [])]
            else:
                taken = [self._presets.get(item.name), *self._clashed_presets.get(item.name, [])]
            if any(t is not None and t.owner == item.owner for t in taken):
                raise RegistryError(f"{item.label} is registered twice by plugin {item.owner!r}; register each name once")

    # ----------------------------------------------------------- reading

    def get(self, kind: str, name: str) -> Entry:
        """The entry ``name`` of ``kind``; an unknown name raises with the closest valid ones,
        a clashed name raises naming every plugin that registered it."""
        if kind not in self._entries:
            raise UnknownNameError("kinds", kind, KINDS)
        try:
            return self._entries[kind][name]
        except (KeyError, TypeError):
            pass
        if isinstance(name, str) and name in self._clashed[kind]:
            clash = Clash(kind, name, tuple(self._clashed[kind][name]))
            raise ClashedNameError(kind, name, clash.message, self._entries[kind]) from None
        raise UnknownNameError(kind, name, self._entries[kind]) from None

    def names(self, kind: str) -> list[str]:
        """The names a recipe can use (a clashed name cannot: see ``clashes``)."""
        return sorted(self._entries[kind])

    def entries(self, kind: str) -> list[Entry]:
        return [self._entries[kind][n] for n in self.names(kind)]

    def all_entries(self) -> list[Entry]:
        """Every entry of every kind, each claimant of a clashed name included (``seqtk plugins --check``)."""
        found = [e for kind in KINDS for e in self.entries(kind)]
        found += [e for kind in KINDS for name in sorted(self._clashed[kind]) for e in self._clashed[kind][name]]
        return found

    def clashes(self) -> list[Clash]:
        """Every name two or more plugins registered, presets last."""
        found = [Clash(kind, name, tuple(self._clashed[kind][name])) for kind in KINDS for name in sorted(self._clashed[kind])]
        return found + [Clash("presets", name, tuple(self._clashed_presets[name])) for name in sorted(self._clashed_presets)]

    def preset(self, name: str) -> Preset:
        try:
            return self._presets[name]
        except (KeyError, TypeError):
            pass
        if isinstance(name, str) and name in self._clashed_presets:
            clash = Clash("presets", name, tuple(self._clashed_presets[name]))
            raise ClashedNameError("presets", name, clash.message, self._presets) from None
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
                    accepts=body.get("accepts") or (),
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
    accepts: Any = (),
) -> Entry:
    if kind not in KINDS:
        raise UnknownNameError("kinds", kind, KINDS)
    if not isinstance(name, str) or not name:
        raise RegistryError(f"{where}: component names must be non-empty strings, got {name!r}")
    if not isinstance(target, str) or target.count(":") != 1 or not all(target.split(":")):
        raise RegistryError(f"{where}: target must be 'module:attribute', got {target!r}")
    if defaults is not None and not isinstance(defaults, dict):
        raise RegistryError(f"{where}: defaults must be a mapping, got {defaults!r}")
    for label, words in (("requires", requires), ("provides", provides), ("path_params", path_params), ("accepts", accepts)):
        if isinstance(words, str) or not all(isinstance(w, str) for w in words):
            raise RegistryError(f"{where}: {label} must be a list of strings, got {words!r}")
    unknown = sorted(set(accepts) - CONDITION_WORDS)
    if unknown:
        raise RegistryError(f"{where}: accepts: unknown condition(s) {', '.join(unknown)}; valid: {', '.join(sorted(CONDITION_WORDS))}")
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
        accepts=frozenset(accepts),
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
