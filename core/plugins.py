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
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from importlib import import_module
from importlib import metadata
from typing import Any, Iterable, Sequence

import pluggy

from seqtk.core import hookspecs
from seqtk.core.errors import Problem
from seqtk.core.registry import Registry

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
    status: str = "loaded"  # loaded | blocked | failed | not autoloaded
    error: str | None = None
    hooks: list[str] = field(default_factory=list)


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
        self.blocked = set(blocked) | set(_split_env(BLOCK_ENV))
        self.autoload = (not _truthy_env(DISABLE_AUTOLOAD_ENV)) if autoload is None else autoload
        # Historic: every plugin registered from now on is asked to fill the registry.
        self.pm.hook.seqtk_register.call_historic(kwargs={"registry": self.registry})
        found = list(entry_points) if entry_points is not None else _discover()
        for entry_point in found:
            self._load_entry_point(entry_point)
        for module_name in _split_env(PLUGINS_ENV):
            self._load_module_name(module_name)
        for plugin in plugins:
            self.register(plugin)

    # ----------------------------------------------------------- loading

    def _load_entry_point(self, entry_point: metadata.EntryPoint) -> None:
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
        if self.pm.get_plugin(entry_point.name) is not None:
            self._fail(info, "another plugin already uses this name")
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
        try:
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
            self.pm.unregister(plugin)
            self._fail(info, f"unknown hook: {exc}")
            return
        info.hooks = sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or [])

    def _fail(self, info: PluginInfo, message: str) -> None:
        info.status, info.error = "failed", message
        warnings.warn(f"seqtk plugin {info.name!r} ({info.module}) was not loaded: {message}", stacklevel=3)

    @property
    def failures(self) -> list[PluginInfo]:
        return [info for info in self.infos if info.status == "failed"]

    # ----------------------------------------------------------- typed hook calls

    def validate_recipe(self, recipe: Any) -> list[Problem]:
        problems: list[Problem] = []
        for result in self.pm.hook.seqtk_validate_recipe(recipe=recipe, registry=self.registry):
            for item in result or []:
                problems.append(item if isinstance(item, Problem) else _problem_from_text(str(item)))
        return problems

    def callbacks(self, recipe: Any) -> list[Any]:
        found: list[Any] = []
        for result in self.pm.hook.seqtk_callbacks(recipe=recipe):
            found.extend(result or [])
        return found

    def add_commands(self, subparsers: Any) -> None:
        self.pm.hook.seqtk_commands(subparsers=subparsers)


def _problem_from_text(text: str) -> Problem:
    path, sep, message = text.partition(": ")
    return Problem(path, message) if sep and " " not in path else Problem("", text)


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _discover() -> list[metadata.EntryPoint]:
    """seqtk's own entry points first, so a clash is blamed on the plugin that came later."""

    def order(ep: metadata.EntryPoint) -> tuple[bool, str]:
        dist = getattr(ep, "dist", None)
        return (dist is None or _normalise(dist.name) != OWN_DISTRIBUTION, ep.name)

    return sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=order)
