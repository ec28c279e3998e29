"""A test plugin whose objective keeps state: a small Fisher GAN loss with its Lagrange multiplier.

Loaded the way a user loads a plugin module, by name (``SEQTK_PLUGINS=stateful_objective_plugin``
with ``tests/`` on the path); tests/test_component_state.py shows that its state survives
``kill -9`` + ``--resume`` bit for bit and stays equal on every rank under torchrun.

Run as a script it is that test's torchrun worker: it trains a recipe, then dumps this
rank's networks and objective state (``seqtk run`` writes only rank 0's):
    torchrun --nproc_per_node=2 tests/stateful_objective_plugin.py RECIPE.yaml OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import Tensor

from seqtk.core.hookspecs import hookimpl
from seqtk.core.interfaces import Objective, Scores

PLUGIN_NAME = "stateful-objective"


class FisherObjective(Objective):
    """Fisher GAN's critic loss (Mroueh and Sercu, 2017), with the multiplier of its constraint as state.

    The critic maximises ``E_P f - E_Q f`` under ``Omega = (E_P f^2 + E_Q f^2) / 2 = 1``, by an
    augmented Lagrangian: it minimises ``-(E_P f - E_Q f) - lambda (1 - Omega) + rho/2 (1 - Omega)^2``
    while ``lambda`` takes a step ``-rho (1 - Omega)`` after every critic loss. ``lambda`` and the
    count of its updates are the state; ``last_constraint`` (this rank's last ``1 - Omega``) is not.
    """

    def __init__(self, rho: float = 0.5) -> None:
        if not rho > 0:
            raise ValueError(f"rho must be > 0, got {rho!r}")
        self.rho = float(rho)
        self.multiplier = torch.zeros((), dtype=torch.float64)
        self.updates = 0
        self.last_constraint = float("nan")

    def discriminator_loss(self, real: Scores, fake: Scores) -> Tensor:
        constraint = 1 - 0.5 * (real.mean(real.values**2) + fake.mean(fake.values**2))
        multiplier = self.multiplier.to(constraint.device, constraint.dtype)
        loss = -(real.mean(real.values) - fake.mean(fake.values)) - multiplier * constraint + self.rho / 2 * constraint**2
        self.multiplier = self.multiplier - self.rho * constraint.detach().to("cpu", torch.float64)
        self.updates += 1
        self.last_constraint = float(constraint.detach())
        return loss

    def generator_loss(self, fake: Scores, real: Scores | None = None) -> Tensor:
        return -fake.mean(fake.values)

    def state_dict(self) -> dict[str, Any]:
        return {"multiplier": self.multiplier.clone(), "updates": self.updates}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.multiplier = torch.as_tensor(state["multiplier"], dtype=torch.float64).clone()
        self.updates = int(state["updates"])


class NumpyStateObjective(FisherObjective):
    """The same loss with a mistake: its state holds a numpy array, which a safe checkpoint cannot."""

    def state_dict(self) -> dict[str, Any]:
        return {"multiplier": np.asarray(self.multiplier), "updates": self.updates}


@hookimpl
def seqtk_register(registry: Any) -> None:
    registry.add("objectives", "fisher-test", f"{__name__}:FisherObjective", plugin=PLUGIN_NAME, summary="Fisher GAN (test plugin)")
    registry.add("objectives", "fisher-numpy", f"{__name__}:NumpyStateObjective", plugin=PLUGIN_NAME, summary="a broken state (test plugin)")


def main(recipe_path: str, out_dir: str) -> None:
    from seqtk.core.assemble import resolve_device
    from seqtk.core.distributed import Distributed, process_group
    from seqtk.core.plugins import PluginHost
    from seqtk.core.recipe import load_recipe
    from seqtk.core.trainer import Trainer

    host = PluginHost()  # finds this module through SEQTK_PLUGINS, as any user's run would
    recipe = load_recipe(recipe_path, host=host)
    dist = Distributed.from_environment()
    device = dist.device(resolve_device(recipe.data.train.device, recipe.source))
    with process_group(dist, device):
        trainer = Trainer(recipe, host.registry, recipe.run_dir(), callbacks=host.callbacks(recipe), progress=False, dist=dist)
        trainer.fit()
        objective = trainer.parts.objective
        assert objective is not None
        state = {
            "generator": trainer.parts.generator.state_dict(),
            "discriminator": trainer.parts.discriminator.state_dict(),
            "objective": objective.state_dict(),
            "last_constraint": getattr(objective, "last_constraint", None),
            "step": trainer.state.step,
        }
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    torch.save(state, Path(out_dir) / f"rank{dist.rank}.pt")


if __name__ == "__main__":
    main(*sys.argv[1:3])
