"""Tests of min-max scaling, leakage-free row splits and windowing (plugins/timeseries/windows.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqtk.core.errors import DataError
from seqtk.plugins.timeseries.windows import MinMaxScaler, Windows, make_windows, split_rows

# --------------------------------------------------------------------------- scaler

TABLE = np.array([[0.0, 10.0], [2.0, 30.0], [4.0, 20.0]])


def fitted() -> MinMaxScaler:
    return MinMaxScaler(["a", "b"]).fit(TABLE, source="prices.csv")


def test_scaler_matches_hand_computed_values():
    scaler = fitted()
    assert scaler.fitted
    assert scaler.minimum.tolist() == [0.0, 10.0] and scaler.maximum.tolist() == [4.0, 30.0]
    out = scaler.transform(TABLE)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.array([[0.0, 0.0], [0.5, 1.0], [1.0, 0.5]], np.float32))
    # Any leading shape; values outside the training range are not clipped.
    batch = scaler.transform(np.array([[[1.0, 20.0], [-4.0, 40.0]]]))
    assert batch.shape == (1, 2, 2)
    np.testing.assert_array_equal(batch, np.array([[[0.25, 0.5], [-1.0, 1.5]]], np.float32))
    back = scaler.inverse(np.array([[0.25, 0.5], [-1.0, 1.5]], np.float32))
    assert back.dtype == np.float64
    np.testing.assert_array_equal(back, [[1.0, 20.0], [-4.0, 40.0]])


def test_scaler_round_trip_within_float32_precision_scaled_by_range():
    rng = np.random.default_rng(3)
    values = np.column_stack([rng.normal(500.0, 80.0, 200), rng.uniform(-1e-3, 2e-3, 200), rng.integers(0, 9, 200)])
    scaler = MinMaxScaler(["price", "tiny", "count"]).fit(values, source="x.csv")
    back = scaler.inverse(scaler.transform(values))
    span = values.max(axis=0) - values.min(axis=0)
    # float32 keeps [0, 1] to half an ulp of 1 (2**-24); the inverse scales that error by the range.
    assert (np.abs(back - values) <= span * 2.0**-24 + 1e-300).all()
    # The inverse of float64 scaled values is exact up to float64 rounding.
    exact = (values - scaler.minimum) / span
    np.testing.assert_allclose(scaler.inverse(exact), values, rtol=1e-13, atol=1e-13 * span.max())


def test_constant_column_names_the_column_its_value_and_the_fix():
    values = np.array([[1.0, 7.5, 3.0], [2.0, 7.5, 3.0]])
    with pytest.raises(DataError) as err:
        MinMaxScaler(["open", "volume", "flag"]).fit(values, source="data/goog.csv")
    assert str(err.value) == (
        "data/goog.csv: column 'volume' is constant (7.5) in all 2 training rows, so min-max scaling would "
        "divide by zero (also constant: 'flag'); it carries no information: drop it with the `columns` option"
    )


def test_scaler_rejects_misuse():
    scaler = MinMaxScaler(["a", "b"])
    assert not scaler.fitted
    with pytest.raises(RuntimeError, match="not fitted"):
        scaler.transform(TABLE)
    with pytest.raises(ValueError, match=r"values must be \[rows, 2\]"):
        scaler.fit(np.zeros((3, 3)), source="s.csv")
    with pytest.raises(DataError, match="^s.csv: no training rows"):
        scaler.fit(np.zeros((0, 2)), source="s.csv")
    with pytest.raises(ValueError, match="last axis must hold 2 features"):
        fitted().inverse(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="names must be"):
        MinMaxScaler([])


def test_scaler_state_round_trips_through_torch_weights_only(tmp_path):
    scaler = fitted()
    state = scaler.state_dict()
    assert state == {"names": ["a", "b"], "minimum": [0.0, 10.0], "maximum": [4.0, 30.0]}
    assert all(type(v) is float for v in state["minimum"] + state["maximum"])
    path = tmp_path / "scaler.pt"
    torch.save({"scaler": state}, path)
    loaded = torch.load(path, weights_only=True)["scaler"]
    again = MinMaxScaler.from_state(loaded)
    assert again.names == ["a", "b"] and again.fitted
    probe = np.array([[1.0, 12.0], [3.5, 29.0]])
    np.testing.assert_array_equal(again.transform(probe), scaler.transform(probe))


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"names": ["a"], "minimum": [0.0]}, r"missing \['maximum'\]"),
        ({"names": ["a"], "minimum": [0.0], "maximum": [1.0], "mean": [0.5]}, r"unexpected \['mean'\]"),
        ({"names": ["a", "b"], "minimum": [0.0], "maximum": [1.0, 2.0]}, "minimum must hold 2 floats"),
        ({"names": ["a"], "minimum": [1.0], "maximum": [1.0]}, "every maximum must exceed its minimum"),
        ({"names": ["a"], "minimum": [float("nan")], "maximum": [1.0]}, "minimum must be finite"),
        ({"names": ["a"], "minimum": ["low"], "maximum": [1.0]}, "minimum must be a list of floats"),
        ({"names": [3], "minimum": [0.0], "maximum": [1.0]}, "names must be"),
    ],
)
def test_from_state_rejects_malformed_states(state, message):
    with pytest.raises(ValueError, match=message):
        MinMaxScaler.from_state(state)


# --------------------------------------------------------------------------- split_rows


def series_of(*sizes: int) -> np.ndarray:
    return np.repeat(np.arange(len(sizes)), sizes).astype(np.int64)


def test_tail_split_holds_out_the_last_rows_of_each_series():
    is_test = split_rows(series_of(10, 5, 1, 2), test_fraction=0.2, mode="tail")
    # round(10*0.2)=2, round(5*0.2)=1, a 1-row series stays in training, 2 rows -> at least 1.
    expected = [0] * 8 + [1] * 2 + [0] * 4 + [1] + [0] + [0, 1]
    assert is_test.dtype == np.bool_ and is_test.tolist() == [bool(v) for v in expected]
    # At most n - 1 rows: training keeps a row even for a huge fraction.
    assert split_rows(series_of(3), test_fraction=0.99, mode="tail").tolist() == [False, True, True]


def test_blocks_split_holds_out_whole_contiguous_blocks_per_series():
    series = series_of(100, 100, 100)
    is_test = split_rows(series, test_fraction=0.2, mode="blocks", blocks=10, seed=1)
    for s in range(3):
        flags = is_test[series == s].reshape(10, 10)  # ten blocks of ten rows
        assert (flags == flags[:, :1]).all(), "a block is all test or all train"
        assert flags[:, 0].sum() == 2  # round(10 * 0.2) blocks per series
    assert is_test.sum() == 60


def test_blocks_are_near_equal_for_uneven_series_and_short_series_use_fewer_blocks():
    # 23 rows in 4 blocks: row p is in block p*4//23 -> sizes 6, 6, 6, 5.
    block = np.arange(23) * 4 // 23
    assert np.bincount(block).tolist() == [6, 6, 6, 5]
    for seed in range(5):
        flags = split_rows(series_of(23), test_fraction=0.25, blocks=4, seed=seed)
        assert all(len(set(flags[block == b])) == 1 for b in range(4))
        assert flags.sum() in (5, 6)  # exactly one block
    # A 3-row series with 10 blocks is cut into 3 one-row blocks: one test, two train.
    assert split_rows(series_of(3), test_fraction=0.2, blocks=10).sum() == 1
    # A 1-row series cannot be split and stays in training.
    assert not split_rows(series_of(1, 20), test_fraction=0.2, blocks=4)[0]


def test_blocks_at_least_one_test_block_and_at_least_one_train_block():
    series = series_of(50)
    assert split_rows(series, test_fraction=0.01, blocks=10).sum() == 5  # round(0.1) -> 1 block
    assert split_rows(series, test_fraction=0.99, blocks=10).sum() == 45  # round(9.9) -> 9 blocks


def test_blocks_split_is_spread_over_time_and_seeded():
    series = series_of(*[40] * 30)
    first = split_rows(series, test_fraction=0.25, blocks=4, seed=7)
    np.testing.assert_array_equal(first, split_rows(series, test_fraction=0.25, blocks=4, seed=7))
    assert not np.array_equal(first, split_rows(series, test_fraction=0.25, blocks=4, seed=8))
    # Series draw their test block independently: not every series holds out the same block.
    chosen = first.reshape(30, 4, 10)[:, :, 0].argmax(axis=1)
    assert len(set(chosen.tolist())) > 1


def test_series_split_holds_out_whole_series():
    series = series_of(4, 6, 5, 3, 7)
    is_test = split_rows(series, test_fraction=0.4, mode="series", seed=2)
    per_series = [set(is_test[series == s].tolist()) for s in range(5)]
    assert all(len(flags) == 1 for flags in per_series)
    assert sum(flags == {True} for flags in per_series) == 2  # round(5 * 0.4)
    np.testing.assert_array_equal(is_test, split_rows(series, test_fraction=0.4, mode="series", seed=2))
    # At least one test series, at least one train series.
    assert split_rows(series_of(5, 5), test_fraction=0.1, mode="series").sum() == 5
    assert split_rows(series_of(5, 5), test_fraction=0.9, mode="series").sum() == 5


def test_series_split_of_a_single_series_says_use_blocks_or_tail():
    with pytest.raises(DataError) as err:
        split_rows(series_of(30), test_fraction=0.2, mode="series", source="goog.csv")
    assert str(err.value) == (
        "goog.csv: split mode 'series' holds out whole series but the data has only 1 series; "
        "use split mode 'blocks' or 'tail', which hold out parts of each series"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"test_fraction": 0.0}, "test_fraction must lie strictly between 0 and 1"),
        ({"test_fraction": 1.0}, "test_fraction must lie strictly between 0 and 1"),
        ({"test_fraction": float("nan")}, "test_fraction must lie strictly between 0 and 1"),
        ({"test_fraction": 0.2, "blocks": 1}, "blocks must be an integer >= 2"),
        ({"test_fraction": 0.2, "mode": "random"}, "mode must be one of 'blocks', 'tail', 'series'"),
    ],
)
def test_split_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        split_rows(series_of(10), **kwargs)


def test_split_rejects_series_that_are_not_contiguous():
    with pytest.raises(ValueError, match="must be contiguous"):
        split_rows(np.array([0, 0, 1, 1, 0]), test_fraction=0.2)


# --------------------------------------------------------------------------- make_windows


def index_table(rows: int) -> np.ndarray:
    """A feature that is each row's index (and its negative), to trace rows through windows."""
    return np.column_stack([np.arange(rows), -np.arange(rows)]).astype(np.float64)


def window_rows(windows: Windows) -> list[list[int]]:
    return [windows.values[i, : windows.lengths[i], 0].astype(int).tolist() for i in range(len(windows))]


def test_fixed_windows_counted_by_hand():
    # One series of 16 rows: rows 0..9 train, 10..15 test; windows of 4 with stride 2.
    is_test = np.arange(16) >= 10
    train, test = make_windows(index_table(16), series_of(16), is_test, length=4, stride=2)
    assert window_rows(train) == [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7], [6, 7, 8, 9]]
    assert window_rows(test) == [[10, 11, 12, 13], [12, 13, 14, 15]]
    assert train.values.shape == (4, 4, 2) and train.values.dtype == np.float64
    assert train.lengths.dtype == np.int64 and train.lengths.tolist() == [4] * 4
    np.testing.assert_array_equal(train.values[:, :, 1], -train.values[:, :, 0])
    # Stride 3: starts 0, 3, 6 in training (rows 9 unused past the last full window), 10 in test.
    train, test = make_windows(index_table(16), series_of(16), is_test, length=4, stride=3)
    assert [w[0] for w in window_rows(train)] == [0, 3, 6] and window_rows(test) == [[10, 11, 12, 13]]


def test_windows_keep_the_input_dtype():
    values = index_table(12).astype(np.float32)
    train, test = make_windows(values, series_of(12), np.arange(12) >= 8, length=3)
    assert train.values.dtype == np.float32 and test.values.dtype == np.float32
    assert len(train) == 6 and len(test) == 2


def test_windows_never_cross_a_series_boundary():
    # Series 0: rows 0..4, series 1: rows 5..7, series 2: rows 8..13; test rows 4, 7, 12, 13.
    series = series_of(5, 3, 6)
    is_test = np.zeros(14, dtype=bool)
    is_test[[4, 7, 12, 13]] = True
    train, test = make_windows(index_table(14), series, is_test, length=2)
    assert window_rows(train) == [[0, 1], [1, 2], [2, 3], [5, 6], [8, 9], [9, 10], [10, 11]]
    # Rows 4 and 7 are one-row test runs (no window of 2); rows 4|5 and 7|8 lie across series.
    assert window_rows(test) == [[12, 13]]


def test_no_row_of_a_test_window_is_in_any_train_window_over_random_splits():
    rng = np.random.default_rng(11)
    for trial in range(40):
        sizes = rng.integers(1, 60, size=rng.integers(2, 6))
        series = series_of(*sizes.tolist())
        mode = ["blocks", "tail", "series"][trial % 3]
        is_test = split_rows(series, test_fraction=float(rng.uniform(0.1, 0.5)), mode=mode,
                             blocks=int(rng.integers(2, 6)), seed=trial)
        length = [None, 2, 3, 5][trial % 4]
        try:
            train, test = make_windows(index_table(series.size), series, is_test, length=length,
                                       stride=int(rng.integers(1, 4)), keep_short=bool(trial % 2))
        except DataError:
            continue  # a split too short for a window: covered by the error-message test
        train_rows = {r for w in window_rows(train) for r in w}
        test_rows = {r for w in window_rows(test) for r in w}
        assert not train_rows & test_rows
        for windows, flag in ((train, False), (test, True)):
            for rows in window_rows(windows):
                assert rows == list(range(rows[0], rows[0] + len(rows)))  # consecutive rows
                assert len(set(series[rows].tolist())) == 1 and set(is_test[rows].tolist()) == {flag}
            padding = np.arange(windows.values.shape[1])[None, :] >= windows.lengths[:, None]
            assert (windows.values[padding] == 0).all()
        starts = [w[0] for w in window_rows(train)]
        assert starts == sorted(starts)  # row order


def test_keep_short_turns_a_short_run_into_one_shorter_sequence():
    # Train runs: rows 0..6 (7 rows) and 10..12 (3 rows); test runs: rows 7..9 and 13..14.
    is_test = np.zeros(15, dtype=bool)
    is_test[[7, 8, 9, 13, 14]] = True
    values = index_table(15) + 1.0  # nonzero everywhere so the zero padding is visible
    train, test = make_windows(values, series_of(15), is_test, length=4, stride=3, keep_short=True)
    assert train.lengths.tolist() == [4, 4, 3]
    assert train.values.shape == (3, 4, 2)
    np.testing.assert_array_equal(train.values[:, :, 0], [[1, 2, 3, 4], [4, 5, 6, 7], [11, 12, 13, 0]])
    np.testing.assert_array_equal(train.values[2, 3], [0.0, 0.0])
    assert test.lengths.tolist() == [3, 2]
    np.testing.assert_array_equal(test.values[:, :, 0], [[8, 9, 10, 0], [14, 15, 0, 0]])
    # Without keep_short the test runs (3 and 2 rows) give no window of 4.
    with pytest.raises(DataError, match="no test sequences"):
        make_windows(values, series_of(15), is_test, length=4, stride=3)


def test_length_none_makes_each_run_one_padded_sequence():
    series = series_of(6, 4)
    is_test = np.array([0, 0, 0, 0, 1, 1, 0, 0, 1, 0], dtype=bool)
    train, test = make_windows(index_table(10), series, is_test, length=None)
    # Train runs: 0..3, 6..7 (the 1-row run at row 9 is dropped: a sequence needs 2 rows).
    assert train.lengths.tolist() == [4, 2] and train.values.shape == (2, 4, 2)
    assert window_rows(train) == [[0, 1, 2, 3], [6, 7]]
    assert (train.values[1, 2:] == 0).all()
    # Test runs: 4..5 (row 8 alone is dropped).
    assert window_rows(test) == [[4, 5]] and test.values.shape == (1, 2, 2)


def test_too_few_rows_for_one_window_names_the_file_rows_window_and_fixes():
    is_test = np.arange(30) >= 24
    with pytest.raises(DataError) as err:
        make_windows(index_table(30), series_of(30), is_test, length=24, source="data/goog.csv")
    assert str(err.value) == (
        "data/goog.csv: no test sequences: the training split has 24 rows in 1 stretches (longest 24 rows); "
        "the test split has 6 rows in 1 stretches (longest 6 rows); a window needs 24 consecutive rows of one "
        "series inside one split. To fix it, use a shorter `window`, set `keep_short: true`, use fewer "
        "`blocks`, or a different `test_fraction`"
    )
    with pytest.raises(DataError) as err:
        make_windows(index_table(10), series_of(10), np.arange(10) >= 5, length=24, source="tiny.csv")
    assert str(err.value).startswith("tiny.csv: no training and no test sequences: the training split has 5 rows")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"length": 1}, "length must be an integer >= 2 or None"),
        ({"length": 4, "stride": 0}, "stride must be an integer >= 1"),
        ({"length": 2.5}, "length must be an integer >= 2 or None"),
    ],
)
def test_make_windows_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_windows(index_table(10), series_of(10), np.arange(10) >= 5, **kwargs)


def test_make_windows_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="one entry per row, got 10, 9 and 10 rows"):
        make_windows(index_table(10), series_of(9), np.arange(10) >= 5, length=2)
    with pytest.raises(ValueError, match="is_test must be a 1-D bool array"):
        make_windows(index_table(10), series_of(10), (np.arange(10) >= 5).astype(int), length=2)
