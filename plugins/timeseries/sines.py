"""TimeGAN's multivariate sines benchmark, generated in-process.

Each sample has ``features`` independent sine waves ``sin(f * t + p)`` over
``t = 0 .. length - 1``, each with its own frequency ``f`` and phase ``p``, rescaled from
[-1, 1] to [0, 1] by ``(x + 1) / 2``. Two parameter ranges exist and both are offered:

- ``"code"``: ``f, p ~ U(0, 0.1)``, what TimeGAN's public code
  (``data_loading.sine_data_generation``) draws and what its reported numbers use;
  slow waves with at most a fraction of a period in 24 steps.
- ``"paper"``: ``f ~ U(0, 1)``, ``p ~ U(-pi, pi)``, what the paper's text states (Yoon et al.,
  "Time-series Generative Adversarial Networks", NeurIPS 2019, section 5.1).

See DESIGN.md section 5.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Mapping

import numpy as np
import torch

from seqtk.core.interfaces import Batch, Condition, ConditionSpec, Domain, DomainSpec, SequenceData
from seqtk.core.params import OpenFraction, PositiveInt, Range, checked
from seqtk.core.splits import LazySplits
from seqtk.plugins.timeseries.csv_samples import write_series_csv

__all__ = ["SinesDomain", "banded_sine_waves", "sine_waves"]

Variant = Literal["code", "paper"]

#: (frequency low, frequency high, phase low, phase high) per variant.
_RANGES: dict[str, tuple[float, float, float, float]] = {
    "code": (0.0, 0.1, 0.0, 0.1),
    "paper": (0.0, 1.0, -math.pi, math.pi),
}


def sine_waves(samples: int, length: int, features: int, variant: Variant, rng: np.random.Generator) -> np.ndarray:
    """``[samples, length, features]`` float32 sines in [0, 1], drawn from ``rng``."""
    f_lo, f_hi, p_lo, p_hi = _RANGES[variant]
    freq = rng.uniform(f_lo, f_hi, size=(samples, 1, features))
    phase = rng.uniform(p_lo, p_hi, size=(samples, 1, features))
    t = np.arange(length, dtype=np.float64)[None, :, None]
    return ((np.sin(freq * t + phase) + 1.0) / 2.0).astype(np.float32)


def banded_sine_waves(
    samples: int, length: int, features: int, variant: Variant, bands: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``(values [samples, length, features] float32, labels [samples] int64)``: the labelled variant.

    Each series' label ``k`` is drawn uniformly from ``0 .. bands - 1`` and every one of its
    features' frequencies from band ``k``, the ``k``-th of ``bands`` equal slices of the
    variant's frequency range; phases as in :func:`sine_waves`. A class is a frequency band:
    slow, middle or fast waves.
    """
    f_lo, f_hi, p_lo, p_hi = _RANGES[variant]
    labels = rng.integers(0, bands, size=samples)
    width = (f_hi - f_lo) / bands
    low = f_lo + labels[:, None, None] * width
    freq = low + rng.uniform(0.0, width, size=(samples, 1, features))
    phase = rng.uniform(p_lo, p_hi, size=(samples, 1, features))
    t = np.arange(length, dtype=np.float64)[None, :, None]
    return ((np.sin(freq * t + phase) + 1.0) / 2.0).astype(np.float32), labels.astype(np.int64)


@checked("sines")
class SinesDomain(LazySplits, Domain):
    """Multivariate sine waves (TimeGAN's benchmark), 'code' or 'paper' variant.

    Parameters: ``samples`` number of series in total (train + test); ``length`` steps per
    series; ``features`` sine waves per series; ``variant`` which parameter ranges to draw
    (module docstring); ``test_fraction`` share of series held out for metrics (the last
    rows: series are i.i.d., so a tail split leaks nothing); ``seed`` the data's own random
    seed, independent of torch's global state, so the data is identical whatever the run's
    seed; ``plots`` write PCA and grid pictures beside each sample file (needs matplotlib,
    ``pip install 'seqtk[plot]'``; without it a warning, no pictures).

    ``condition: label`` gives the labelled variant (:func:`banded_sine_waves`): each
    series is labelled by the frequency band, of ``bands``, its waves are drawn from, and
    samples are written with a ``label`` column. ``shuffle_train_conditions`` permutes the
    training series' labels (seeded): the shuffled-condition baseline.
    """

    #: ``density`` and ``coverage`` on scaled, flattened windows (``seqtk.plugins.collapse``): mode collapse shows in the numbers.
    default_metrics: ClassVar[tuple[str, ...]] = ("mmd", "marginal", "acf", "density", "coverage")
    split_label: ClassVar[str] = "sines"

    def __init__(
        self,
        samples: Annotated[int, Range(2, note="one train and one test series")] = 10000,
        length: Annotated[int, Range(2)] = 24,
        features: PositiveInt = 5,
        variant: Variant = "code",
        test_fraction: OpenFraction = 0.2,
        seed: int = 0,
        plots: bool = True,
        condition: Literal["none", "label"] = "none",
        bands: Annotated[int, Range(2)] = 3,
        shuffle_train_conditions: bool = False,
    ) -> None:
        self.condition = condition
        self.bands = bands
        self.shuffle_train_conditions = shuffle_train_conditions
        self.samples = samples
        self.length = length
        self.features = features
        self.variant = variant
        self.test_fraction = test_fraction
        self.seed = seed
        self.plots = plots

    @property
    def spec(self) -> DomainSpec:
        conditions = None
        if self.condition == "label":
            conditions = ConditionSpec(num_classes=self.bands, class_names=tuple(f"band-{k}" for k in range(self.bands)))
        return DomainSpec(kind="continuous", max_len=self.length, features=self.features, value_range=(0.0, 1.0), conditions=conditions)

    @property
    def test_size(self) -> int:
        """Held-out series: ``round(samples * test_fraction)``, at least one and leaving one to train on."""
        return min(self.samples - 1, max(1, round(self.samples * self.test_fraction)))

    def read_splits(self, split: Literal["train", "test"]) -> dict[str, SequenceData]:
        """Both splits, generated together from one seeded stream."""
        if self.condition == "label":
            return self._labelled_splits()
        data = torch.from_numpy(
            sine_waves(self.samples, self.length, self.features, self.variant, np.random.default_rng(self.seed))
        )
        cut = self.samples - self.test_size
        return {
            "train": SequenceData(Batch.full_length(data[:cut])),
            "test": SequenceData(Batch.full_length(data[cut:])),
        }

    def _labelled_splits(self) -> dict[str, SequenceData]:
        from seqtk.plugins.timeseries.conditions import shuffled_rows

        values, labels = banded_sine_waves(self.samples, self.length, self.features, self.variant, self.bands, np.random.default_rng(self.seed))
        data, classes = torch.from_numpy(values), torch.from_numpy(labels)
        cut = self.samples - self.test_size
        train_labels = classes[:cut]
        if self.shuffle_train_conditions:
            train_labels = train_labels[shuffled_rows(cut, self.seed)]
        return {
            "train": SequenceData(Batch.full_length(data[:cut], condition=Condition(labels=train_labels))),
            "test": SequenceData(Batch.full_length(data[cut:], condition=Condition(labels=classes[cut:]))),
        }

    def write_samples(self, batch: Batch, directory: Path, stem: str) -> list[Path]:
        """``<stem>.csv``: ``sample,step,f0,f1,...`` (``sample,step,label,f0,...`` when labelled), one row per sample per valid step."""
        values = batch.values.detach().cpu().float().numpy()
        names = [f"f{i}" for i in range(values.shape[2])]
        path = Path(directory) / f"{stem}.csv"
        if self.condition == "label":
            from seqtk.plugins.timeseries.conditional_plots import write_label_grids
            from seqtk.plugins.timeseries.conditions import SeriesConditions

            Path(directory).mkdir(parents=True, exist_ok=True)
            writer = SeriesConditions("label", label_column="label", static_columns=None, window=self.length, horizon=None, shuffle=False, seed=self.seed)
            writer.class_names = self.spec.conditions.class_names  # type: ignore[union-attr]
            written = [writer.write_csv(batch, values, path, names, lambda v: v)]
            if self.plots:
                written += write_label_grids(self.load("test").batch, batch.detach().to("cpu"), Path(directory), stem, names, writer.class_names, self.seed)
            return written
        written = [write_series_csv(values, batch.lengths.detach().cpu().numpy(), path, names)]
        if self.plots:
            from seqtk.plugins.timeseries.plots import write_pictures

            written += write_pictures(self.load("test").batch, batch.detach().to("cpu"), Path(directory), stem, feature_names=names, seed=self.seed)
        return written

    def report_samples(self, run_dir: Path, *, generator: Any = None, count: int = 8) -> list[Any]:
        """``seqtk report``: the newest grid and PCA pictures (``seqtk.plugins.timeseries.report``)."""
        from seqtk.plugins.timeseries.report import report_samples

        return report_samples(run_dir)

    def state_dict(self) -> dict[str, Any]:
        """Nothing is fitted to the data; the parameters alone regenerate it exactly."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        return None

    def __repr__(self) -> str:
        return (
            f"SinesDomain(samples={self.samples}, length={self.length}, features={self.features}, "
            f"variant={self.variant!r}, test_fraction={self.test_fraction}, seed={self.seed})"
        )
