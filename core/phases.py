"""A run's schedule: its phases as objects, and the one place that numbers steps within them.

A run is a sequence of global steps ``[0, total_steps)`` cut into phases. The trainer asks
the schedule which phase a step belongs to and calls that phase's ``train`` with the step's
index *within* the phase; nothing in the loop compares phase names. The five-part GAN's
schedule is generator pretraining, discriminator pretraining and the adversarial phase; a
model (TimeGAN) names its own phases.

Estimators, instance noise and the discriminator's negatives all count in *adversarial*
steps (0 at the first adversarial step, 0 before it as well): ``Schedule.adversarial_step``
is the only place that turns a global step into that count.

How many discriminator updates an adversarial step makes is also decided here, once:
``train.adversarial.discriminator_steps`` when the recipe sets it, else the objective's
``critic_steps`` (WGAN's n_critic). ``discriminator_steps`` below is the single source the
loop reads, and ``seqtk validate`` prints it with where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence


@dataclass(frozen=True)
class Phase:
    """Steps ``[start, end)`` of a run, trained by ``train(index)`` (``index`` counts from 0 within the phase)."""

    #: The name metrics.jsonl records for the phase's steps.
    name: str
    start: int
    end: int
    #: One step of this phase; returns the values to log.
    train: Callable[[int], dict[str, float]] = field(compare=False, repr=False)
    #: False where the generator does not change (discriminator pretraining): evaluating it again would repeat the same numbers.
    changes_generator: bool = True

    @property
    def steps(self) -> int:
        return self.end - self.start

    def index(self, step: int) -> int:
        """The global step ``step``'s position in this phase."""
        return step - self.start


@dataclass(frozen=True)
class DiscriminatorSteps:
    """D updates per adversarial step, and which setting gave the number (for ``seqtk validate`` and the docs)."""

    count: int
    source: str


def discriminator_steps(recipe_value: int | None, objective: Any, objective_name: str | None) -> DiscriminatorSteps:
    """The recipe's ``train.adversarial.discriminator_steps`` wins; null takes the objective's ``critic_steps``."""
    if recipe_value is not None:
        return DiscriminatorSteps(recipe_value, "train.adversarial.discriminator_steps")
    return DiscriminatorSteps(max(1, int(getattr(objective, "critic_steps", 1))), f"objective {objective_name!r}'s critic_steps")


def declared_discriminator_steps(recipe: Any, registry: Any) -> DiscriminatorSteps:
    """What a GAN recipe's adversarial steps will use, without building anything (``seqtk validate``).

    The objective's ``critic_steps`` is read where the built-ins declare it: its parameter
    (the recipe's, else the registry default), else the class attribute. The run itself
    asks the built objective (``discriminator_steps``), with the same precedence.
    """
    chosen = recipe.data.train.adversarial.discriminator_steps
    objective = recipe.data.objective
    if chosen is not None or objective.name is None:
        return discriminator_steps(chosen, None, objective.name)
    entry = registry.get("objectives", objective.name)
    params = {**entry.defaults, **objective.params}
    declared = params["critic_steps"] if "critic_steps" in params else getattr(entry.load(), "critic_steps", 1)
    return discriminator_steps(None, _Declared(declared), objective.name)


@dataclass(frozen=True)
class _Declared:
    critic_steps: int


class Schedule:
    """The phases of one run, in order, back to back from step 0."""

    def __init__(self, phases: Sequence[Phase], adversarial: Phase | None = None) -> None:
        self.phases = list(phases)
        self.adversarial = adversarial
        if any(a.end != b.start for a, b in zip(self.phases, self.phases[1:])) or not self.phases or self.phases[0].start:
            raise ValueError("phases must follow each other from step 0")

    @property
    def total_steps(self) -> int:
        return self.phases[-1].end

    def phase_at(self, step: int) -> Phase:
        """The phase that trains global step ``step`` (0-based: the step about to be trained)."""
        for phase in self.phases:
            if phase.start <= step < phase.end:
                return phase
        raise AssertionError(f"step {step} is outside every phase")

    def adversarial_step(self, step: int) -> int:
        """Global step ``step`` counted in adversarial steps: 0 up to and at the first, then 1, 2, ..."""
        return max(0, step - self.adversarial.start) if self.adversarial is not None else 0

    @property
    def adversarial_steps(self) -> int:
        """The adversarial phase's length: the ``total_steps`` that estimators' schedules (temperature, noise) span."""
        return self.adversarial.steps if self.adversarial is not None else 0


def back_to_back(parts: Sequence[tuple[str, int, Callable[[int], dict[str, float]], bool]]) -> list[Phase]:
    """Phases from (name, steps, train, changes_generator), each starting where the previous ends."""
    phases, start = [], 0
    for name, steps, train, changes_generator in parts:
        phases.append(Phase(name, start, start + steps, train, changes_generator))
        start += steps
    return phases
