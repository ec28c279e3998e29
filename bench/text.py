"""The text benchmark table: MLE and four GANs on SeqGAN's oracle and on COCO captions.

For each task one maximum-likelihood run trains the LSTM generator (``oracle-mle``,
``coco-mle``); SeqGAN, MaliGAN and RelGAN with an LSTM generator then start from that
same generator (``train.init_generator``), so their figures differ by the adversarial
phase alone and the MLE run is the baseline each is read against. RelGAN with its
relational-memory generator pretrains its own (a different network). Every run is scored
by the same code with the same protocol:

- oracle: NLL-oracle (the oracle's NLL of 10,000 samples) and NLL-test (the generator's
  NLL of 10,000 held-out oracle samples), held-out discriminator AUC where logged;
- COCO: BLEU-2..5 against the 10,000 test captions, Self-BLEU-2..4, NLL-test.

For every run the figures after pretraining ("start"), at the end ("final") and at the
evaluation with the lowest NLL-test ("best") are reported beside the published figure,
with the wall time of the run and the CPU time of its process (all threads; less
sensitive than wall time to other work on the machine). Prints one JSON object (and a Markdown table with
``--markdown``); ``--json-out`` keeps a partial report after every run.

    python bench/text.py                                  # everything, the recipes as shipped
    python bench/text.py --task oracle --only mle seqgan  # a subset (mle must exist in --out)
    python bench/text.py --adversarial-steps 20           # a short smoke run of every GAN
    python bench/text.py --set seqgan:train.adversarial.steps=50 --markdown
    python bench/text.py --task oracle --only seqgan --own-pretraining seqgan   # the recipe as shipped
    python bench/text.py --table runs/bench-text/*.json                        # one table of saved reports
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

ORACLE_METRICS = ["nll-oracle", "nll-test"]
COCO_METRICS = ["bleu-2", "bleu-3", "bleu-4", "bleu-5", "self-bleu-2", "self-bleu-3", "self-bleu-4", "nll-test"]
#: Logged with every evaluation of an adversarial run (held-out real against fresh fake).
DISCRIMINATOR_KEYS = ["d_auc", "d_acc_real", "d_acc_fake"]


@dataclass(frozen=True)
class Model:
    """One row of the table: a model name, its recipe per task, and whether it starts from the task's MLE run."""

    name: str
    recipes: dict[str, str]
    shares_mle_start: bool


MODELS = [
    Model("mle", {"oracle": "oracle-mle", "coco": "coco-mle"}, shares_mle_start=False),
    Model("seqgan", {"oracle": "oracle-seqgan", "coco": "coco-seqgan"}, shares_mle_start=True),
    Model("maligan", {"oracle": "oracle-maligan", "coco": "coco-maligan"}, shares_mle_start=True),
    Model("relgan-lstm", {"oracle": "oracle-gumbel", "coco": "coco-gumbel"}, shares_mle_start=True),
    Model("relgan", {"oracle": "oracle-relgan", "coco": "coco-relgan"}, shares_mle_start=False),
]

#: Published figures (DESIGN.md section 6): oracle NLL-oracle at length 20; COCO BLEU-2..5.
PUBLISHED: dict[str, dict[str, dict[str, Any]]] = {
    "oracle": {
        "mle": {"nll-oracle": 9.038, "source": "SeqGAN paper (Yu et al. 2017)"},
        "seqgan": {"nll-oracle": 8.736, "source": "SeqGAN paper (Yu et al. 2017)"},
        "relgan": {"nll-oracle": 6.680, "source": "RelGAN paper (Nie et al. 2019), table 1"},
    },
    "coco": {
        "mle": {"bleu-2": 0.731, "bleu-3": 0.497, "bleu-4": 0.305, "bleu-5": 0.189, "source": "Texygen README"},
        "seqgan": {"bleu-2": 0.745, "bleu-3": 0.498, "bleu-4": 0.294, "bleu-5": 0.180, "source": "Texygen README"},
        "maligan": {"bleu-2": 0.673, "bleu-3": 0.432, "bleu-4": 0.257, "bleu-5": 0.159, "source": "Texygen docs/evaluation.md"},
        "relgan": {"bleu-2": 0.849, "bleu-3": 0.687, "bleu-4": 0.502, "source": "RelGAN paper, RelGAN(100)"},
    },
}


def evaluations(run_dir: Path) -> list[dict[str, Any]]:
    from seqtk.core.metrics_log import read_metrics

    return [row for row in read_metrics(run_dir / "metrics.jsonl") if row.get("phase") == "eval"]


def pick(row: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """The figures of one evaluation record that the table shows (rounded), with its step."""
    shown = {key: round(float(row[key]), 4) for key in [*keys, *DISCRIMINATOR_KEYS] if key in row}
    return {"step": row["step"], **shown}


def summarise(history: list[dict[str, Any]], keys: list[str], adversarial_start: int) -> dict[str, Any]:
    """Start (the last evaluation before the adversarial phase), best by NLL-test, and final."""
    if not history:
        raise SystemExit("the run logged no evaluation")
    before = [row for row in history if row["step"] <= adversarial_start]
    start = before[-1] if before else history[0]
    best = min(history, key=lambda row: row["nll-test"])
    return {
        "start": pick(start, keys),
        "best_by_nll_test": pick(best, keys),
        "final": pick(history[-1], keys),
        "history": [pick(row, keys) for row in history],
    }


def run_recipe(recipe_name: str, overrides: list[str], keys: list[str]) -> dict[str, Any]:
    import seqtk

    recipe = REPO / "recipes" / f"{recipe_name}.yaml"
    started, cpu_started = time.perf_counter(), time.process_time()
    result = seqtk.run(recipe, overrides, overwrite=True, progress=False)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    train = result.recipe.data.train
    adversarial_start = train.pretrain.generator_steps + _discriminator_pretraining_steps(train)
    return {
        "recipe": str(recipe.relative_to(REPO)),
        "overrides": overrides,
        "run_dir": str(result.run_dir),
        "wall_seconds": round(seconds, 1),
        "cpu_seconds": round(cpu_seconds, 1),
        "steps": result.steps,
        **summarise(evaluations(result.run_dir), keys, adversarial_start),
    }


def _discriminator_pretraining_steps(train: Any) -> int:
    """How many trainer steps pretrain the discriminator (step-wise or one per pool)."""
    pools = getattr(train.pretrain, "discriminator_pools", None)
    if pools is not None:
        return int(pools.pools)
    return int(train.pretrain.discriminator_steps)


def parse_sets(items: list[str], models: set[str]) -> dict[str, list[str]]:
    """``MODEL:key=value`` options grouped by model."""
    sets: dict[str, list[str]] = {}
    for item in items:
        model, colon, override = item.partition(":")
        if not colon or "=" not in override or model not in models:
            raise SystemExit(f"--set {item!r}: expected MODEL:key.path=value with MODEL one of {', '.join(sorted(models))}")
        sets.setdefault(model, []).append(override)
    return sets


def markdown(report: dict[str, Any]) -> str:
    """The report as the table docs/text.md shows."""
    lines = []
    for task, runs in report["tasks"].items():
        keys = ORACLE_METRICS if task == "oracle" else COCO_METRICS
        lines.append(f"\n**{task}** ({report.get('protocol', {}).get(task, task)}). Final, and in brackets at the evaluation with the lowest NLL-test.\n")
        primary, pick_best = (keys[0], min) if task == "oracle" else ("bleu-4", max)
        lines.append(
            f"| model | {keys[0]} at start | " + " | ".join(f"{k} final (best)" for k in keys) + f" | {'lowest' if pick_best is min else 'highest'} {primary} (step) | d_auc | published | wall (CPU) |"
        )
        lines.append("|---|" + "---|" * (len(keys) + 5))
        for name, run in runs.items():
            final, best = run["final"], run["best_by_nll_test"]
            cells = [f"{final.get(k, float('nan')):.3f} ({best.get(k, float('nan')):.3f})" for k in keys]
            auc = f"{final['d_auc']:.2f}" if "d_auc" in final and name != "mle" else "-"
            published = PUBLISHED[task].get(name.split(" ")[0], {})
            shown = ", ".join(f"{k} {v}" for k, v in published.items() if k != "source") or "-"
            start = "-" if name == "mle" else f"{run['start'].get(keys[0], float('nan')):.3f}"
            extreme = pick_best(run["history"], key=lambda row: row[primary])
            cells.append(f"{extreme[primary]:.3f} ({extreme['step']})")
            lines.append(f"| {name} | {start} | " + " | ".join(cells) + f" | {auc} | {shown} | {_seconds(run.get('wall_seconds'))} ({_seconds(run.get('cpu_seconds'))}) |")
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.0f} s"


def merge(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Several saved reports as one (later runs of the same task and model win)."""
    merged: dict[str, Any] = {**reports[0], "tasks": {}}
    for report in reports:
        merged["protocol"] = {**merged.get("protocol", {}), **report.get("protocol", {})}
        for task, runs in report["tasks"].items():
            merged["tasks"].setdefault(task, {}).update(runs)
    return merged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    names = [m.name for m in MODELS]
    parser.add_argument("--task", nargs="+", choices=["oracle", "coco"], default=["oracle", "coco"])
    parser.add_argument("--only", nargs="+", choices=names, default=None, help="run only these models (mle must already be in --out for the others)")
    parser.add_argument("--out", default="runs/bench-text", help="folder for the run directories")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--adversarial-steps", type=int, default=None, help="override every GAN's train.adversarial.steps")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="MODEL:KEY=VALUE", help="an override for one model's runs")
    parser.add_argument("--own-pretraining", nargs="+", choices=names, default=[], help="these GANs pretrain as their recipes say instead of starting from the task's MLE run (the recipe as shipped)")
    parser.add_argument("--set-all", action="append", default=[], metavar="KEY=VALUE", help="an override for every run (e.g. train.cpu_threads=1)")
    parser.add_argument("--json-out", default=None, help="also write the report here after every run")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown after the JSON")
    parser.add_argument("--table", nargs="+", metavar="JSON", default=None, help="print the Markdown table of these saved reports (merged) and exit")
    args = parser.parse_args()
    if args.table:
        print(markdown(merge([json.loads(Path(path).read_text()) for path in args.table])))
        return 0

    import torch

    sets = parse_sets(args.sets, set(names))
    out = Path(args.out).resolve()
    only = set(args.only or names)
    report: dict[str, Any] = {
        "benchmark": "text GANs against their MLE start (bench/text.py)",
        "device": args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"),
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        "protocol": {
            "oracle": "SeqGAN's oracle, vocab 5000, length 20, 10,000 training samples; NLL-oracle on 10,000 samples, NLL-test on 10,000 held-out oracle samples",
            "coco": "COCO captions (Texygen), word tokens; BLEU-n of each sample against all 10,000 test captions, nltk smoothing 1; Self-BLEU among the samples; hypotheses = eval.samples of the recipe",
        },
        "published": PUBLISHED,
        "tasks": {},
    }
    for task in args.task:
        keys = ORACLE_METRICS if task == "oracle" else COCO_METRICS
        runs: dict[str, Any] = report["tasks"].setdefault(task, {})
        mle_dir = out / MODELS[0].recipes[task]
        for model in MODELS:
            if model.name not in only:
                continue
            recipe = model.recipes[task]
            run_name = f"{recipe}-own" if model.name in args.own_pretraining else recipe
            overrides = [f"output.dir={out / run_name}", f"train.device={args.device}", f"eval.metrics=[{', '.join(keys)}]"]
            if model.shares_mle_start and model.name not in args.own_pretraining:
                if not (mle_dir / "checkpoints").is_dir():
                    raise SystemExit(f"{model.name} starts from the MLE run, but {mle_dir} holds none: run --only mle first")
                overrides += [f"train.init_generator={mle_dir}", "train.pretrain.generator_steps=0"]
            if args.adversarial_steps is not None and model.name != "mle":
                overrides.append(f"train.adversarial.steps={args.adversarial_steps}")
            overrides += [*args.set_all, *sets.get(model.name, [])]
            label = f"{model.name} (own pretraining)" if model.shares_mle_start and model.name in args.own_pretraining else model.name
            runs[label] = run_recipe(recipe, overrides, keys)
            if args.json_out:
                Path(args.json_out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    if args.markdown:
        print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
