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
from typing import Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from seqtk.core.errors import DataError
from seqtk.plugins.scaling import MinMaxScaler

__all__ = ["MinMaxScaler", "SplitMode", "Windows", "make_windows", "split_rows"]

SplitMode = Literal["blocks", "tail", "series"]
_MODES: tuple[str, ...] = ("blocks", "tail", "series")
#: A sequence needs two rows: one row has no dynamics (no autocorrelation, nothing to predict).
_MIN_ROWS = 2


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
