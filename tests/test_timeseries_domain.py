"""The ``timeseries`` domain: a user's CSV/NPY file in, leak-free scaled windows, samples back in original units.

Every expectation is computed by hand from the rows a test writes: which rows the split
holds out, the training minimum and maximum, the window starts, the length frequencies.
The last tests drive the whole command line (run, sample, score) on a 200-row file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pytest
import torch

from seqtk.core.api import run
from seqtk.core.cli import main
from seqtk.core.errors import DataError, RecipeError
from seqtk.core.interfaces import DomainSpec
from seqtk.plugins.generators import LSTMGenerator
from seqtk.plugins.timeseries.csv_samples import write_series_csv
from seqtk.plugins.timeseries.domain import TimeSeriesDomain
from seqtk.plugins.timeseries.windows import split_rows


# --------------------------------------------------------------------------- helpers


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    """A plain CSV; floats written with repr so that they read back exactly."""
    cells = [[repr(float(c)) if isinstance(c, (float, np.floating)) else str(c) for c in row] for row in rows]
    path.write_text("\n".join([",".join(header), *(",".join(row) for row in cells)]) + "\n")
    return path


def tail_table() -> np.ndarray:
    """50 rows: ``a = 100 + row`` (monotone: a value names its row) and ``b`` in 50..62 with a spike in a test row."""
    rows = np.arange(50)
    a = 100.0 + rows
    b = 50.0 + (rows * 7) % 13
    b[45] = 90.0  # row 45 lies in the tail that split 'tail' holds out
    return np.column_stack([a, b])


def tail_domain(tmp_path: Path, **params: Any) -> TimeSeriesDomain:
    path = write_csv(tmp_path / "tail.csv", ["a", "b"], tail_table())
    return TimeSeriesDomain(str(path), **{"window": 5, "stride": 3, "split": "tail", "test_fraction": 0.2, "plots": False, **params})


#: Five series of 6, 9, 4, 6 and 5 rows; with split 'tail' and test_fraction 0.2 each holds out
#: round(n * 0.2) clamped to [1, n - 1] rows: 1, 2, 1, 1, 1. Training keeps 5, 7, 3, 5 and 4 rows.
SERIES_LENGTHS = {"A": 6, "B": 9, "C": 4, "D": 6, "E": 5}
TRAIN_LENGTHS = [5, 7, 3, 5, 4]


def series_file(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    rows, by_series = [], {}
    for k, (name, n) in enumerate(SERIES_LENGTHS.items()):
        values = np.column_stack([10.0 * k + np.arange(n), 1000.0 + k + 0.5 * np.arange(n) ** 2])
        by_series[name] = values
        rows += [[name, float(v), float(w)] for v, w in values]
    return write_csv(tmp_path / "series.csv", ["id", "v", "w"], rows), by_series


def series_domain(tmp_path: Path, **params: Any) -> tuple[TimeSeriesDomain, dict[str, np.ndarray]]:
    path, by_series = series_file(tmp_path)
    defaults = {"series_column": "id", "window": None, "split": "tail", "test_fraction": 0.2, "plots": False}
    domain = TimeSeriesDomain(str(path), **{**defaults, **params})
    return domain, by_series


def read_long_csv(path: Path) -> tuple[list[str], np.ndarray]:
    """(header, ``[rows, 2 + F]`` values) of a file in seqtk's long format."""
    header = path.read_text().splitlines()[0].split(",")
    return header, np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)


def runs_of(is_test: np.ndarray) -> list[tuple[int, int, bool]]:
    """(start, size, is_test) of each maximal run of rows in one split."""
    edges = [0, *(np.flatnonzero(is_test[1:] != is_test[:-1]) + 1).tolist(), len(is_test)]
    return [(s, e - s, bool(is_test[s])) for s, e in zip(edges[:-1], edges[1:])]


# --------------------------------------------------------------------------- 1. spec and splits


def test_tail_split_windows_spec_and_a_scaler_fitted_on_training_rows_only(tmp_path: Path) -> None:
    table = tail_table()
    domain = tail_domain(tmp_path)
    assert domain.spec == DomainSpec(kind="continuous", max_len=5, features=2, value_range=(0.0, 1.0))
    assert domain.feature_names == ["a", "b"]
    train, test = domain.load("train").batch, domain.load("test").batch
    # Rows 0..39 train, 40..49 test; windows of 5 every 3 rows inside each: (40-5)//3+1 and (10-5)//3+1.
    assert (train.size, test.size) == (12, 2)
    assert train.lengths.tolist() == [5] * 12 and test.lengths.tolist() == [5] * 2
    train_min, train_max = table[:40].min(axis=0), table[:40].max(axis=0)
    assert train_min.tolist() == [100.0, 50.0] and train_max.tolist() == [139.0, 62.0]  # the spike (90) is a test row
    scaler = domain.state_dict()["scaler"]
    assert scaler == {"names": ["a", "b"], "minimum": [100.0, 50.0], "maximum": [139.0, 62.0]}
    expected_train = np.stack([(table[s : s + 5] - train_min) / (train_max - train_min) for s in range(0, 34, 3)])
    np.testing.assert_allclose(train.values.numpy(), expected_train, rtol=0, atol=1e-7)
    expected_test = np.stack([(table[s : s + 5] - train_min) / (train_max - train_min) for s in (40, 43)])
    np.testing.assert_allclose(test.values.numpy(), expected_test, rtol=0, atol=1e-7)
    values = train.values.numpy()
    assert values.min() >= 0.0 and values.max() <= 1.0
    assert values.reshape(-1, 2).min(axis=0).tolist() == [0.0, 0.0]
    # The last window starts at row 33, so rows 38 and 39 (a = 138, 139) fit the scaler but are in no window.
    assert values.reshape(-1, 2).max(axis=0).tolist() == [np.float32(37 / 39), 1.0]
    # Test rows are not clipped: the spike lies far above the training range.
    assert test.values[:, :, 1].max().item() == pytest.approx((90.0 - 50.0) / 12.0, rel=1e-6)
    assert test.values[:, :, 0].max().item() > 1.0


def test_scale_none_keeps_original_units_and_no_value_range(tmp_path: Path) -> None:
    domain = tail_domain(tmp_path, scale="none")
    assert domain.spec.value_range is None
    assert domain.state_dict()["scaler"] is None
    expected = np.stack([tail_table()[s : s + 5] for s in range(0, 34, 3)]).astype(np.float32)
    assert np.array_equal(domain.load("train").batch.values.numpy(), expected)


def test_block_split_never_puts_a_test_row_in_a_training_window(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    rows = 120
    table = np.column_stack([np.arange(rows, dtype=np.float64), rng.normal(size=rows)])  # column 'row' names its row
    path = write_csv(tmp_path / "blocks.csv", ["row", "noise"], table)
    domain = TimeSeriesDomain(str(path), window=6, stride=1, plots=False)  # split 'blocks': 10 blocks, 2 held out
    is_test = split_rows(np.zeros(rows, dtype=np.int64), test_fraction=0.2, mode="blocks", blocks=10, seed=0)
    assert is_test.sum() == 24 and all(size % 12 == 0 for _, size, _ in runs_of(is_test))  # whole blocks of 12 rows
    train_rows = table[~is_test]
    state = domain.state_dict()["scaler"]
    assert state["minimum"] == train_rows.min(axis=0).tolist()
    assert state["maximum"] == train_rows.max(axis=0).tolist()

    def row_numbers(split: str) -> np.ndarray:
        values = domain.load(split).batch.values.numpy()
        return np.rint(domain.to_original_units(values)[:, :, 0]).astype(int)  # [N, 6]

    train_windows, test_windows = row_numbers("train"), row_numbers("test")
    expected = {False: [], True: []}
    for start, size, held_out in runs_of(is_test):
        expected[held_out] += [list(range(s, s + 6)) for s in range(start, start + size - 5)]
    assert train_windows.tolist() == expected[False]
    assert test_windows.tolist() == expected[True]
    assert not set(train_windows.ravel()) & set(test_windows.ravel())
    assert not is_test[train_windows.ravel()].any() and is_test[test_windows.ravel()].all()


# --------------------------------------------------------------------------- 2. row order


def test_a_newest_first_file_sorted_by_its_date_column_gives_the_same_windows(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    values = np.column_stack([np.cumsum(rng.normal(size=40)), rng.uniform(size=40)])
    dates = [f"2021-{1 + i // 28:02d}-{1 + i % 28:02d}" for i in range(40)]
    rows = [[d, float(x), float(y)] for d, (x, y) in zip(dates, values)]
    oldest = write_csv(tmp_path / "oldest.csv", ["date", "x", "y"], rows)
    newest = write_csv(tmp_path / "newest.csv", ["date", "x", "y"], rows[::-1])
    plain = write_csv(tmp_path / "plain.csv", ["x", "y"], values)
    domains = [TimeSeriesDomain(str(p), time_column="date", window=4, plots=False) for p in (oldest, newest)]
    domains.append(TimeSeriesDomain(str(plain), window=4, plots=False))
    unsorted = TimeSeriesDomain(str(newest), columns=["x", "y"], window=4, plots=False)
    for split in ("train", "test"):
        reference = domains[2].load(split).batch
        for domain in domains[:2]:
            batch = domain.load(split).batch
            assert torch.equal(batch.values, reference.values) and torch.equal(batch.lengths, reference.lengths)
    assert domains[0].state_dict() == domains[1].state_dict()
    assert domains[0].feature_names == ["x", "y"]
    assert not torch.equal(unsorted.load("train").batch.values, domains[0].load("train").batch.values)


def test_reverse_reads_a_newest_first_file_without_a_time_column(tmp_path: Path) -> None:
    values = np.column_stack([np.arange(30.0) ** 1.5, np.cos(np.arange(30.0))])
    forward = TimeSeriesDomain(str(write_csv(tmp_path / "f.csv", ["p", "q"], values)), window=5, plots=False)
    backward = TimeSeriesDomain(str(write_csv(tmp_path / "b.csv", ["p", "q"], values[::-1])), window=5, reverse=True, plots=False)
    for split in ("train", "test"):
        assert torch.equal(forward.load(split).batch.values, backward.load(split).batch.values)
    assert forward.state_dict() == backward.state_dict()


# --------------------------------------------------------------------------- 3. variable length


def test_whole_series_of_different_lengths_are_variable_length_with_train_length_weights(tmp_path: Path) -> None:
    domain, by_series = series_domain(tmp_path)
    spec = domain.spec
    # Train lengths 5, 7, 3, 5, 4; test: only B's 2-row tail (a 1-row tail is no sequence).
    counts = {3: 1, 4: 1, 5: 2, 7: 1}
    assert spec.max_len == 7 and spec.features == 2
    assert spec.length_weights == tuple(counts.get(n, 0) / 5 for n in range(1, 8))
    train, test = domain.load("train").batch, domain.load("test").batch
    assert train.lengths.tolist() == TRAIN_LENGTHS and test.lengths.tolist() == [2]
    assert train.values.shape == (5, 7, 2) and test.values.shape == (1, 7, 2)
    assert train.mask.sum(dim=1).tolist() == TRAIN_LENGTHS
    assert (train.values[~train.mask] == 0).all() and (test.values[~test.mask] == 0).all()
    kept = np.concatenate([v[:n] for v, n in zip(by_series.values(), TRAIN_LENGTHS)])
    low, high = kept.min(axis=0), kept.max(axis=0)
    for row, (values, n) in enumerate(zip(by_series.values(), TRAIN_LENGTHS)):
        np.testing.assert_allclose(train.values[row, :n].numpy(), (values[:n] - low) / (high - low), atol=1e-7)
    np.testing.assert_allclose(test.values[0, :2].numpy(), (by_series["B"][7:] - low) / (high - low), atol=1e-7)

    generator = LSTMGenerator(spec, hidden_dim=8, noise_dim=2)
    with torch.no_grad():
        sampled = generator.sample(400)
    assert set(sampled.lengths.tolist()) == set(TRAIN_LENGTHS)
    assert (sampled.values[~sampled.mask] == 0).all()


# --------------------------------------------------------------------------- 4. samples on disk


def test_training_windows_written_as_csv_are_the_original_rows(tmp_path: Path) -> None:
    domain = tail_domain(tmp_path)
    out = tmp_path / "out"
    written = domain.write_samples(domain.load("train").batch, out, "train")
    assert written == [out / "train.csv"]
    header, table = read_long_csv(out / "train.csv")
    assert header == ["sample", "step", "a", "b"]
    assert table.shape == (12 * 5, 4)
    sample, step = table[:, 0].astype(int), table[:, 1].astype(int)
    assert sample.tolist() == np.repeat(np.arange(12), 5).tolist() and step.tolist() == [0, 1, 2, 3, 4] * 12
    np.testing.assert_allclose(table[:, 2:], tail_table()[3 * sample + step], rtol=1e-6)
    assert sorted(p.name for p in out.iterdir()) == ["train.csv"]  # no temporary file left behind


def test_npy_and_both_formats_pad_with_nan_past_each_length(tmp_path: Path) -> None:
    domain, by_series = series_domain(tmp_path, samples_format="npy")
    batch = domain.load("train").batch
    written = domain.write_samples(batch, tmp_path / "npy", "s")
    assert written == [tmp_path / "npy" / "s.npy"]
    array = np.load(written[0], allow_pickle=False)
    assert array.shape == (5, 7, 2) and array.dtype == np.float64
    for row, (values, n) in enumerate(zip(by_series.values(), TRAIN_LENGTHS)):
        np.testing.assert_allclose(array[row, :n], values[:n], rtol=1e-6)
        assert np.isnan(array[row, n:]).all()
    assert sorted(p.name for p in (tmp_path / "npy").iterdir()) == ["s.npy"]

    both, _ = series_domain(tmp_path, samples_format="both")
    out = tmp_path / "both"
    assert both.write_samples(batch, out, "s") == [out / "s.csv", out / "s.npy"]
    assert sorted(p.name for p in out.iterdir()) == ["s.csv", "s.npy"]
    assert np.array_equal(np.load(out / "s.npy"), array, equal_nan=True)
    header, table = read_long_csv(out / "s.csv")
    assert header == ["sample", "step", "v", "w"] and len(table) == sum(TRAIN_LENGTHS)
    np.testing.assert_allclose(table[:, 2:], array[~np.isnan(array[:, :, 0])], rtol=1e-6)


def test_plots_true_writes_pca_and_grid_pictures_and_plots_false_none(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    with_plots = tail_domain(tmp_path, plots=True)
    batch = with_plots.load("train").batch
    out = tmp_path / "pictures"
    assert with_plots.write_samples(batch, out, "step-1") == [out / "step-1.csv", out / "step-1-pca.png", out / "step-1-grid.png"]
    assert sorted(p.name for p in out.iterdir()) == ["step-1-grid.png", "step-1-pca.png", "step-1.csv"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in out.glob("*.png"))
    without = tail_domain(tmp_path)  # plots=False
    assert without.write_samples(batch, tmp_path / "none", "step-1") == [tmp_path / "none" / "step-1.csv"]
    assert sorted(p.name for p in (tmp_path / "none").iterdir()) == ["step-1.csv"]


# --------------------------------------------------------------------------- 5. checkpoint state


@pytest.mark.parametrize("kind", ["fixed", "variable", "unscaled"])
def test_state_survives_a_safe_checkpoint_and_needs_no_data_file(tmp_path: Path, kind: str) -> None:
    if kind == "variable":
        domain, _ = series_domain(tmp_path)
        params: dict[str, Any] = {"series_column": "id", "window": None, "split": "tail"}
    else:
        scale = "none" if kind == "unscaled" else "minmax"
        domain = tail_domain(tmp_path, scale=scale)
        params = {"window": 5, "stride": 3, "split": "tail", "scale": scale}
    state = domain.state_dict()
    torch.save(state, tmp_path / "state.pt")
    loaded = torch.load(tmp_path / "state.pt", weights_only=True)
    assert loaded == state
    fresh = TimeSeriesDomain(str(tmp_path / "gone.csv"), plots=True, **params)  # never read: the file does not exist
    fresh.load_state_dict(loaded)
    assert fresh.spec == domain.spec and fresh.feature_names == domain.feature_names
    batch = domain.load("train").batch
    assert domain.write_samples(batch, tmp_path / "a", "s") == [tmp_path / "a" / "s.csv"]
    assert fresh.write_samples(batch, tmp_path / "b", "s") == [tmp_path / "b" / "s.csv"]  # no pictures without the data
    assert (tmp_path / "a" / "s.csv").read_bytes() == (tmp_path / "b" / "s.csv").read_bytes()
    with pytest.raises(DataError, match="gone.csv: does not exist"):
        fresh.load("test")


# --------------------------------------------------------------------------- 6. errors


def test_a_missing_column_is_named_with_the_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", ["a", "b"], tail_table())
    with pytest.raises(DataError) as caught:
        TimeSeriesDomain(str(path), columns=["a", "nope"], plots=False).spec
    message = str(caught.value)
    assert message.startswith(f"{path}: line 1 (header): no column named 'nope'") and message.endswith("fix columns")


def test_a_column_constant_over_the_training_rows_is_refused(tmp_path: Path) -> None:
    table = tail_table()
    constant = np.where(np.arange(50) < 40, 1.5, np.arange(50.0))  # varies only in the held-out tail
    path = write_csv(tmp_path / "c.csv", ["a", "c"], np.column_stack([table[:, 0], constant]))
    with pytest.raises(DataError) as caught:
        TimeSeriesDomain(str(path), window=5, split="tail", plots=False).spec
    assert str(caught.value).startswith(f"{path}: column 'c' is constant (1.5) in all 40 training rows")
    assert "drop it with the `columns` option" in str(caught.value)


def test_too_few_rows_for_one_window_names_the_file_and_suggests_a_shorter_window(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "short.csv", ["a", "b"], tail_table()[:10])
    with pytest.raises(DataError) as caught:
        TimeSeriesDomain(str(path), window=24, plots=False).load("train")
    message = str(caught.value)
    assert message.startswith(f"{path}: no training and no test sequences")
    assert "a window needs 24 consecutive rows" in message and "use a shorter `window`" in message


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"window": 1}, "timeseries: window must be an integer >= 2 (or null: the whole series), got 1"),
        ({"stride": 0}, "timeseries: stride must be an integer >= 1, got 0"),
        ({"test_fraction": 1.0}, "timeseries: test_fraction must be a number in (0, 1), got 1.0"),
        ({"split": "x"}, "timeseries: split must be one of 'blocks', 'tail', 'series', got 'x'"),
        ({"scale": "x"}, "timeseries: scale must be one of 'minmax', 'none', got 'x'"),
        ({"time_column": "t", "reverse": True}, "timeseries: give time_column (rows sorted by time) or reverse (rows reversed), not both"),
        ({"blocks": 1}, "timeseries: blocks must be an integer >= 2, got 1"),
        ({"delimiter": ";;"}, "timeseries: delimiter must be a single character"),
        ({"columns": ["a", "a"]}, "timeseries: columns names 'a' more than once"),
    ],
)
def test_bad_parameters_are_refused_when_the_domain_is_built(tmp_path: Path, params: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValueError) as caught:
        TimeSeriesDomain(str(tmp_path / "not-read.csv"), **params)
    assert str(caught.value).startswith(expected)


def test_a_bad_parameter_in_a_recipe_is_a_recipe_error(tmp_path: Path) -> None:
    recipe = cli_recipe(tmp_path, tmp_path / "data.csv")
    recipe["domain"]["params"]["blocks"] = 1
    with pytest.raises(RecipeError, match=r"domain\.params\.blocks: must be an integer >= 2, got 1"):
        run(recipe)


# --------------------------------------------------------------------------- 7. command line


def cli_data(path: Path) -> np.ndarray:
    """200 rows of two smooth, noisy, differently scaled features."""
    rng = np.random.default_rng(0)
    t = np.arange(200)
    table = np.column_stack([20 + 5 * np.sin(t / 4) + rng.normal(0, 0.3, 200), -3 + 2 * np.cos(t / 7) + rng.normal(0, 0.1, 200)])
    write_csv(path, ["temp", "load"], table)
    return table


def cli_recipe(tmp_path: Path, data: Path) -> dict[str, Any]:
    return {
        "seqtk": 1,
        "name": "ts",
        "seed": 0,
        "domain": {"name": "timeseries", "params": {"path": str(data), "window": 8, "plots": False}},
        "generator": {"name": "lstm", "params": {"hidden_dim": 8, "noise_dim": 4}},
        "discriminator": {"name": "gru", "params": {"hidden_dim": 8}},
        "objective": {"name": "wgan-gp"},
        "estimator": {"name": "reparam"},
        "train": {"batch_size": 16, "adversarial": {"steps": 20}},
        "eval": {"every": 10, "samples": 32},
        "output": {"dir": str(tmp_path / "run")},
    }


def score(capsys: pytest.CaptureFixture[str], real: Path, samples: Path, *extra: str) -> dict[str, float]:
    metrics = ["--metric", "mmd", "--metric", "marginal", "--metric", "acf"]
    assert main(["score", "timeseries", "--real", str(real), "--samples", str(samples), *metrics, *extra]) == 0
    return json.loads(capsys.readouterr().out)["metrics"]


def assert_in_column_ranges(path: Path, table: np.ndarray) -> np.ndarray:
    header, values = read_long_csv(path)
    assert header == ["sample", "step", "temp", "load"]
    low, high = table.min(axis=0), table.max(axis=0)
    slack = 1e-6 * (high - low)  # a sigmoid generator stays in the training range, up to float32 rounding
    assert (values[:, 2:] >= low - slack).all() and (values[:, 2:] <= high + slack).all()
    return values


def test_run_sample_and_score_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data.csv"
    table = cli_data(data)
    recipe_file = tmp_path / "ts.yaml"
    recipe_file.write_text(json.dumps(cli_recipe(tmp_path, data)))
    assert main(["run", str(recipe_file), "--quiet"]) == 0
    assert "acf" in capsys.readouterr().out
    run_dir = tmp_path / "run"
    written = sorted((run_dir / "samples").iterdir())
    assert [p.name for p in written] == ["step-00000000.csv", "step-00000010.csv", "step-00000020.csv"]
    for path in written:
        assert len(assert_in_column_ranges(path, table)) == 32 * 8

    data.unlink()  # sampling needs the checkpoint only
    assert main(["sample", str(run_dir), "-n", "10"]) == 0
    sampled = Path(capsys.readouterr().out.strip())
    assert sampled.parent == run_dir / "generated" and sampled.suffix == ".csv"
    values = assert_in_column_ranges(sampled, table)
    assert values[:, 0].astype(int).tolist() == np.repeat(np.arange(10), 8).tolist()

    write_csv(data, ["temp", "load"], table)
    metrics = score(capsys, data, sampled)
    assert set(metrics) == {"mmd", "marginal", "acf"} and all(np.isfinite(v) and v >= 0 for v in metrics.values())


def test_scoring_real_data_against_itself_is_near_zero_and_shuffling_in_time_is_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data.csv"
    table = cli_data(data)
    copy = write_series_csv(table.reshape(25, 8, 2), np.full(25, 8), tmp_path / "copy.csv", ["temp", "load"])
    shuffled_rows = table[np.random.default_rng(1).permutation(200)]
    shuffled = write_series_csv(shuffled_rows.reshape(25, 8, 2), np.full(25, 8), tmp_path / "shuffled.csv", ["temp", "load"])
    # Real windows every 8 rows are exactly the copy's sequences.
    same = score(capsys, data, copy, "--param", "stride=8")
    assert same["mmd"] < 1e-9 and same["marginal"] < 1e-6 and same["acf"] < 1e-6
    # Every window of the real file (stride 1) against the copy's 25: close, not equal.
    close = score(capsys, data, copy)
    assert all(value < 0.03 for value in close.values())
    mixed = score(capsys, data, shuffled)
    assert mixed["acf"] > 0.1 and mixed["acf"] > 10 * close["acf"]
    assert mixed["marginal"] == pytest.approx(close["marginal"], abs=1e-9)  # same values, other order
    # A newest-first real file, read with reverse, scores like the oldest-first one.
    backward = write_csv(tmp_path / "backward.csv", ["temp", "load"], table[::-1])
    assert score(capsys, backward, copy, "--param", "reverse=true", "--param", "stride=8") == pytest.approx(same, abs=1e-6)


# --------------------------------------------------------------------------- 8. score errors


def test_score_refuses_samples_with_other_columns_naming_both_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data.csv"
    table = cli_data(data)
    other = write_series_csv(table[:, :1].reshape(25, 8, 1), np.full(25, 8), tmp_path / "one.csv", ["temp"])
    assert main(["score", "timeseries", "--real", str(data), "--samples", str(other), "--metric", "acf"]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"{other}: its columns ['temp'] differ from those of {data} (['temp', 'load'])")
    assert "--param columns=" in error


def test_score_names_an_unknown_param_and_the_valid_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data.csv"
    table = cli_data(data)
    copy = write_series_csv(table.reshape(25, 8, 2), np.full(25, 8), tmp_path / "copy.csv", ["temp", "load"])
    assert main(["score", "timeseries", "--real", str(data), "--samples", str(copy), "--metric", "acf", "--param", "windw=8"]) == 2
    assert capsys.readouterr().err.strip() == (
        "--param windw: not an option of timeseries scoring; "
        "valid: columns, time_column, series_column, reverse, missing, delimiter, window, stride"
    )


def test_a_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path: Path) -> None:
    """The scaler and split come back from the checkpoint: resuming changes nothing."""
    from seqtk.core import checkpoint as ckpt
    from seqtk.core.api import run

    data = tmp_path / "data.csv"
    cli_data(data)
    whole = cli_recipe(tmp_path, data)
    whole["output"] = {"dir": str(tmp_path / "whole"), "checkpoint_every": 10}
    run(whole)
    half = json.loads(json.dumps(whole))
    half["output"]["dir"] = str(tmp_path / "half")
    half["train"]["adversarial"]["steps"] = 10
    run(half)
    run(half, ["train.adversarial.steps=20"], resume=True)

    def final(run_dir: Path) -> dict[str, Any]:
        return ckpt.load_checkpoint(ckpt.list_checkpoints(run_dir / "checkpoints")[-1][1])

    a, b = final(tmp_path / "whole"), final(tmp_path / "half")
    assert a["step"] == b["step"] == 20
    assert a["domain"] == b["domain"]
    for key, value in a["generator"].items():
        assert torch.equal(value, b["generator"][key]), key
