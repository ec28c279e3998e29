"""NLL-oracle on SeqGAN's synthetic benchmark: MLE, then REINFORCE and Gumbel-softmax GANs.

One MLE run (recipes/oracle-mle.yaml) pretrains the generator; the adversarial recipes
(recipes/oracle-seqgan.yaml, recipes/oracle-gumbel.yaml) then start from that same
generator (``train.init_generator``), so the three figures share one pretrained model
and differ only by the adversarial phase. Prints one JSON object: for every run the
NLL-oracle and NLL-test at each evaluation, the figures after MLE and after adversarial
training, wall time, and the protocol (recipe, overrides, device).

    python bench/oracle.py --oracle data/seqgan-oracle/target_params.npz

Targets (DESIGN.md section 6): MLE <= 9.04 (SeqGAN paper 9.038), SeqGAN-style <= 8.70
(paper 8.736; SeqGAN's public log 8.68), Gumbel as low as it goes (RelGAN 6.68).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def evaluations(run_dir: Path) -> list[dict[str, Any]]:
    from seqtk.core.metrics_log import read_metrics

    return [row for row in read_metrics(run_dir / "metrics.jsonl") if row.get("phase") == "eval"]


def run_recipe(name: str, overrides: list[str], device: str) -> dict[str, Any]:
    import seqtk

    recipe = REPO / "recipes" / f"{name}.yaml"
    overrides = [*overrides, f"train.device={device}"]
    start = time.perf_counter()
    result = seqtk.run(recipe, overrides, overwrite=True, progress=False)
    seconds = time.perf_counter() - start
    history = evaluations(result.run_dir)
    best = min(history, key=lambda row: row["nll-test"])
    return {
        "recipe": str(recipe.relative_to(REPO)),
        "overrides": overrides,
        "run_dir": str(result.run_dir),
        "wall_seconds": round(seconds, 1),
        "steps": result.steps,
        "start": {k: round(result.initial_metrics[k], 4) for k in ("nll-oracle", "nll-test")},
        "final": {k: round(result.metrics[k], 4) for k in ("nll-oracle", "nll-test")},
        "best_by_nll_test": {"step": best["step"], "nll-oracle": round(best["nll-oracle"], 4), "nll-test": round(best["nll-test"], 4)},
        "history": [{"step": row["step"], "nll-oracle": round(row["nll-oracle"], 4), "nll-test": round(row["nll-test"], 4)} for row in history],
    }


def save(report: dict[str, Any], path: str | None) -> None:
    if path is not None:
        Path(path).write_text(json.dumps(report, indent=2) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--oracle", default=str(Path(__file__).resolve().parents[1] / "data/seqgan-oracle/target_params.npz"), help="SeqGAN's oracle parameters (npz); 'none' draws an oracle from N(0, 1)")
    parser.add_argument("--out", default="runs/bench-oracle", help="folder for the three run directories")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--mle-steps", type=int, default=None, help="override the MLE recipe's pretraining steps")
    parser.add_argument("--seqgan-steps", type=int, default=None, help="override oracle-seqgan's adversarial steps")
    parser.add_argument("--gumbel-steps", type=int, default=None, help="override oracle-gumbel's adversarial steps")
    parser.add_argument("--json-out", default=None, help="also write the report here after every run (a partial report survives an interrupted benchmark)")
    parser.add_argument("--only", choices=["mle", "seqgan", "gumbel"], action="append", default=None, help="run only these (mle must exist in --out for the others)")
    args = parser.parse_args()

    import torch

    oracle = "null" if args.oracle == "none" else str(Path(args.oracle).resolve())
    if oracle != "null" and not Path(oracle).is_file():
        print(json.dumps({"skipped": f"oracle parameters not found: {oracle}"}))
        return 0
    out = Path(args.out).resolve()
    common = [f"domain.params.params_file={oracle}"]
    only = set(args.only or ["mle", "seqgan", "gumbel"])
    report: dict[str, Any] = {
        "benchmark": "SeqGAN oracle (vocab 5000, length 20, 10,000 training samples; NLL-oracle on 10,000 generator samples, NLL-test on 10,000 held-out oracle samples)",
        "oracle": oracle,
        "device": args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"),
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
        "reference": {"MLE (SeqGAN paper)": 9.038, "SeqGAN (paper)": 8.736, "RelGAN (paper)": 6.680},
        "runs": {},
    }
    mle_dir = out / "oracle-mle"
    if "mle" in only:
        overrides = [*common, f"output.dir={mle_dir}"]
        if args.mle_steps is not None:
            overrides.append(f"train.pretrain.generator_steps={args.mle_steps}")
        report["runs"]["mle"] = run_recipe("oracle-mle", overrides, args.device)
        save(report, args.json_out)
    for name, recipe, steps in (("seqgan", "oracle-seqgan", args.seqgan_steps), ("gumbel", "oracle-gumbel", args.gumbel_steps)):
        if name not in only:
            continue
        overrides = [*common, f"output.dir={out / recipe}", f"train.init_generator={mle_dir}", "train.pretrain.generator_steps=0"]
        if steps is not None:
            overrides.append(f"train.adversarial.steps={steps}")
        report["runs"][name] = run_recipe(recipe, overrides, args.device)
        save(report, args.json_out)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
