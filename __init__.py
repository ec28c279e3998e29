"""seqtk: train GANs over sequences, assembled from plugins named in a YAML recipe.

The names below are imported lazily, so that ``import seqtk`` (and ``seqtk list``) stays
fast and never pulls in torch before a run actually needs it.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "load_recipe": "seqtk.core.recipe",
    "Recipe": "seqtk.core.recipe",
    "RecipeError": "seqtk.core.errors",
    "SeqtkError": "seqtk.core.errors",
    "run": "seqtk.core.api",
    "RunResult": "seqtk.core.api",
    "validate": "seqtk.core.api",
    "sample": "seqtk.core.api",
    "restore": "seqtk.core.api",
    "score": "seqtk.core.scoring",
    "hookimpl": "seqtk.core.hookspecs",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'seqtk' has no attribute {name!r}")
    return getattr(import_module(module), name)
