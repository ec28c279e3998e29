"""TimeGAN's post-hoc scores: train a small network on the data, report how it does.

Yoon et al., "Time-series Generative Adversarial Networks", NeurIPS 2019, judge synthetic
series with two learned scores (DESIGN.md section 5, "Sines"); lower is better for both:

- **discriminative**: a 1-layer GRU classifier learns to tell real from synthetic on 80%
  of each; the score is ``|accuracy - 0.5|`` on the other 20%. 0 means the classifier
  cannot tell them apart; 0.5 means it always can.
- **predictive** (train on synthetic, test on real): a 1-layer GRU learns to predict the
  last feature one step ahead from the other features, on the synthetic data only; the
  score is its mean absolute error on the real data. Good synthetic data teaches the
  dynamics of the real data.

Both are noisy (one network, one split): benchmarks repeat them with :func:`repeated`
and report mean and standard deviation. Every random choice (split, mini-batches,
weight initialisation) comes from ``seed`` through a private generator and a forked RNG,
so a score is reproducible and calling it leaves torch's global random state untouched.
The post-hoc network trains with gradients enabled whatever the caller's grad mode: the
trainer evaluates under ``torch.no_grad()`` (its generator must not build graphs), and
``eval.metrics: [discriminative, predictive]`` must still be able to train a GRU there.
The inputs are detached copies, so no gradient ever reaches the run's generator.
Padding past each row's length is zeroed and cut before anything sees it, so it cannot
change a score.
"""

from __future__ import annotations

import contextlib
import math
from typing import Callable, ClassVar, Iterator

import numpy as np
import torch
from torch import Tensor, nn

from seqtk.core.interfaces import Batch, DomainSpec, Metric
from seqtk.core.params import NonNegativeInt, PositiveFloat, PositiveInt, checked

__all__ = [
    "DiscriminativeScore",
    "PredictiveScore",
    "discriminative_score",
    "predictive_score",
    "repeated",
]


# --------------------------------------------------------------------------- inputs


def _clean(values: Tensor, lengths: Tensor | None, name: str, width: int | None = None) -> tuple[Tensor, Tensor]:
    """Float32 ``[B, width, F]`` values with padding zeroed, and ``[B]`` long lengths.

    Zeroing (``masked_fill``, which also replaces NaN) and trimming to the longest row
    make the network's input independent of whatever the padding held.
    """
    if values.dim() != 3:
        raise ValueError(f"{name}: expected continuous values [B, T, F], got shape {tuple(values.shape)}")
    size, steps = values.shape[0], values.shape[1]
    if lengths is None:
        lengths = torch.full((size,), steps, dtype=torch.long, device=values.device)
    lengths = torch.as_tensor(lengths, device=values.device).long()
    if lengths.shape != (size,):
        raise ValueError(f"{name}: lengths must have shape ({size},), got {tuple(lengths.shape)}")
    if size and (int(lengths.min()) < 0 or int(lengths.max()) > steps):
        raise ValueError(f"{name}: lengths must lie in [0, {steps}], got {lengths.min()}..{lengths.max()}")
    mask = torch.arange(steps, device=values.device).unsqueeze(0) < lengths.unsqueeze(1)
    clean = values.detach().float().masked_fill(~mask.unsqueeze(-1), 0.0)
    if not bool(torch.isfinite(clean).all()):
        raise ValueError(f"{name}: values hold NaN or infinity at real (unpadded) steps")
    longest = int(lengths.max()) if size else 0
    width = longest if width is None else width
    clean = clean[:, :width]
    if clean.shape[1] < width:
        clean = nn.functional.pad(clean, (0, 0, 0, width - clean.shape[1]))
    return clean, lengths


def _check_pair(real: Tensor, fake: Tensor, metric: str) -> None:
    if real.dim() != 3 or fake.dim() != 3:
        raise ValueError(f"{metric}: expects continuous [B, T, F] values, got {tuple(real.shape)} and {tuple(fake.shape)}")
    if real.shape[2] != fake.shape[2]:
        raise ValueError(f"{metric}: real has {real.shape[2]} features, fake {fake.shape[2]}")


def _check_training(steps: int, batch_size: int, lr: float, label: str) -> None:
    _positive_int(steps, "steps", label)
    _positive_int(batch_size, "batch_size", label)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"{label}: lr must be a finite number > 0, got {lr!r}")


def _positive_int(value: int, name: str, label: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{label}: {name} must be an integer >= 1, got {value!r}")


def _seed_int(seed: int, label: str) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"{label}: seed must be an integer >= 0, got {seed!r}")


def _batch_rows(count: int, batch_size: int, generator: torch.Generator) -> Tensor:
    """``min(batch_size, count)`` distinct random rows of ``count`` (TimeGAN's batch_generator)."""
    return torch.randperm(count, generator=generator)[:batch_size]


# --------------------------------------------------------------------------- networks


class _GRUHead(nn.Module):
    """One GRU layer and a linear read-out, per step: ``[B, T, F_in] -> [B, T]``."""

    def __init__(self, inputs: int, hidden: int) -> None:
        super().__init__()
        self.gru = nn.GRU(inputs, hidden, num_layers=1, batch_first=True)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x: Tensor) -> Tensor:
        states, _ = self.gru(x)
        return self.out(states).squeeze(-1)


@contextlib.contextmanager
def _private_training(device: torch.device) -> Iterator[None]:
    """Grad enabled (the trainer's evaluation runs under ``no_grad``) and torch's RNG forked.

    Every random draw of a score already comes from its own seeded generator; forking the
    global RNG as well guarantees that nothing a kernel draws leaks into the caller's
    random state, so a run's training is the same with or without these metrics.
    """
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.enable_grad():
        yield


def _build(inputs: int, hidden: int, seed: int, device: torch.device) -> _GRUHead:
    """The network, initialised from ``seed`` without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = _GRUHead(inputs, hidden)
    return net.to(device)


def _hidden(features: int) -> int:
    return max(1, features // 2)


# --------------------------------------------------------------------------- discriminative


def discriminative_score(
    real: Tensor,
    fake: Tensor,
    lengths_real: Tensor | None = None,
    lengths_fake: Tensor | None = None,
    *,
    steps: int = 2000,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
) -> float:
    """``|accuracy - 0.5|`` of a post-hoc GRU classifier of real (1) versus fake (0).

    Real and fake rows are each shuffled and split 80/20 (``int(0.8 n)`` rows train).
    Each of ``steps`` Adam steps draws ``batch_size`` real and ``batch_size`` fake training
    rows and minimises the sum of the two mean binary cross-entropies. The classifier's
    logit is a linear map of the GRU state at each row's last real step
    (hidden size ``max(1, F // 2)``). Accuracy (logit > 0 means "real") is over the pooled
    held-out rows. ``lengths_*`` default to full length; every row needs at least one step
    and each side at least 2 rows.
    """
    label = "discriminative"
    _check_pair(real, fake, label)
    _check_training(steps, batch_size, lr, label)
    _seed_int(seed, label)
    for name, values in (("real", real), ("fake", fake)):
        if values.shape[0] < 2:
            raise ValueError(f"{label}: needs at least 2 {name} sequences for an 80/20 split, got {values.shape[0]}")
    real_x, real_len = _clean(real, lengths_real, f"{label} real")
    fake_x, fake_len = _clean(fake, lengths_fake, f"{label} fake")
    if int(real_len.min()) < 1 or int(fake_len.min()) < 1:
        raise ValueError(f"{label}: every sequence needs at least one step (a length of 0 was given)")
    width = max(real_x.shape[1], fake_x.shape[1])
    real_x = nn.functional.pad(real_x, (0, 0, 0, width - real_x.shape[1]))
    fake_x = nn.functional.pad(fake_x, (0, 0, 0, width - fake_x.shape[1]))

    generator = torch.Generator().manual_seed(seed)
    real_train, real_test = _split(real_x.shape[0], generator)
    fake_train, fake_test = _split(fake_x.shape[0], generator)
    net = _build(real_x.shape[2], _hidden(real_x.shape[2]), seed, real_x.device)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    bce = nn.functional.binary_cross_entropy_with_logits

    def logits(x: Tensor, lengths: Tensor) -> Tensor:
        per_step = net(x)
        return per_step.gather(1, (lengths - 1).unsqueeze(1)).squeeze(1)

    net.train()
    with _private_training(real_x.device):
        for _ in range(steps):
            r = real_train[_batch_rows(len(real_train), batch_size, generator)].to(real_x.device)
            f = fake_train[_batch_rows(len(fake_train), batch_size, generator)].to(real_x.device)
            real_logits = logits(real_x[r], real_len[r])
            fake_logits = logits(fake_x[f], fake_len[f])
            loss = bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()

    net.eval()
    with torch.no_grad():
        r, f = real_test.to(real_x.device), fake_test.to(real_x.device)
        correct = (logits(real_x[r], real_len[r]) > 0).sum() + (logits(fake_x[f], fake_len[f]) <= 0).sum()
    accuracy = float(correct) / (len(real_test) + len(fake_test))
    return abs(accuracy - 0.5)


def _split(count: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Shuffled row indices, the first ``int(0.8 count)`` to train, the rest to test."""
    order = torch.randperm(count, generator=generator)
    cut = int(0.8 * count)
    return order[:cut], order[cut:]


# --------------------------------------------------------------------------- predictive


def predictive_score(
    real: Tensor,
    fake: Tensor,
    lengths_real: Tensor | None = None,
    lengths_fake: Tensor | None = None,
    *,
    steps: int = 5000,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
) -> float:
    """Train on synthetic, test on real: MAE of a one-step-ahead GRU predictor on ``real``.

    The GRU (hidden size ``max(1, F // 2)``) reads features ``0 .. F-2`` at steps
    ``0 .. T-2`` and predicts feature ``F-1`` at steps ``1 .. T-1`` through a linear layer
    and a sigmoid (so targets are expected in [0, 1], as TimeGAN's min-max scaled data
    are). Each of ``steps`` Adam steps draws ``batch_size`` synthetic rows and minimises
    the mean absolute error over their predicted steps ``t < length``. The score is the
    MAE on every real row, first averaged over each row's predicted steps, then over rows
    (TimeGAN's order); rows shorter than 2 steps have no predicted step and are skipped.
    """
    label = "predictive"
    _check_pair(real, fake, label)
    if real.shape[2] < 2:
        raise ValueError(
            f"{label}: needs at least 2 features (the last is predicted from the others), got {real.shape[2]}"
        )
    _check_training(steps, batch_size, lr, label)
    _seed_int(seed, label)
    real_x, real_len = _clean(real, lengths_real, f"{label} real")
    fake_x, fake_len = _clean(fake, lengths_fake, f"{label} fake")
    fake_rows = torch.nonzero(fake_len >= 2).squeeze(1).cpu()
    if len(fake_rows) == 0:
        raise ValueError(f"{label}: no fake sequence has the 2 steps needed to train a one-step predictor")
    if int((real_len >= 2).sum()) == 0:
        raise ValueError(f"{label}: no real sequence has the 2 steps needed to score a one-step predictor")

    generator = torch.Generator().manual_seed(seed)
    features = real_x.shape[2]
    net = _build(features - 1, _hidden(features), seed, real_x.device)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)

    def errors(x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """``[B, T-1]`` absolute errors and the float mask of predicted steps that count."""
        prediction = torch.sigmoid(net(x[:, :-1, :-1]))
        target = x[:, 1:, -1]
        t = torch.arange(1, x.shape[1], device=x.device)
        mask = (t.unsqueeze(0) < lengths.unsqueeze(1)).float()
        return (prediction - target).abs() * mask, mask

    net.train()
    with _private_training(real_x.device):
        for _ in range(steps):
            rows = fake_rows[_batch_rows(len(fake_rows), batch_size, generator)].to(fake_x.device)
            err, mask = errors(fake_x[rows], fake_len[rows])
            loss = err.sum() / mask.sum()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()

    net.eval()
    with torch.no_grad():
        err, mask = errors(real_x, real_len)
        counted = mask.sum(1) > 0
        per_row = err.sum(1)[counted] / mask.sum(1)[counted]
    return float(per_row.mean())


# --------------------------------------------------------------------------- repeats


def repeated(fn: Callable[[int], float], repeats: int, seed: int = 0) -> tuple[float, float]:
    """Mean and standard deviation of ``fn(seed + r)`` over ``r = 0 .. repeats - 1``.

    The standard deviation is the population one (``ddof=0``, as ``np.std``, what TimeGAN
    reports); one repeat gives 0. Use as
    ``repeated(lambda s: discriminative_score(real, fake, seed=s), 10)``.
    """
    _positive_int(repeats, "repeats", "repeated")
    _seed_int(seed, "repeated")
    scores = np.array([fn(seed + r) for r in range(repeats)], dtype=np.float64)
    return float(scores.mean()), float(scores.std())


# --------------------------------------------------------------------------- metrics


@checked(lambda self: self.name)
class _PostHocMetric(Metric):
    """Shared constructor checks and the repeat loop of the two post-hoc scores."""

    higher_is_better: ClassVar[bool] = False
    name: ClassVar[str] = ""

    def __init__(
        self, spec: DomainSpec, steps: PositiveInt, batch_size: PositiveInt, lr: PositiveFloat, repeats: PositiveInt, seed: NonNegativeInt
    ) -> None:
        if spec.kind != "continuous":
            raise ValueError(f"{self.name}: needs a continuous domain, got a {spec.kind} one")
        self.spec = spec
        self.steps, self.batch_size, self.lr, self.repeats, self.seed = steps, batch_size, float(lr), repeats, seed

    def _score(self, real: Batch, fake: Batch, seed: int) -> float:
        """One repeat: the subclass's score function with this metric's settings."""
        return type(self).score_function(
            real.values, fake.values, real.lengths, fake.lengths,
            steps=self.steps, batch_size=self.batch_size, lr=self.lr, seed=seed,
        )

    def __call__(self, real: Batch, fake: Batch) -> float:
        mean, _ = repeated(lambda s: self._score(real, fake, s), self.repeats, self.seed)
        return mean


class DiscriminativeScore(_PostHocMetric):
    """TimeGAN's discriminative score as a metric (see :func:`discriminative_score`).

    ``repeats`` classifiers with seeds ``seed, seed + 1, ...`` are trained and their scores
    averaged. Costs ``steps`` GRU updates per repeat on every evaluation.
    """

    name: ClassVar[str] = "discriminative"
    score_function = staticmethod(discriminative_score)

    def __init__(
        self,
        spec: DomainSpec,
        steps: PositiveInt = 2000,
        batch_size: PositiveInt = 128,
        lr: PositiveFloat = 1e-3,
        repeats: PositiveInt = 1,
        seed: NonNegativeInt = 0,
    ) -> None:
        super().__init__(spec, steps, batch_size, lr, repeats, seed)


class PredictiveScore(_PostHocMetric):
    """TimeGAN's predictive score (train on synthetic, test on real; see :func:`predictive_score`).

    Needs at least 2 features: the last is predicted from the others.
    """

    name: ClassVar[str] = "predictive"
    score_function = staticmethod(predictive_score)

    def __init__(
        self,
        spec: DomainSpec,
        steps: PositiveInt = 5000,
        batch_size: PositiveInt = 128,
        lr: PositiveFloat = 1e-3,
        repeats: PositiveInt = 1,
        seed: NonNegativeInt = 0,
    ) -> None:
        super().__init__(spec, steps, batch_size, lr, repeats, seed)
        if spec.features and spec.features < 2:
            raise ValueError(
                f"predictive: needs at least 2 features (the last is predicted from the others), "
                f"the domain has {spec.features}"
            )
