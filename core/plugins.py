"""Finding, loading and calling plugins: a typed facade over one pluggy manager.

Every plugin, the built-ins included, comes from the ``seqtk`` entry-point group. A
plugin that fails to import is reported by name and skipped; the others keep working.
Each ``PluginHost`` owns its own plugin manager and registry, so tests (and notebooks)
can build as many independent hosts as they like.

Controls (like pytest's):

- ``SEQTK_DISABLE_PLUGIN_AUTOLOAD=1``: load only seqtk's own entry points; third-party
  plugins then load only when named in ``SEQTK_PLUGINS``.
- ``SEQTK_PLUGINS=mod1,mod2``: import these modules as plugins as well.
- ``SEQTK_BLOCK_PLUGINS=name1,name2`` (or ``seqtk --no-plugin NAME``): never load these.
  A name that matches no plugin is warned about, with the closest plugin names.

Two plugins that register the same component name both load; the name is a clash that
no recipe can use until one of them is blocked (see ``Registry``), so the outcome never
depends on plugin names or load order.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from difflib import get_close_matches
from importlib import import_module
from importlib import metadata
from typing import Any, Iterable, Sequence

import pluggy

from seqtk.core import hookspecs
from seqtk.core.errors import Problem, RegistryError
from seqtk.core.registry import Origin, Registry

ENTRY_POINT_GROUP = "seqtk"
OWN_DISTRIBUTION = "seqtk"
DISABLE_AUTOLOAD_ENV = "SEQTK_DISABLE_PLUGIN_AUTOLOAD"
BLOCK_ENV = "SEQTK_BLOCK_PLUGINS"
PLUGINS_ENV = "SEQTK_PLUGINS"


@dataclass
class PluginInfo:
    """What ``seqtk plugins`` shows about one plugin."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    status: str = "loaded"  # loaded | blocked | failed | not autoloaded | duplicate
    error: str | None = None
    hooks: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TargetProblem:
    """A registered target that cannot be imported or resolved (``seqtk plugins --check``)."""

    plugin: str  # the name blocking takes
    message: str


def _split_env(name: str) -> list[str]:
    return [part.strip() for part in os.environ.get(name, "").split(",") if part.strip()]


def _truthy_env(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


class PluginHost:
    """Loads plugins into a fresh pluggy manager and fills a fresh registry from them."""

    def __init__(
        self,
        *,
        blocked: Iterable[str] = (),
        autoload: bool | None = None,
        entry_points: Sequence[metadata.EntryPoint] | None = None,
        plugins: Iterable[Any] = (),
    ) -> None:
        """Build the host.

        ``blocked`` adds to ``SEQTK_BLOCK_PLUGINS``; ``autoload`` overrides
        ``SEQTK_DISABLE_PLUGIN_AUTOLOAD``; ``entry_points`` replaces discovery (tests);
        ``plugins`` are objects or modules registered directly, after the entry points.
        """
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.infos: list[PluginInfo] = []
        blocked_here, blocked_by_env = list(blocked), _split_env(BLOCK_ENV)
        self.blocked = set(blocked_here) | set(blocked_by_env)
        self.autoload = (not _truthy_env(DISABLE_AUTOLOAD_ENV)) if autoload is None else autoload
        # Historic: every plugin registered from now on is asked to fill the registry.
        self.pm.hook.seqtk_register.call_historic(kwargs={"registry": self.registry})
        found = _unique(list(entry_points) if entry_points is not None else _discover())
        shared = _shared_names(found)
        for entry_point in found:
            self._load_entry_point(entry_point, shared.get(entry_point.name))
        for module_name in _split_env(PLUGINS_ENV):
            self._load_module_name(module_name)
        for plugin in plugins:
            self.register(plugin)
        self._warn_unknown_blocked(("--no-plugin", blocked_here), (BLOCK_ENV, blocked_by_env))

    # ----------------------------------------------------------- loading

    def _load_entry_point(self, entry_point: metadata.EntryPoint, shared_with: str | None = None) -> None:
        dist = getattr(entry_point, "dist", None)
        info = PluginInfo(
            name=entry_point.name,
            module=entry_point.value,
            distribution=dist.name if dist is not None else None,
            version=dist.version if dist is not None else None,
        )
        self.infos.append(info)
        if entry_point.name in self.blocked:
            info.status = "blocked"
            return
        own = info.distribution is not None and _normalise(info.distribution) == OWN_DISTRIBUTION
        if not self.autoload and not own:
            info.status = "not autoloaded"
            return
        if shared_with is not None:  # loading either would depend on discovery order
            self._fail(info, shared_with)
            return
        try:
            plugin = entry_point.load()
        except Exception as exc:  # a broken plugin must not take the others down
            self._fail(info, f"import of {entry_point.value!r} raised {type(exc).__name__}: {exc}")
            return
        self._register(plugin, info)

    def _load_module_name(self, module_name: str) -> None:
        info = PluginInfo(name=module_name, module=module_name)
        self.infos.append(info)
        if module_name in self.blocked:
            info.status = "blocked"
            return
        try:
            plugin = import_module(module_name)
        except Exception as exc:
            self._fail(info, f"import raised {type(exc).__name__}: {exc}")
            return
        self._register(plugin, info)

    def register(self, plugin: Any, name: str | None = None) -> PluginInfo:
        """Register an already imported plugin object or module (tests, notebooks)."""
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        info = PluginInfo(name=name, module=getattr(plugin, "__name__", repr(plugin)))
        self.infos.append(info)
        if name in self.blocked:
            info.status = "blocked"
            return info
        self._register(plugin, info)
        return info

    def _register(self, plugin: Any, info: PluginInfo) -> None:
        if self.pm.get_plugin(info.name) is not None:
            self._fail(info, "another plugin already uses this name")
            return
        if self.pm.is_registered(plugin):
            # Named in SEQTK_PLUGINS and installed too: one module, loaded once; not a failure.
            info.status, info.error = "duplicate", f"the same module is already loaded as {self.pm.get_name(plugin)!r}"
            return
        origin = Origin(
            info.name,
            info.distribution,
            info.version,
            own=info.distribution is not None and _normalise(info.distribution) == OWN_DISTRIBUTION,
        )
        try:
            with self.registry.registering(origin):
                self.pm.register(plugin, name=info.name)
        except pluggy.PluginValidationError as exc:
            self._fail(info, f"invalid hook implementation: {exc}")
            return
        except Exception as exc:  # raised by the plugin's own seqtk_register
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            self.registry.remove_plugin(info.name)  # no half-registered plugin stays behind
            self._fail(info, f"{type(exc).__name__}: {exc}")
            return
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            message = self._unknown_hooks_message(plugin) or str(exc)
            self.pm.unregister(plugin)
            self.registry.remove_plugin(info.name)
            self._fail(info, message)
            return
        info.hooks = sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or [])
        for clash in self.registry.clashes():
            if info.name in clash.owners:
                warnings.warn(clash.message, stacklevel=3)

    def _unknown_hooks_message(self, plugin: Any) -> str:
        """"unknown hook 'seqtk_registr' (did you mean 'seqtk_register'?); valid: ..." for each misspelling."""
        specs = sorted(name for name, caller in vars(self.pm.hook).items() if not name.startswith("_") and caller.has_spec())
        unknown = sorted(
            caller.name
            for caller in self.pm.get_hookcallers(plugin) or []
            if not caller.has_spec() and any(impl.plugin is plugin and not impl.optionalhook for impl in caller.get_hookimpls())
        )
        return "; ".join(_unknown_hook_message(name, specs) for name in unknown)

    def _warn_unknown_blocked(self, *sources: tuple[str, list[str]]) -> None:
        """Blocking a name that matches no plugin does nothing: say so, with the names that would work."""
        known = sorted({info.name for info in self.infos})
        aliases: dict[str, str] = {}  # other names a user may take for a plugin's name
        for info in self.infos:
            if info.distribution is not None and info.distribution != info.name:
                aliases.setdefault(info.distribution, f"the package of plugin {info.name!r}")
        for entry in self.registry.all_entries():
            if entry.plugin != entry.owner:
                aliases.setdefault(entry.plugin, f"the label plugin {entry.owner!r} gives its components")
        for source, names in sources:
            for name in names:
                if name in known:
                    continue
                if name in aliases:
                    hint = f" ({name!r} is {aliases[name]})"
                else:
                    close = get_close_matches(name, known, n=3, cutoff=0.5)
                    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
                warnings.warn(
                    f"{source} names {name!r}, but no plugin has that name, so nothing was blocked{hint}; "
                    f"plugin names: {', '.join(known) or 'none'}",
                    stacklevel=3,
                )

    def _fail(self, info: PluginInfo, message: str) -> None:
        info.status, info.error = "failed", message
        warnings.warn(f"seqtk plugin {info.name!r} ({info.module}) was not loaded: {message}", stacklevel=3)

    @property
    def failures(self) -> list[PluginInfo]:
        return [info for info in self.infos if info.status == "failed"]

    def check_targets(self) -> list[TargetProblem]:
        """Import every registered target (both claimants of a clashed name included).

        Loading stays lazy, so a target whose module or attribute is missing shows up only
        here: each plugin with such a target is marked ``failed`` with one line per target.
        Imports torch and every component module, so only ``seqtk plugins`` calls it.
        """
        problems = []
        for entry in self.registry.all_entries():
            try:
                entry.load()
            except RegistryError as exc:
                problems.append(TargetProblem(entry.owner, str(exc)))
            except Exception as exc:  # the module raised while importing: the plugin's bug, reported here
                problems.append(
                    TargetProblem(entry.owner, f"{entry.label} (plugin {entry.owner!r}): importing {entry.target!r} raised {type(exc).__name__}: {exc}")
                )
        for info in self.infos:
            mine = [p.message for p in problems if p.plugin == info.name]
            if mine and info.status == "loaded":
                info.status, info.error = "failed", "\n".join(mine)
        return problems

    # ----------------------------------------------------------- typed hook calls

    def validate_recipe(self, recipe: Any) -> list[Problem]:
        problems: list[Problem] = []
        for result in self.pm.hook.seqtk_validate_recipe(recipe=recipe, registry=self.registry):
            for item in result or []:
                problems.append(item if isinstance(item, Problem) else _problem_from_text(str(item)))
        return problems

    def callbacks(self, recipe: Any, extra: Iterable[Any] = ()) -> list[Any]:
        """The run's callbacks: every plugin's (seqtk's own first), then ``extra``, arranged by name (``seqtk.core.callbacks.arrange``)."""
        from seqtk.core.callbacks import arrange

        own = {info.name for info in self.infos if info.distribution is not None and _normalise(info.distribution) == OWN_DISTRIBUTION}
        offered: list[tuple[str, bool, Any]] = []
        impls = self.pm.hook.seqtk_callbacks.get_hookimpls()
        for impl in sorted(impls, key=lambda i: i.plugin_name not in own):  # stable: registration order within each group
            kwargs = {"recipe": recipe}
            result = impl.function(*(kwargs[name] for name in impl.argnames))
            offered.extend((impl.plugin_name, impl.plugin_name in own, callback) for callback in result or [])
        offered.extend(("run(callbacks=...)", False, callback) for callback in extra)
        return arrange(offered, recipe.data.callbacks.disable, recipe.source)

    def add_commands(self, subparsers: Any) -> None:
        self.pm.hook.seqtk_commands(subparsers=subparsers)


def _unknown_hook_message(name: str, specs: list[str]) -> str:
    """Compare what follows ``seqtk_``: every hook shares the prefix, so whole names all look alike."""
    bare = {spec.removeprefix(hookspecs.PROJECT_NAME + "_"): spec for spec in specs}
    close = get_close_matches(name.removeprefix(hookspecs.PROJECT_NAME + "_"), list(bare), n=1, cutoff=0.6)
    hint = f" (did you mean {bare[close[0]]!r}?)" if close else ""
    return f"unknown hook {name!r}{hint}; valid: {', '.join(specs)}"


def _problem_from_text(text: str) -> Problem:
    path, sep, message = text.partition(": ")
    return Problem(path, message) if sep and " " not in path else Problem("", text)


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _unique(entry_points: list[metadata.EntryPoint]) -> list[metadata.EntryPoint]:
    """Drop exact repeats (one distribution seen twice on sys.path), keeping the first."""
    seen, kept = set(), []
    for ep in entry_points:
        key = (ep.name, ep.value, _dist_name(ep))
        if key not in seen:
            seen.add(key)
            kept.append(ep)
    return kept


def _shared_names(entry_points: list[metadata.EntryPoint]) -> dict[str, str]:
    """Plugin names that two different entry points use -> why none of them loads.

    Blocking goes by plugin name, so it could not choose between them; loading the first
    found would make the outcome depend on the order of sys.path.
    """
    by_name: dict[str, list[metadata.EntryPoint]] = {}
    for ep in entry_points:
        by_name.setdefault(ep.name, []).append(ep)
    reasons = {}
    for name, eps in by_name.items():
        if len(eps) > 1:
            who = " and ".join(f"{ep.value!r}" + (f" (package {_dist_name(ep)})" if _dist_name(ep) else "") for ep in eps)
            reasons[name] = (
                f"the plugin name {name!r} is used by {who}; blocking cannot tell them apart, so none of them is loaded: "
                "uninstall all but one"
            )
    return reasons


def _dist_name(ep: metadata.EntryPoint) -> str | None:
    dist = getattr(ep, "dist", None)
    return dist.name if dist is not None else None


def _discover() -> list[metadata.EntryPoint]:
    """seqtk's own entry points first, then by name: only the order ``seqtk plugins`` lists them in.

    Nothing else depends on this order: a name two plugins register is a clash whichever
    loads first (see ``Registry``).
    """

    def order(ep: metadata.EntryPoint) -> tuple[bool, str]:
        dist = getattr(ep, "dist", None)
        return (dist is None or _normalise(dist.name) != OWN_DISTRIBUTION, ep.name)

    return sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=order)
