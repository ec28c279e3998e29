"""Drawing samples for a condition, the one place that decides how a condition reaches a generator.

A conditional domain's real batches carry a ``Condition`` per row. The trainer and the
estimators draw each generated batch for the conditions of the real batch it is compared
with (as class-conditional GANs train: the generated distribution is matched class by
class), and evaluations draw for the test split's conditions. Unconditional runs call
``sample(n)`` exactly as before, so generators that accept no condition never see the
keyword.
"""

from __future__ import annotations

from typing import Any

import torch

from seqtk.core.interfaces import Batch, Condition


def draw(generator: Any, n: int, condition: Condition | None = None, **kwargs: Any) -> Batch:
    """``generator.sample(n)``, or ``generator.sample(n, condition=condition)`` when there is one."""
    if condition is None:
        return generator.sample(n, **kwargs)
    return generator.sample(n, condition=_fit(condition, n), **kwargs)


def draw_relaxed(generator: Any, n: int, inverse_temperature: float, condition: Condition | None = None) -> Batch:
    """``generator.sample_relaxed(n, inverse_temperature)``, with the condition when there is one."""
    if condition is None:
        return generator.sample_relaxed(n, inverse_temperature)
    return generator.sample_relaxed(n, inverse_temperature, condition=_fit(condition, n))


def cycled(condition: Condition | None, n: int) -> Condition | None:
    """The first ``n`` rows of ``condition``, cycling when it has fewer (evaluations draw as many samples as asked)."""
    if condition is None:
        return None
    return condition.index(torch.arange(n) % condition.size)


def _fit(condition: Condition, n: int) -> Condition:
    if condition.size != n:
        raise ValueError(f"a condition for {condition.size} rows was given to draw {n} samples")
    return condition
