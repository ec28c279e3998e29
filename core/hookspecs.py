"""The hooks a seqtk plugin may implement: the reference manual for plugin authors.

A plugin is a module (or object) with functions named after these specs, decorated with
``seqtk.hookimpl``, and announced through the ``seqtk`` entry-point group::

    [project.entry-points.seqtk]
    my_plugin = "my_package.plugin"

Implementations may accept fewer arguments than a spec lists; specs can then grow
without breaking plugins. A misspelled hook name is an error at load time, not silence:
the plugin is reported as failed with the closest hook name ("did you mean").

pluggy runs while a run is being assembled. The training loop itself calls plain
callback objects (``seqtk_callbacks``), never hooks, so plugins add no per-step cost.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # imported for annotations only: loading plugins must not import torch
    from seqtk.core.recipe import Recipe
    from seqtk.core.registry import Registry

PROJECT_NAME = "seqtk"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# ----------------------------------------------------------------- components


@hookspec(historic=True)
def seqtk_register(registry: Registry) -> None:
    """Add components to the registry.

    Called once for every plugin, including plugins registered after the call was made
    (the hook is historic). Most plugins ship a YAML fragment next to their code and call
    ``registry.load_fragment(path, plugin=NAME)``; ``registry.add(...)`` adds one entry
    from Python. Keep this hook cheap and free of heavy imports: ``seqtk list`` runs it
    and must not import torch. A name that another plugin also registers is a clash: both
    plugins still load, but no recipe can use that name until one of them is blocked (the
    refusal names both plugins and the exact ``SEQTK_BLOCK_PLUGINS`` value), so which
    plugin wins never depends on plugin names or load order.
    """


# ----------------------------------------------------------------- recipes


@hookspec
def seqtk_validate_recipe(recipe: Recipe, registry: Registry) -> list[Any] | None:
    """Check a recipe after the core has validated it, before anything is built.

    Called only for recipes the core has accepted, so an implementation may rely on
    every name, type and value being valid. Return a list of problems
    (``seqtk.core.errors.Problem`` or plain ``"key.path: message"`` strings), or None
    when there is nothing to say. All plugins' problems are reported together.
    """


# ----------------------------------------------------------------- runs


@hookspec
def seqtk_callbacks(recipe: Recipe) -> list[Any] | None:
    """Return callback objects for a run (loggers, trackers, early stopping).

    Called once per run, and once more while validating a recipe that sets
    ``callbacks.disable`` (to learn the names): build objects here, open files or
    connections in their ``setup`` or ``on_run_start``. The trainer calls whichever of the
    methods of ``seqtk.core.interfaces.Callback`` each object defines. seqtk's own progress
    bar, metrics log, samples and checkpoints arrive through this hook too (from the
    built-in plugin): a callback whose ``name`` matches one of them replaces it, and a
    recipe's ``callbacks.disable`` leaves any named callback out (docs/plugins.md,
    "Callbacks"). Return None to add nothing for this recipe.
    """


# ----------------------------------------------------------------- command line


@hookspec
def seqtk_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add verbs to the ``seqtk`` command line.

    Create a parser with ``subparsers.add_parser(NAME, help=...)`` and set its handler
    with ``parser.set_defaults(handler=FUNCTION)``; the handler receives the parsed
    ``argparse.Namespace`` and returns an exit code.
    """
