"""The music benchmark: how close each music recipe comes to held-out Bach chorales, beside baselines.

Two chains of runs, trained side by side (one thread each):

- ``tokens``: ``recipes/chorales-tokens-gan.yaml`` (event tokens, token LSTM, CNN
  discriminator, MaliGAN).
- ``events``: ``recipes/chorales-events-gan.yaml`` (note events, ``grid-lstm``
  generator and discriminator, MaliGAN).

In each chain ``<chain>-mle`` is the recipe's maximum-likelihood pretraining alone
(adversarial steps 0, no discriminator pretraining) and ``<chain>-gan`` starts from
that generator (``train.init_generator``) and runs the recipe's discriminator
pretraining and adversarial phase, so the GAN is compared with exactly the model it
started from. (A recipe that trains adversarially from scratch gets an MLE-only twin of
``--events-mle-steps`` teacher-forced steps instead.) Every candidate is
then scored with the same code against one reference: the held-out chorales' excerpts
(32 notes every 16, from pieces no run trained on), decoded to notes. Each candidate
gives as many excerpts as the reference has; distances are ``1 - histogram overlap``
per feature (``seqtk.plugins.music.features``) and their mean, over ``--repeats``
sampling seeds (mean and population std). Beside them, each GAN's discriminator at its
last evaluation (``d_acc_real``, ``d_acc_fake``, ``d_auc`` from ``metrics.jsonl``), so a
dead discriminator (AUC near 0.5) shows, and density and coverage against the held-out
excerpts on the music runs' own embedding (``seqtk.plugins.music.embedding``), so a
generator that repeats a few phrases shows too. Baselines, same size, same code:

- ``real-train``: training excerpts, the floor a perfect generator reaches (two sets of
  real excerpts differ too);
- ``random-uniform``: 32 notes with pitches uniform over the training pitch range,
  onsets a random sixteenth to a whole note apart, random lengths (MuseGAN's "random"
  baseline in spirit);
- ``random-marginals``: independent notes whose pitch, gap and length are drawn from the
  training notes' own distributions: right statistics per note, no harmony, no line.

Usage (needs ``pip install 'seqtk[music]'`` once for the chorales, or a cache):

    python bench/music.py --out runs/bench-music --json-out music.json
    python bench/music.py --out runs/bench-music --reuse       # score finished runs again
    python bench/music.py --out /tmp/b --source builtin --steps-scale 0.02   # a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

CHAINS = {
    "tokens": "recipes/chorales-tokens-gan.yaml",
    "events": "recipes/chorales-events-gan.yaml",
}
BASELINES = ("real-train", "random-uniform", "random-marginals")


def train_chain(task: tuple[str, str, str, list[str], bool, float, int]) -> dict[str, Any]:
    """``<chain>-mle`` and ``<chain>-gan`` (from the MLE generator when the recipe pretrains); seconds of each."""
    import torch

    from seqtk.core.api import run
    from seqtk.core.recipe import load_recipe

    chain, recipe_path, out, overrides, reuse, scale, mle_steps = task
    torch.set_num_threads(1)
    recipe = load_recipe(recipe_path, overrides).to_dict()
    pretraining = recipe["train"]["pretrain"]
    recipe_pretrain = pretraining["generator_steps"]
    pretrain = max(1, round((recipe_pretrain or mle_steps) * scale))
    adversarial = max(1, round(recipe["train"]["adversarial"]["steps"] * scale))
    critic_warmup = round(pretraining["discriminator_steps"] * scale)
    every = max(1, round(recipe["eval"]["every"] * scale))
    # The MLE stage is the generator's pretraining alone: no discriminator pretraining.
    mle = [f"train.pretrain.generator_steps={pretrain}", "train.pretrain.discriminator_steps=0", "train.adversarial.steps=0"]
    if pretraining.get("generator_lr_final_steps"):  # a shortened run keeps its low-rate tail in proportion
        mle.append(f"train.pretrain.generator_lr_final_steps={max(1, round(pretraining['generator_lr_final_steps'] * scale))}")
    if recipe_pretrain:  # the GAN continues from the recipe's own pretraining
        gan = [
            "train.pretrain.generator_steps=0",
            "train.pretrain.generator_lr_final=null",
            "train.pretrain.generator_lr_final_steps=0",
            f"train.pretrain.discriminator_steps={critic_warmup}",
            f"train.init_generator={Path(out) / f'{chain}-mle'}",
        ]
    else:  # the recipe trains adversarially from scratch; its MLE-only twin is a baseline
        gan = [f"train.pretrain.discriminator_steps={critic_warmup}"]
    stages = {f"{chain}-mle": mle, f"{chain}-gan": [*gan, f"train.adversarial.steps={adversarial}"]}
    report: dict[str, Any] = {}
    for name, stage in stages.items():
        run_dir = Path(out) / name
        if reuse and (run_dir / "summary.json").exists():
            report[name] = {"run_dir": str(run_dir), "reused": True}
            continue
        wall, cpu = time.perf_counter(), time.process_time()
        result = run(
            recipe_path,
            [*overrides, *stage, f"eval.every={every}", f"output.checkpoint_every={every}", f"output.dir={run_dir}"],
            overwrite=True,
            progress=False,
        )
        report[name] = {
            "run_dir": str(run_dir),
            "steps": result.steps,
            "train_wall_s": round(time.perf_counter() - wall, 1),
            "train_cpu_s": round(time.process_time() - cpu, 1),
            "final_metrics": {k: round(v, 4) for k, v in result.metrics.items()},
        }
    return report


def discriminator_view(run_dir: str) -> dict[str, float]:
    """The last evaluation's ``d_acc_real``, ``d_acc_fake`` and ``d_auc`` (empty for a run with no discriminator training).

    Logged by the trainer at every evaluation (``seqtk.core.discrimination``), on held-out
    real excerpts against fresh samples: a discriminator at 0.5 AUC has stopped telling
    them apart (dead, or beaten), one at 1.0 rejects every sample.
    """
    view: dict[str, float] = {}
    with open(Path(run_dir) / "metrics.jsonl", encoding="utf-8") as log:
        for line in log:
            record = json.loads(line)
            if record.get("phase") == "eval" and "d_auc" in record:
                view = {k: round(float(record[k]), 3) for k in ("d_acc_real", "d_acc_fake", "d_auc")}
    return view


def generated_pieces(run_dir: str, n: int, seed: int) -> list[Any]:
    """``n`` excerpts from a finished run's generator, decoded to pieces."""
    import torch

    from seqtk.core.api import restore
    from seqtk.core.trainer import sample_in_chunks

    parts, _, _ = restore(run_dir, seed=seed)
    with torch.no_grad():
        batch = sample_in_chunks(parts.generator, n, 1024)
    return parts.domain.to_pieces(batch)


def baseline_pieces(name: str, train: list[Any], n: int, notes: int, seed: int) -> list[Any]:
    from seqtk.plugins.music.notes import Note, Piece
    from seqtk.plugins.music.representations import piece_to_events

    rng = np.random.default_rng(seed)
    if name == "real-train":
        return [train[i] for i in rng.choice(len(train), size=n, replace=len(train) < n)]
    events = np.concatenate([piece_to_events(p)[1:] for p in train])  # gaps after the first note
    pitches = events[:, 2].astype(int)
    tempo, bar = train[0].tempo_bpm, train[0].beats_per_bar
    pieces = []
    for k in range(n):
        if name == "random-uniform":
            gaps = rng.integers(1, 17, size=notes) / 4.0
            lengths = rng.integers(1, 17, size=notes) / 4.0
            chosen = rng.integers(pitches.min(), pitches.max() + 1, size=notes)
        else:
            gaps = rng.choice(events[:, 0], size=notes)
            lengths = rng.choice(events[:, 1], size=notes)
            chosen = rng.choice(pitches, size=notes)
        gaps[0] = 0.0
        starts = np.cumsum(gaps)
        pieces.append(Piece([Note(float(s), float(d), int(p), 80) for s, d, p in zip(starts, lengths, chosen)],
                            tempo_bpm=tempo, beats_per_bar=bar, name=f"{name}-{k}"))
    return pieces


def feature_table(pieces: list[Any]) -> dict[str, np.ndarray]:
    """Every feature of every piece, computed once: ``{feature: [len(pieces)] values}``."""
    from seqtk.plugins.music.features import FEATURES

    return {name: np.array([feature(p) for p in pieces], dtype=np.float64) for name, feature in FEATURES.items()}


def distances(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray]) -> dict[str, float]:
    """``features.feature_distance`` on precomputed feature values: per feature ``1 - overlap``, and their mean."""
    from seqtk.plugins.music.features import overlap

    out = {name: 1.0 - overlap(reference[name], values) for name, values in candidate.items()}
    out["mean"] = float(np.mean(list(out.values())))
    return out


def collapse(reference: list[Any], pieces: list[Any]) -> dict[str, float]:
    """Density and coverage (k = 5) of ``pieces`` against ``reference``, on the music runs' own embedding.

    The same points and scaling as the ``density``/``coverage`` metrics of a run
    (``seqtk.plugins.music.embedding``), so a phrase-repeating generator shows here as it
    does in ``metrics.jsonl``.
    """
    import torch

    from seqtk.plugins.collapse import density_coverage, scaled_columns
    from seqtk.plugins.music.embedding import piece_vector

    real = torch.from_numpy(np.stack([piece_vector(p) for p in reference]))
    fake = torch.from_numpy(np.stack([piece_vector(p) for p in pieces]))
    density, coverage = density_coverage(*scaled_columns(real, fake))
    return {"density": density, "coverage": coverage}


def score_all(out: Path, runs: list[str], repeats: int, source: str) -> dict[str, Any]:
    """Every candidate against the held-out excerpts, ``repeats`` seeds each."""
    from seqtk.core.api import restore

    parts, recipe, _ = restore(str(out / "events-gan"))
    domain = parts.domain
    reference = domain.to_pieces(domain.load("test").batch, prefix="held-out")
    train = domain.to_pieces(domain.load("train").batch, prefix="train")
    reference_features = feature_table(reference)
    n = len(reference)
    scores: dict[str, Any] = {}
    for name in [*BASELINES, *runs]:
        per_seed, means, spread = [], [], []
        seconds = time.perf_counter()
        for seed in range(repeats):
            if name in BASELINES:
                pieces = baseline_pieces(name, train, n, domain.notes, seed)
            else:
                pieces = generated_pieces(str(out / name), n, seed)
            features = feature_table(pieces)
            per_seed.append(distances(reference_features, features))
            spread.append(collapse(reference, pieces))
            means.append({f: float(values.mean()) for f, values in features.items()})
        keys = list(per_seed[0])
        scores[name] = {
            "discriminator": {} if name in BASELINES else discriminator_view(str(out / name)),
            "distance": {k: round(float(np.mean([d[k] for d in per_seed])), 4) for k in keys},
            "distance_std": {k: round(float(np.std([d[k] for d in per_seed])), 4) for k in keys},
            "feature_means": {f: round(float(np.mean([m[f] for m in means])), 3) for f in reference_features},
            "collapse": {k: round(float(np.mean([c[k] for c in spread])), 3) for k in ("density", "coverage")},
            "score_wall_s": round(time.perf_counter() - seconds, 1),
        }
    scores["held-out"] = {"feature_means": {f: round(float(values.mean()), 3) for f, values in reference_features.items()}}
    protocol = {
        "source": source,
        "reference": "held-out pieces' excerpts (split by piece, seed 0)",
        "reference_excerpts": n,
        "train_excerpts": len(train),
        "excerpt_notes": domain.notes,
        "excerpt_stride": domain.stride,
        "samples_per_candidate": n,
        "repeats": repeats,
        "distance": "1 - overlap of 20-bin histograms per feature; mean over the 8 features",
        "domain": repr(domain),
    }
    return {"protocol": protocol, "scores": scores}


def table(report: dict[str, Any]) -> str:
    from seqtk.plugins.music.features import FEATURES

    short = {"pitch-range": "range", "used-pitch-classes": "classes", "pitch-class-entropy": "entropy",
             "scale-consistency": "scale", "polyphony": "poly", "repetitions": "repeat", "note-density": "density",
             "empty-beat-rate": "empty"}
    lines = ["| candidate | music-distance | " + " | ".join(short[f] for f in FEATURES) + " | kNN density | kNN coverage | D acc real / fake | D AUC | train CPU s |",
             "|---" * (len(FEATURES) + 7) + "|"]
    for name, row in report["scores"].items():
        if "distance" not in row:
            continue
        cpu = report.get("training", {}).get(name, {}).get("train_cpu_s", "")
        mean, std = row["distance"]["mean"], row["distance_std"]["mean"]
        cells = " | ".join(f"{row['distance'][f]:.3f}" for f in FEATURES)
        d = row.get("discriminator") or {}
        acc = f"{d['d_acc_real']:.2f} / {d['d_acc_fake']:.2f}" if d else ""
        auc = f"{d['d_auc']:.2f}" if d else ""
        spread = row.get("collapse") or {}
        collapsed = f"{spread['density']:.2f} | {spread['coverage']:.2f}" if spread else " | "
        lines.append(f"| {name} | {mean:.3f} ± {std:.3f} | {cells} | {collapsed} | {acc} | {auc} | {cpu} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-music"))
    parser.add_argument("--source", choices=("chorales", "builtin"), default="chorales",
                        help="builtin: the no-download corpus, for a smoke test of this script")
    parser.add_argument("--repeats", type=int, default=3, help="sampling seeds per candidate")
    parser.add_argument("--steps-scale", type=float, default=1.0, help="multiply the recipes' step counts (a smoke test only)")
    parser.add_argument("--reuse", action="store_true", help="score finished runs in --out instead of training again")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--events-mle-steps", type=int, default=1500, help="teacher-forced steps of the events-mle baseline")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()

    overrides = [f"domain.params.source={args.source}"]
    tasks = [
        (chain, recipe, str(args.out), overrides, args.reuse, args.steps_scale, args.events_mle_steps)
        for chain, recipe in CHAINS.items()
    ]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        training: dict[str, Any] = {}
        for part in pool.map(train_chain, tasks):
            training.update(part)
    train_wall = time.perf_counter() - started
    report = score_all(args.out, list(training), args.repeats, args.source)
    report["training"] = training
    report["protocol"]["train_wall_s_side_by_side"] = round(train_wall, 1)
    report["protocol"]["machine"] = f"{os.cpu_count()} CPU cores"
    print(json.dumps(report, indent=2))
    print(table(report))
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
