"""The built-in plugin: registers the catalogue in ``registry.yaml`` and seqtk's own callbacks.

It imports nothing heavy, so ``seqtk list`` stays fast: the components themselves are
imported only when a recipe builds them.
"""

from __future__ import annotations

from importlib.resources import files
from typing import TYPE_CHECKING, Any

from seqtk.core.hookspecs import hookimpl
from seqtk.core.registry import Registry

if TYPE_CHECKING:
    from seqtk.core.recipe import Recipe

PLUGIN_NAME = "builtin"


@hookimpl
def seqtk_register(registry: Registry) -> None:
    catalogue = files("seqtk").joinpath("registry.yaml")
    registry.load_fragment(str(catalogue), plugin=PLUGIN_NAME)


@hookimpl
def seqtk_validate_recipe(recipe: Recipe) -> list[Any]:
    """A recipe that enables a built-in callback whose package is missing fails here, naming the extra to install."""
    from seqtk.plugins.tensorboard import missing_package_problem

    problem = missing_package_problem(recipe)
    return [problem] if problem is not None else []


@hookimpl
def seqtk_callbacks(recipe: Recipe) -> list[Any]:
    """seqtk's own callbacks: the progress bar, metrics.jsonl, samples and pictures, checkpoints, and early stopping when the recipe asks.

    Returned through the same hook as any plugin's, so a plugin's callback of the same
    ``name`` replaces one of them, and ``callbacks.disable`` leaves one out.
    """
    from seqtk.core.callbacks import Checkpointing, EarlyStopping, MetricsLogger, ProgressBar, SampleWriter

    data = recipe.data
    keep_best = data.output.keep_best
    found: list[Any] = [ProgressBar(), MetricsLogger(data.train.log_every), SampleWriter(data.output.samples)]
    if data.callbacks.tensorboard.enabled:  # after samples: it shows the pictures that callback writes
        from seqtk.plugins.tensorboard import TensorBoardLogger

        found.append(TensorBoardLogger(data.callbacks.tensorboard.log_dir, data.train.log_every))
    stopping = data.callbacks.early_stopping
    if stopping.metric is not None:
        found.append(EarlyStopping(stopping.metric, stopping.patience, stopping.min_delta, stopping.mode))
    found.append(Checkpointing(data.output.checkpoint_every, data.output.keep_checkpoints, keep_best.metric, keep_best.mode))
    return found
