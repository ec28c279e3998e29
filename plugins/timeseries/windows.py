"""Scaling, splitting and windowing a table of time series, without leakage.

The table comes from the time-series reader: ``values`` ``[rows, F]`` float64 and
``series`` ``[rows]`` int64, the series of each row, each series' rows contiguous and in
time order. Three steps turn it into training data:

1. :func:`split_rows` marks each row train or test. The default, ``"blocks"``, cuts each
   series into contiguous blocks and holds out a seeded choice of them, so a trending series
   (stock prices) is judged on stretches spread over its whole history rather than only on
   its last one.
2. :class:`MinMaxScaler` maps each feature to [0, 1] with the minimum and maximum of the
   *training* rows only, is saved with the run, and maps samples back to original units.
3. :func:`make_windows` cuts rows into sequences inside maximal runs of rows that share
   both series and split, so no window crosses a series boundary or the train/test
   boundary, and no test row is ever part of a training window. (TimeGAN windows the whole
   series with stride 1, shuffles, then splits: overlapping windows put most test rows in
   the training set too.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from seqtk.core.errors import DataError

__all__ = ["MinMaxScaler", "SplitMode", "Windows", "make_windows", "split_rows"]

SplitMode = Literal["blocks", "tail", "series"]
_MODES: tuple[str, ...] = ("blocks", "tail", "series")
_STATE_KEYS = ("names", "minimum", "maximum")
#: A sequence needs two rows: one row has no dynamics (no autocorrelation, nothing to predict).
_MIN_ROWS = 2


# --------------------------------------------------------------------------- scaling


class MinMaxScaler:
    """Per-feature min-max scaling to [0, 1], fitted on training rows only, saved with the run, inverted on output.

    Test rows may fall slightly outside [0, 1]; they are not clipped, so metrics see the
    true gap between the splits.
    """

    def __init__(self, names: Sequence[str]) -> None:
        names = list(names)
        if not names or not all(isinstance(n, str) for n in names):
            raise ValueError(f"MinMaxScaler: names must be a non-empty list of column names (str), got {names!r}")
        self.names: list[str] = names
        self._minimum: np.ndarray | None = None
        self._maximum: np.ndarray | None = None

    @property
    def fitted(self) -> bool:
        """Whether the minimum and maximum are known (by :meth:`fit` or :meth:`from_state`)."""
        return self._minimum is not None

    @property
    def minimum(self) -> np.ndarray:
        """``[F]`` float64 minimum of each feature over the training rows."""
        return self._require()[0].copy()

    @property
    def maximum(self) -> np.ndarray:
        """``[F]`` float64 maximum of each feature over the training rows."""
        return self._require()[1].copy()

    def fit(self, values: np.ndarray, *, source: str) -> "MinMaxScaler":
        """Learn each feature's range from ``values`` ``[rows, F]`` (the training rows); return self.

        A constant column cannot be scaled (its range is zero) and carries no information for
        a generator, so it is an error that names the column and suggests dropping it.
        """
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != len(self.names):
            raise ValueError(
                f"MinMaxScaler.fit: values must be [rows, {len(self.names)}] for columns {self.names}, "
                f"got shape {values.shape}"
            )
        if values.shape[0] == 0:
            raise DataError(f"{source}: no training rows to fit the min-max scaling on; use a smaller `test_fraction`")
        if not np.isfinite(values).all():
            row, col = np.argwhere(~np.isfinite(values))[0]
            raise DataError(
                f"{source}: training row {row} (0-based), column {self.names[col]!r}: value {values[row, col]} "
                "is not finite; remove or fill it"
            )
        minimum, maximum = values.min(axis=0), values.max(axis=0)
        constant = np.flatnonzero(maximum == minimum)
        if constant.size:
            col = int(constant[0])
            others = [self.names[c] for c in constant[1:]]
            also = f" (also constant: {', '.join(map(repr, others))})" if others else ""
            raise DataError(
                f"{source}: column {self.names[col]!r} is constant ({minimum[col]:.9g}) in all "
                f"{values.shape[0]} training rows, so min-max scaling would divide by zero{also}; "
                "it carries no information: drop it with the `columns` option"
            )
        self._minimum, self._maximum = minimum, maximum
        return self

    def transform(self, values: np.ndarray) -> np.ndarray:
        """``(x - min) / (max - min)`` per feature, for any shape ``[..., F]``; float32."""
        minimum, maximum = self._require()
        values = self._check_last_axis(values, "transform")
        return ((values - minimum) / (maximum - minimum)).astype(np.float32)

    def inverse(self, values: np.ndarray) -> np.ndarray:
        """``x * (max - min) + min`` per feature, for any shape ``[..., F]``; float64, original units."""
        minimum, maximum = self._require()
        values = self._check_last_axis(values, "inverse")
        return values * (maximum - minimum) + minimum

    def state_dict(self) -> dict[str, list]:
        """Plain lists of str and float, so ``torch.load(weights_only=True)`` reads them back."""
        minimum, maximum = self._require()
        return {"names": list(self.names), "minimum": minimum.tolist(), "maximum": maximum.tolist()}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> "MinMaxScaler":
        """Rebuild a fitted scaler from :meth:`state_dict`; a malformed state raises ValueError."""
        if not isinstance(state, Mapping):
            raise ValueError(f"MinMaxScaler.from_state: state must be a mapping, got {type(state).__name__}")
        missing = [k for k in _STATE_KEYS if k not in state]
        extra = sorted(str(k) for k in state if k not in _STATE_KEYS)
        if missing or extra:
            raise ValueError(
                f"MinMaxScaler.from_state: expected keys {list(_STATE_KEYS)}; missing {missing}, unexpected {extra}"
            )
        scaler = cls(state["names"])
        bounds = []
        for key in ("minimum", "maximum"):
            try:
                array = np.asarray(state[key], dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"MinMaxScaler.from_state: {key} must be a list of floats ({exc})") from None
            if array.shape != (len(scaler.names),):
                raise ValueError(
                    f"MinMaxScaler.from_state: {key} must hold {len(scaler.names)} floats (one per name), "
                    f"got shape {array.shape}"
                )
            if not np.isfinite(array).all():
                raise ValueError(f"MinMaxScaler.from_state: {key} must be finite, got {array.tolist()}")
            bounds.append(array)
        if not (bounds[1] > bounds[0]).all():
            raise ValueError("MinMaxScaler.from_state: every maximum must exceed its minimum")
        scaler._minimum, scaler._maximum = bounds
        return scaler

    def _require(self) -> tuple[np.ndarray, np.ndarray]:
        if self._minimum is None or self._maximum is None:
            raise RuntimeError("MinMaxScaler: not fitted; call fit() on the training rows or from_state() first")
        return self._minimum, self._maximum

    def _check_last_axis(self, values: np.ndarray, method: str) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 0 or values.shape[-1] != len(self.names):
            raise ValueError(
                f"MinMaxScaler.{method}: last axis must hold {len(self.names)} features, got shape {values.shape}"
            )
        return values

    def __repr__(self) -> str:
        return f"MinMaxScaler(names={self.names!r}, fitted={self.fitted})"


# --------------------------------------------------------------------------- splitting


def split_rows(
    series: np.ndarray,
    *,
    test_fraction: float,
    mode: SplitMode = "blocks",
    blocks: int = 10,
    seed: int = 0,
    source: str = "data",
) -> np.ndarray:
    """Mark each row train (False) or test (True); bool ``[rows]``, the same for the same seed.

    - ``"tail"``: the last ``round(n * test_fraction)`` rows of each series of ``n`` rows.
    - ``"blocks"``: each series is cut into ``blocks`` contiguous blocks of near-equal size
      (fewer when it has fewer rows) and ``round(blocks * test_fraction)`` of them, drawn
      per series, are test.
    - ``"series"``: ``round(S * test_fraction)`` whole series, drawn from the ``S`` series.

    Each count is at least one and leaves at least one for training; a series of a single
    row stays in training (``"tail"``, ``"blocks"``). ``source`` names the data in errors.
    """
    series = _check_series(series)
    _check_fraction(test_fraction)
    if mode not in _MODES:
        raise ValueError(f"split_rows: mode must be one of {', '.join(map(repr, _MODES))}, got {mode!r}")
    if not _is_int(blocks) or blocks < 2:
        raise ValueError(f"split_rows: blocks must be an integer >= 2, got {blocks!r}")
    if not _is_int(seed):
        raise ValueError(f"split_rows: seed must be an integer, got {seed!r}")
    starts, sizes = _runs(series)
    rng = np.random.default_rng(seed)
    if mode == "series":
        return _split_series(starts, sizes, test_fraction, rng, source)
    series_of_row = np.repeat(np.arange(sizes.size), sizes)
    position = np.arange(series.size) - np.repeat(starts, sizes)
    size = sizes[series_of_row]
    if mode == "tail":
        tail = _held_out(sizes, test_fraction)
        return position >= size - tail[series_of_row]
    return _split_blocks(sizes, series_of_row, position, test_fraction, blocks, rng)


def _held_out(counts: np.ndarray, test_fraction: float) -> np.ndarray:
    """``round(count * test_fraction)`` clamped to ``[1, count - 1]``; 0 where ``count < 2``."""
    wanted = np.rint(counts * test_fraction).astype(np.int64)
    return np.where(counts >= 2, np.clip(wanted, 1, np.maximum(counts - 1, 1)), 0)


def _split_blocks(
    sizes: np.ndarray,
    series_of_row: np.ndarray,
    position: np.ndarray,
    test_fraction: float,
    blocks: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Row ``p`` of an ``n``-row series cut into ``b`` blocks lies in block ``p * b // n``."""
    per_series = np.minimum(blocks, sizes)  # no empty blocks in a short series
    held = _held_out(per_series, test_fraction)
    # A random rank for each block of each series; blocks past a short series' count rank last.
    keys = rng.random((sizes.size, blocks))
    keys[np.arange(blocks)[None, :] >= per_series[:, None]] = np.inf
    rank = np.argsort(np.argsort(keys, axis=1), axis=1)
    is_test_block = rank < held[:, None]
    block = position * per_series[series_of_row] // sizes[series_of_row]
    return is_test_block[series_of_row, block]


def _split_series(
    starts: np.ndarray, sizes: np.ndarray, test_fraction: float, rng: np.random.Generator, source: str
) -> np.ndarray:
    count = sizes.size
    if count < 2:
        raise DataError(
            f"{source}: split mode 'series' holds out whole series but the data has only {count} series; "
            "use split mode 'blocks' or 'tail', which hold out parts of each series"
        )
    chosen = rng.choice(count, size=int(_held_out(np.array([count]), test_fraction)[0]), replace=False)
    test_series = np.zeros(count, dtype=bool)
    test_series[chosen] = True
    return np.repeat(test_series, sizes)


# --------------------------------------------------------------------------- windows


@dataclass(frozen=True, eq=False)
class Windows:
    """Sequences cut from the table: ``values`` ``[N, T, F]`` zero-padded past each of ``lengths`` ``[N]``."""

    values: np.ndarray
    lengths: np.ndarray

    def __len__(self) -> int:
        return int(self.lengths.shape[0])


def make_windows(
    values: np.ndarray,
    series: np.ndarray,
    is_test: np.ndarray,
    *,
    length: int | None,
    stride: int = 1,
    keep_short: bool = False,
    source: str = "data",
    need_test: bool = True,
) -> tuple[Windows, Windows]:
    """Cut ``values`` ``[rows, F]`` into (train, test) sequences that never mix series or splits.

    Rows are grouped into maximal contiguous runs with the same series and split.
    ``length=None`` makes each run one sequence (padded to the longest). ``length=L`` takes
    every window of ``L`` rows starting at 0, ``stride``, ``2 * stride``, ... inside each run;
    a run shorter than ``L`` is dropped, or with ``keep_short`` kept as one shorter sequence
    (padded to ``L``). Variable-length sequences need at least 2 rows. Windows come in row
    order. A split left with no sequence raises :class:`DataError` saying what to change;
    ``need_test=False`` allows an empty test split (scoring a whole file as real data).
    """
    values, series, is_test = _check_table(values, series, is_test)
    if length is not None and (not _is_int(length) or length < _MIN_ROWS):
        raise ValueError(f"make_windows: length must be an integer >= {_MIN_ROWS} or None, got {length!r}")
    if not _is_int(stride) or stride < 1:
        raise ValueError(f"make_windows: stride must be an integer >= 1, got {stride!r}")
    starts, sizes = _runs(series, is_test)
    run_is_test = is_test[starts] if starts.size else np.zeros(0, dtype=bool)
    splits = []
    for flag in (False, True):
        mine = run_is_test == flag
        splits.append(_cut(values, starts[mine], sizes[mine], length, stride, keep_short))
    if len(splits[0]) == 0 or (need_test and len(splits[1]) == 0):
        raise DataError(_no_windows_message(source, sizes, run_is_test, splits, length, keep_short))
    return splits[0], splits[1]


def _cut(
    values: np.ndarray, starts: np.ndarray, sizes: np.ndarray, length: int | None, stride: int, keep_short: bool
) -> Windows:
    """The sequences of one split: fixed windows by striding, whole (short) runs by masked gathering."""
    features = values.shape[1]
    if length is None:
        whole = sizes >= _MIN_ROWS
        return _gather(values, starts[whole], sizes[whole], int(sizes[whole].max(initial=0)))
    full = sizes >= length
    counts = (sizes[full] - length) // stride + 1
    first = np.repeat(starts[full], counts)
    offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    window_starts = first + offset * stride
    if not keep_short:
        if window_starts.size == 0:
            return Windows(np.zeros((0, length, features), values.dtype), np.zeros(0, np.int64))
        view = sliding_window_view(values, length, axis=0)  # [rows - L + 1, F, L], no copy
        stacked = np.ascontiguousarray(view[window_starts].transpose(0, 2, 1))  # [N, L, F]
        return Windows(stacked, np.full(window_starts.size, length, np.int64))
    short = (sizes < length) & (sizes >= _MIN_ROWS)
    all_starts = np.concatenate([window_starts, starts[short]])
    all_lengths = np.concatenate([np.full(window_starts.size, length, np.int64), sizes[short]])
    order = np.argsort(all_starts, kind="stable")  # distinct runs never share a start row
    return _gather(values, all_starts[order], all_lengths[order], length)


def _gather(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray, steps: int) -> Windows:
    """``[N, steps, F]`` with ``values[start + t]`` for ``t < length`` and zeros after."""
    starts, lengths = starts.astype(np.int64), lengths.astype(np.int64)
    t = np.arange(steps)
    valid = t[None, :] < lengths[:, None]
    rows = np.where(valid, starts[:, None] + t[None, :], 0)
    out = values[rows]
    out[~valid] = 0
    return Windows(out, lengths)


def _no_windows_message(
    source: str,
    sizes: np.ndarray,
    run_is_test: np.ndarray,
    splits: list[Windows],
    length: int | None,
    keep_short: bool,
) -> str:
    empty = [name for name, w in zip(("training", "test"), splits) if len(w) == 0]
    parts = []
    for name, flag in (("training", False), ("test", True)):
        mine = sizes[run_is_test == flag]
        parts.append(
            f"the {name} split has {int(mine.sum())} rows in {mine.size} stretches "
            f"(longest {int(mine.max(initial=0))} rows)"
        )
    if length is None:
        need = f"a whole stretch is one sequence and needs at least {_MIN_ROWS} rows"
        fixes = "use fewer `blocks` or a different `test_fraction`"
    else:
        need = f"a window needs {length} consecutive rows of one series inside one split"
        fixes = "use a shorter `window`, set `keep_short: true`, use fewer `blocks`, or a different `test_fraction`"
        if keep_short:
            fixes = "use a shorter `window`, fewer `blocks`, or a different `test_fraction`"
            need += f" (or, with keep_short, at least {_MIN_ROWS})"
    return f"{source}: no {' and no '.join(empty)} sequences: {'; '.join(parts)}; {need}. To fix it, {fixes}"


# --------------------------------------------------------------------------- checks


def _runs(*keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start row and size of each maximal run of rows on which every key is constant."""
    rows = keys[0].shape[0]
    if rows == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    change = np.zeros(rows - 1, dtype=bool)
    for key in keys:
        change |= key[1:] != key[:-1]
    starts = np.concatenate([[0], np.flatnonzero(change) + 1]).astype(np.int64)
    sizes = np.diff(np.concatenate([starts, [rows]])).astype(np.int64)
    return starts, sizes


def _check_series(series: np.ndarray) -> np.ndarray:
    series = np.asarray(series)
    if series.ndim != 1 or not np.issubdtype(series.dtype, np.integer):
        raise ValueError(
            f"series must be a 1-D integer array (series index per row), got {series.dtype} {series.shape}"
        )
    starts, _ = _runs(series)
    if np.unique(series).size != starts.size:
        raise ValueError("series: the rows of each series must be contiguous (sort the table by series, then time)")
    return series


def _check_table(values: np.ndarray, series: np.ndarray, is_test: np.ndarray) -> tuple[np.ndarray, ...]:
    values, is_test = np.asarray(values), np.asarray(is_test)
    series = _check_series(series)
    if values.ndim != 2 or not np.issubdtype(values.dtype, np.floating):
        raise ValueError(
            f"make_windows: values must be a float [rows, features] array, got {values.dtype} {values.shape}"
        )
    if is_test.dtype != np.bool_ or is_test.ndim != 1:
        raise ValueError(f"make_windows: is_test must be a 1-D bool array, got {is_test.dtype} {is_test.shape}")
    if not values.shape[0] == series.shape[0] == is_test.shape[0]:
        raise ValueError(
            f"make_windows: values, series and is_test must have one entry per row, got "
            f"{values.shape[0]}, {series.shape[0]} and {is_test.shape[0]} rows"
        )
    return values, series, is_test


def _check_fraction(test_fraction: float) -> None:
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise ValueError(f"split_rows: test_fraction must lie strictly between 0 and 1, got {test_fraction!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
