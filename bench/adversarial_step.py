"""One SeqGAN adversarial generator step, and MLE pretraining speed, at the oracle's size (DESIGN.md section 6).

SeqGAN on the oracle task: vocabulary 5000, length 20, batch 64, 16 Monte-Carlo rollouts
per prefix, generator ``token-lstm`` (embedding 32, hidden 32), minimax objective,
``reinforce`` estimator (update rate 0.8, its default ``chunk_size``). Discriminators:

- ``textgan`` (default): TextGAN-PyTorch's SeqGAN discriminator (models/SeqGAN_D.py on
  models/discriminator.py's CNNDiscriminator, run_seqgan.py ``dis_embed_dim = 64``):
  SeqGAN's filters (widths 1-10, 15, 20; 100-200 filters each), a highway whose one
  matrix gives both gate and transform (``tied_highway``), dropout 0.25. 4.08M
  parameters at vocabulary 5000 (TextGAN's two-class output layer has 1,721 more).
  TextGAN-PyTorch takes 37 s for this step on 2 cores, 99% of it in rollouts and rewards;
- ``cnn``: SeqGAN's own configuration (separate highway gate and transform, 7.0M);
- ``cnn-default``: seqtk's defaults; ``gru``: a GRU (hidden 64, embedding 64).

A step is ``Reinforce.generator_step`` (sampling with log-probs, batched rollouts from the
delayed copy, discriminator scores of every completion, the loss) plus ``backward``. Two
scoring paths run alternately in the same process, so their ratio holds on a busy
machine: ``forward`` (every completion through ``forward``, the baseline) and
``completions`` (the discriminator's ``score_completions``, which reuses the windows a
completion shares with its sequence). Before timing, both paths score the same rollouts
(same seed) and the largest difference of their action values is reported.

``--mle`` instead times teacher-forced pretraining steps (batch 64, Adam 1e-2, gradient
norm clipped at 5, as the trainer does them, with freed memory kept in the process as the
trainer keeps it on the CPU: ``seqtk.core.cpu_memory``) in tokens per second;
TextGAN-PyTorch does 45.1k tokens/s. ``--no-keep-freed-memory`` measures glibc's default
behaviour instead, for the ratio between the two. Prints one JSON object:

    python bench/adversarial_step.py [--repeats 3] [--threads N] [--discriminator textgan|cnn|cnn-default|gru] [--device cuda]
    python bench/adversarial_step.py --mle [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from typing import Any, Callable

import torch
from torch import Tensor, nn

from seqtk.core.cpu_memory import keep_freed_memory
from seqtk.core.interfaces import Batch, Discriminator, DomainSpec
from seqtk.plugins import discriminators
from seqtk.plugins.estimators import Reinforce
from seqtk.plugins.objectives import Minimax
from seqtk.plugins.tokens.generator import TokenLSTMGenerator

VOCAB, LENGTH, BATCH, ROLLOUTS = 5000, 20, 64, 16
SEQGAN_CNN: dict[str, Any] = {
    "embed_dim": 64,
    "filter_sizes": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20],
    "num_filters": [100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160],
    "dropout": 0.25,
    "highway": True,
}
TEXTGAN_CNN: dict[str, Any] = {**SEQGAN_CNN, "tied_highway": True}
#: Measured on 2 idle cores with TextGAN-PyTorch (DESIGN.md section 6).
TEXTGAN_STEP_SECONDS, TEXTGAN_MLE_TOKENS_PER_SECOND = 37.0, 45_100


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


class ForwardOnly(Discriminator):
    """The baseline scoring path: the same discriminator without ``score_completions``."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, batch: Batch) -> Tensor:
        return self.inner(batch)  # type: ignore[no-any-return]


def build_discriminator(spec: DomainSpec, choice: str) -> tuple[nn.Module, str]:
    if choice == "textgan":
        return discriminators.CNNDiscriminator(spec, **TEXTGAN_CNN), "cnn (TextGAN-PyTorch's SeqGAN_D: tied highway)"
    if choice == "cnn":
        return discriminators.CNNDiscriminator(spec, **SEQGAN_CNN), "cnn (SeqGAN's configuration)"
    if choice == "cnn-default":
        return discriminators.CNNDiscriminator(spec), "cnn (seqtk's defaults)"
    return discriminators.GRUDiscriminator(spec, hidden_dim=64, embed_dim=64), "gru (hidden 64, embed 64)"


def adversarial(args: argparse.Namespace) -> dict[str, Any]:
    spec = DomainSpec(kind="discrete", max_len=LENGTH, vocab_size=VOCAB)
    generator = TokenLSTMGenerator(spec, embed_dim=32, hidden_dim=32).to(args.device)
    discriminator, described = build_discriminator(spec, args.discriminator)
    discriminator.to(args.device)
    paths: dict[str, nn.Module] = {"forward": ForwardOnly(discriminator)}
    if callable(getattr(discriminator, "score_completions", None)):
        paths["completions"] = discriminator
    objective = Minimax()
    estimator = Reinforce(rollouts=ROLLOUTS, **({"chunk_size": args.chunk_size} if args.chunk_size else {}))
    estimator.setup(generator, discriminator, objective)  # type: ignore[arg-type]
    real = generator.sample(BATCH).detach()  # stands in for a real batch (minimax never scores it here)
    generator.train()
    discriminator.train()

    # The same rollouts (same seed) scored by every path: the values must agree.
    fake = generator.sample(BATCH).detach()
    values = {}
    for name, scorer in paths.items():
        torch.manual_seed(args.seed + 1)
        values[name], _ = estimator.action_values(fake, scorer, objective, real, rollout_generator=generator)  # type: ignore[arg-type]
    difference = max((float((v - values["forward"]).abs().max()) for v in values.values()), default=0.0)

    watch = Stopwatch()
    for name, scorer in paths.items():
        inner = discriminator if name == "completions" else scorer
        method = "score_completions" if name == "completions" else "forward"
        setattr(inner, method, watch.wrap(f"{name}/scoring", getattr(inner, method)))

    def one_step(name: str, step: int) -> tuple[float, float]:
        synchronize()
        started, cpu_started = time.perf_counter(), time.process_time()
        result = estimator.generator_step(generator, paths[name], objective, real, step=step, total_steps=100)  # type: ignore[arg-type]
        generator.zero_grad(set_to_none=True)
        result.loss.backward()
        estimator.after_generator_step(generator, step=step)
        synchronize()
        return time.perf_counter() - started, time.process_time() - cpu_started

    for name in paths:
        one_step(name, 0)  # warm-up; also makes the delayed copy
    watch.seconds.clear()
    delayed = estimator.delayed
    assert delayed is not None
    delayed.rollouts = watch.wrap("rollouts", delayed.rollouts)  # type: ignore[method-assign]
    totals: dict[str, list[float]] = {name: [] for name in paths}
    cpu: dict[str, list[float]] = {name: [] for name in paths}
    for step in range(1, args.repeats + 1):
        for name in paths:  # alternate, so that both see the same machine load
            wall, used = one_step(name, step)
            totals[name].append(wall)
            cpu[name].append(used)
    rollouts_per_step = watch.seconds.get("rollouts", 0.0) / (args.repeats * len(paths))
    seconds = {
        name: {
            "step_total": round(statistics.median(times), 3),
            "step_cpu": round(statistics.median(cpu[name]), 3),
            "rollouts": round(rollouts_per_step, 3),
            "discriminator_scoring": round(watch.seconds.get(f"{name}/scoring", 0.0) / args.repeats, 3),
        }
        for name, times in totals.items()
    }
    best = "completions" if "completions" in paths else "forward"
    rows = BATCH * ROLLOUTS * (LENGTH - 1)
    return {
        "protocol": {
            "task": f"one SeqGAN generator step: batch {BATCH}, {ROLLOUTS} rollouts, vocab {VOCAB}, length {LENGTH}, "
            f"{rows} completions scored, generator token-lstm (32/32), minimax reward sigmoid(D)",
            "discriminator": described,
            "discriminator_parameters": sum(p.numel() for p in discriminator.parameters()),
            "chunk_size": estimator.chunk_size,
            "statistic": f"wall seconds; step_total is the median of {args.repeats} steps per path after 1 warm-up, "
            "paths alternating; rollouts (shared by both paths) and scoring are means over the same steps; "
            "step_cpu is the process's CPU seconds for the step (robust to other processes with --threads 1; "
            "with more threads it includes OpenMP's spin-waiting)",
            **machine(args),
        },
        "seconds": seconds,
        "max_abs_difference_of_action_values": difference,
        "speedup_of_scoring_path": {
            "wall": round(statistics.median(totals["forward"]) / statistics.median(totals[best]), 2),
            "cpu": round(statistics.median(cpu["forward"]) / statistics.median(cpu[best]), 2),
        },
        "reference": {
            "textgan_pytorch_seconds": TEXTGAN_STEP_SECONDS,
            "target_seconds": TEXTGAN_STEP_SECONDS / 10,
            "textgan_over_this_step": round(TEXTGAN_STEP_SECONDS / statistics.median(totals[best]), 1),
        },
    }


# --------------------------------------------------------------------------- MLE


def mle(args: argparse.Namespace) -> dict[str, Any]:
    spec = DomainSpec(kind="discrete", max_len=LENGTH, vocab_size=VOCAB)
    data = torch.randint(0, VOCAB, (BATCH * 40, LENGTH), device=args.device)
    lengths = torch.full((BATCH,), LENGTH, device=args.device)
    variants = ["pretrain_loss"]
    models = {}
    for name in variants:
        torch.manual_seed(args.seed)
        generator = TokenLSTMGenerator(spec, embed_dim=32, hidden_dim=32).to(args.device)
        models[name] = (generator, torch.optim.Adam(generator.parameters(), lr=1e-2))

    def one_step(name: str, step: int) -> float:
        generator, optimizer = models[name]
        batch = Batch(values=data[(step % 40) * BATCH : (step % 40 + 1) * BATCH], lengths=lengths)
        synchronize()
        started = time.process_time() if args.cpu_time else time.perf_counter()
        loss = generator.pretrain_loss(batch)  # what the trainer does per step, its checks included
        if not torch.isfinite(loss):
            raise SystemExit(f"{name}: non-finite loss")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(generator.parameters(), 5.0)
        optimizer.step()
        losses[name].append(loss.item())
        synchronize()
        return (time.process_time() if args.cpu_time else time.perf_counter()) - started

    losses: dict[str, list[float]] = {name: [] for name in variants}
    steps = 25
    for step in range(3):
        for name in variants:
            one_step(name, step)
    totals: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name in variants:  # alternate blocks of steps, so that every variant sees the same load
            totals[name].append(sum(one_step(name, step) for step in range(steps)) / steps)
    tokens = BATCH * LENGTH
    rates = {name: tokens / statistics.median(times) for name, times in totals.items()}
    return {
        "protocol": {
            "task": f"MLE pretraining steps of token-lstm (32/32): batch {BATCH}, length {LENGTH}, vocab {VOCAB}, "
            "Adam 1e-2, gradient norm clipped at 5; the same seed and batches for every variant",
            "statistic": f"tokens per {'CPU' if args.cpu_time else 'wall'} second: {tokens} tokens per step over the "
            f"median of {args.repeats} blocks of {steps} steps per variant, variants alternating",
            **machine(args),
        },
        "tokens_per_second": {name: round(rate) for name, rate in rates.items()},
        "final_loss": {name: round(values[-1], 6) for name, values in losses.items()},
        "reference": {
            "textgan_pytorch_tokens_per_second": TEXTGAN_MLE_TOKENS_PER_SECOND,
            "target_tokens_per_second": round(1.5 * TEXTGAN_MLE_TOKENS_PER_SECOND),
            "this_over_textgan": {name: round(rate / TEXTGAN_MLE_TOKENS_PER_SECOND, 2) for name, rate in rates.items()},
        },
    }


def machine(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "threads": torch.get_num_threads(),
        "keep_freed_memory": args.keep_freed_memory,
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        "machine": platform.processor() or platform.machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument("--discriminator", choices=["textgan", "cnn", "cnn-default", "gru"], default="textgan")
    parser.add_argument("--chunk-size", type=int, default=None, help="reinforce chunk_size (default: its own default)")
    parser.add_argument("--mle", action="store_true", help="time MLE pretraining steps instead of the adversarial step")
    parser.add_argument("--no-keep-freed-memory", dest="keep_freed_memory", action="store_false", help="leave glibc's default (freed tensors go back to the system), unlike the trainer")
    parser.add_argument("--cpu-time", action="store_true", help="--mle: count the process's CPU seconds, not wall seconds (a busy machine)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.keep_freed_memory and args.device == "cpu":
        args.keep_freed_memory = keep_freed_memory()
    torch.manual_seed(args.seed)
    print(json.dumps(mle(args) if args.mle else adversarial(args), indent=2))


if __name__ == "__main__":
    main()
