"""Build the parts of a run from a validated recipe and the registry.

This is the only place where registry targets are called. A constructor that rejects
its parameters (a plugin's own ``ValueError``) is reported against the recipe key that
set them, never as a traceback from inside the plugin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch

from seqtk.core.capabilities import unkept_promises
from seqtk.core.errors import Problem, RecipeError, SeqtkError
from seqtk.core.interfaces import Discriminator, Domain, Estimator, Generator, Metric, Model, Objective
from seqtk.core.recipe import SECTION_KINDS, Recipe
from seqtk.core.registry import Entry, Registry

_INTERFACES: dict[str, type] = {
    "domain": Domain,
    "generator": Generator,
    "discriminator": Discriminator,
    "objective": Objective,
    "estimator": Estimator,
    "model": Model,
}


@dataclass
class Parts:
    """A run's components. A ``model`` recipe has no objective or estimator: its
    ``generator`` and (possibly None) ``discriminator`` are the model's own views."""

    domain: Domain
    generator: Generator
    discriminator: Discriminator | None
    objective: Objective | None
    estimator: Estimator | None
    metrics: dict[str, Metric]
    model: Model | None = None


def resolve_device(name: str, source: str = "<recipe>") -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without one is a recipe error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RecipeError(source, [Problem("train.device", "'cuda' was asked for but torch sees no CUDA device; use 'auto' or 'cpu'")])
    return torch.device(name)


def build_component(recipe: Recipe, registry: Registry, section: str, injected: dict[str, Any]) -> Any:
    component = recipe.component(section)
    assert component.name is not None, "load_recipe guarantees every component is named"
    entry = registry.get(SECTION_KINDS[section], component.name)
    try:
        built = entry.build(injected, component.params)
    except SeqtkError:
        raise
    except (ValueError, TypeError) as exc:
        raise RecipeError(recipe.source, [Problem(f"{section}.params", f"{entry.label} rejected its parameters: {exc}")]) from None
    expected = _INTERFACES[section]
    if not isinstance(built, expected):
        raise SeqtkError(
            f"{entry.label} (plugin {entry.plugin!r}, {entry.target}) built a {type(built).__name__}, "
            f"which does not implement seqtk.core.interfaces.{expected.__name__}"
        )
    check_capabilities(entry, built.generator if section == "model" else built, component.params)
    return built


def check_capabilities(entry: Entry, built: Any, params: Mapping[str, Any]) -> None:
    """Refuse a component whose class lacks a method that a word its entry ``provides`` promises.

    The registry entry is the one place capabilities are written, and the recipe check
    trusts it before anything is imported; this is where that trust is checked against
    the code, once, at build time, so that a plugin's false claim names the plugin and
    the missing method instead of failing inside a training step. A model's words are
    its generator's.
    """
    unkept = unkept_promises(built, entry.provides_for(params))
    if not unkept:
        return
    plugin = entry.origin.describe() if entry.origin is not None else f"plugin {entry.plugin!r}"
    missing = "; ".join(f"{word!r} promises {shape}" for word, shape in unkept)
    raise SeqtkError(
        f"{entry.label} ({plugin}, {entry.target}) claims capabilities its class {type(built).__name__} does not implement: "
        f"{missing} (seqtk.core.capabilities). Implement the method(s) or remove the word(s) from the entry's provides"
    )


def build_metrics(recipe: Recipe, registry: Registry, domain: Domain, generator: Generator | None = None) -> dict[str, Metric]:
    names = recipe.data.eval.metrics
    if names is None:
        names = list(type(domain).default_metrics)
    metrics: dict[str, Metric] = {}
    for index, name in enumerate(names):
        entry = registry.get("metrics", name)
        try:
            metric = entry.build({"domain": domain, "spec": domain.spec, "generator": generator}, {})
        except (ValueError, TypeError) as exc:
            raise RecipeError(recipe.source, [Problem(f"eval.metrics.{index}", f"{entry.label} cannot be built: {exc}")]) from None
        metrics[name] = metric
    return metrics


def _check_model(model: Model, recipe: Recipe) -> None:
    """What the trainer relies on, checked once so that a plugin's mistake names the plugin, not a trainer line."""
    label = f"model {recipe.data.model.name!r}"
    if not isinstance(model.generator, Generator):
        raise SeqtkError(f"{label}: its generator is a {type(model.generator).__name__}, not a seqtk.core.interfaces.Generator")
    if model.discriminator is not None and not isinstance(model.discriminator, Discriminator):
        raise SeqtkError(f"{label}: its discriminator is a {type(model.discriminator).__name__}, not a seqtk.core.interfaces.Discriminator")
    phases = model.phases()
    if not phases or any(p.steps < 0 for p in phases) or sum(p.steps for p in phases) == 0:
        raise RecipeError(recipe.source, [Problem("model.params", f"{label} trains for 0 steps in all; give one of its phases at least 1 step")])
    for name, (module, settings) in model.optimizers().items():
        if settings not in ("generator", "discriminator") or not isinstance(module, torch.nn.Module):
            raise SeqtkError(f"{label}: optimiser {name!r} must map to (module, 'generator' | 'discriminator'), got ({type(module).__name__}, {settings!r})")


def assemble(recipe: Recipe, registry: Registry, device: torch.device, domain_state: Mapping[str, Any] | None = None) -> Parts:
    """Build every part; networks are moved to ``device``.

    ``domain_state`` (a checkpoint's ``domain`` entry) is restored before the networks
    are sized from the domain's spec, so that sampling from a finished run needs only
    the checkpoint, not the data files (a text vocabulary lives in that state).
    """
    domain = build_component(recipe, registry, "domain", {})
    if domain_state is not None:
        domain.load_state_dict(domain_state)
    spec = domain.spec
    injected = {"spec": spec, "domain": domain}
    if recipe.uses_model:
        model = build_component(recipe, registry, "model", injected).to(device)
        _check_model(model, recipe)
        generator = model.generator
        return Parts(domain, generator, model.discriminator, None, None, build_metrics(recipe, registry, domain, generator), model)
    generator = build_component(recipe, registry, "generator", injected).to(device)
    discriminator = build_component(recipe, registry, "discriminator", injected).to(device)
    objective = build_component(recipe, registry, "objective", injected)
    estimator = build_component(recipe, registry, "estimator", injected)
    estimator.setup(generator, discriminator, objective)
    return Parts(domain, generator, discriminator, objective, estimator, build_metrics(recipe, registry, domain, generator))
