"""TimeGAN's sines and stocks benchmarks: seqtk's models beside baselines, one metric code.

For each benchmark the script trains every model of ``MODELS`` (a recipe and its
overrides: TimeGAN, RGAN, RWGAN and the stabilisers; ``--models`` chooses) or reuses
runs with ``--reuse``, draws as many series from each generator as the held-out test split has,
and scores them against that test split with TimeGAN's discriminative and predictive
scores (``seqtk.plugins.timeseries.posthoc``) and MMD. In the same run and with the same
code it scores three baselines:

- ``real``: training windows (never overlapping a test row) against the test windows,
  the floor that a perfect generator would reach; for the predictive score this is
  TimeGAN's train-on-real figure.
- ``gaussian``: draws from one multivariate normal with the mean and covariance of the
  flattened training windows (``T * F`` dimensions): right first and second moments,
  nothing else.
- ``shuffled``: training windows with their time steps permuted: right marginals, no
  dynamics.

Scores are means and population standard deviations over ``--repeats`` seeds of the
post-hoc networks. ``--reference train`` scores against training windows instead, as
TimeGAN did (its figures are only comparable that way); ``--reuse`` scores finished runs
without training again: the newest checkpoint of each run directory is scored, finished
or not, and the table says at which step. Every row also gets density and coverage
(``seqtk.plugins.collapse``), so a collapsed generator shows in the numbers. Usage (stocks
runs only when given the data file's path, the repository's copy here):

    python bench/timeseries.py --out runs/bench-timeseries \\
        --stocks data/timegan-stock/stock_data.csv --repeats 5 --json-out timeseries.json
    python bench/timeseries.py --models timegan rwgan --reuse ...
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

BENCHMARKS = {
    "sines": {"timegan": {"discriminative": 0.011, "predictive": 0.093}},
    "stocks": {"timegan": {"discriminative": 0.102, "predictive": 0.038}},
}
#: Every stabiliser on the minimax GAN it is meant for (EMA also on the WGAN-GP one), each
#: alone, so that the table is an ablation; the recipes' own comments explain their sizes.
#: The last entry combines the two that helped most.
STABILISERS: dict[str, list[str]] = {
    "rgan+ema": ["train.ema.decay=0.999"],
    "rgan+sn": ["discriminator.params.spectral_norm=true"],
    "rgan+r1": ["train.adversarial.r1=1.0"],
    "rgan+noise": ["train.adversarial.instance_noise.std=0.1", "train.adversarial.instance_noise.anneal_steps=1000"],
    "rgan+ttur": ["train.optimizer.discriminator.lr=0.004", "train.optimizer.generator.lr=0.0005"],
    "rwgan+ema": ["train.ema.decay=0.999"],
    # The two that helped most on the quickstart, together (docs/timeseries.md section 8).
    "rgan+ttur+ema": ["train.optimizer.discriminator.lr=0.004", "train.optimizer.generator.lr=0.0005", "train.ema.decay=0.99"],
}


def _models(bench: str) -> dict[str, tuple[str, list[str]]]:
    rgan, rwgan = f"recipes/{bench}-minimax.yaml", f"recipes/{bench}-wgan-gp.yaml"
    models = {"timegan": (f"recipes/{bench}-timegan.yaml", []), "rgan": (rgan, []), "rwgan": (rwgan, [])}
    models.update({name: (rwgan if name.startswith("rwgan") else rgan, list(sets)) for name, sets in STABILISERS.items()})
    return models


MODELS = {bench: _models(bench) for bench in BENCHMARKS}
BASELINES = ("real", "gaussian", "shuffled")


def train(name: str, recipe: str, out: Path, overrides: list[str], reuse: bool) -> dict[str, Any]:
    """Run the recipe into ``out/name``; wall and CPU seconds of the training process."""
    from seqtk.core import checkpoint as ckpt
    from seqtk.core.api import run

    run_dir = out / name
    if reuse and ckpt.list_checkpoints(run_dir / "checkpoints"):
        summary = run_dir / "summary.json"
        return {"run_dir": str(run_dir), "reused": True, "finished": summary.exists(),
                "step": ckpt.list_checkpoints(run_dir / "checkpoints")[-1][0]}
    wall, cpu = time.perf_counter(), time.process_time()
    result = run(recipe, [*overrides, f"output.dir={run_dir}"], overwrite=True, progress=False)
    return {
        "run_dir": str(run_dir),
        "steps": result.steps,
        "train_wall_s": round(time.perf_counter() - wall, 1),
        "train_cpu_s": round(time.process_time() - cpu, 1),
        "final_metrics": {k: round(v, 4) for k, v in result.metrics.items()},
    }


def generated(run_dir: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` series from a run's newest checkpoint, in the domain's scaled units."""
    import torch

    from seqtk.core.api import restore
    from seqtk.core.trainer import sample_in_chunks

    parts, _, _ = restore(run_dir, seed=seed)
    with torch.no_grad():
        fake = sample_in_chunks(parts.generator, n, 1024)
    return fake.values.numpy(), fake.lengths.numpy()


def candidates(run_dir: str, seed: int, reference: str = "test") -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], tuple[np.ndarray, np.ndarray], dict[str, Any]]:
    """The series to score (scaled, ``[N, T, F]`` with lengths) and the real reference.

    ``reference="test"``: the held-out test windows (no row shared with training windows).
    ``reference="train"``: TimeGAN's protocol, ``N`` training windows; the ``real``
    baseline is then ``N`` other training windows (which overlap the reference's rows when
    the stride is smaller than the window, as TimeGAN's do).
    """
    from seqtk.core.api import restore

    parts, recipe, _ = restore(run_dir, seed=seed)
    train_batch, test_batch = parts.domain.load("train").batch, parts.domain.load("test").batch
    n = test_batch.size
    rng = np.random.default_rng(seed)
    train_values, train_lengths = train_batch.values.numpy(), train_batch.lengths.numpy()
    if reference == "train":
        n = min(n, train_batch.size // 2)
        order = rng.permutation(train_batch.size)
        reference_rows, rows = order[:n], order[n : 2 * n]
        real = (train_values[reference_rows], train_lengths[reference_rows])
    else:
        rows = rng.choice(train_batch.size, size=n, replace=train_batch.size < n)
        real = (test_batch.values.numpy(), test_batch.lengths.numpy())
    flat = train_values.reshape(train_batch.size, -1).astype(np.float64)
    gaussian = rng.multivariate_normal(flat.mean(0), np.cov(flat, rowvar=False), size=n, method="eigh")
    shuffled = train_values[rows].copy()
    for row in range(n):  # permute each window's valid steps
        length = int(train_lengths[rows[row]])
        shuffled[row, :length] = shuffled[row, rng.permutation(length)]
    out = {
        "real": (train_values[rows], train_lengths[rows]),
        "gaussian": (gaussian.reshape(n, *train_values.shape[1:]).astype(np.float32), np.full(n, train_values.shape[1])),
        "shuffled": (shuffled, train_lengths[rows]),
    }
    protocol = {
        "train_windows": train_batch.size,
        "test_windows": test_batch.size,
        "reference": reference,
        "series_per_side": n,
        "steps": int(test_batch.steps),
        "features": int(test_batch.values.shape[2]),
        "domain": repr(parts.domain),
    }
    return out, real, protocol


def score_task(task: tuple[Any, ...]) -> tuple[str, str, str, float, float]:
    """One (benchmark, candidate, metric, seed) score, in a one-thread worker."""
    import torch

    torch.set_num_threads(1)
    from seqtk.plugins.timeseries.posthoc import discriminative_score, predictive_score

    bench, candidate, metric, seed, steps, real, real_len, fake, fake_len = task
    fn = discriminative_score if metric == "discriminative" else predictive_score
    start = time.perf_counter()
    settings = {"steps": steps} if steps else {}  # None: TimeGAN's 2000 / 5000
    value = fn(torch.from_numpy(real), torch.from_numpy(fake), torch.from_numpy(real_len), torch.from_numpy(fake_len), seed=seed, **settings)
    return bench, candidate, metric, value, time.perf_counter() - start


def mmd(real: tuple[np.ndarray, np.ndarray], fake: tuple[np.ndarray, np.ndarray]) -> float:
    import torch

    from seqtk.core.interfaces import Batch
    from seqtk.plugins.timeseries.metrics import MMD

    def batch(pair: tuple[np.ndarray, np.ndarray]) -> Batch:
        return Batch(torch.from_numpy(np.ascontiguousarray(pair[0], dtype=np.float32)), torch.from_numpy(np.asarray(pair[1])).long())

    return MMD(max_samples=2000)(batch(real), batch(fake))


def collapse(real: tuple[np.ndarray, np.ndarray], fake: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
    """Density and coverage (Naeem et al. 2020) on min-max-scaled flattened windows, as the run's metrics compute them."""
    import torch

    from seqtk.core.interfaces import Batch
    from seqtk.plugins.collapse import density_coverage, scaled_windows

    def batch(pair: tuple[np.ndarray, np.ndarray]) -> Batch:
        return Batch(torch.from_numpy(np.ascontiguousarray(pair[0], dtype=np.float32)), torch.from_numpy(np.asarray(pair[1])).long())

    density, coverage = density_coverage(*scaled_windows(batch(real), batch(fake)))
    return {"density": round(density, 4), "coverage": round(coverage, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-timeseries"))
    parser.add_argument("--stocks", help="path of TimeGAN's stock_data.csv (the stocks benchmark is skipped without it)")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append")
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS["sines"]), help="models to train and score (default: all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--reuse", action="store_true", help="score finished runs in --out instead of training again")
    parser.add_argument("--train-only", action="store_true", help="train the runs and stop (score them later with --reuse)")
    parser.add_argument("--skip-baselines", action="store_true", help="score the models only (their baselines scored in another invocation)")
    parser.add_argument("--metrics", nargs="+", choices=("discriminative", "predictive"), default=["discriminative", "predictive"],
                        help="post-hoc scores to compute (both by default)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="BENCH/MODEL:KEY=VALUE (or BENCH:KEY=VALUE for all its models) recipe override")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--reference", choices=("test", "train"), default="test",
                        help="score against the held-out test windows (default) or, as TimeGAN did, against training windows")
    parser.add_argument("--metric-steps", type=int, help="post-hoc network steps (a smoke test only: the scores are defined with TimeGAN's 2000/5000)")
    args = parser.parse_args()

    names = args.only or [name for name in BENCHMARKS if name != "stocks" or args.stocks]
    report: dict[str, Any] = {"protocol": {
        "metrics": "TimeGAN's discriminative (2000 steps) and predictive (5000 steps) scores, GRU hidden features/2, batch 128; MMD on up to 2000 series",
        "reference": {"test": "held-out test windows of the run's domain (no row shared with a training window)",
                      "train": "training windows, as TimeGAN scored (the real baseline: other training windows)"}[args.reference],
        "repeats": args.repeats,
        "statistic": "mean and population std over post-hoc seeds",
        "workers": args.workers,
        "metric_steps": args.metric_steps or "TimeGAN's (2000 / 5000)",
    }, "benchmarks": {}}
    tasks = []
    chosen = args.models or list(MODELS["sines"])
    jobs = []  # (bench, model, recipe, overrides)
    for name in names:
        for model in chosen:
            recipe, sets = MODELS[name][model]
            extra = [o.split(":", 1)[1] for o in args.overrides if o.split(":", 1)[0] in (name, f"{name}/{model}")]
            path = [f"domain.params.path={args.stocks}"] if name == "stocks" else []
            jobs.append((name, model, recipe, [*sets, *path, *extra]))
    # The recipes train on one thread each, so the models train side by side.
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        trained_runs = list(pool.map(train, [f"{b}-{m}" for b, m, _, _ in jobs], [r for _, _, r, _ in jobs], [args.out] * len(jobs), [o for *_, o in jobs], [args.reuse] * len(jobs)))
    if args.train_only:
        print(json.dumps(trained_runs, indent=2))
        return
    for name in names:
        runs = {m: (r, o, t) for (b, m, r, o), t in zip(jobs, trained_runs) if b == name}
        first = next(iter(runs.values()))[2]["run_dir"]
        series, real, protocol = candidates(first, seed=0, reference=args.reference)
        if args.skip_baselines:
            series = {}
        n = protocol["series_per_side"]
        for model, (_, _, trained) in runs.items():
            series[model] = generated(trained["run_dir"], n, seed=0)
        entry = {"data": protocol, "timegan_paper": BENCHMARKS[name]["timegan"],
                 "models": {m: {"recipe": r, "overrides": o, **t} for m, (r, o, t) in runs.items()},
                 "scores": {c: {"mmd": round(mmd(real, series[c]), 4), **collapse(real, series[c])} for c in series}}
        report["benchmarks"][name] = entry
        for candidate in series:
            for metric in args.metrics:
                for seed in range(args.repeats):
                    tasks.append((name, candidate, metric, seed, args.metric_steps, real[0], real[1], series[candidate][0], series[candidate][1]))
        print(f"{name}: {len(runs)} runs; scoring {len(series)} candidates", flush=True)

    start = time.perf_counter()
    results: dict[tuple[str, str, str], list[float]] = {}
    seconds: dict[str, float] = {}
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for bench, candidate, metric, value, took in pool.map(score_task, tasks):
            results.setdefault((bench, candidate, metric), []).append(value)
            seconds[metric] = seconds.get(metric, 0.0) + took
    for (bench, candidate, metric), values in results.items():
        report["benchmarks"][bench]["scores"][candidate][metric] = {"mean": round(float(np.mean(values)), 4), "std": round(float(np.std(values)), 4), "runs": [round(v, 4) for v in values]}
    report["protocol"]["scoring_wall_s"] = round(time.perf_counter() - start, 1)
    report["protocol"]["cpu_s_per_score"] = {m: round(s / max(1, sum(1 for t in tasks if t[2] == m)), 1) for m, s in seconds.items()}
    text = json.dumps(report, indent=2)
    print(text)
    if args.json_out:
        args.json_out.write_text(text + "\n")
    print(table(report))


def table(report: dict[str, Any]) -> str:
    """The markdown table of the closing note."""
    lines = [
        "| benchmark | candidate | discriminative | predictive | MMD | density | coverage | steps | train CPU s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in report["benchmarks"].items():
        models = entry.get("models", {})
        for candidate, scores in entry["scores"].items():
            cells = [f"{scores[m]['mean']:.3f} ± {scores[m]['std']:.3f}" if m in scores else "-" for m in ("discriminative", "predictive")]
            run = models.get(candidate, {})
            steps = run.get("step", run.get("steps", ""))
            cpu = run.get("train_cpu_s", "")
            lines.append(
                f"| {name} | {candidate} | {cells[0]} | {cells[1]} | {scores['mmd']:.3f} | {scores.get('density', float('nan')):.3f} "
                f"| {scores.get('coverage', float('nan')):.3f} | {steps} | {cpu} |"
            )
        paper = entry["timegan_paper"]
        lines.append(f"| {name} | TimeGAN (paper) | {paper['discriminative']:.3f} | {paper['predictive']:.3f} | | | | | |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
