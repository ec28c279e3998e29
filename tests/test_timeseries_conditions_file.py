"""``seqtk sample --conditions`` for time series: histories to forecast from, and rows of labels and static values."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seqtk.core.errors import DataError
from seqtk.plugins.timeseries.domain import TimeSeriesDomain

torch.set_num_threads(1)


def labelled(tmp_path: Path) -> TimeSeriesDomain:
    """Two series of 12 rows: 'up' (size 10..21) and 'down' (size 30..41), one value column."""
    lines = ["series,label,size,value"]
    for name, label, size in (("a", "up", 10.0), ("b", "down", 30.0)):
        lines += [f"{name},{label},{size + t},{t}" for t in range(12)]
    path = tmp_path / "data.csv"
    path.write_text("\n".join(lines) + "\n")
    return TimeSeriesDomain(
        path=str(path), series_column="series", condition="label+static", label_column="label", static_columns=["size"],
        window=3, stride=3, split="tail", test_fraction=0.25, plots=False,
    )


def test_rows_of_labels_and_static_values_become_one_condition_each(tmp_path: Path) -> None:
    domain = labelled(tmp_path)
    wanted = tmp_path / "wanted.csv"
    wanted.write_text("size,label\n24,up\n10,down\n")
    condition = domain.read_conditions(wanted)
    assert condition.labels.tolist() == [1, 0]  # classes sorted: down, up
    # static min-max scaling fitted on the training rows: sizes 10..38
    assert condition.static.squeeze(1).tolist() == pytest.approx([(24 - 10) / 28, 0.0])
    wanted.write_text("size,label\n24,sideways\n")
    with pytest.raises(DataError, match=r"wanted.csv: line 2: 'label' is 'sideways', not a class .*valid: down, up"):
        domain.read_conditions(wanted)
    wanted.write_text("size,label\nbig,up\n")
    with pytest.raises(DataError, match=r"line 2: 'size' holds 'big'; expected a finite number"):
        domain.read_conditions(wanted)
    wanted.write_text("sise,label\n24,up\n")
    with pytest.raises(DataError, match="sise|size"):
        domain.read_conditions(wanted)


def test_each_series_last_window_rows_are_a_history_scaled_as_in_training(tmp_path: Path) -> None:
    data = tmp_path / "walk.csv"
    data.write_text("value\n" + "\n".join(str(t) for t in range(40)) + "\n")
    domain = TimeSeriesDomain(path=str(data), condition="forecast", window=5, horizon=2, split="tail", test_fraction=0.25, plots=False)
    plain = tmp_path / "one.csv"
    plain.write_text("value\n" + "\n".join(str(v) for v in range(20, 27)) + "\n")
    context = domain.read_conditions(plain).context
    assert context.values.shape == (1, 5, 1) and context.lengths.tolist() == [5]
    assert context.values[0, :, 0].tolist() == pytest.approx([v / 29 for v in range(22, 27)])  # the last 5 rows; fitted on 0..29
    short = tmp_path / "short.csv"
    short.write_text("value\n1\n2\n")
    with pytest.raises(DataError, match=r"short.csv: series .* has 2 row\(s\); a history needs the run's window of 5"):
        domain.read_conditions(short)


def test_a_long_file_gives_one_history_per_series_in_time_order(tmp_path: Path) -> None:
    data = tmp_path / "long.csv"
    data.write_text("id,t,value\n" + "".join(f"{k},{t},{t + 10 * i}\n" for i, k in enumerate("pq") for t in range(30)))
    domain = TimeSeriesDomain(path=str(data), series_column="id", time_column="t", condition="forecast", window=4, horizon=2,
                              split="tail", test_fraction=0.2, plots=False)
    domain.load("train")
    histories = tmp_path / "histories.csv"  # rows out of time order; y has six rows, x five
    histories.write_text("id,t,value\n" + "".join(f"x,{t},{t}\n" for t in (4, 3, 2, 1, 0)) + "".join(f"y,{t},{t + 2}\n" for t in range(6)))
    context = domain.read_conditions(histories).context
    unscaled = domain.to_original_units(context.values.numpy())[..., 0]
    assert unscaled.round(4).tolist() == [[1, 2, 3, 4], [4, 5, 6, 7]]


def test_an_unconditional_run_refuses_a_conditions_file(tmp_path: Path) -> None:
    data = tmp_path / "walk.csv"
    data.write_text("value\n" + "\n".join(str(t) for t in range(40)) + "\n")
    with pytest.raises(DataError, match="unconditional"):
        TimeSeriesDomain(path=str(data), window=5, plots=False).read_conditions(data)
