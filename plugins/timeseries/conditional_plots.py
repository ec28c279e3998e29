"""Pictures of conditional samples: is each sample what it was asked for?

- Labels: one grid per class (``<stem>-grid-<class>.png``), real test series of that
  class beside samples asked for it, so a generator that ignores its label shows the
  same shapes in every class's picture.
- Forecasts (``<stem>-forecast.png``): a few test histories, each with its real future
  and the forecasts drawn for it, one feature in the data's units. Evaluations and
  ``seqtk sample`` draw sample ``i`` for test row ``i mod rows`` (``cycled``), so every
  forecast of a history is drawn, and a history whose sample carries another context is
  shown without a real future.

Like :mod:`seqtk.plugins.timeseries.plots`, nothing is drawn without matplotlib (one
warning), and every PNG is written atomically.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from seqtk.core.interfaces import Batch
from seqtk.plugins.pictures import new_figure, no_pictures, plotting_available, save_png
from seqtk.plugins.timeseries.plots import write_series_grid

__all__ = ["write_conditional_pictures", "write_forecast_picture", "write_label_grids"]


def write_conditional_pictures(domain: Any, fake: Batch, directory: Path, stem: str) -> list[Path]:
    """The timeseries domain's pictures for conditional samples (labels: per-class grids; forecasts: histories and futures)."""
    if not plotting_available():
        return no_pictures()
    real = domain.load("test").batch
    fake = fake.detach().to("cpu")
    if domain.conditions.forecasting:
        return [write_forecast_picture(real, fake, directory / f"{stem}-forecast.png", domain.feature_names, domain.to_original_units)]
    if real.condition is None or real.condition.labels is None:
        return []
    return write_label_grids(real, fake, directory, stem, domain.feature_names, domain.conditions.class_names, domain.seed)


def write_label_grids(
    real: Batch, fake: Batch, directory: Path, stem: str, feature_names: Sequence[str], class_names: Sequence[str], seed: int
) -> list[Path]:
    """``<stem>-grid-<class>.png`` for each class with samples: real series of the class beside samples asked for it."""
    if not plotting_available():
        return no_pictures()
    if real.condition is None or real.condition.labels is None or fake.condition is None or fake.condition.labels is None:
        return []
    written = []
    for k, name in enumerate(class_names):
        real_rows = torch.nonzero(real.condition.labels == k).squeeze(1)
        fake_rows = torch.nonzero(fake.condition.labels.cpu() == k).squeeze(1)
        if len(real_rows) == 0 or len(fake_rows) == 0:
            continue
        r, f = real.index(real_rows), fake.index(fake_rows)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)) or str(k)
        written.append(write_series_grid(
            r.values.double().numpy(), r.lengths.numpy(), f.values.detach().double().numpy(), f.lengths.numpy(),
            directory / f"{stem}-grid-{safe}.png", feature_names=feature_names, seed=seed, ylabel=f"class {name!r}",
        ))
    return written


def write_forecast_picture(
    real: Batch, fake: Batch, path: Path, feature_names: Sequence[str], to_units: Any, *, examples: int = 4, feature: int = 0
) -> Path:
    """``examples`` panels: a test history, its real future (black) and the forecasts drawn for it, for one feature."""
    assert real.condition is not None and real.condition.context is not None
    rows = real.size
    chosen = np.unique(np.linspace(0, min(rows, fake.size) - 1, num=min(examples, rows, fake.size)).astype(int))
    figure = new_figure(8.0, 2.0 * len(chosen))
    grid = figure.subplots(len(chosen), 1, squeeze=False)
    history_all = to_units(real.condition.context.values.numpy())
    future_all = to_units(real.values.numpy())
    for panel, row in zip(grid[:, 0], chosen):
        window = real.condition.context.steps
        history = history_all[row, :, feature]
        panel.plot(np.arange(window), history, color="0.4", linewidth=1.0, label="history")
        same = torch.arange(row, fake.size, rows)
        matches = fake.condition is not None and fake.condition.context is not None and torch.equal(
            fake.condition.context.values[row].cpu(), real.condition.context.values[row]
        )
        horizon = np.arange(window, window + fake.steps)
        forecasts = to_units(fake.values[same].detach().cpu().numpy())
        for i, forecast in enumerate(forecasts):
            panel.plot(horizon, forecast[:, feature], color="tab:blue", alpha=0.6, linewidth=1.0, label="forecast" if i == 0 else None)
        if matches:
            panel.plot(np.arange(window, window + real.steps), future_all[row, :, feature], color="black", linestyle="--", linewidth=1.2, label="real future")
        panel.set_title(f"test history #{row}", fontsize="small", loc="left")
    grid[0, 0].legend(fontsize="x-small", loc="upper left")
    grid[-1, 0].set_xlabel("step")
    figure.supylabel(f"{feature_names[feature]} (original units)", fontsize="small")
    return save_png(figure, path, 100)
