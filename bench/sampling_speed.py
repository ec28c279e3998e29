"""Sampling speed of the token LSTM generator against a torch.multinomial loop (DESIGN.md section 6).

Draws 10,000 sequences of the SeqGAN oracle's size (vocabulary 5000, length 20, embedding
32, hidden 32) with ``TokenLSTMGenerator.sample`` and with a baseline loop over the same
network that calls ``nn.LSTM`` on one step and ``torch.multinomial(softmax(logits), 1)``
at every step, the way most implementations sample. Both run without gradients, in
chunks of the same size. A third figure swaps only the sampler (our stepping with
``torch.multinomial``) to separate the sampler's gain from the stepping's.

The two must agree in distribution: the mean per-token NLL of each method's samples under
the generator (teacher-forced) is reported with its standard error, and their difference
in standard errors (|z| below about 3 is agreement). Prints one JSON object; run with:

    python bench/sampling_speed.py [--samples 10000] [--chunk 1000] [--repeats 3] [--threads N] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from seqtk.core.interfaces import DomainSpec
from seqtk.plugins.tokens.generator import TokenLSTMGenerator

VOCAB, LENGTH, EMBED, HIDDEN = 5000, 20, 32, 32


@torch.no_grad()
def multinomial_loop(generator: TokenLSTMGenerator, n: int) -> Tensor:
    """The usual sampler: ``nn.LSTM`` on one step, ``softmax``, ``torch.multinomial``."""
    tokens = torch.full((n, 1), generator.start_id, dtype=torch.long, device=generator.device)
    state = None
    out = []
    for _ in range(generator.spec.max_len):
        hidden, state = generator.rnn(generator.embed(tokens), state)
        probs = F.softmax(generator.out(hidden[:, 0]) / generator.temperature + generator.logit_mask, dim=-1)
        tokens = torch.multinomial(probs, 1)
        out.append(tokens)
    return torch.cat(out, dim=1)


@torch.no_grad()
def ours_with_multinomial(generator: TokenLSTMGenerator, n: int) -> Tensor:
    """Our stepping (``torch.lstm_cell``, folded output layer) with ``torch.multinomial`` as the sampler."""
    weight, bias = generator._output_layer()
    tokens = torch.full((n,), generator.start_id, dtype=torch.long, device=generator.device)
    state = generator._zero_state(n)
    out = []
    for _ in range(generator.spec.max_len):
        top, state = generator._step(tokens, state)
        tokens = torch.multinomial(torch.softmax(F.linear(top, weight, bias), -1), 1).squeeze(1)
        out.append(tokens)
    return torch.stack(out, dim=1)


@torch.no_grad()
def ours(generator: TokenLSTMGenerator, n: int) -> Tensor:
    return generator.sample(n).values


def in_chunks(method: Callable[[TokenLSTMGenerator, int], Tensor], generator: TokenLSTMGenerator, total: int, chunk: int) -> tuple[float, Tensor]:
    synchronize(generator.device)
    started = time.perf_counter()
    parts = [method(generator, min(chunk, total - first)) for first in range(0, total, chunk)]
    synchronize(generator.device)
    return time.perf_counter() - started, torch.cat(parts)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def nll_per_sequence(generator: TokenLSTMGenerator, values: Tensor) -> Tensor:
    """``[N]`` mean per-token NLL of each sequence under the generator (teacher forcing)."""
    rows = []
    for part in values.split(2000):
        log_p = torch.log_softmax(generator.next_token_logits(part), -1)
        rows.append(-log_p.gather(2, part.unsqueeze(-1)).squeeze(-1).mean(1))
    return torch.cat(rows)


def summary(nll: Tensor) -> dict[str, float]:
    return {"mean": round(float(nll.mean()), 4), "stderr": round(float(nll.std() / math.sqrt(nll.numel())), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each fast method (the multinomial loop runs once)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    spec = DomainSpec(kind="discrete", max_len=LENGTH, vocab_size=VOCAB)
    generator = TokenLSTMGenerator(spec, embed_dim=EMBED, hidden_dim=HIDDEN).to(args.device).eval()
    # A sharper, more oracle-like distribution than the near-uniform initialisation.
    with torch.no_grad():
        generator.out.weight.normal_(0.0, 1.0)

    ours(generator, 64)  # warm-up
    fast_times, fast_values = [], None
    for _ in range(args.repeats):
        seconds, fast_values = in_chunks(ours, generator, args.samples, args.chunk)
        fast_times.append(seconds)
    swap_times = [in_chunks(ours_with_multinomial, generator, args.samples, args.chunk)[0] for _ in range(max(1, args.repeats - 2))]
    slow_seconds, slow_values = in_chunks(multinomial_loop, generator, args.samples, args.chunk)
    assert fast_values is not None
    fast_nll, slow_nll = nll_per_sequence(generator, fast_values), nll_per_sequence(generator, slow_values)
    difference = float(fast_nll.mean() - slow_nll.mean())
    z = difference / math.sqrt(float(fast_nll.var()) / fast_nll.numel() + float(slow_nll.var()) / slow_nll.numel())
    fast = statistics.median(fast_times)
    print(
        json.dumps(
            {
                "protocol": {
                    "task": f"sample {args.samples} sequences, vocab {VOCAB}, length {LENGTH}, embed {EMBED}, hidden {HIDDEN}, no gradients",
                    "chunk_size": args.chunk,
                    "threads": torch.get_num_threads(),
                    "torch": torch.__version__,
                    "device": torch.cuda.get_device_name(generator.device) if generator.device.type == "cuda" else "cpu",
                    "machine": platform.processor() or platform.machine(),
                    "statistic": f"wall seconds; median of {args.repeats} runs for token-lstm, "
                    f"median of {len(swap_times)} for the sampler swap, 1 run for the multinomial loop",
                },
                "seconds": {
                    "token_lstm_sample": round(fast, 3),
                    "multinomial_loop": round(slow_seconds, 3),
                    "our_stepping_with_multinomial": round(statistics.median(swap_times), 3),
                },
                "speedup_over_multinomial_loop": round(slow_seconds / fast, 2),
                "target_speedup": 8,
                "distribution_check": {
                    "statistic": "mean per-token NLL (nats) of each method's samples under the generator, teacher-forced",
                    "token_lstm_sample": summary(fast_nll),
                    "multinomial_loop": summary(slow_nll),
                    "difference_in_standard_errors": round(z, 2),
                    "agree": abs(z) < 3.5,
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
