"""Launched by torchrun from tests/test_distributed.py: train a recipe, then dump this rank's networks.

``seqtk run`` writes only rank 0's state; the tests also need every other rank's, to show
that DDP kept the ranks' parameters identical. Usage:
    torchrun --nproc_per_node=2 tests/ddp_worker.py RECIPE.yaml OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from seqtk.core.assemble import resolve_device
from seqtk.core.distributed import Distributed, process_group
from seqtk.core.plugins import PluginHost
from seqtk.core.recipe import load_recipe
from seqtk.core.trainer import Trainer


def main(recipe_path: str, out_dir: str) -> None:
    host = PluginHost()
    recipe = load_recipe(recipe_path, host=host)
    dist = Distributed.from_environment()
    device = dist.device(resolve_device(recipe.data.train.device, recipe.source))
    with process_group(dist, device):
        trainer = Trainer(recipe, host.registry, recipe.run_dir(), callbacks=host.callbacks(recipe), progress=False, dist=dist)
        trainer.fit()
        state = {
            "generator": trainer.parts.generator.state_dict(),
            "discriminator": trainer.parts.discriminator.state_dict(),
            "step": trainer.state.step,
            "stopped": trainer.state.stopped,  # why a callback ended the run early, or None
        }
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    torch.save(state, Path(out_dir) / f"rank{dist.rank}.pt")


if __name__ == "__main__":
    main(*sys.argv[1:3])
