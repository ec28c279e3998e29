"""Is a time series what it was asked for? Forecast error and label fidelity.

- ``forecast-mae`` and ``forecast-crps`` (forecasting domains): for every test history the
  metric draws ``samples`` forecasts from the run's generator and compares them with the
  real future: the mean absolute error of their mean, and the continuous ranked
  probability score (Gneiting and Raftery 2007) of the ensemble,
  ``CRPS = E|X - y| - 0.5 E|X - X'|`` with ``X, X'`` independent forecasts, estimated by
  the ``samples`` forecasts (all ``samples^2`` pairs) and averaged over steps, features
  and histories. CRPS rewards a spread that matches the uncertainty; with one sample it
  is the absolute error. The evaluation itself draws one sample per test row, too few for
  a spread: hence the generator handle (as ``nll-test`` takes it). Without one (scoring
  samples alone) the samples are grouped by the history they answer, sample ``i`` for
  test row ``i mod rows`` as evaluations draw them. Values are in the domain's scaled
  units. :meth:`ForecastMetric.naive` scores the "repeat the last value" forecast, the
  baseline a forecaster must beat.
- ``series-label-fidelity`` (labelled domains): CatGAN's protocol. A post-hoc GRU classifier is
  trained on the real held-out series with their labels (seeded, on a forked RNG, as the
  post-hoc scores of :mod:`seqtk.plugins.timeseries.posthoc`), then applied to samples
  with the labels they were asked for; the score is its accuracy. A generator that
  ignores its label scores about the share of the commonest class. The classifier's own
  cross-validated accuracy on real data (:meth:`LabelFidelity.ceiling`) bounds what a
  perfect generator can score.
- ``class-discriminative``: TimeGAN's discriminative score computed within each class
  (real series of class ``k`` against samples asked for ``k``), averaged over the
  classes: a generator that answers every label with the same realistic series scores
  well on the plain score and badly here.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import torch
from torch import Tensor, nn

from seqtk.core.conditioning import draw
from seqtk.core.interfaces import Batch, DomainSpec, Generator, Metric
from seqtk.core.params import PositiveFloat, PositiveInt, Range, checked
from seqtk.plugins.timeseries.posthoc import _clean, _private_training, discriminative_score

__all__ = ["ClassDiscriminativeScore", "ForecastCRPS", "ForecastMAE", "ForecastMetric", "LabelFidelity", "crps_ensemble"]


def crps_ensemble(forecasts: Tensor, target: Tensor) -> Tensor:
    """Elementwise empirical CRPS of ``forecasts`` ``[K, ...]`` for ``target`` ``[...]``.

    ``mean_i |x_i - y| - 1 / (2 K^2) sum_{i,j} |x_i - x_j|``: the CRPS of the empirical
    distribution of the ``K`` forecasts, exactly; 0 only when every forecast is ``y``.
    """
    if forecasts.shape[1:] != target.shape:
        raise ValueError(f"crps_ensemble: forecasts {tuple(forecasts.shape)} do not match target {tuple(target.shape)} after the first axis")
    skill = (forecasts - target.unsqueeze(0)).abs().mean(0)
    spread = (forecasts.unsqueeze(0) - forecasts.unsqueeze(1)).abs().mean((0, 1))
    return skill - 0.5 * spread


# --------------------------------------------------------------------------- forecasts


def _histories(batch: Batch, name: str) -> Batch:
    if batch.condition is None or batch.condition.context is None:
        raise ValueError(f"{name}: the batch carries no history (needs a forecasting domain, condition: forecast)")
    return batch.condition.context


@checked(lambda self: self.name)
class ForecastMetric(Metric):
    """Shared by ``forecast-mae`` and ``forecast-crps``: ``samples`` forecasts per test history (module docstring)."""

    higher_is_better: ClassVar[bool] = False
    uses_whole_test_set: ClassVar[bool] = True
    name: ClassVar[str] = ""

    def __init__(self, generator: Generator | None = None, samples: PositiveInt = 10, chunk_size: PositiveInt = 4096) -> None:
        self.generator = generator
        self.samples = samples
        self.chunk_size = chunk_size

    def score(self, forecasts: Tensor, future: Tensor) -> float:
        """The score of ``forecasts`` ``[K, R, H, F]`` for the real futures ``[R, H, F]``."""
        raise NotImplementedError

    @torch.no_grad()
    def forecasts(self, real: Batch, fake: Batch) -> tuple[Tensor, Tensor]:
        """``(forecasts [K, R', H, F], real futures [R', H, F])`` on the CPU."""
        history = _histories(real, self.name)
        if self.generator is not None:
            device = self.generator.device
            drawn = []
            condition = real.condition.repeat(1) if real.condition is not None else None  # a copy
            assert condition is not None
            for _ in range(self.samples):
                rows = []
                for start in range(0, real.size, self.chunk_size):
                    chunk = torch.arange(start, min(start + self.chunk_size, real.size))
                    rows.append(draw(self.generator, len(chunk), condition.index(chunk).to(device)).values.float().cpu())
                drawn.append(torch.cat(rows))
            return torch.stack(drawn), real.values.float()
        _histories(fake, self.name)
        per_history = max(1, fake.size // real.size)
        rows = min(real.size, fake.size)
        taken = fake.index(torch.arange(per_history * rows if per_history > 1 else rows))
        matched = torch.arange(taken.size) % real.size
        if not torch.equal(taken.condition.context.values.cpu(), history.values[matched]):  # type: ignore[union-attr]
            raise ValueError(f"{self.name}: sample i must answer test history i mod {real.size} (as evaluations draw them); these do not")
        forecasts = taken.values.float().cpu().reshape(per_history, rows, *taken.values.shape[1:])
        return forecasts, real.values[:rows].float()

    def __call__(self, real: Batch, fake: Batch) -> float:
        forecasts, future = self.forecasts(real, fake)
        return self.score(forecasts, future)

    def naive(self, real: Batch) -> float:
        """The score of "repeat the last value": each history's last real step, held for the whole horizon."""
        history = _histories(real, self.name)
        last = history.values[torch.arange(history.size), (history.lengths.clamp(1, history.steps) - 1)]
        forecast = last.unsqueeze(1).expand(-1, real.steps, -1).float()
        return self.score(forecast.unsqueeze(0), real.values.float())


class ForecastMAE(ForecastMetric):
    """Mean absolute error of the mean of ``samples`` forecasts, per step and feature, over the test histories (lower is better)."""

    name: ClassVar[str] = "forecast-mae"

    def score(self, forecasts: Tensor, future: Tensor) -> float:
        return float((forecasts.mean(0) - future).abs().mean())


class ForecastCRPS(ForecastMetric):
    """Empirical CRPS of ``samples`` forecasts per test history (:func:`crps_ensemble`), averaged (lower is better)."""

    name: ClassVar[str] = "forecast-crps"

    def score(self, forecasts: Tensor, future: Tensor) -> float:
        return float(crps_ensemble(forecasts.double(), future.double()).mean())


# --------------------------------------------------------------------------- labels


class _Classifier(nn.Module):
    """A GRU's state at each row's last real step, then a linear layer: ``[B, T, F] -> [B, classes]`` logits."""

    def __init__(self, features: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.gru = nn.GRU(features, hidden, batch_first=True)
        self.out = nn.Linear(hidden, classes)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        states, _ = self.gru(x)
        last = states[torch.arange(x.shape[0]), (lengths - 1).clamp_min(0)]
        return self.out(last)


def _labels(batch: Batch, side: str) -> Tensor:
    if batch.condition is None or batch.condition.labels is None:
        raise ValueError(f"series-label-fidelity: the {side} batch carries no labels (needs a labelled domain, condition: label)")
    return batch.condition.labels.detach().cpu().long()


@checked("series-label-fidelity")
class LabelFidelity(Metric):
    """Accuracy of a classifier trained on real labelled series, applied to samples with the labels they were asked for (higher is better).

    The classifier (a GRU of ``hidden_dim`` units and a linear read-out) trains for
    ``steps`` Adam steps of ``batch_size`` real test rows, from ``seed`` alone, once per
    test split (kept between evaluations: the real data does not change). ``folds``
    sets the cross-validation of :meth:`ceiling`, the accuracy on real series it never
    trained on.
    """

    higher_is_better: ClassVar[bool] = True
    uses_whole_test_set: ClassVar[bool] = True

    def __init__(
        self,
        spec: DomainSpec,
        steps: PositiveInt = 400,
        batch_size: PositiveInt = 64,
        lr: PositiveFloat = 3e-3,
        hidden_dim: PositiveInt = 32,
        folds: Annotated[int, Range(2)] = 3,
        seed: int = 0,
    ) -> None:
        if spec.kind != "continuous":
            raise ValueError(f"series-label-fidelity: needs a continuous domain, got a {spec.kind} one")
        if spec.conditions is None or not spec.conditions.num_classes:
            raise ValueError("series-label-fidelity: the domain has no class labels (set condition: label)")
        self.classes = spec.conditions.num_classes
        self.steps, self.batch_size, self.lr, self.hidden_dim, self.folds, self.seed = steps, batch_size, float(lr), hidden_dim, folds, seed
        self._trained: tuple[tuple[float, ...], _Classifier] | None = None

    def _fit(self, values: Tensor, lengths: Tensor, labels: Tensor, seed: int) -> _Classifier:
        """A classifier trained on these rows, every draw from ``seed``, torch's global RNG untouched."""
        stream = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = _Classifier(values.shape[2], self.hidden_dim, self.classes)
        optimiser = torch.optim.Adam(net.parameters(), lr=self.lr)
        with _private_training(torch.device("cpu")):
            for _ in range(self.steps):
                rows = torch.randperm(values.shape[0], generator=stream)[: self.batch_size]
                loss = nn.functional.cross_entropy(net(values[rows], lengths[rows]), labels[rows])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
        return net.eval()

    @staticmethod
    @torch.no_grad()
    def _accuracy(net: _Classifier, values: Tensor, lengths: Tensor, labels: Tensor) -> float:
        return float((net(values, lengths).argmax(1) == labels).double().mean())

    def _inputs(self, batch: Batch, side: str) -> tuple[Tensor, Tensor, Tensor]:
        values, lengths = _clean(batch.values.cpu(), batch.lengths.cpu(), f"series-label-fidelity {side}")
        labels = _labels(batch, side)
        if int(labels.max()) >= self.classes or int(labels.min()) < 0:
            raise ValueError(f"series-label-fidelity: {side} labels must lie in 0..{self.classes - 1}")
        return values, lengths.clamp_min(1), labels

    def classifier(self, real: Batch) -> _Classifier:
        """The classifier for this test split, trained on first use."""
        values, lengths, labels = self._inputs(real, "real")
        key = (float(values.double().sum()), float(values.shape[0]), float(labels.sum()))
        if self._trained is None or self._trained[0] != key:
            self._trained = (key, self._fit(values, lengths, labels, self.seed))
        return self._trained[1]

    def __call__(self, real: Batch, fake: Batch) -> float:
        net = self.classifier(real)
        values, lengths, labels = self._inputs(fake, "fake")
        return self._accuracy(net, values, lengths, labels)

    def ceiling(self, real: Batch) -> float:
        """Cross-validated accuracy on real series (``folds`` folds, seeded): what a perfect generator scores."""
        values, lengths, labels = self._inputs(real, "real")
        order = torch.randperm(values.shape[0], generator=torch.Generator().manual_seed(self.seed))
        correct = 0.0
        for fold in range(self.folds):
            held = order[fold :: self.folds]
            kept = order[torch.ones(len(order), dtype=torch.bool).index_fill_(0, torch.arange(fold, len(order), self.folds), False)]
            net = self._fit(values[kept], lengths[kept], labels[kept], self.seed + fold)
            correct += self._accuracy(net, values[held], lengths[held], labels[held]) * len(held)
        return correct / values.shape[0]


@checked("class-discriminative")
class ClassDiscriminativeScore(Metric):
    """TimeGAN's discriminative score within each class, averaged over the classes that have 2+ real and 2+ generated series (lower is better).

    Parameters as ``discriminative`` (``steps``, ``batch_size``, ``lr``, ``seed``); class
    ``k`` trains its classifier with seed ``seed + k``.
    """

    higher_is_better: ClassVar[bool] = False

    def __init__(
        self, spec: DomainSpec, steps: PositiveInt = 2000, batch_size: PositiveInt = 128, lr: PositiveFloat = 1e-3, seed: int = 0
    ) -> None:
        if spec.conditions is None or not spec.conditions.num_classes:
            raise ValueError("class-discriminative: the domain has no class labels (set condition: label)")
        self.classes = spec.conditions.num_classes
        self.steps, self.batch_size, self.lr, self.seed = steps, batch_size, float(lr), seed

    def __call__(self, real: Batch, fake: Batch) -> float:
        real_labels, fake_labels = _labels(real, "real"), _labels(fake, "fake")
        scores = []
        for k in range(self.classes):
            r, f = torch.nonzero(real_labels == k).squeeze(1), torch.nonzero(fake_labels == k).squeeze(1)
            if len(r) < 2 or len(f) < 2:
                continue
            scores.append(discriminative_score(
                real.values[r].cpu(), fake.values[f].detach().cpu(), real.lengths[r].cpu(), fake.lengths[f].cpu(),
                steps=self.steps, batch_size=self.batch_size, lr=self.lr, seed=self.seed + k,
            ))
        if not scores:
            raise ValueError("class-discriminative: no class has 2 real and 2 generated series")
        return sum(scores) / len(scores)
