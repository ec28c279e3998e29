"""The hooks. Imports nothing heavy: seqtk imports this module for every command."""

from __future__ import annotations

from importlib.resources import as_file, files
from typing import Any

from seqtk import hookimpl

PLUGIN_NAME = "contract"

#: Every evaluation seen by the callback below, as (recipe name, step, metrics): the test reads it.
EVALUATIONS: list[tuple[str, int, dict[str, float]]] = []


@hookimpl
def seqtk_register(registry: Any) -> None:
    with as_file(files("contract_plugin").joinpath("registry.yaml")) as path:
        registry.load_fragment(path, plugin=PLUGIN_NAME)


class RecordEvaluations:
    """A callback: keeps every evaluation of a run that uses this plugin's domain."""

    def __init__(self, name: str) -> None:
        self.name = name

    def on_eval(self, step: int, metrics: Any) -> None:
        EVALUATIONS.append((self.name, step, dict(metrics)))


@hookimpl
def seqtk_callbacks(recipe: Any) -> list[Any] | None:
    if recipe.component("domain").name != "contract-dna":
        return None
    return [RecordEvaluations(recipe.name)]


@hookimpl
def seqtk_validate_recipe(recipe: Any) -> list[str] | None:
    """A plugin's own rule: the policy gradient here draws one batch per update, so one G step per iteration."""
    if recipe.uses_model or recipe.component("estimator").name != "contract-reinforce":
        return None
    steps = recipe.data.train.adversarial.generator_steps
    if steps != 1:
        return [f"train.adversarial.generator_steps: contract-reinforce takes 1 generator step per iteration, got {steps}"]
    return None
