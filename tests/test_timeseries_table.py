"""read_table: a user's CSV/NPY time series as a clean numeric table, or a DataError that says where and why."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest

from seqtk.core.errors import DataError
from seqtk.plugins.timeseries.table import MISSING_MARKERS, Table, read_table


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    """Write ``text`` byte for byte (no newline translation) and return the path."""
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def refused(path: Path, **options: object) -> str:
    with pytest.raises(DataError) as info:
        read_table(path, **options)
    return str(info.value)


# --------------------------------------------------------------------------- CSV: happy paths


def test_plain_csv_gives_float64_values_lines_and_one_series(tmp_path: Path) -> None:
    path = write(tmp_path, "plain.csv", "a,b\n1,2.5\n-3,4e2\n 5 , 6\n")
    table = read_table(path)
    assert isinstance(table, Table)
    assert table.path == path
    assert table.columns == ("a", "b")
    assert table.values.dtype == np.float64
    np.testing.assert_array_equal(table.values, [[1.0, 2.5], [-3.0, 400.0], [5.0, 6.0]])
    assert table.series.dtype == np.int64 and table.series.tolist() == [0, 0, 0]
    assert table.lines.dtype == np.int64 and table.lines.tolist() == [2, 3, 4]
    assert table.series_names == ("0",)
    assert table.lengths.tolist() == [3]


def test_columns_pick_and_order_the_features(tmp_path: Path) -> None:
    path = write(tmp_path, "pick.csv", "a,b,c\n1,2,x\n3,4,y\n")
    table = read_table(path, columns=["b", "a"])
    assert table.columns == ("b", "a")
    np.testing.assert_array_equal(table.values, [[2, 1], [4, 3]])


def test_quoted_fields_and_a_value_spanning_lines_keep_physical_line_numbers(tmp_path: Path) -> None:
    text = 'note,"x, y",z\n"first\nnote","1.5",2\nplain,"3",4\n"a ""quoted"" one",5,6\n'
    path = write(tmp_path, "quoted.csv", text)
    table = read_table(path, columns=["x, y", "z"])
    assert table.columns == ("x, y", "z")
    np.testing.assert_array_equal(table.values, [[1.5, 2], [3, 4], [5, 6]])
    assert table.lines.tolist() == [2, 4, 5]  # the first record occupies lines 2-3


def test_byte_order_mark_and_crlf_line_ends_are_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.csv", b"\xef\xbb\xbftemp,load\r\n1,2\r\n3,4\r\n")
    table = read_table(path)
    assert table.columns == ("temp", "load")
    np.testing.assert_array_equal(table.values, [[1, 2], [3, 4]])
    assert table.lines.tolist() == [2, 3]


def test_other_delimiter(tmp_path: Path) -> None:
    path = write(tmp_path, "semi.csv", "a;b\n1,5;2\n")  # "1,5" is one (bad) cell under ';'
    message = refused(path, delimiter=";")
    assert f"{path}: line 2: column 'a': '1,5' is not a number" in message
    path = write(tmp_path, "semi2.csv", "a;b\n1;2\n")
    np.testing.assert_array_equal(read_table(path, delimiter=";").values, [[1, 2]])


def test_blank_lines_are_skipped_but_keep_line_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, "blank.csv", "a,b\n1,2\n\n3,4\n\n\n")
    table = read_table(path)
    np.testing.assert_array_equal(table.values, [[1, 2], [3, 4]])
    assert table.lines.tolist() == [2, 4]


def test_blank_line_in_a_one_column_file_is_a_missing_value_not_a_lost_row(tmp_path: Path) -> None:
    path = write(tmp_path, "one.csv", "v\n1\n\n3\n\n")  # the trailing blank line is just the file's end
    message = refused(path)
    assert f"{path}: line 3: column 'v': missing value ('')" in message
    table = read_table(path, missing="interpolate")
    np.testing.assert_array_equal(table.values[:, 0], [1, 2, 3])
    assert table.lines.tolist() == [2, 3, 4]


def test_iso_dates_sort_the_rows_and_the_time_column_is_not_a_feature(tmp_path: Path) -> None:
    text = "Date,Close\n2020-01-03,30\n2020-01-01,10\n2020-01-02T12:00:00,25\n2020-01-02,20\n"
    table = read_table(write(tmp_path, "dates.csv", text), time_column="Date")
    assert table.columns == ("Close",)
    np.testing.assert_array_equal(table.values[:, 0], [10, 20, 25, 30])
    assert table.lines.tolist() == [3, 5, 4, 2]


def test_timezone_aware_datetimes_sort_by_instant(tmp_path: Path) -> None:
    # 10:00+02:00 is 08:00 UTC, before 09:00+00:00
    text = "t,v\n2020-01-01T09:00:00+00:00,2\n2020-01-01T10:00:00+02:00,1\n"
    table = read_table(write(tmp_path, "tz.csv", text), time_column="t")
    np.testing.assert_array_equal(table.values[:, 0], [1, 2])


def test_numeric_time_column_sorts_numerically_not_as_text(tmp_path: Path) -> None:
    text = "t,v\n10,3\n9,2\n-1.5,1\n100,4\n"
    table = read_table(write(tmp_path, "num.csv", text), time_column="t")
    np.testing.assert_array_equal(table.values[:, 0], [1, 2, 3, 4])
    assert table.lines.tolist() == [4, 3, 2, 5]


def test_reverse_flips_a_newest_first_file(tmp_path: Path) -> None:
    table = read_table(write(tmp_path, "rev.csv", "v\n3\n2\n1\n"), reverse=True)
    np.testing.assert_array_equal(table.values[:, 0], [1, 2, 3])
    assert table.lines.tolist() == [4, 3, 2]


def test_series_column_groups_rows_in_order_of_first_appearance(tmp_path: Path) -> None:
    text = "id,v\nB,1\nA,2\nB,3\nC,4\nA,5\n"
    table = read_table(write(tmp_path, "long.csv", text), series_column="id")
    assert table.columns == ("v",)
    assert table.series_names == ("B", "A", "C")
    assert table.series.tolist() == [0, 0, 1, 1, 2]
    np.testing.assert_array_equal(table.values[:, 0], [1, 3, 2, 5, 4])
    assert table.lines.tolist() == [2, 4, 3, 6, 5]
    assert table.lengths.tolist() == [2, 2, 1]


def test_series_with_time_sort_and_with_reverse(tmp_path: Path) -> None:
    text = "day,tick,p\n2,X,20\n1,Y,1\n1,X,10\n2,Y,2\n0,X,0\n"
    path = write(tmp_path, "st.csv", text)
    table = read_table(path, series_column="tick", time_column="day")
    assert table.series_names == ("X", "Y")
    assert table.series.tolist() == [0, 0, 0, 1, 1]
    np.testing.assert_array_equal(table.values[:, 0], [0, 10, 20, 1, 2])
    assert table.columns == ("p",)
    table = read_table(path, series_column="tick", columns=["p"], reverse=True)
    np.testing.assert_array_equal(table.values[:, 0], [0, 10, 20, 2, 1])
    assert table.lines.tolist() == [6, 4, 2, 5, 3]


def test_empty_series_name_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "noname.csv", "s,v\nA,1\n ,2\n")
    message = refused(path, series_column="s")
    assert message.startswith(f"{path}: line 3: column 's' (series_column) is empty")


def test_table_is_frozen(tmp_path: Path) -> None:
    table = read_table(write(tmp_path, "f.csv", "a\n1\n"))
    with pytest.raises(AttributeError):
        table.columns = ("b",)  # type: ignore[misc]


# --------------------------------------------------------------------------- missing values


@pytest.mark.parametrize("marker", ["", "NA", "n/a", "NaN", "nan", "NULL", "None", " na "])
def test_every_missing_marker_is_a_missing_value(tmp_path: Path, marker: str) -> None:
    assert marker.strip().lower() in MISSING_MARKERS
    path = write(tmp_path, "m.csv", f"a,b\n1,2\n3,{marker}\n5,6\n")
    message = refused(path)
    assert f"{path}: line 3: column 'b': missing value ({marker!r}); expected a number" in message
    assert "'drop'" in message and "'interpolate'" in message
    with pytest.warns(UserWarning):
        table = read_table(path, missing="drop")
    np.testing.assert_array_equal(table.values, [[1, 2], [5, 6]])


def test_error_names_the_first_missing_cell_in_file_order(tmp_path: Path) -> None:
    path = write(tmp_path, "first.csv", "t,a,b\n3,1,2\n1,4,\n2,NA,6\n")
    assert f"{path}: line 3: column 'b': missing value ('')" in refused(path, time_column="t")


def test_drop_removes_rows_and_warns_once_with_the_count_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, "drop.csv", "a,b\n1,2\nNA,3\n4,5\n6,\n7,8\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = read_table(path, missing="drop")
    assert len(caught) == 1
    assert str(caught[0].message).startswith(f"{path}: dropped 2 of 5 rows with a missing value (the first at line 3)")
    np.testing.assert_array_equal(table.values, [[1, 2], [4, 5], [7, 8]])
    assert table.lines.tolist() == [2, 4, 6]


def test_drop_renumbers_series_when_one_loses_every_row(tmp_path: Path) -> None:
    path = write(tmp_path, "gone.csv", "s,v\nA,1\nB,NA\nC,3\nB,\n")
    with pytest.warns(UserWarning, match=r"series 'B' had no complete row"):
        table = read_table(path, series_column="s", missing="drop")
    assert table.series_names == ("A", "C")
    assert table.series.tolist() == [0, 1]
    np.testing.assert_array_equal(table.values[:, 0], [1, 3])


def test_drop_with_nothing_left_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "none.csv", "a,b\nNA,1\n2,NA\n")
    assert "every row has a missing value" in refused(path, missing="drop")


def test_interpolate_linear_inside_nearest_at_the_edges_per_series(tmp_path: Path) -> None:
    text = "s,v,w\nA,NA,1\nA,2,\nA,,3\nA,,4\nA,8,5\nA,NA,6\nB,10,7\nB,,8\nB,20,9\n"
    table = read_table(write(tmp_path, "gaps.csv", text), series_column="s", missing="interpolate")
    # A: v = [_, 2, _, _, 8, _] -> [2, 2, 4, 6, 8, 8]; w = [1, _, 3, 4, 5, 6] -> 2 at the gap; B: v midpoint 15
    np.testing.assert_array_equal(table.values[:, 0], [2, 2, 4, 6, 8, 8, 10, 15, 20])
    np.testing.assert_array_equal(table.values[:, 1], [1, 2, 3, 4, 5, 6, 7, 8, 9])
    assert np.isfinite(table.values).all()


def test_interpolate_follows_row_order_after_the_time_sort(tmp_path: Path) -> None:
    # by time the rows are v=0, _, 6: the gap lies halfway in row position
    text = "t,v\n2020-01-10,6\n2020-01-01,0\n2020-01-02,NA\n"
    table = read_table(write(tmp_path, "tgap.csv", text), time_column="t", missing="interpolate")
    np.testing.assert_array_equal(table.values[:, 0], [0, 3, 6])
    assert table.lines.tolist() == [3, 4, 2]


def test_interpolate_refuses_a_column_without_any_value_in_a_series(tmp_path: Path) -> None:
    path = write(tmp_path, "empty.csv", "s,v\nA,1\nB,NA\nB,\nA,2\n")
    message = refused(path, series_column="s", missing="interpolate")
    assert f"{path}: line 3 to line 4: column 'v' has no value at all in series 'B'" in message
    assert "columns" in message


def test_unknown_missing_policy_is_a_recipe_error(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "a\n1\n")
    with pytest.raises(ValueError, match=r"missing must be one of 'error', 'drop', 'interpolate', got 'fill'"):
        read_table(path, missing="fill")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- CSV: cells that are not numbers


def test_non_numeric_cell_names_file_line_column_value_and_the_fix(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.csv", "a,b\n1,2\n3,abc\n")
    message = refused(path)
    assert message.startswith(f"{path}: line 3: column 'b': 'abc' is not a number;")
    assert "time_column" in message and "columns" in message


def test_a_date_outside_time_column_suggests_time_column(tmp_path: Path) -> None:
    path = write(tmp_path, "date.csv", "Date,Open\n2020-01-02,1\n")
    message = refused(path)
    assert message.startswith(f"{path}: line 2: column 'Date': '2020-01-02' is not a number")
    assert "set time_column: 'Date'" in message


def test_booleans_are_not_cast_silently(tmp_path: Path) -> None:
    path = write(tmp_path, "bool.csv", "a,flag\n1,true\n")
    message = refused(path)
    assert f"{path}: line 2: column 'flag': 'true' is not a number" in message and "booleans" in message


@pytest.mark.parametrize("cell", ["inf", "-Infinity", "1e999"])
def test_infinite_values_are_refused(tmp_path: Path, cell: str) -> None:
    path = write(tmp_path, "inf.csv", f"a\n1\n{cell}\n")
    message = refused(path, missing="interpolate")
    assert f"{path}: line 3: column 'a': {cell!r} is not a finite number" in message


# --------------------------------------------------------------------------- CSV: files and headers


def test_missing_empty_and_header_only_files(tmp_path: Path) -> None:
    absent = tmp_path / "absent.csv"
    assert refused(absent) == f"{absent}: does not exist; expected a CSV file with a header line"
    empty = write(tmp_path, "empty.csv", "")
    assert f"{empty}: file is empty" in refused(empty)
    header_only = write(tmp_path, "header.csv", "a,b\n\n")
    assert f"{header_only}: has a header (line 1) but no data rows" in refused(header_only)
    assert f"{tmp_path}: is not a file" in refused(tmp_path)


def test_duplicate_header_names(tmp_path: Path) -> None:
    path = write(tmp_path, "dup.csv", "a,b,a\n1,2,3\n")
    message = refused(path)
    assert f"{path}: line 1 (header): column name 'a' appears twice (columns 1 and 3)" in message


def test_wrong_number_of_fields_names_line_and_counts(tmp_path: Path) -> None:
    path = write(tmp_path, "fields.csv", "a,b,c\n1,2,3\n4,5\n")
    assert f"{path}: line 3: has 2 fields, but the header (line 1) has 3" in refused(path)
    path = write(tmp_path, "extra.csv", "a,b\n1,2\n3,4\n5,6,7\n")
    assert f"{path}: line 4: has 3 fields, but the header (line 1) has 2" in refused(path)


def test_broken_quoting_is_pointed_out(tmp_path: Path) -> None:
    path = write(tmp_path, "quote.csv", 'a,b\n1,2\n1,"2\n3,4\n5,6\n')
    message = refused(path)
    assert message.startswith(f"{path}: line 3: cannot be read as CSV (unexpected end of data)")
    path = write(tmp_path, "after.csv", 'a,b\n1,"2"x\n')
    assert f"{path}: line 2: cannot be read as CSV" in refused(path)
    # a legitimately quoted value across lines, but one field short: the note says where to look
    path = write(tmp_path, "span.csv", 'a,b,c\n1,"two\nlines"\n')
    message = refused(path)
    assert f"{path}: line 2: has 2 fields, but the header (line 1) has 3" in message
    assert "a quoted value runs across lines here" in message


def test_invalid_utf8_names_line_and_byte(tmp_path: Path) -> None:
    path = write(tmp_path, "latin1.csv", "city,v\nok,1\n".encode() + "M\xfcnchen,2\n".encode("latin-1"))
    message = refused(path)
    assert message.startswith(f"{path}: line 3: byte 2 of the line (offset 13) is not valid UTF-8")
    assert "re-save the file as UTF-8" in message
    bom = write(tmp_path, "bomlatin1.csv", b"\xef\xbb\xbfa\n\xff\n")
    assert f"{bom}: line 2: byte 1 of the line (offset 5)" in refused(bom)


def test_unknown_columns_list_the_available_ones_and_close_matches(tmp_path: Path) -> None:
    path = write(tmp_path, "names.csv", "Date,Open,Close,Volume\n2020-01-01,1,2,3\n")
    message = refused(path, columns=["Clsoe"], time_column="Date")
    assert f"{path}: line 1 (header): no column named 'Clsoe' (did you mean 'Close'?)" in message
    assert "'Date', 'Open', 'Close', 'Volume'" in message and message.endswith("fix columns")
    message = refused(path, time_column="date")
    assert "no column named 'date' (did you mean 'Date'?)" in message and message.endswith("fix time_column")
    message = refused(path, series_column="ticker")
    assert "no column named 'ticker';" in message and message.endswith("fix series_column")


def test_unnamed_column_selected_by_default_is_refused_but_can_be_left_out(tmp_path: Path) -> None:
    path = write(tmp_path, "index.csv", ",a\n0,5\n1,6\n")  # pandas' to_csv writes its index like this
    assert f"{path}: line 1 (header): column 1 has no name" in refused(path)
    np.testing.assert_array_equal(read_table(path, columns=["a"]).values[:, 0], [5, 6])


# --------------------------------------------------------------------------- time column errors


def test_time_column_mixing_numbers_and_dates_names_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "mixed.csv", "t,v\n2020-01-01,1\n2020-01-02,2\n5,3\n")
    message = refused(path, time_column="t")
    assert message.startswith(
        f"{path}: line 4: column 't' (time_column): '5' is a number, but line 2 holds a date ('2020-01-01')"
    )


def test_time_column_unparseable_or_missing(tmp_path: Path) -> None:
    path = write(tmp_path, "tbad.csv", "t,v\n2020-01-01,1\nyesterday,2\n")
    assert f"{path}: line 3: column 't' (time_column): 'yesterday' is neither a number nor an ISO-8601" in refused(
        path, time_column="t"
    )
    path = write(tmp_path, "tmiss.csv", "t,v\n1,1\nNA,2\n")
    assert f"{path}: line 3: column 't' (time_column): the time is missing ('NA')" in refused(
        path, time_column="t", missing="interpolate"
    )


def test_duplicate_times_name_both_lines_and_the_series(tmp_path: Path) -> None:
    path = write(tmp_path, "tdup.csv", "t,s,v\n1,A,1\n2,A,2\n1,B,3\n2,A,4\n")
    message = refused(path, time_column="t", series_column="s")
    assert message.startswith(f"{path}: lines 3 and 5: column 't' (time_column): the time '2' appears twice in series 'A'")
    assert "series_column" in message
    path = write(tmp_path, "tdup1.csv", "t,v\n2020-01-01,1\n2020-01-01T00:00:00,2\n")
    assert f"{path}: lines 2 and 3:" in refused(path, time_column="t")


def test_option_mistakes_are_value_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "o.csv", "t,v\n1,2\n")
    with pytest.raises(ValueError, match="give time_column .* or reverse, not both.*pick one"):
        read_table(path, time_column="t", reverse=True)
    with pytest.raises(ValueError, match=r"columns must be a list of column names, got the string 'v' \(write \['v'\]\)"):
        read_table(path, columns="v")
    with pytest.raises(ValueError, match="'t' is both the time_column and in columns"):
        read_table(path, columns=["t", "v"], time_column="t")
    with pytest.raises(ValueError, match="delimiter"):
        read_table(path, delimiter="::")


# --------------------------------------------------------------------------- NPY


def test_npy_one_and_two_dimensional(tmp_path: Path) -> None:
    one = tmp_path / "one.npy"
    np.save(one, np.array([3, 1, 2], dtype=np.int32))
    table = read_table(one)
    assert table.columns == ("f0",) and table.values.dtype == np.float64
    np.testing.assert_array_equal(table.values[:, 0], [3, 1, 2])
    assert table.lines.tolist() == [0, 1, 2] and table.series_names == ("0",)
    two = tmp_path / "two.npy"
    np.save(two, np.arange(12, dtype=np.float32).reshape(4, 3))
    table = read_table(two, columns=["f2", "f0"], reverse=True)
    assert table.columns == ("f2", "f0")
    np.testing.assert_array_equal(table.values, [[11, 9], [8, 6], [5, 3], [2, 0]])
    assert table.lines.tolist() == [3, 2, 1, 0]


def test_npy_3d_nan_padded_tails_give_variable_lengths(tmp_path: Path) -> None:
    nan = np.nan
    array = np.array(
        [
            [[1, 10], [2, 20], [nan, nan], [nan, nan]],  # length 2
            [[3, 30], [nan, 40], [5, 50], [6, 60]],  # length 4, one missing cell inside
            [[7, nan], [nan, nan], [8, 80], [nan, nan]],  # length 3: the all-NaN step 1 is inside, not padding
        ]
    )
    path = tmp_path / "padded.npy"
    np.save(path, array)
    message = refused(path)
    assert f"{path}: series 1, step 1: column 'f0': missing value ('NaN')" in message
    table = read_table(path, missing="interpolate")
    assert table.series_names == ("0", "1", "2")
    assert table.series.tolist() == [0, 0, 1, 1, 1, 1, 2, 2, 2]
    assert table.lengths.tolist() == [2, 4, 3]
    assert table.lines.tolist() == [0, 1, 4, 5, 6, 7, 8, 9, 10]  # series * 4 + step
    np.testing.assert_array_equal(
        table.values,
        [[1, 10], [2, 20], [3, 30], [4, 40], [5, 50], [6, 60], [7, 80], [7.5, 80], [8, 80]],
    )


def test_npy_column_selection_and_unknown_names(tmp_path: Path) -> None:
    path = tmp_path / "cols.npy"
    np.save(path, np.zeros((2, 3)))
    message = refused(path, columns=["f5"])
    assert f"{path}: array: no column named 'f5'" in message and "'f0', 'f1', 'f2'" in message


def test_npy_refuses_pickles_without_running_them(tmp_path: Path) -> None:
    path = tmp_path / "obj.npy"
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    assert f"{path}: holds Python objects, which seqtk never unpickles" in refused(path)
    raw = write(tmp_path, "raw.npy", pickle.dumps([1.0, 2.0]))
    assert f"{raw}: is not a .npy file (no NumPy header)" in refused(raw)


def test_npy_corrupt_non_numeric_and_misused_options(tmp_path: Path) -> None:
    good = tmp_path / "good.npy"
    np.save(good, np.arange(100, dtype=np.float64))
    cut = write(tmp_path, "cut.npy", good.read_bytes()[:200])
    assert f"{cut}: is corrupt or truncated" in refused(cut)
    flags = tmp_path / "bool.npy"
    np.save(flags, np.array([True, False]))
    assert f"{flags}: holds bool values, not numbers" in refused(flags)
    text = tmp_path / "text.npy"
    np.save(text, np.array(["1", "2"]))
    assert f"{text}: holds <U1 values, not numbers" in refused(text)
    message = refused(good, time_column="t")
    assert f"{good}: time_column applies to CSV files only" in message
    assert f"{good}: series_column applies to CSV files only" in refused(good, series_column="s")
    assert f"{tmp_path / 'nope.npy'}: file does not exist" in refused(tmp_path / "nope.npy")


def test_npy_infinite_and_all_nan_series(tmp_path: Path) -> None:
    path = tmp_path / "inf.npy"
    np.save(path, np.array([[1.0, 2.0], [3.0, np.inf]]))
    assert f"{path}: row 1: column 'f1': inf is not a finite number" in refused(path)
    path = tmp_path / "hollow.npy"
    np.save(path, np.array([[[1.0]], [[np.nan]]]))
    assert f"{path}: series 1 is all NaN" in refused(path)
