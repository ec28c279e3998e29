"""Conditional generation beside its baselines, in one run: is the condition honoured?

For each conditional recipe, the same recipe is trained twice: as shipped, and with the
training labels shuffled (the shuffled-condition baseline: the same sequences, labels that
carry no information, so the model is in effect unconditional). Both are scored at the end
of maximum-likelihood pretraining (the MLE start) and after adversarial training, beside
real held-out data scored by the same metrics (the ceiling).

    python bench/conditional.py --out runs/bench-conditional [--set KEY=VALUE ...] [--seeds 0 1 2] [--json-out FILE]

It covers the class-conditional oracle (``recipes/cond-oracle-seqgan.yaml``) and the
chorales conditioned on mode and on a soprano line (``recipes/chorales-mode.yaml``,
``recipes/chorales-bass.yaml``), labelled sines (``recipes/sines-labels.yaml``) and stock
forecasts (``recipes/stocks-forecast.yaml``, also beside the "repeat the last value" forecast).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from seqtk.core.api import run
from seqtk.core.metrics_log import read_metrics
from seqtk.core.plugins import PluginHost
from seqtk.core.recipe import load_recipe

REPO = Path(__file__).resolve().parents[1]
#: Each conditional recipe, and the overrides that make its shuffled-condition baseline
#: (the domain's own switch that shuffles the training conditions across sequences).
RECIPES: dict[str, tuple[Path, list[str]]] = {
    "cond-oracle-seqgan": (REPO / "recipes" / "cond-oracle-seqgan.yaml", ["domain.params.shuffle_train_labels=true"]),
    "chorales-mode": (REPO / "recipes" / "chorales-mode.yaml", ["domain.params.shuffle_train_conditions=true"]),
    "chorales-bass": (REPO / "recipes" / "chorales-bass.yaml", ["domain.params.shuffle_train_conditions=true"]),
    "sines-labels": (REPO / "recipes" / "sines-labels.yaml", ["domain.params.shuffle_train_conditions=true"]),
    "stocks-forecast": (REPO / "recipes" / "stocks-forecast.yaml", ["domain.params.shuffle_train_conditions=true"]),
    "cond-oracle-relgan": (REPO / "recipes" / "cond-oracle-relgan.yaml", ["domain.params.shuffle_train_labels=true"]),
    "coco-topics-gumbel": (REPO / "recipes" / "coco-topics-gumbel.yaml", ["domain.params.shuffle_train_conditions=true"]),
    "coco-pairs-gumbel": (REPO / "recipes" / "coco-pairs-gumbel.yaml", ["domain.params.shuffle_train_conditions=true"]),
}


def real_ceiling(recipe_path: Path, overrides: list[str]) -> dict[str, float]:
    """The recipe's metrics on real held-out data against itself: what a perfect generator scores."""
    from seqtk.core.assemble import assemble

    host = PluginHost()
    recipe = load_recipe(recipe_path, overrides, host=host)
    parts = assemble(recipe, host.registry, torch.device("cpu"))
    test = parts.domain.load("test").batch
    # A metric with a ``ceiling`` says what real data honestly scores (a classifier's
    # cross-validated accuracy); forecasts drawn from the generator have no ceiling here.
    return {
        name: float(metric.ceiling(test)) if hasattr(metric, "ceiling") else float(metric(test, test))
        for name, metric in parts.metrics.items()
        if name != "nll-test" and not hasattr(metric, "naive")
    }


def naive_baseline(recipe_path: Path, overrides: list[str]) -> dict[str, float]:
    """Forecast metrics' score for "repeat the last value" (metrics with a ``naive`` method); empty for other recipes."""
    from seqtk.core.assemble import assemble

    host = PluginHost()
    parts = assemble(load_recipe(recipe_path, overrides, host=host), host.registry, torch.device("cpu"))
    test = parts.domain.load("test").batch
    return {name: float(metric.naive(test)) for name, metric in parts.metrics.items() if hasattr(metric, "naive")}


def mle_start(run_dir: Path, pretrain_steps: int) -> dict[str, float]:
    """The evaluation at the end of the generator's pretraining: the model before any adversarial step.

    The discriminator's figures (``d_*``) are left out: at that step it has not been
    trained yet (its own pretraining comes next), so they would describe an untrained
    network, not the generator.
    """
    rows = [r for r in read_metrics(run_dir / "metrics.jsonl") if r["phase"] == "eval" and r["step"] == pretrain_steps]
    if not rows:
        raise SystemExit(f"{run_dir}: no evaluation at step {pretrain_steps}; set eval.every to divide the pretraining steps")
    return {k: v for k, v in rows[-1].items() if isinstance(v, float) and not k.startswith("d_")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bench-conditional"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every run (e.g. train.adversarial.steps=10)")
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument("--recipes", nargs="*", default=list(RECIPES), choices=list(RECIPES), help="which recipes (default: all)")
    parser.add_argument("--seeds", nargs="*", type=int, default=None, help="train each model once per seed (default: the recipe's own); the table gives mean ± sd")
    args = parser.parse_args()
    table: list[dict[str, Any]] = []
    for name in args.recipes:
        path, shuffled = RECIPES[name]
        table.append({"recipe": name, "candidate": "real held-out (ceiling)", **real_ceiling(path, args.set)})
        naive = naive_baseline(path, args.set)
        if naive:
            table.append({"recipe": name, "candidate": "naive: repeat the last value", **naive})
        for seed, (variant, extra) in [(seed, v) for seed in (args.seeds or [None]) for v in (("conditional", []), ("shuffled-condition", shuffled))]:
            folder = args.out / name / variant if seed is None else args.out / name / variant / f"seed-{seed}"
            overrides = [*args.set, *extra, *([f"seed={seed}"] if seed is not None else []), f"output.dir={folder}"]
            recipe = load_recipe(path, overrides, host=PluginHost())
            started = time.process_time()
            result = run(recipe, overwrite=True)
            seconds = time.process_time() - started
            pretrain = recipe.data.train.pretrain.generator_steps
            final = [r for r in read_metrics(result.run_dir / "metrics.jsonl") if r["phase"] == "eval"][-1]  # with the discriminator's view
            for candidate, figures in (
                ("MLE start", mle_start(result.run_dir, pretrain)),
                ("after GAN", {**{k: v for k, v in final.items() if isinstance(v, float)}, "cpu_s": round(seconds)}),
                ("untrained", result.initial_metrics),
            ):
                table.append({"recipe": name, "candidate": f"{variant}, {candidate}", "seed": recipe.data.seed, **figures})
    print_table(table)
    if args.json_out:
        args.json_out.write_text(json.dumps(table, indent=2) + "\n")


def _digits(metric: str) -> int:
    """Decimals shown: forecast errors are about 0.01 in scaled units, where three decimals would hide every difference."""
    return 5 if metric.startswith("forecast-") else 3


def print_table(table: list[dict[str, Any]]) -> None:
    """One Markdown row per recipe and candidate; over several seeds each cell is ``mean ± sd`` (and CPU s the mean)."""
    metrics = sorted({k for row in table for k in row} - {"recipe", "candidate", "cpu_s", "seed"})
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in table:
        groups.setdefault((row["recipe"], row["candidate"]), []).append(row)
    print("| recipe | candidate | " + " | ".join(metrics) + " | CPU s |")
    print("|---" * (len(metrics) + 3) + "|")
    for (recipe, candidate), rows in groups.items():
        cells = []
        for m in metrics:
            values = [row[m] for row in rows if isinstance(row.get(m), (int, float))]
            if not values:
                cells.append("")
            elif len(values) == 1:
                cells.append(f"{values[0]:.{_digits(m)}f}")
            else:
                cells.append(f"{statistics.mean(values):.{_digits(m)}f} ± {statistics.stdev(values):.{_digits(m)}f}")
        seconds = [row["cpu_s"] for row in rows if "cpu_s" in row]
        print(f"| {recipe} | {candidate} | " + " | ".join(cells) + f" | {round(statistics.mean(seconds)) if seconds else ''} |")


if __name__ == "__main__":
    main()
