"""The video benchmark: seqtk's video recipes beside real clips and a shuffled-frames baseline, one metric code.

Every row is scored against the same reference, the held-out test clips of the recipe's
domain, with the same metrics (``seqtk.plugins.video.metrics``): pixel histograms,
frame-to-frame change, blobs per frame, blob speed, and TimeGAN's discriminative score on
frames pooled to 8x8 (mean over ``--repeats`` seeds). Rows, trained and scored in one run:

- ``real``: training clips (no clip on both sides) against the test clips: the floor a
  perfect generator reaches;
- ``shuffled-frames``: training clips with their frames in a random order: right pixels
  and objects, wrong motion (the temporal, motion and discriminative scores must see it);
- ``untrained``: the recipe's generator at initialisation;
- ``trained``: the recipe trained from scratch (or ``--reuse``: the newest checkpoint of
  an existing run), sampled with the run's evaluation seed.

Each recipe (``--recipes``) gets its own four rows, on its own domain's test clips.

``CPU s`` is the process CPU time of training (for the recipes) and of scoring. Usage:

    python bench/video.py --out runs/bench-video
    python bench/video.py --out runs/bench-video --max-steps 300   # the WGAN-GP recipe cut short on a CPU
    python bench/video.py --out /tmp/b --recipes recipes/video-quickstart.yaml --steps-scale 0.02   # a smoke test
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

RECIPES = ("recipes/video-quickstart.yaml", "recipes/moving-shapes-wgan-gp.yaml")
METRICS = ("video-pixels", "video-temporal", "video-objects", "video-motion", "video-discriminative")


def score_all(domain: Any, fake: Any, repeats: int) -> dict[str, float]:
    """Every metric of ``METRICS`` for ``fake`` against the domain's test clips."""
    import torch

    from seqtk.core.plugins import PluginHost

    registry = PluginHost().registry
    real = domain.load("test").batch
    n = min(real.size, fake.size)
    real, fake = real.index(torch.arange(n)), fake.index(torch.arange(n))
    scores = {}
    for name in METRICS:
        params = {"repeats": repeats} if name == "video-discriminative" else {}
        metric = registry.get("metrics", name).build({"domain": domain, "spec": domain.spec}, params)
        scores[name] = float(metric(real, fake))
    return scores


def train_or_reuse(recipe_path: str, out: Path, scale: float, max_steps: int | None, reuse: bool) -> tuple[Path, float]:
    """The run directory of ``recipe_path`` under ``out`` and the CPU seconds spent training it."""
    from seqtk.core.api import run
    from seqtk.core.recipe import load_recipe

    recipe = load_recipe(recipe_path, []).to_dict()
    run_dir = out / recipe["name"]
    if reuse and (run_dir / "checkpoints").is_dir():
        return run_dir, 0.0
    steps = max(1, round(recipe["train"]["adversarial"]["steps"] * scale))
    steps = min(steps, max_steps) if max_steps else steps
    every = min(steps, max(1, round(recipe["eval"]["every"] * scale)))
    overrides = [f"output.dir={run_dir}", f"train.adversarial.steps={steps}", f"eval.every={every}",
                 f"output.checkpoint_every={every}", "train.cpu_threads=1", "train.device=cpu"]
    start = time.process_time()
    run(recipe_path, overrides, overwrite=True)
    return run_dir, time.process_time() - start


def main() -> None:
    import torch

    from seqtk.core.api import restore
    from seqtk.core.assemble import assemble
    from seqtk.core.interfaces import Batch
    from seqtk.core.plugins import PluginHost
    from seqtk.core.recipe import load_recipe
    from seqtk.core.trainer import EVAL_SEED_OFFSET, sample_in_chunks

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bench-video"))
    parser.add_argument("--recipes", nargs="*", default=list(RECIPES))
    parser.add_argument("--steps-scale", type=float, default=1.0, help="scale every recipe's adversarial steps (a smoke test: 0.05)")
    parser.add_argument("--max-steps", type=int, default=None, help="cap every recipe's adversarial steps (the WGAN-GP recipe on a CPU)")
    parser.add_argument("--repeats", type=int, default=3, help="seeds of the discriminative score")
    parser.add_argument("--reuse", action="store_true", help="score the newest checkpoint of existing runs instead of training")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows: list[dict[str, Any]] = []

    def add(recipe: str, name: str, domain: Any, fake: Batch, seconds: float, note: str = "") -> None:
        start = time.process_time()
        scores = score_all(domain, fake, args.repeats)
        rows.append({"recipe": recipe, "row": name, **scores, "cpu_s": round(seconds + time.process_time() - start, 1), "note": note})
        print(json.dumps(rows[-1]), flush=True)

    for recipe_path in args.recipes:
        # Baselines on this recipe's own domain (its test clips are every row's reference).
        recipe = load_recipe(recipe_path, [f"output.dir={args.out / 'untrained'}", "train.device=cpu"])
        name = recipe.data.name
        torch.manual_seed(recipe.data.seed)  # the untrained weights a run of this recipe starts from
        parts = assemble(recipe, PluginHost().registry, torch.device("cpu"))
        domain = parts.domain
        train = domain.load("train").batch
        n = domain.load("test").batch.size
        add(name, "real", domain, train.index(torch.arange(n)), 0.0, f"{n} training clips against {n} test clips")
        order = torch.Generator().manual_seed(0)
        shuffled = torch.stack([clip[torch.randperm(clip.shape[0], generator=order)] for clip in train.values[:n]])
        add(name, "shuffled-frames", domain, Batch.full_length(shuffled), 0.0, "training clips, frames permuted")
        torch.manual_seed(recipe.data.seed + EVAL_SEED_OFFSET)
        parts.generator.eval()
        with torch.no_grad():
            add(name, "untrained", domain, sample_in_chunks(parts.generator, n, 256), 0.0, "the generator at initialisation")
        run_dir, seconds = train_or_reuse(recipe_path, args.out, args.steps_scale, args.max_steps, args.reuse)
        parts, recipe, state = restore(run_dir)
        torch.manual_seed(recipe.data.seed + EVAL_SEED_OFFSET)
        with torch.no_grad():
            fake = sample_in_chunks(parts.generator, n, 256)
        add(name, "trained", parts.domain, fake, seconds, f"step {state['step']}; CPU s includes training")
    header = "| recipe | row | " + " | ".join(METRICS) + " | CPU s | note |"
    print("\n" + header + "\n|" + "---|" * (len(METRICS) + 4))
    for row in rows:
        print(f"| {row['recipe']} | {row['row']} | " + " | ".join(f"{row[m]:.3f}" for m in METRICS) + f" | {row['cpu_s']} | {row['note']} |")
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
