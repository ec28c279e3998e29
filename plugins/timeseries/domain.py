"""A user's own time series: a CSV or NPY file in, synthetic series in the same units out.

The pipeline, each step in its own module:

1. ``table.read_table``: read, select columns, sort by time (or reverse), group series,
   handle missing values; bad cells are refused naming file, line and column.
2. ``windows.split_rows``: choose test rows (contiguous blocks, the tail, or whole
   series) before any window is cut, so no test row ever appears in a training window.
3. ``windows.MinMaxScaler``: per-feature min-max scaling fitted on training rows only,
   saved with the run (``state_dict``) and inverted when samples are written.
4. ``windows.make_windows``: windows of ``window`` steps every ``stride`` rows inside
   each run of same-split rows; ``window: null`` keeps whole series (variable length).

The fitted state (columns, scaler, lengths) lives in the checkpoint, so ``seqtk sample``
writes series in original units without the data file.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Mapping, Sequence

import numpy as np
import torch

from seqtk.core.atomic import atomic_open
from seqtk.core.errors import DataError
from seqtk.core.interfaces import Batch, Condition, Domain, DomainSpec, SequenceData
from seqtk.core.params import OpenFraction, PositiveInt, Range, checked
from seqtk.core.splits import LazySplits
from seqtk.plugins.timeseries.conditions import ConditionMode, SeriesConditions, check_settings, feature_columns, with_row_index
from seqtk.plugins.timeseries.csv_samples import write_series_csv
from seqtk.plugins.timeseries.table import Table, check_read_options, read_table
from seqtk.plugins.timeseries.windows import MinMaxScaler, Windows, make_windows, split_rows

__all__ = ["TimeSeriesDomain", "read_samples_file", "write_samples_files"]

#: The long format that seqtk writes samples in: one row per sample per step.
LONG_FORMAT_KEYS = ("sample", "step")


@checked("timeseries")
class TimeSeriesDomain(LazySplits, Domain):
    """Windows of a CSV or NPY file, min-max scaled, split into train and test without leakage.

    Parameters (all but ``path`` optional): ``path`` the data file (``.npy`` or CSV);
    ``columns`` the feature columns (default: every column but the time and series
    columns); ``time_column`` sort rows by it (numbers or ISO dates); ``series_column``
    several series in one long file; ``reverse`` reverse the row order (files stored
    newest first); ``missing`` ``error``, ``drop`` or ``interpolate``; ``delimiter``;
    ``window`` steps per sequence (``null``: whole series, variable length); ``stride``
    rows between window starts; ``keep_short`` keep a stretch shorter than ``window`` as
    one shorter sequence; ``split`` ``blocks``, ``tail`` or ``series``; ``blocks``;
    ``test_fraction``; ``scale`` ``minmax`` or ``none``; ``seed`` of the split;
    ``samples_format`` ``csv``, ``npy`` or ``both``; ``plots`` write PCA and grid PNGs
    beside each sample file (needs ``seqtk[plot]``).

    Conditional generation (``seqtk.plugins.timeseries.conditions``): ``condition``
    ``none``, ``label``, ``static``, ``label+static`` or ``forecast``; ``label_column`` a
    categorical column (a window's label is its first row's); ``static_columns`` numeric
    columns scaled to [0, 1]; ``horizon`` steps to forecast after each ``window``-step
    history; ``shuffle_train_conditions`` permute the training windows' conditions (the
    shuffled-condition baseline). Conditional samples are written as CSV with their
    condition beside them.
    """

    #: ``density`` and ``coverage`` on scaled, flattened windows (``seqtk.plugins.collapse``): mode collapse shows in the numbers.
    default_metrics: ClassVar[tuple[str, ...]] = ("mmd", "marginal", "acf", "density", "coverage")
    #: ``seqtk score`` computes the slow post-hoc scores too: it runs once, not every eval.
    scoring_metrics: ClassVar[tuple[str, ...]] = ("mmd", "marginal", "acf", "density", "coverage", "discriminative", "predictive")
    split_label: ClassVar[str] = "timeseries"

    def __init__(
        self,
        path: str,
        columns: Sequence[str] | None = None,
        time_column: str | None = None,
        series_column: str | None = None,
        reverse: bool = False,
        missing: Literal["error", "drop", "interpolate"] = "error",
        delimiter: str = ",",
        window: Annotated[int, Range(2, note="or null: the whole series")] | None = 24,
        stride: PositiveInt = 1,
        keep_short: bool = False,
        split: Literal["blocks", "tail", "series"] = "blocks",
        blocks: Annotated[int, Range(2)] = 10,
        test_fraction: OpenFraction = 0.2,
        scale: Literal["minmax", "none"] = "minmax",
        seed: int = 0,
        samples_format: Literal["csv", "npy", "both"] = "csv",
        plots: bool = True,
        condition: ConditionMode = "none",
        label_column: str | None = None,
        static_columns: Sequence[str] | None = None,
        horizon: PositiveInt | None = None,
        shuffle_train_conditions: bool = False,
    ) -> None:
        if time_column is not None and reverse:
            raise ValueError("timeseries: give time_column (rows sorted by time) or reverse (rows reversed), not both")
        try:  # now, so that a recipe mistake is a recipe error, not a failure on first use of the data
            check_read_options(columns, time_column, series_column, reverse, missing, delimiter)
            check_settings(
                condition, path=Path(path), label_column=label_column, static_columns=static_columns, horizon=horizon,
                window=window, keep_short=keep_short, columns=columns, time_column=time_column, series_column=series_column,
            )
        except ValueError as exc:
            raise ValueError(f"timeseries: {exc}") from None
        self.path = Path(path)
        self.conditions = SeriesConditions(
            condition, label_column=label_column, static_columns=static_columns, window=window, horizon=horizon,
            shuffle=shuffle_train_conditions, seed=seed,
        )
        self.columns = list(columns) if columns is not None else None
        self.time_column = time_column
        self.series_column = series_column
        self.reverse = reverse
        self.missing = missing
        self.delimiter = delimiter
        self.window = window
        self.stride = stride
        self.keep_short = keep_short
        self.split = split
        self.blocks = blocks
        self.test_fraction = test_fraction
        self.scale = scale
        self.seed = seed
        self.samples_format = samples_format
        self.plots = plots
        # Fitted state: set by _prepare() from the data, or by load_state_dict() from a checkpoint.
        self._names: list[str] | None = None
        self._scaler: MinMaxScaler | None = None
        self._max_len: int | None = None
        self._length_weights: tuple[float, ...] = ()

    # ----------------------------------------------------------- Domain

    @property
    def spec(self) -> DomainSpec:
        if self._names is None:
            self._prepare()
        assert self._names is not None and self._max_len is not None
        value_range = (0.0, 1.0) if self.scale == "minmax" else None
        return DomainSpec(
            kind="continuous",
            max_len=self._max_len,
            features=len(self._names),
            value_range=value_range,
            length_weights=self._length_weights,
            conditions=self.conditions.spec(len(self._names), value_range),
        )

    @property
    def feature_names(self) -> list[str]:
        if self._names is None:
            self._prepare()
        assert self._names is not None
        return list(self._names)

    def read_splits(self, split: Literal["train", "test"]) -> dict[str, SequenceData]:
        """Both splits: one pass over the file splits its rows, then cuts windows on each side."""
        return self._prepare()

    def write_samples(self, batch: Batch, directory: Path, stem: str) -> list[Path]:
        """Samples in the data's original units: ``<stem>.csv`` (long format) and/or ``<stem>.npy``, plus pictures."""
        values = batch.values.detach().cpu().float().numpy()
        lengths = batch.lengths.detach().cpu().numpy()
        if self.conditions.active:  # the condition beside each sample: a label column, or the history before the forecast
            from seqtk.plugins.timeseries.conditional_plots import write_conditional_pictures

            Path(directory).mkdir(parents=True, exist_ok=True)
            path = self.conditions.write_csv(batch, self.to_original_units(values), Path(directory) / f"{stem}.csv", self.feature_names, self.to_original_units)
            pictures = write_conditional_pictures(self, batch, Path(directory), stem) if self.plots and (self.has_split("test") or self.path.is_file()) else []
            return [path, *pictures]
        written = write_samples_files(self.to_original_units(values), lengths, Path(directory), stem, self.feature_names, self.samples_format)
        # Pictures compare with the real test windows: skipped when sampling without the data file.
        if self.plots and (self.has_split("test") or self.path.is_file()):
            written += self._write_pictures(values, lengths, Path(directory), stem)
        return written

    def read_conditions(self, path: Path) -> Condition:
        """``seqtk sample --conditions``: histories to forecast from, or rows of labels and static values (``seqtk.plugins.timeseries.conditions_file``)."""
        from seqtk.plugins.timeseries.conditions_file import last_histories, side_conditions

        path = Path(path)
        if not self.conditions.active:
            raise DataError(f"conditions file {path}: this run's time series are unconditional (condition: none)")
        if self._names is None:
            self._prepare()
        if self.conditions.forecasting:
            assert self.window is not None
            table = read_table(
                path, columns=self._names, time_column=self.time_column, series_column=self.series_column,
                reverse=self.reverse, missing=self.missing, delimiter=self.delimiter,
            )
            return last_histories(table, self.window, self._scaler)
        return side_conditions(path, self.delimiter, self.conditions)

    def report_samples(self, run_dir: Path, *, generator: Any = None, count: int = 8) -> list[Any]:
        """``seqtk report``: the newest grid and PCA pictures (``seqtk.plugins.timeseries.report``)."""
        from seqtk.plugins.timeseries.report import report_samples

        return report_samples(run_dir)

    def state_dict(self) -> dict[str, Any]:
        """Columns, scaler and lengths: what ``seqtk sample`` needs without the data file."""
        if self._names is None:
            self._prepare()
        return {
            "columns": list(self._names or []),
            "scaler": self._scaler.state_dict() if self._scaler is not None else None,
            "max_len": self._max_len,
            "length_weights": list(self._length_weights),
            "conditions": self.conditions.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._names = [str(name) for name in state["columns"]]
        self._scaler = MinMaxScaler.from_state(state["scaler"]) if state.get("scaler") is not None else None
        self._max_len = int(state["max_len"])
        self._length_weights = tuple(float(w) for w in state.get("length_weights", ()))
        self.conditions.load_state_dict(state.get("conditions"))

    @classmethod
    def scoring_data(cls, real: Path, samples: Path, params: Mapping[str, Any]) -> tuple["TimeSeriesDomain", Batch, Batch]:
        """Real data and samples, both min-max scaled by the real data, as equal-width batches.

        A file of samples in seqtk's long format (``sample,step,...``) or a 3-D ``.npy`` is
        read as one sequence per sample. Any other file is read like training data (with
        ``params`` such as ``columns``, ``time_column``, ``reverse``) and cut into windows
        as long as the samples are (``--param window=N`` to choose), every ``stride`` rows.
        A plain file of samples (one series, or several with ``series_column``) is cut
        into the same ``window``-step windows; without ``window`` each of its series is
        one sequence, and a single series is refused (one sample scores nothing). The
        scaler is fitted on the real data, so the scores are in the same units a run
        reports them in.
        """
        params = dict(params)
        window = params.pop("window", None)
        if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 2):
            raise DataError(f"--param window={window!r}: expected an integer >= 2 (steps per real window) or null (whole series)")
        fake_values, fake_lengths, fake_names = read_samples_file(Path(samples), params, window=window)
        if window is None and len(fake_lengths) < 2 and not _one_sequence_per_sample(Path(samples), params):
            raise DataError(
                f"{samples}: no 'sample' and 'step' columns, so it is read as one series of {int(fake_lengths.sum())} rows, "
                "which is one sample; expected seqtk's long format (a header 'sample,step,<features>', one row per "
                "sample per step), a 3-D .npy, or --param window=N to cut this series into N-step samples "
                "(the real file is cut the same way)"
            )
        window = int(fake_lengths.max()) if window is None else window
        real_values, real_lengths, real_names = read_samples_file(Path(real), params, window=window)
        if list(real_names) != list(fake_names):
            raise DataError(
                f"{samples}: its columns {list(fake_names)} differ from those of {real} ({list(real_names)}); "
                "select the same columns with --param columns=[...]"
            )
        mask = np.arange(real_values.shape[1])[None, :] < real_lengths[:, None]
        scaler = MinMaxScaler(real_names).fit(real_values[mask], source=str(real))
        domain = cls(path=str(real), columns=list(real_names), window=window)
        domain._names, domain._scaler = list(real_names), scaler
        width = max(real_values.shape[1], fake_values.shape[1])
        domain._max_len = width
        return domain, _batch(scaler.transform(real_values), real_lengths, width), _batch(scaler.transform(fake_values), fake_lengths, width)

    # ----------------------------------------------------------- helpers

    def to_original_units(self, values: np.ndarray) -> np.ndarray:
        """Scaled ``[..., F]`` values back in the data's units (identity when ``scale: none``)."""
        if self._names is None:
            self._prepare()
        if self._scaler is None:
            return np.asarray(values, dtype=np.float64)
        return self._scaler.inverse(values)

    def _prepare(self) -> dict[str, SequenceData]:
        """Read, split, scale and window the file once; fill the fitted state unless restored; keep and return the splits."""
        table = self._read()
        is_test = split_rows(table.series, test_fraction=self.test_fraction, mode=self.split, blocks=self.blocks, seed=self.seed)
        if self._names is not None and list(table.columns) != self._names:
            raise DataError(f"{self.path}: columns {list(table.columns)} differ from those the run was trained on ({self._names})")
        if self._scaler is None and self.scale == "minmax":
            self._scaler = MinMaxScaler(table.columns).fit(table.values[~is_test], source=str(self.path))
        scaled = self._scaler.transform(table.values) if self._scaler is not None else table.values.astype(np.float32)
        conditions = self.conditions
        if conditions.active:  # each window's first row, found through an appended row-index column
            conditions.read_rows(table, is_test, self.delimiter)
            scaled = with_row_index(scaled)
        length = conditions.window_length()
        train, test = make_windows(
            scaled, table.series, is_test, length=length, stride=self.stride, keep_short=self.keep_short, source=str(self.path)
        )
        if self._max_len is None:
            self._max_len = int(length if length is not None else max(train.lengths.max(), test.lengths.max()))
            if conditions.forecasting:
                self._max_len = int(conditions.horizon or 0)
            self._length_weights = _length_weights(train.lengths, self._max_len) if not conditions.forecasting else ()
        self._names = list(table.columns)
        if conditions.active:
            splits = {"train": conditions.sequences(train, self._max_len, "train"), "test": conditions.sequences(test, self._max_len, "test")}
        else:
            splits = {"train": _sequences(train, self._max_len), "test": _sequences(test, self._max_len)}
        self.keep_splits(splits)
        return splits

    def _read(self) -> Table:
        columns = self.columns
        side = [self.conditions.label_column, *self.conditions.static_columns]
        if columns is None and any(side):  # condition columns are not features
            columns = feature_columns(self.path, self.delimiter, [self.time_column, self.series_column, *side])
        return read_table(
            self.path,
            columns=columns,
            time_column=self.time_column,
            series_column=self.series_column,
            reverse=self.reverse,
            missing=self.missing,
            delimiter=self.delimiter,
        )

    def _write_pictures(self, values: np.ndarray, lengths: np.ndarray, directory: Path, stem: str) -> list[Path]:
        """PCA and grid in the scaled space, where no feature dominates by its units (one feature: original units)."""
        from seqtk.plugins.timeseries import plots

        if not plots.plotting_available():  # warns once and writes nothing: training never fails for a picture
            return plots.no_pictures()
        real = self.load("test").batch
        real_values, real_lengths = real.values.numpy(), real.lengths.numpy()
        written = []
        if plots.pca_possible(real_lengths):
            written.append(plots.write_pca(real_values, real_lengths, values, lengths, directory / f"{stem}-pca.png", seed=self.seed))
        if self._scaler is not None and len(self.feature_names) > 1:
            # Features in different units (prices and volumes) share one axis only when scaled.
            shown, ylabel = (real_values, values), "min-max scaled (0 and 1: the training rows' minimum and maximum)"
        else:
            shown, ylabel = (self.to_original_units(real_values), self.to_original_units(values)), "original units"
        grid = plots.write_series_grid(
            shown[0], real_lengths, shown[1], lengths, directory / f"{stem}-grid.png",
            feature_names=self.feature_names, seed=self.seed, ylabel=ylabel,
        )
        return [*written, grid]

    def __repr__(self) -> str:
        return f"TimeSeriesDomain(path={str(self.path)!r}, window={self.window}, stride={self.stride}, split={self.split!r})"


# --------------------------------------------------------------------------- files


def write_samples_files(
    values: np.ndarray, lengths: np.ndarray, directory: Path, stem: str, names: Sequence[str], fmt: str
) -> list[Path]:
    """``<stem>.csv`` (long format) and/or ``<stem>.npy`` (``[N, T, F]``, NaN past each length), atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if fmt in ("csv", "both"):
        written.append(write_series_csv(values, lengths, directory / f"{stem}.csv", list(names)))
    if fmt in ("npy", "both"):
        padded = np.array(values, dtype=np.float64)
        padded[np.arange(padded.shape[1])[None, :] >= np.asarray(lengths)[:, None]] = np.nan
        path = directory / f"{stem}.npy"
        with atomic_open(path, "wb") as handle:
            np.save(handle, padded, allow_pickle=False)
        written.append(path)
    return written


def read_samples_file(path: Path, params: Mapping[str, Any], *, window: int | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(values [N, T, F] float64, lengths [N], feature names)`` from a file of series.

    seqtk's long CSV (``sample,step,...``) and 3-D NPY files are one sequence per sample;
    anything else is read with ``read_table`` and cut into ``window``-step windows every
    ``stride`` rows (whole series when ``window`` is None).
    """
    options = {k: params[k] for k in ("columns", "time_column", "series_column", "reverse", "missing", "delimiter") if k in params}
    unknown = set(params) - set(options) - {"stride", "window"}
    if unknown:
        raise DataError(f"--param {', '.join(sorted(unknown))}: not an option of timeseries scoring; valid: columns, time_column, series_column, reverse, missing, delimiter, window, stride")
    long_delimiter = _long_csv_delimiter(path, options)
    if long_delimiter is not None:
        # The order is in the sample and step columns: ``reverse`` is for the real file only,
        # and seqtk writes commas whatever the real file uses.
        forced = {"series_column": "sample", "time_column": "step", "reverse": False, "delimiter": long_delimiter}
        table = read_table(path, **{**options, **forced})
        return (*_per_series(table), list(table.columns))
    if path.suffix == ".npy" and np.load(path, mmap_mode="r", allow_pickle=False).ndim == 3:
        table = read_table(path, **options)
        return (*_per_series(table), list(table.columns))
    table = read_table(path, **options)
    stride = int(params.get("stride", 1))
    everything = np.zeros(len(table.values), dtype=bool)
    windows, _ = make_windows(table.values, table.series, everything, length=window, stride=stride, keep_short=window is None, source=str(path), need_test=False)
    return windows.values.astype(np.float64), windows.lengths, list(table.columns)


def _one_sequence_per_sample(path: Path, params: Mapping[str, Any]) -> bool:
    """True for seqtk's long CSV and 3-D NPY files: their sequences are the samples, never cut into windows."""
    if path.suffix == ".npy":
        return np.load(path, mmap_mode="r", allow_pickle=False).ndim == 3
    return _long_csv_delimiter(path, params) is not None


def _long_csv_delimiter(path: Path, options: Mapping[str, Any]) -> str | None:
    """The delimiter with which ``path`` reads as seqtk's long CSV (the given one, else a comma), or None."""
    return next((d for d in dict.fromkeys([options.get("delimiter", ","), ","]) if _is_long_csv(path, d)), None)


def _is_long_csv(path: Path, delimiter: str) -> bool:
    if path.suffix == ".npy" or not path.is_file():
        return False
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        header = next(csv.reader(handle, delimiter=delimiter), [])
    return tuple(name.strip() for name in header[:2]) == LONG_FORMAT_KEYS


def _per_series(table: Table) -> tuple[np.ndarray, np.ndarray]:
    """One padded sequence per series of ``table`` (rows of a series are contiguous)."""
    starts = np.flatnonzero(np.r_[True, table.series[1:] != table.series[:-1]])
    ends = np.r_[starts[1:], len(table.series)]
    lengths = (ends - starts).astype(np.int64)
    values = np.zeros((len(starts), int(lengths.max()), table.values.shape[1]))
    for row, (start, end) in enumerate(zip(starts, ends)):
        values[row, : end - start] = table.values[start:end]
    return values, lengths


def _sequences(windows: Windows, width: int) -> SequenceData:
    return SequenceData(_batch(windows.values, windows.lengths, width))


def _batch(values: np.ndarray, lengths: np.ndarray, width: int) -> Batch:
    tensor = torch.zeros(values.shape[0], width, values.shape[2], dtype=torch.float32)
    tensor[:, : values.shape[1]] = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
    return Batch(values=tensor, lengths=torch.as_tensor(lengths, dtype=torch.long))


def _length_weights(lengths: np.ndarray, max_len: int) -> tuple[float, ...]:
    """Relative frequency of each length 1..max_len; empty when every sequence is full-length."""
    if np.all(lengths == max_len):
        return ()
    counts = np.bincount(np.asarray(lengths, dtype=np.int64), minlength=max_len + 1)[1:]
    return tuple(float(c) / float(counts.sum()) for c in counts)
