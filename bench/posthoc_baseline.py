"""TimeGAN's discriminative and predictive scores of real data against itself.

The floor any generator is judged against, measured with seqtk's own metric code: sines
(code variant) against an independent draw of the same process. TimeGAN's published
figures on sines (.011 discriminative, .093 predictive) are to be read beside these.
Prints one JSON object with the protocol; run with:

    python bench/posthoc_baseline.py [--samples 2000] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from seqtk.plugins.timeseries.posthoc import discriminative_score, predictive_score, repeated
from seqtk.plugins.timeseries.sines import SinesDomain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=2000, help="series per side")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    def draw(seed: int) -> torch.Tensor:
        return SinesDomain(samples=args.samples, length=24, features=5, variant="code", seed=seed).load("train").batch.values

    real, other = draw(1), draw(2)
    start = time.perf_counter()
    discriminative = repeated(lambda s: discriminative_score(real, other, seed=s), args.repeats)
    predictive = repeated(lambda s: predictive_score(real, other, seed=s), args.repeats)
    print(json.dumps({
        "protocol": {
            "data": f"sines, code variant, length 24, 5 features; {real.shape[0]} training series of seed 1 against {other.shape[0]} of seed 2",
            "metric_settings": "TimeGAN's: GRU hidden 2, batch 128, 2000 (discriminative) / 5000 (predictive) Adam steps",
            "repeats": args.repeats,
            "threads": args.threads,
            "statistic": "mean and population std over repeats",
        },
        "discriminative_real_vs_real": {"mean": round(discriminative[0], 4), "std": round(discriminative[1], 4)},
        "predictive_train_on_real": {"mean": round(predictive[0], 4), "std": round(predictive[1], 4)},
        "reference_timegan_sines": {"discriminative": 0.011, "predictive": 0.093},
        "seconds": round(time.perf_counter() - start, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
