"""The plugin module named by the ``seqtk`` entry point: registers ``registry.yaml``.

It imports neither torch nor the objective, so ``seqtk list`` stays fast; the registry
imports ``seqtk_ralsgan.objective`` only when a recipe builds the ``ralsgan`` objective.
"""

from __future__ import annotations

from importlib.resources import as_file, files
from typing import TYPE_CHECKING

from seqtk import hookimpl

if TYPE_CHECKING:  # annotations only: importing the plugin must stay cheap
    from seqtk.core.registry import Registry

#: The name seqtk shows for this plugin; the same as the entry point's name.
PLUGIN_NAME = "ralsgan"


@hookimpl
def seqtk_register(registry: Registry) -> None:
    with as_file(files("seqtk_ralsgan").joinpath("registry.yaml")) as path:
        registry.load_fragment(path, plugin=PLUGIN_NAME)
