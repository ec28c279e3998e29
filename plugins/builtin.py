"""The built-in plugin: registers the catalogue in ``registry.yaml``.

It imports nothing heavy, so ``seqtk list`` stays fast: the components themselves are
imported only when a recipe builds them.
"""

from __future__ import annotations

from importlib.resources import files

from seqtk.core.hookspecs import hookimpl
from seqtk.core.registry import Registry

PLUGIN_NAME = "builtin"


@hookimpl
def seqtk_register(registry: Registry) -> None:
    catalogue = files("seqtk").joinpath("registry.yaml")
    registry.load_fragment(str(catalogue), plugin=PLUGIN_NAME)
