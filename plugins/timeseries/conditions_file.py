"""A user's file of conditions for a conditional time-series run (``seqtk sample --conditions``).

What the file holds follows the run's ``condition``:

- ``forecast``: histories, in the training file's own layout (the same feature columns,
  and its time and series columns when it had them). Each series' last ``window`` rows are
  one history, scaled as in training; the run draws the ``horizon`` steps after it.
- ``label``, ``static``, ``label+static``: a CSV with the label column and/or the static
  columns the run was trained with, one condition per data row (labels must be classes of
  the training file, static values numbers in their own units).

Every problem is a ``DataError`` naming the file, and the line or series where it has one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqtk.core.errors import DataError
from seqtk.core.interfaces import Batch, Condition
from seqtk.plugins.timeseries.conditions import SeriesConditions
from seqtk.plugins.timeseries.table import Table, _decode, _records, _select

__all__ = ["last_histories", "side_conditions"]


def last_histories(table: Table, window: int, scale: Any) -> Condition:
    """Each series' last ``window`` rows of ``table``, through ``scale`` (the run's scaler, or None), as a context batch."""
    histories = []
    for series, name in enumerate(table.series_names):
        rows = table.values[table.series == series]
        if len(rows) < window:
            raise DataError(
                f"conditions file {table.path}: series {name!r} has {len(rows)} row(s); a history needs the run's window of {window}"
            )
        histories.append(rows[-window:])
    values = np.stack(histories)
    scaled = scale.transform(values) if scale is not None else values
    return Condition(context=Batch.full_length(torch.as_tensor(np.ascontiguousarray(scaled), dtype=torch.float32)))


def side_conditions(path: Path, delimiter: str, conditions: SeriesConditions) -> Condition:
    """One condition per data row of a CSV holding the run's label column and/or static columns."""
    header_line, header, records, starts = _records(_decode(path), path, delimiter)
    if not records:
        raise DataError(f"conditions file {path}: holds a header but no data row; expected one condition per row")
    where = f"line {header_line} (header)"
    labels = static = None
    if "label" in conditions.words:
        assert conditions.label_column is not None
        column = _select(path, where, header, conditions.label_column, "label_column")
        index = {name: k for k, name in enumerate(conditions.class_names)}
        found = []
        for record, line in zip(records, starts):
            cell = record[column].strip() if column < len(record) else ""
            if cell not in index:
                raise DataError(
                    f"conditions file {path}: line {line}: {conditions.label_column!r} is {cell!r}, not a class the run was "
                    f"trained on; valid: {', '.join(conditions.class_names)}"
                )
            found.append(index[cell])
        labels = torch.tensor(found, dtype=torch.long)
    if "static" in conditions.words:
        assert conditions.static_scaler is not None
        columns = [_select(path, where, header, name, "static_columns") for name in conditions.static_columns]
        numbers = np.empty((len(records), len(columns)))
        for i, (record, line) in enumerate(zip(records, starts)):
            for j, (column, name) in enumerate(zip(columns, conditions.static_columns)):
                cell = record[column].strip() if column < len(record) else ""
                try:
                    numbers[i, j] = float(cell)
                except ValueError:
                    numbers[i, j] = np.nan
                if not np.isfinite(numbers[i, j]):
                    raise DataError(f"conditions file {path}: line {line}: {name!r} holds {cell!r}; expected a finite number")
        static = torch.from_numpy(conditions.static_scaler.transform(numbers, dtype=np.float32))
    return Condition(labels=labels, static=static)
