"""What a time series is conditioned on, and how each window gets its condition.

The ``timeseries`` domain's ``condition`` parameter picks one of these settings:

- ``label`` (RCGAN, Esteban et al. 2017): ``label_column`` holds a category per row; its
  distinct values, sorted (numerically when every value is a number), are the classes.
  A window's label is **the label of its first row**: exact for a label that is constant
  per series (the usual case: a patient's diagnosis, a stock's sector), and a stated rule
  for one that changes inside a series (a regime column), where a window is labelled by
  where it starts.
- ``static``: ``static_columns`` hold numbers per row, min-max scaled to [0, 1] by the
  training rows (as the features are); a window takes its first row's values.
- ``label+static``: both.
- ``forecast``: windows of ``window + horizon`` rows; the first ``window`` rows are the
  condition (a context sequence, the history) and the ``horizon`` rows after them are the
  values the generator produces. A forecast never crosses a series or the train/test
  boundary, as no window does.

Which row starts each window is found by appending the row's index as an extra column
before windows are cut (:func:`with_row_index`), so the windowing code stays the one
place that decides what a window is. ``shuffle_train_conditions`` permutes the training
windows' conditions among them (seeded): the shuffled-condition baseline, a model that
sees the same series with conditions that say nothing about them.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import numpy as np
import torch

from seqtk.core.atomic import atomic_open
from seqtk.core.errors import DataError
from seqtk.core.interfaces import Batch, Condition, ConditionSpec, DomainSpec, SequenceData
from seqtk.plugins.scaling import MinMaxScaler
from seqtk.plugins.timeseries.table import Table, _decode, _records, _select
from seqtk.plugins.timeseries.windows import Windows

__all__ = ["CONDITION_MODES", "ConditionMode", "SeriesConditions", "feature_columns", "shuffled_rows", "with_row_index"]

ConditionMode = Literal["none", "label", "static", "label+static", "forecast"]
#: The values of the ``condition`` parameter, and the condition word each gives (registry ``provides_by_param``).
CONDITION_MODES: dict[str, frozenset[str]] = {
    "none": frozenset(),
    "label": frozenset({"label"}),
    "static": frozenset({"static"}),
    "label+static": frozenset({"label", "static"}),
    "forecast": frozenset({"context"}),
}
#: Nine significant digits round-trip any float32 exactly.
_FLOAT = "{:.9g}"


def with_row_index(values: np.ndarray) -> np.ndarray:
    """``values`` ``[rows, F]`` as float64 with each row's index appended: ``[rows, F + 1]``."""
    rows = np.arange(values.shape[0], dtype=np.float64)[:, None]
    return np.concatenate([np.asarray(values, dtype=np.float64), rows], axis=1)


def shuffled_rows(count: int, seed: int) -> torch.Tensor:
    """The seeded permutation by which ``shuffle_train_conditions`` reassigns training conditions."""
    return torch.randperm(count, generator=torch.Generator().manual_seed(seed * 7919 + 104729))


def feature_columns(path: Path, delimiter: str, exclude: Sequence[str | None]) -> list[str]:
    """The CSV header's columns minus ``exclude`` (time, series, label and static columns): the default features."""
    _, header, _, _ = _records(_decode(path), path, delimiter)
    taken = {name for name in exclude if name is not None}
    return [name for name in header if name not in taken]


def check_settings(
    condition: str,
    *,
    path: Path,
    label_column: str | None,
    static_columns: Sequence[str] | None,
    horizon: int | None,
    window: int | None,
    keep_short: bool,
    columns: Sequence[str] | None,
    time_column: str | None,
    series_column: str | None,
) -> None:
    """Recipe mistakes in the conditional parameters that need no file: ``ValueError`` saying what to set."""
    words = CONDITION_MODES[condition]
    wants = {"label_column": "label" in words, "static_columns": "static" in words, "horizon": "context" in words}
    given = {"label_column": label_column is not None, "static_columns": static_columns is not None, "horizon": horizon is not None}
    needed = {"label_column": "label", "static_columns": "static", "horizon": "forecast"}
    for name in wants:
        if wants[name] and not given[name]:
            raise ValueError(f"condition {condition!r} needs {name} (see docs/timeseries.md, 'Conditions')")
        if given[name] and not wants[name]:
            raise ValueError(f"{name} is set but condition is {condition!r}; set condition: {needed[name]} (or label+static) to use it")
    if isinstance(static_columns, str):
        raise ValueError(f"static_columns must be a list of column names, got the string {static_columns!r} (write [{static_columns!r}])")
    side = [label_column] if label_column is not None else []
    side += list(static_columns or [])
    if side and path.suffix.lower() == ".npy":
        raise ValueError("label_column and static_columns name CSV columns; an .npy file has no named columns")
    if static_columns is not None and not list(static_columns):
        raise ValueError("static_columns is empty; list at least one column")
    for name in side:
        for role, other in (("time_column", time_column), ("series_column", series_column)):
            if name == other:
                raise ValueError(f"{name!r} is both a condition column and the {role}")
        if columns is not None and name in columns:
            raise ValueError(f"{name!r} is both a condition column and in columns; a column is a feature or a condition, not both")
    if len(set(side)) != len(side):
        raise ValueError(f"a condition column is named twice in label_column and static_columns: {side}")
    if "context" in words:
        if window is None:
            raise ValueError("condition 'forecast' needs a window (the history's steps); window: null keeps whole series")
        if keep_short:
            raise ValueError("condition 'forecast' needs full windows of window + horizon rows; set keep_short: false")


class SeriesConditions:
    """The timeseries domain's conditions: read per row, attached per window, saved with the run.

    Fitted state (the class names, the static columns' scaler) lives in ``state_dict``, so
    ``seqtk sample`` names its labels and writes static features in their own units
    without the data file.
    """

    def __init__(
        self,
        condition: str,
        *,
        label_column: str | None,
        static_columns: Sequence[str] | None,
        window: int | None,
        horizon: int | None,
        shuffle: bool,
        seed: int,
    ) -> None:
        self.condition = condition
        self.words = CONDITION_MODES[condition]
        self.label_column = label_column
        self.static_columns = list(static_columns) if static_columns is not None else []
        self.window = window
        self.horizon = horizon
        self.shuffle = shuffle
        self.seed = seed
        self.class_names: tuple[str, ...] = ()
        self.static_scaler: MinMaxScaler | None = None
        self._row_labels: np.ndarray | None = None
        self._row_static: np.ndarray | None = None

    @property
    def active(self) -> bool:
        return bool(self.words)

    @property
    def forecasting(self) -> bool:
        return "context" in self.words

    def window_length(self) -> int | None:
        """Rows per window cut from the table: history and horizon together when forecasting."""
        if self.forecasting:
            assert self.window is not None and self.horizon is not None
            return self.window + self.horizon
        return self.window

    def spec(self, features: int, value_range: tuple[float, float] | None) -> ConditionSpec | None:
        if not self.active:
            return None
        if self.forecasting:
            assert self.window is not None
            return ConditionSpec(context=DomainSpec(kind="continuous", max_len=self.window, features=features, value_range=value_range))
        return ConditionSpec(
            num_classes=len(self.class_names) if "label" in self.words else 0,
            class_names=self.class_names if "label" in self.words else (),
            static_features=len(self.static_columns),
        )

    # ----------------------------------------------------------- reading

    def read_rows(self, table: Table, is_test: np.ndarray, delimiter: str) -> None:
        """Each table row's label id and scaled static features; fits class names and scaler unless restored."""
        if not (self.words & {"label", "static"}):
            return
        text, static = _side_cells(table, delimiter, self.label_column, self.static_columns)
        if text is not None:
            if not self.class_names:
                self.class_names = _class_names(text)
            index = {name: k for k, name in enumerate(self.class_names)}
            unknown = sorted(set(text) - set(index))
            if unknown:
                raise DataError(
                    f"{table.path}: {self.label_column!r} holds {', '.join(map(repr, unknown[:5]))}, which the run was "
                    f"trained without (its classes: {', '.join(map(repr, self.class_names))})"
                )
            self._row_labels = np.array([index[t] for t in text], dtype=np.int64)
        if static is not None:
            if self.static_scaler is None:
                self.static_scaler = MinMaxScaler(self.static_columns).fit(static[~is_test], source=f"{table.path} (static_columns)")
            self._row_static = self.static_scaler.transform(static, dtype=np.float32)

    def sequences(self, windows: Windows, width: int, split: str) -> SequenceData:
        """A split's windows (row index in the last column) as values with their conditions."""
        first = np.rint(windows.values[:, 0, -1]).astype(np.int64)
        values = windows.values[..., :-1].astype(np.float32)
        lengths = windows.lengths
        if self.forecasting:
            assert self.window is not None
            history = torch.from_numpy(np.ascontiguousarray(values[:, : self.window]))
            future = torch.from_numpy(np.ascontiguousarray(values[:, self.window :]))
            condition = Condition(context=Batch.full_length(history))
            batch = Batch.full_length(future, condition=condition)
        else:
            tensor = torch.zeros(values.shape[0], width, values.shape[2], dtype=torch.float32)
            tensor[:, : values.shape[1]] = torch.from_numpy(np.ascontiguousarray(values))
            condition = Condition(
                labels=torch.from_numpy(self._row_labels[first]) if self._row_labels is not None else None,
                static=torch.from_numpy(np.ascontiguousarray(self._row_static[first])) if self._row_static is not None else None,
            )
            batch = Batch(values=tensor, lengths=torch.as_tensor(lengths, dtype=torch.long), condition=condition)
        if split == "train" and self.shuffle and batch.condition is not None:
            batch.condition = batch.condition.index(shuffled_rows(batch.size, self.seed))
        return SequenceData(batch)

    # ----------------------------------------------------------- state

    def state_dict(self) -> dict[str, Any]:
        return {
            "class_names": list(self.class_names),
            "static_scaler": self.static_scaler.state_dict() if self.static_scaler is not None else None,
        }

    def load_state_dict(self, state: Mapping[str, Any] | None) -> None:
        if not state:
            return
        self.class_names = tuple(str(name) for name in state.get("class_names", ()))
        scaler = state.get("static_scaler")
        self.static_scaler = MinMaxScaler.from_state(scaler) if scaler is not None else None

    # ----------------------------------------------------------- writing

    def write_csv(self, batch: Batch, values: np.ndarray, path: Path, names: Sequence[str], to_units: Any) -> Path:
        """Samples beside their conditions, in original units (``to_units`` maps scaled features back).

        Labels and static features: ``sample,step,<label column>,<static columns>,<features>``.
        Forecasts: ``sample,part,step,<features>`` with the history's rows (``part`` =
        ``history``, steps ``0 .. window - 1``) before the forecast's (``forecast``, the
        steps after).
        """
        condition = batch.condition
        if condition is None:
            raise ValueError("timeseries: the samples carry no condition (were they generated without one?)")
        lengths = batch.lengths.detach().cpu().numpy()
        with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            if self.forecasting:
                assert condition.context is not None
                history = to_units(condition.context.values.detach().cpu().float().numpy())
                history_lengths = condition.context.lengths.detach().cpu().numpy()
                writer.writerow(["sample", "part", "step", *names])
                for row in range(values.shape[0]):
                    first = int(history_lengths[row])
                    for step in range(first):
                        writer.writerow([row, "history", step, *map(_FLOAT.format, history[row, step])])
                    for step in range(int(lengths[row])):
                        writer.writerow([row, "forecast", first + step, *map(_FLOAT.format, values[row, step])])
                return path
            side_names: list[str] = []
            side: list[list[str]] = [[] for _ in range(values.shape[0])]
            if condition.labels is not None and self.label_column is not None:
                side_names.append(self.label_column)
                for row, k in enumerate(condition.labels.detach().cpu().tolist()):
                    side[row].append(self.class_names[int(k)] if self.class_names else str(int(k)))
            if condition.static is not None and self.static_scaler is not None:
                side_names += self.static_columns
                static = self.static_scaler.inverse(condition.static.detach().cpu().double().numpy())
                for row in range(values.shape[0]):
                    side[row] += [_FLOAT.format(v) for v in static[row]]
            writer.writerow(["sample", "step", *side_names, *names])
            for row in range(values.shape[0]):
                for step in range(int(lengths[row])):
                    writer.writerow([row, step, *side[row], *map(_FLOAT.format, values[row, step])])
        return path


def _side_cells(
    table: Table, delimiter: str, label_column: str | None, static_columns: Sequence[str]
) -> tuple[list[str] | None, np.ndarray | None]:
    """The label texts and static numbers of each table row, found through the row's CSV line."""
    path = table.path
    header_line, header, records, starts = _records(_decode(path), path, delimiter)
    where = f"line {header_line} (header)"
    label_idx = _select(path, where, header, label_column, "label_column") if label_column is not None else None
    static_idx = [_select(path, where, header, name, "static_columns") for name in static_columns]
    record_of_line = {line: row for row, line in enumerate(starts)}
    rows = [record_of_line[int(line)] for line in table.lines]
    text = None
    if label_idx is not None:
        text = [records[r][label_idx].strip() for r in rows]
        for r, cell in zip(rows, text):
            if not cell:
                raise DataError(f"{path}: line {starts[r]}: column {label_column!r} is empty; every row needs its label")
    static = None
    if static_idx:
        static = np.empty((len(rows), len(static_idx)), dtype=np.float64)
        for j, (idx, name) in enumerate(zip(static_idx, static_columns)):
            for i, r in enumerate(rows):
                cell = records[r][idx].strip()
                try:
                    value = float(cell)
                except ValueError:
                    value = float("nan")
                if not np.isfinite(value):
                    raise DataError(f"{path}: line {starts[r]}: column {name!r} holds {cell!r}; a static column needs a finite number in every row")
                static[i, j] = value
    return text, static


def _class_names(texts: Sequence[str]) -> tuple[str, ...]:
    """The distinct labels, sorted numerically when all are numbers, else as text."""
    distinct = set(texts)
    try:
        return tuple(sorted(distinct, key=float))
    except ValueError:
        return tuple(sorted(distinct))
