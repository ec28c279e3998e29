"""One SeqGAN adversarial generator step at the oracle's size, timed part by part (DESIGN.md section 6).

SeqGAN on the oracle task: vocabulary 5000, length 20, batch 64, 16 Monte-Carlo rollouts
per prefix, generator ``token-lstm`` (embedding 32, hidden 32), minimax objective,
``reinforce`` estimator (update rate 0.8, its default ``chunk_size``). The discriminator
is ``cnn`` with SeqGAN's published configuration (embedding 64, filter widths 1-10, 15,
20 with 100-200 filters each, highway, dropout 0.25) when ``plugins/discriminators.py``
provides it, else ``gru``. TextGAN-PyTorch takes 37 s for this step on 2 cores, 99% of
it in rollouts and rewards.

A step is ``Reinforce.generator_step`` (sampling with log-probs, batched rollouts from the
delayed copy, discriminator scores of every completion, the loss) plus ``backward``.
Rollout and scoring time are measured inside the step by wrapping the delayed copy's
``rollouts`` and the discriminator's ``forward``. Prints one JSON object; run with:

    python bench/adversarial_step.py [--repeats 3] [--threads N] [--discriminator cnn|cnn-default|gru] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from typing import Any, Callable

import torch

from seqtk.core.interfaces import DomainSpec
from seqtk.plugins import discriminators
from seqtk.plugins.estimators import Reinforce
from seqtk.plugins.objectives import Minimax
from seqtk.plugins.text.generator import TokenLSTMGenerator

VOCAB, LENGTH, BATCH, ROLLOUTS = 5000, 20, 64, 16
SEQGAN_CNN = {
    "embed_dim": 64,
    "filter_sizes": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20],
    "num_filters": [100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160],
    "dropout": 0.25,
    "highway": True,
}


def synchronize() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


class Stopwatch:
    """Accumulates the wall time spent inside wrapped callables."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            synchronize()
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                synchronize()
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

        return timed


def build_discriminator(spec: DomainSpec, choice: str) -> tuple[torch.nn.Module, str]:
    has_cnn = hasattr(discriminators, "CNNDiscriminator")
    if choice in ("cnn", "cnn-default") and not has_cnn:
        raise SystemExit("plugins/discriminators.py has no CNNDiscriminator yet")
    if choice in ("auto", "cnn") and has_cnn:
        return discriminators.CNNDiscriminator(spec, **SEQGAN_CNN), "cnn (SeqGAN's configuration)"
    if choice == "cnn-default":
        return discriminators.CNNDiscriminator(spec), "cnn (seqtk's defaults)"
    return discriminators.GRUDiscriminator(spec, hidden_dim=64, embed_dim=64), "gru (hidden 64, embed 64)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument("--discriminator", choices=["auto", "cnn", "cnn-default", "gru"], default="auto")
    parser.add_argument("--chunk-size", type=int, default=None, help="reinforce chunk_size (default: its own default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    spec = DomainSpec(kind="discrete", max_len=LENGTH, vocab_size=VOCAB)
    generator = TokenLSTMGenerator(spec, embed_dim=32, hidden_dim=32).to(args.device)
    discriminator, described = build_discriminator(spec, args.discriminator)
    discriminator.to(args.device)
    objective = Minimax()
    estimator = Reinforce(rollouts=ROLLOUTS, **({"chunk_size": args.chunk_size} if args.chunk_size else {}))
    estimator.setup(generator, discriminator, objective)  # type: ignore[arg-type]
    real = generator.sample(BATCH).detach()  # stands in for a real batch (minimax never scores it here)
    generator.train()
    discriminator.train()

    watch = Stopwatch()

    def one_step(step: int) -> float:
        synchronize()
        started = time.perf_counter()
        result = estimator.generator_step(generator, discriminator, objective, real, step=step, total_steps=100)  # type: ignore[arg-type]
        generator.zero_grad(set_to_none=True)
        result.loss.backward()
        estimator.after_generator_step(generator, step=step)
        synchronize()
        return time.perf_counter() - started

    one_step(0)  # warm-up; also makes the delayed copy
    delayed = estimator.delayed
    assert delayed is not None
    delayed.rollouts = watch.wrap("rollouts", delayed.rollouts)  # type: ignore[method-assign]
    discriminator.forward = watch.wrap("discriminator", discriminator.forward)  # type: ignore[method-assign]
    totals = [one_step(step) for step in range(1, args.repeats + 1)]
    per_step = {name: seconds / args.repeats for name, seconds in watch.seconds.items()}
    total = statistics.median(totals)
    rows = BATCH * ROLLOUTS * (LENGTH - 1)
    print(
        json.dumps(
            {
                "protocol": {
                    "task": f"one SeqGAN generator step: batch {BATCH}, {ROLLOUTS} rollouts, vocab {VOCAB}, length {LENGTH}, "
                    f"{rows} completions scored, generator token-lstm (32/32), minimax reward sigmoid(D)",
                    "discriminator": described,
                    "discriminator_parameters": sum(p.numel() for p in discriminator.parameters()),
                    "chunk_size": estimator.chunk_size,
                    "threads": torch.get_num_threads(),
                    "torch": torch.__version__,
                    "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
                    "machine": platform.processor() or platform.machine(),
                    "statistic": f"wall seconds; total is the median of {args.repeats} steps after 1 warm-up, "
                    "parts are means over the same steps",
                },
                "seconds": {
                    "step_total": round(total, 3),
                    "rollouts": round(per_step.get("rollouts", 0.0), 3),
                    "discriminator_scoring": round(per_step.get("discriminator", 0.0), 3),
                    "rest (sampling, loss, backward)": round(
                        sum(totals) / args.repeats - per_step.get("rollouts", 0.0) - per_step.get("discriminator", 0.0), 3
                    ),
                },
                "reference": {"textgan_pytorch_seconds": 37.0, "target_seconds": 3.7},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
