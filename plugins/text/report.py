"""What ``seqtk report`` shows of a text run: generated sentences beside held-out ones, with their NLL.

The generated sentences are those the newest evaluation wrote (``samples/step-N.txt``); the
held-out ones are the first of the test split. Each is scored by the generator of the run's
newest checkpoint (its teacher-forced ``pretrain_loss``: mean NLL per token, in nats), so a
reader sees whether the model finds its own output likelier than real sentences (a sign of
collapse) and how far apart the two are. Shared by the ``text`` and ``oracle`` domains.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from seqtk.core.interfaces import Batch
from seqtk.core.report_items import Note, Table, newest_samples

__all__ = ["sentence_report", "per_sequence_nll"]


def per_sequence_nll(generator: Any, batch: Batch | None) -> float | None:
    """The generator's mean per-token NLL of the single sequence in ``batch``, or None when it cannot give one."""
    if generator is None or batch is None or int(batch.lengths.sum()) == 0:
        return None
    try:
        if generator.pretraining_problem() is not None:
            return None
        with torch.no_grad():
            value = float(generator.pretrain_loss(batch.to(generator.device)))
    except (NotImplementedError, RuntimeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def sentence_report(
    run_dir: Path,
    *,
    generator: Any,
    count: int,
    held_out: Sequence[str],
    held_out_batch: Callable[[int], Batch],
    encode_line: Callable[[str], Batch | None],
) -> list[Any]:
    """A table of ``count`` generated sentences beside ``count`` held-out ones, each with its NLL per token.

    ``held_out[i]`` is shown for the test row ``held_out_batch(i)`` (a one-row batch);
    ``encode_line`` turns a generated line back into a one-row batch (None when it cannot).
    """
    found = newest_samples(run_dir)
    texts = [p for p in (found[1] if found else []) if p.suffix == ".txt" and p.is_file()]
    if not texts:
        return [Note("No generated sentences yet: the run has not finished an evaluation that writes samples.")]
    step = found[0] if found else 0
    generated = texts[0].read_text(encoding="utf-8").splitlines()[:count]
    rows = []
    for i in range(max(len(generated), min(count, len(held_out)))):
        fake = generated[i] if i < len(generated) else ""
        real = held_out[i] if i < len(held_out) else ""
        fake_nll = per_sequence_nll(generator, encode_line(fake)) if i < len(generated) else None
        real_nll = per_sequence_nll(generator, held_out_batch(i)) if i < len(held_out) else None
        rows.append((fake, fake_nll, real, real_nll))
    if generator is None:
        where = "no checkpoint yet, so no NLL"
    elif all(r[1] is None and r[3] is None for r in rows):
        where = "this generator gives no per-sentence NLL"
    else:
        where = "NLL: mean negative log-likelihood per token (nats) under the generator of the newest checkpoint; lower is likelier"
    return [
        Table(
            f"Generated sentences (step {step}) beside held-out ones",
            ("generated", "NLL", "held-out", "NLL"),
            rows,
            note=f"samples/{texts[0].name}; {where}.",
        )
    ]
