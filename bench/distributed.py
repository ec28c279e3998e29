"""What data-parallel training costs and buys: one process against torchrun with 1 and 2 ranks.

Trains the quickstart recipe (sines, LSTM generator, CNN discriminator, minimax, weight average) for
``--steps`` adversarial steps in four ways, each a fresh run directory, and times the
training loop (``summary.json``'s ``seconds_this_session``: from the first evaluation to
the last checkpoint, without interpreter start-up or rendezvous):

- ``single``: ``seqtk run`` with batch B (the baseline);
- ``ddp-1``: ``torchrun --nproc_per_node=1``, batch B: DDP's own overhead (one rank, so
  the all-reduces are trivial; what remains is the per-update graph walk that finds
  unused parameters and the per-step collective that averages losses);
- ``ddp-2-same-global``: 2 ranks with batch B/2 each, the same global batch as ``single``,
  so the same training: the speed-up at fixed statistics;
- ``ddp-2-double``: 2 ranks with batch B each: twice the rows per step, for throughput.

Evaluation is kept small (64 samples at the start and the end) so the loop dominates.
Every run uses one thread per process. Prints one JSON object with seconds, rows per
second and ratios against ``single`` measured in the same invocation:

    python bench/distributed.py [--steps 300] [--batch 64] [--device cpu|cuda] [--out runs/bench-ddp] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "quickstart.yaml"


def launch(name: str, nproc: int | None, batch: int, args: argparse.Namespace) -> dict[str, float]:
    out = Path(args.out) / name
    shutil.rmtree(out, ignore_errors=True)
    overrides = [
        f"train.batch_size={batch}",
        f"train.adversarial.steps={args.steps}",
        f"train.device={args.device}",
        "train.cpu_threads=1",
        "eval.samples=64",
        f"eval.every={args.steps}",
        f"output.checkpoint_every={args.steps}",
        f"output.dir={out}",
        "output.samples=0",
        *args.set,
    ]
    seqtk = ["-m", "seqtk", "run", str(RECIPE), "--quiet", *(a for o in overrides for a in ("--set", o))]
    if nproc is None:
        command = [sys.executable, *seqtk]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *seqtk]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": os.environ.get("GLOO_SOCKET_IFNAME", "lo")}
    started = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600)
    wall = time.perf_counter() - started
    if finished.returncode != 0:
        raise SystemExit(f"{name} failed:\n{finished.stdout}\n{finished.stderr}")
    summary = json.loads((out / "summary.json").read_text())
    loop = float(summary["seconds_this_session"])
    rows = batch * (nproc or 1) * args.steps * 2  # one D and one G update per step, each on a batch per rank
    return {
        "processes": nproc or 1,
        "batch_per_process": batch,
        "loop_seconds": round(loop, 2),
        "wall_seconds_with_startup": round(wall, 2),
        "rows_per_second": round(rows / loop, 1),
        "final_mmd": round(summary["final_metrics"]["mmd"], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="runs/bench-ddp")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra recipe override for every run, e.g. generator.params.hidden_dim=128")
    args = parser.parse_args()
    results = {
        "single": launch("single", None, args.batch, args),
        "ddp-1": launch("ddp-1", 1, args.batch, args),
        "ddp-2-same-global": launch("ddp-2-same-global", 2, args.batch // 2, args),
        "ddp-2-double": launch("ddp-2-double", 2, args.batch, args),
    }
    base = results["single"]
    for result in results.values():
        result["loop_time_vs_single"] = round(result["loop_seconds"] / base["loop_seconds"], 3)
        result["throughput_vs_single"] = round(result["rows_per_second"] / base["rows_per_second"], 3)
    report = {
        "protocol": {
            "recipe": "recipes/quickstart.yaml",
            "overrides": args.set,
            "steps": args.steps,
            "threads_per_process": 1,
            "device": args.device,
            "cpu_cores": os.cpu_count(),
            "torch": torch.__version__,
            "machine": platform.processor() or platform.machine(),
            "timing": "training loop only (summary.json seconds_this_session), one run per configuration",
        },
        "results": results,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
