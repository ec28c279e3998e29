"""Reading a user's time-series file (CSV or ``.npy``) into a numeric table.

Everything a time-series domain does later (windows, scaling, splits) assumes a clean
table: finite float64 values, rows of each series contiguous and in time order. This
module is the one place that turns a file into that table, and the one place that
refuses a file, so every refusal is a ``DataError`` whose message names the file, the
line (CSV: physical line, header = line 1; NPY: row, or series and step) and the column,
says what was expected, and which recipe option fixes it. Nothing is cast silently:
booleans, dates outside ``time_column`` and infinities are errors, not numbers.
"""

from __future__ import annotations

import csv
import io
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from difflib import get_close_matches
from pathlib import Path
from typing import Callable, Literal, Sequence

import numpy as np

from seqtk.core.errors import DataError
from seqtk.core.textfiles import read_utf8

__all__ = ["MISSING_CHOICES", "MISSING_MARKERS", "MissingPolicy", "Table", "check_read_options", "read_table"]

MissingPolicy = Literal["error", "drop", "interpolate"]

#: What ``missing`` accepts.
MISSING_CHOICES: tuple[str, ...] = ("error", "drop", "interpolate")

#: Cell texts (case-insensitive, after strip) that mean "no value here".
MISSING_MARKERS: frozenset[str] = frozenset({"", "na", "n/a", "nan", "null", "none"})

_NPY_MAGIC = b"\x93NUMPY"
_EPOCH = datetime(1970, 1, 1)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
_MISSING_FIX = "set missing to 'drop' to remove such rows or 'interpolate' to fill gaps linearly within each series"


@dataclass(frozen=True, eq=False)
class Table:
    """A numeric time-series table, ready for windowing.

    ``values`` ``[rows, F]`` float64, all finite; ``series`` ``[rows]`` int64, the series
    each row belongs to (0..S-1 in order of first appearance, rows of one series
    contiguous and in time order); ``lines`` ``[rows]`` int64, where each row came from
    (CSV line number; NPY row index, or ``series * steps + step`` for 3-D arrays) so later
    messages can point into the file; ``series_names`` the label of each series.
    """

    path: Path
    columns: tuple[str, ...]
    values: np.ndarray
    series: np.ndarray
    lines: np.ndarray
    series_names: tuple[str, ...]

    @property
    def lengths(self) -> np.ndarray:
        """``[S]`` int64: rows per series."""
        return np.bincount(self.series, minlength=len(self.series_names)).astype(np.int64)


@dataclass
class _Parsed:
    """A file's content before ordering and missing-value handling (NaN marks a missing cell)."""

    columns: tuple[str, ...]
    values: np.ndarray  # [N, F] float64, NaN = missing, never +-inf
    series: np.ndarray  # [N] int64
    series_names: tuple[str, ...]
    lines: np.ndarray  # [N] int64
    where: Callable[[int], str]  # a lines entry -> "line 5" / "row 3" / "series 1, step 4"
    cell: Callable[[int, int], str]  # (row, column) -> the cell as written, for messages
    time_keys: np.ndarray | None = None
    time_text: list[str] | None = None


def read_table(
    path: str | Path,
    *,
    columns: Sequence[str] | None = None,
    time_column: str | None = None,
    series_column: str | None = None,
    reverse: bool = False,
    missing: MissingPolicy = "error",
    delimiter: str = ",",
) -> Table:
    """Read ``path`` (``.npy``, else CSV) into a ``Table``; raise ``DataError`` for a file that cannot be used.

    ``columns`` picks the features (default: every column but ``time_column`` and
    ``series_column``; ``f0..f{F-1}`` for NPY). ``time_column`` (CSV) holds numbers or
    ISO-8601 dates; rows are sorted by it within each series. ``series_column`` (CSV)
    splits a long file into series. ``reverse`` flips each series (newest-first files
    without a time column). ``missing`` says what a missing cell does: ``"error"``,
    ``"drop"`` the row, or ``"interpolate"`` linearly along the rows of its series.
    Option mistakes that do not depend on the file raise ``ValueError``.
    """
    path = Path(path)
    check_read_options(columns, time_column, series_column, reverse, missing, delimiter)
    if path.suffix.lower() == ".npy":
        parsed = _read_npy(path, columns, time_column, series_column)
    else:
        parsed = _read_csv(path, columns, time_column, series_column, delimiter)
    order = _row_order(parsed, path, time_column, reverse)
    if missing == "error":
        _refuse_missing(parsed, path)
    values = parsed.values[order]
    series = parsed.series[order]
    lines = parsed.lines[order]
    names = parsed.series_names
    if missing == "drop":
        values, series, lines, names = _drop_missing(values, series, lines, names, parsed, path)
    elif missing == "interpolate":
        values = _interpolate(values, series, lines, names, parsed, path)
    return Table(path, parsed.columns, values, series, lines, names)


# --------------------------------------------------------------------------- options


def check_read_options(
    columns: Sequence[str] | None,
    time_column: str | None,
    series_column: str | None,
    reverse: bool,
    missing: str,
    delimiter: str,
) -> None:
    """Recipe mistakes that need no file: ``ValueError`` saying which option to change."""
    if missing not in MISSING_CHOICES:
        raise ValueError(f"missing must be one of {', '.join(map(repr, MISSING_CHOICES))}, got {missing!r}")
    if time_column is not None and reverse:
        raise ValueError(
            f"give time_column ({time_column!r}) or reverse, not both: time_column sorts the rows by time, "
            "reverse flips the file's order (for newest-first files without a time column); pick one"
        )
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\"\r\n":
        raise ValueError(f"delimiter must be a single character other than a quote or newline, got {delimiter!r}")
    if time_column is not None and time_column == series_column:
        raise ValueError(f"time_column and series_column are both {time_column!r}; they must be different columns")
    if columns is None:
        return
    if isinstance(columns, str):
        raise ValueError(f"columns must be a list of column names, got the string {columns!r} (write [{columns!r}])")
    columns = list(columns)
    if not columns:
        raise ValueError("columns is empty; list at least one column, or leave it out to use every column")
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise ValueError(f"columns names {', '.join(map(repr, repeated))} more than once; list each column once")
    for role, name in (("time_column", time_column), ("series_column", series_column)):
        if name is not None and name in columns:
            raise ValueError(f"{name!r} is both the {role} and in columns; a column is a feature or the {role}, not both")


def _select(path: Path, where: str, available: Sequence[str], wanted: str, option: str) -> int:
    """Index of column ``wanted``; a ``DataError`` with close matches and the full list if absent."""
    try:
        return list(available).index(wanted)
    except ValueError:
        close = get_close_matches(wanted, list(available), n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
        raise DataError(
            f"{path}: {where}: no column named {wanted!r}{hint}; the file has columns "
            f"{', '.join(map(repr, available))}; fix {option}"
        ) from None


# --------------------------------------------------------------------------- CSV


def _read_csv(
    path: Path,
    columns: Sequence[str] | None,
    time_column: str | None,
    series_column: str | None,
    delimiter: str,
) -> _Parsed:
    text = _decode(path)
    header_line, header, records, starts = _records(text, path, delimiter)
    _check_header(path, header_line, header)
    _check_field_counts(path, header_line, header, records, starts)
    where = f"line {header_line} (header)"
    time_idx = _select(path, where, header, time_column, "time_column") if time_column is not None else None
    series_idx = _select(path, where, header, series_column, "series_column") if series_column is not None else None
    if columns is None:
        chosen = [i for i in range(len(header)) if i not in (time_idx, series_idx)]
        if not chosen:
            raise DataError(
                f"{path}: {where}: no column is left for values once time_column and series_column are taken; "
                "expected at least one numeric column"
            )
        unnamed = [i + 1 for i in chosen if not header[i]]
        if unnamed:
            raise DataError(
                f"{path}: {where}: column {unnamed[0]} has no name; name it in the header, or list the columns "
                "you want with columns"
            )
    else:
        chosen = [_select(path, where, header, name, "columns") for name in columns]
    lines = np.asarray(starts, dtype=np.int64)
    by_column = list(zip(*records))  # transposed: one tuple of cells per column
    values = np.empty((len(records), len(chosen)), dtype=np.float64)
    for out, idx in enumerate(chosen):
        values[:, out] = _parse_numbers(by_column[idx], lines, path, header[idx], time_column)
    parsed = _Parsed(
        columns=tuple(header[i] for i in chosen),
        values=values,
        series=np.zeros(len(records), dtype=np.int64),
        series_names=("0",),
        lines=lines,
        where=lambda line: f"line {line}",
        cell=lambda row, col: records[row][chosen[col]],
    )
    if series_idx is not None:
        parsed.series, parsed.series_names = _parse_series(by_column[series_idx], lines, path, header[series_idx])
    if time_idx is not None:
        parsed.time_keys, parsed.time_text = _parse_times(by_column[time_idx], lines, path, header[time_idx])
    return parsed


def _decode(path: Path) -> str:
    """The file as text (UTF-8, an optional byte-order mark); ``DataError`` naming the line and byte otherwise."""
    text = read_utf8(path, str(path), "a CSV file with a header line")
    if not text.strip():
        raise DataError(f"{path}: file is empty; expected a header line and at least one data row")
    return text


def _records(text: str, path: Path, delimiter: str) -> tuple[int, list[str], list[list[str]], list[int]]:
    """``(header line, header, data records, first physical line of each record)``.

    Blank lines are skipped, except in a one-column file, where a blank line between data
    rows is an empty (missing) cell rather than a row that silently vanishes.
    """
    # strict: an unclosed quote is an error at its line, not a value that swallows the rest of the file
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    header_line = 0
    records: list[list[str]] = []
    starts: list[int] = []
    blanks: list[int] = []
    previous = 0
    try:
        for row in reader:
            start, previous = previous + 1, reader.line_num
            if not row:
                blanks.append(start)
            elif header is None:
                header, header_line, blanks = [name.strip() for name in row], start, []
            else:
                if blanks and len(header) == 1:
                    records.extend([""] for _ in blanks)
                    starts.extend(blanks)
                blanks = []
                records.append(row)
                starts.append(start)
    except csv.Error as exc:
        raise DataError(
            f"{path}: line {previous + 1}: cannot be read as CSV ({exc}); expected a quote opened on this line to be "
            "closed, and a closing quote to be followed by the delimiter: fix the quoting"
        ) from None
    assert header is not None  # _decode refused a blank file
    if not records:
        raise DataError(
            f"{path}: has a header (line {header_line}) but no data rows; expected one row per time step below it"
        )
    return header_line, header, records, starts


def _check_header(path: Path, line: int, header: list[str]) -> None:
    seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        if name in seen:
            raise DataError(
                f"{path}: line {line} (header): column name {name!r} appears twice (columns {seen[name]} and "
                f"{position}); expected each column to have its own name, rename one of them"
            )
        seen[name] = position


def _check_field_counts(path: Path, header_line: int, header: list[str], records: list[list[str]], starts: list[int]) -> None:
    expected = len(header)
    for row, start in zip(records, starts):
        if len(row) != expected:
            spans = any("\n" in field or "\r" in field for field in row)
            note = " (a quoted value runs across lines here: check that its quotes are where you meant)" if spans else ""
            raise DataError(
                f"{path}: line {start}: has {len(row)} fields, but the header (line {header_line}) has {expected}"
                f"{note}; expected one value per column: remove the extra delimiter or quote a value that contains one"
            )


def _parse_numbers(cells: Sequence[str], lines: np.ndarray, path: Path, name: str, time_column: str | None) -> np.ndarray:
    """One column as float64 with NaN for missing markers; ``DataError`` for anything else that is not finite."""
    try:
        values = np.fromiter(map(float, cells), dtype=np.float64, count=len(cells))
    except ValueError:
        values = np.empty(len(cells), dtype=np.float64)
        for i, cell in enumerate(cells):
            text = cell.strip()
            if text.lower() in MISSING_MARKERS:
                values[i] = np.nan
                continue
            try:
                values[i] = float(text)
            except ValueError:
                raise DataError(_not_a_number(path, int(lines[i]), name, cell, time_column)) from None
    bad = np.flatnonzero(np.isinf(values))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{path}: line {lines[i]}: column {name!r}: {cells[i]!r} is not a finite number; expected finite "
            f"values: replace it, or leave the cell empty and {_MISSING_FIX}"
        )
    return values


def _not_a_number(path: Path, line: int, name: str, cell: str, time_column: str | None) -> str:
    text = cell.strip()
    where = f"{path}: line {line}: column {name!r}: {cell!r} is not a number"
    if text.lower() in ("true", "false", "yes", "no"):
        why = "; booleans are not converted silently: write 0/1, or leave the column out by listing the others in columns"
    elif _as_datetime(text) is not None:
        why = (
            f"; it looks like a date: set time_column: {name!r} to sort the rows by it"
            + (f" (time_column is {time_column!r} now)" if time_column else "")
            + ", or leave it out by listing the numeric columns in columns"
        )
    else:
        why = (
            "; expected a number in every value column: fix the cell, mark it missing (empty or NA), name the "
            "column as time_column or series_column, or list only the numeric columns in columns"
        )
    return where + why


def _parse_series(cells: Sequence[str], lines: np.ndarray, path: Path, name: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Series index of each row (order of first appearance) and the series' names."""
    index: dict[str, int] = {}
    out = np.empty(len(cells), dtype=np.int64)
    for i, cell in enumerate(cells):
        label = cell.strip()
        if not label:
            raise DataError(
                f"{path}: line {lines[i]}: column {name!r} (series_column) is empty; expected the name of the "
                "series this row belongs to"
            )
        out[i] = index.setdefault(label, len(index))
    return out, tuple(index)


def _as_datetime(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _parse_times(cells: Sequence[str], lines: np.ndarray, path: Path, name: str) -> tuple[np.ndarray, list[str]]:
    """Sort keys of the time column: float64 numbers, or int64 microseconds since 1970 for ISO-8601 dates."""
    texts = [cell.strip() for cell in cells]
    times: list[float | datetime] = []
    first: dict[str, int] = {}  # kind -> first row of that kind, to name both in a "mixed" message
    for i, text in enumerate(texts):
        where = f"{path}: line {lines[i]}: column {name!r} (time_column)"
        value = _time_value(text, cells[i], where)
        kind = "number" if isinstance(value, float) else "date" if value.tzinfo is None else "date with a timezone"
        first.setdefault(kind, i)
        if len(first) > 1:
            other = next(k for k in first if k != kind)
            j = first[other]
            raise DataError(
                f"{where}: {cells[i]!r} is a {kind}, but line {lines[j]} holds a {other} ({cells[j]!r}); "
                "expected every time to be of one kind (all numbers, or all ISO-8601 dates, all with or all "
                "without a timezone)"
            )
        times.append(value)
    if isinstance(times[0], float):
        return np.asarray(times, dtype=np.float64), texts
    dates = [t for t in times if isinstance(t, datetime)]  # every one of them: kinds never mix
    epoch = _EPOCH if dates[0].tzinfo is None else _EPOCH_UTC
    return np.asarray([(d - epoch) // _MICROSECOND for d in dates], dtype=np.int64), texts


def _time_value(text: str, cell: str, where: str) -> float | datetime:
    """One time cell as a finite number or a datetime; ``DataError`` (prefixed by ``where``) otherwise."""
    if text.lower() in MISSING_MARKERS:
        raise DataError(f"{where}: the time is missing ({cell!r}); expected a time on every row: fill it in or remove the row")
    try:
        number = float(text)
    except ValueError:
        moment = _as_datetime(text)
        if moment is None:
            raise DataError(
                f"{where}: {cell!r} is neither a number nor an ISO-8601 date/datetime "
                "(like 2020-01-31 or 2020-01-31T09:30:00); expected one or the other on every row"
            ) from None
        return moment
    if not np.isfinite(number):
        raise DataError(f"{where}: {cell!r} is not a finite time; expected a finite number or a date")
    return number


# --------------------------------------------------------------------------- NPY


def _read_npy(path: Path, columns: Sequence[str] | None, time_column: str | None, series_column: str | None) -> _Parsed:
    if time_column is not None or series_column is not None:
        option = "time_column" if time_column is not None else "series_column"
        raise DataError(
            f"{path}: {option} applies to CSV files only; a .npy array's rows are in order already and a 3-D array "
            "[series, steps, features] holds several series: remove the option"
        )
    array = _load_npy(path)
    ndim = array.ndim
    if ndim == 1:
        array = array[None, :, None]
        where: Callable[[int], str] = lambda line: f"index {line}"
    elif ndim == 2:
        array = array[None]
        where = lambda line: f"row {line}"
    else:
        where = lambda line: f"series {line // array.shape[1]}, step {line % array.shape[1]}"
    n_series, steps, features = array.shape
    names = [f"f{k}" for k in range(features)]
    chosen = list(range(features)) if columns is None else [_select(path, "array", names, c, "columns") for c in columns]
    inf = np.argwhere(np.isinf(array))
    if inf.size:
        s, t, k = (int(v) for v in inf[0])
        raise DataError(
            f"{path}: {where(s * steps + t)}: column {names[k]!r}: {array[s, t, k]} is not a finite number; "
            f"expected finite values: replace it with NaN and {_MISSING_FIX}"
        )
    # Only a 3-D array pads: in 1-D/2-D every row is a step, and a NaN there is a missing value.
    lengths = _npy_lengths(array, path) if ndim == 3 else np.full(1, steps)
    s_idx, t_idx = np.nonzero(np.arange(steps)[None, :] < lengths[:, None])  # row-major: series by series
    return _Parsed(
        columns=tuple(names[k] for k in chosen),
        values=array[s_idx, t_idx][:, chosen],
        series=s_idx.astype(np.int64),
        series_names=tuple(str(s) for s in range(n_series)),
        lines=(s_idx * steps + t_idx).astype(np.int64),
        where=where,
        cell=lambda row, col: "NaN",
    )


def _load_npy(path: Path) -> np.ndarray:
    """A numeric array of 1-3 dimensions as float64; never unpickles anything."""
    how = "expected a NumPy array saved with np.save (1-D [steps], 2-D [steps, features] or 3-D [series, steps, features])"
    if not path.exists():
        raise DataError(f"{path}: file does not exist; {how}")
    if not path.is_file():
        raise DataError(f"{path}: is not a file; {how}")
    try:
        with path.open("rb") as handle:
            magic = handle.read(len(_NPY_MAGIC))
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if magic != _NPY_MAGIC:
        kind = "a zip archive (.npz?)" if magic.startswith(b"PK") else "not a .npy file (no NumPy header)"
        raise DataError(f"{path}: is {kind}; {how} (a CSV file needs another suffix, like .csv)")
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc).lower() or "object" in str(exc).lower():
            raise DataError(
                f"{path}: holds Python objects, which seqtk never unpickles; {how}: save a numeric array "
                "(for example np.save(path, array.astype(np.float64)))"
            ) from None
        raise DataError(f"{path}: is corrupt or truncated ({exc}); {how}") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: is corrupt or truncated ({exc}); {how}") from None
    if array.dtype.kind not in "fiu":
        raise DataError(
            f"{path}: holds {array.dtype} values, not numbers; {how}, with an integer or floating-point dtype "
            "(booleans, complex numbers, strings and dates are not converted silently)"
        )
    if not 1 <= array.ndim <= 3:
        raise DataError(f"{path}: has {array.ndim} dimensions (shape {array.shape}); {how}")
    if array.size == 0:
        raise DataError(f"{path}: is empty (shape {array.shape}); {how}")
    return array.astype(np.float64)


def _npy_lengths(array: np.ndarray, path: Path) -> np.ndarray:
    """Steps per series of a 3-D array, trailing all-NaN steps being padding."""
    has_value = ~np.isnan(array).all(axis=2)  # [S, T]
    steps = array.shape[1]
    lengths = np.where(has_value.any(axis=1), steps - np.argmax(has_value[:, ::-1], axis=1), 0)
    empty = np.flatnonzero(lengths == 0)
    if empty.size:
        raise DataError(
            f"{path}: series {int(empty[0])} is all NaN (no step has a value); expected at least one step per "
            "series: remove it from the array"
        )
    return lengths.astype(np.int64)


# --------------------------------------------------------------------------- order and missing values


def _row_order(parsed: _Parsed, path: Path, time_column: str | None, reverse: bool) -> np.ndarray:
    """Permutation that groups rows by series (stably) and sorts them by time or reverses them."""
    rows = len(parsed.lines)
    if parsed.time_keys is not None:
        order = np.lexsort((parsed.time_keys, parsed.series))
        keys, series = parsed.time_keys[order], parsed.series[order]
        same = np.flatnonzero((keys[1:] == keys[:-1]) & (series[1:] == series[:-1]))
        if same.size:
            a, b = sorted((int(order[same[0]]), int(order[same[0] + 1])))
            assert parsed.time_text is not None
            in_series = f" in series {parsed.series_names[series[same[0]]]!r}" if len(parsed.series_names) > 1 else ""
            raise DataError(
                f"{path}: lines {parsed.lines[a]} and {parsed.lines[b]}: column {time_column!r} (time_column): "
                f"the time {parsed.time_text[a]!r} appears twice{in_series}; expected each time once per series: "
                "remove the duplicate row, or name the column that tells such rows apart with series_column"
            )
        return order
    if reverse:
        return np.lexsort((-np.arange(rows), parsed.series))
    return np.argsort(parsed.series, kind="stable")


def _refuse_missing(parsed: _Parsed, path: Path) -> None:
    """``missing='error'``: refuse the first missing cell in file order."""
    holes = np.isnan(parsed.values)
    rows = np.flatnonzero(holes.any(axis=1))
    if rows.size:
        row = int(rows[0])
        col = int(np.argmax(holes[row]))
        raise DataError(
            f"{path}: {parsed.where(int(parsed.lines[row]))}: column {parsed.columns[col]!r}: missing value "
            f"({parsed.cell(row, col)!r}); expected a number: fill it in, or {_MISSING_FIX}"
        )


def _bounds(series: np.ndarray, count: int) -> np.ndarray:
    """``[S + 1]`` row offsets of each series in rows grouped by series."""
    return np.concatenate([[0], np.cumsum(np.bincount(series, minlength=count))]).astype(np.int64)


def _drop_missing(
    values: np.ndarray, series: np.ndarray, lines: np.ndarray, names: tuple[str, ...], parsed: _Parsed, path: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """``missing='drop'``: remove rows with a missing cell, warn once; series left empty disappear."""
    holed = np.isnan(values).any(axis=1)
    if not holed.any():
        return values, series, lines, names
    if holed.all():
        raise DataError(
            f"{path}: every row has a missing value, so missing='drop' leaves nothing; fill the gaps, set missing "
            "to 'interpolate', or list only the columns with values in columns"
        )
    keep = ~holed
    survivors = np.unique(series[keep])
    renumber = np.full(len(names), -1, dtype=np.int64)
    renumber[survivors] = np.arange(survivors.size)
    gone = [names[s] for s in range(len(names)) if renumber[s] < 0]
    first = parsed.where(int(lines[holed].min()))
    note = f"; series {', '.join(map(repr, gone))} had no complete row and are left out" if gone else ""
    warnings.warn(
        f"{path}: dropped {int(holed.sum())} of {len(values)} rows with a missing value (the first at {first}){note}; "
        "set missing to 'interpolate' to fill them instead",
        UserWarning,
        stacklevel=3,
    )
    return values[keep], renumber[series[keep]], lines[keep], tuple(names[s] for s in survivors)


def _interpolate(
    values: np.ndarray, series: np.ndarray, lines: np.ndarray, names: tuple[str, ...], parsed: _Parsed, path: Path
) -> np.ndarray:
    """``missing='interpolate'``: linear in row position within each series; edges take the nearest value."""
    holes = np.isnan(values)
    if not holes.any():
        return values
    values = values.copy()
    bounds = _bounds(series, len(names))
    for s in range(len(names)):
        lo, hi = int(bounds[s]), int(bounds[s + 1])
        for col in np.flatnonzero(holes[lo:hi].any(axis=0)):
            segment = values[lo:hi, col]
            known = ~np.isnan(segment)
            if not known.any():
                in_series = f" in series {names[s]!r}" if len(names) > 1 else ""
                raise DataError(
                    f"{path}: {parsed.where(int(lines[lo]))} to {parsed.where(int(lines[hi - 1]))}: column "
                    f"{parsed.columns[col]!r} has no value at all{in_series}, so there is nothing to interpolate "
                    "from; fill it in, or leave the column out by listing the others in columns"
                )
            position = np.arange(hi - lo, dtype=np.float64)
            segment[~known] = np.interp(position[~known], position[known], segment[known])
    return values
