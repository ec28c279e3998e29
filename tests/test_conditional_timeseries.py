"""Conditional time series (issue 17): labelled and static columns, forecasting, and the metrics that judge them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor

from seqtk.core.errors import DataError, RecipeError
from seqtk.core.interfaces import Batch, Condition, ConditionSpec, DomainSpec
from seqtk.core.plugins import PluginHost
from seqtk.core.recipe import load_recipe
from seqtk.plugins.generators import LSTMGenerator
from seqtk.plugins.timeseries.conditional_metrics import ClassDiscriminativeScore, ForecastCRPS, ForecastMAE, LabelFidelity, crps_ensemble
from seqtk.plugins.timeseries.posthoc import discriminative_score
from seqtk.plugins.timeseries.domain import TimeSeriesDomain
from seqtk.plugins.timeseries.sines import SinesDomain

torch.set_num_threads(1)

FORECAST_SPEC = DomainSpec(
    kind="continuous", max_len=3, features=2, value_range=(0.0, 1.0),
    conditions=ConditionSpec(context=DomainSpec(kind="continuous", max_len=5, features=2, value_range=(0.0, 1.0))),
)


def write_csv(path: Path) -> Path:
    """Two series (a, b) of 12 rows: label 'up' for a, 'down' for b; a static column; one value column."""
    lines = ["series,label,size,value"]
    for name, label, size in (("a", "up", 10.0), ("b", "down", 30.0)):
        for t in range(12):
            lines.append(f"{name},{label},{size + t},{t * (1 if label == 'up' else -1)}")
    path.write_text("\n".join(lines) + "\n")
    return path


# ------------------------------------------------------------------ the generator


def test_an_unconditional_lstm_generator_has_no_condition_parameters() -> None:
    spec = DomainSpec(kind="continuous", max_len=4, features=2, value_range=(0.0, 1.0))
    generator = LSTMGenerator(spec, hidden_dim=8, noise_dim=2)
    assert not any(key.startswith(("condition_embed", "initial_state")) for key in generator.state_dict())
    assert generator.rnn.input_size == 2 + 2  # noise and previous output, as before conditions existed


def test_a_forecast_starts_from_the_history_and_different_histories_change_it() -> None:
    torch.manual_seed(0)
    generator = LSTMGenerator(FORECAST_SPEC, hidden_dim=8, noise_dim=2)
    history = torch.rand(4, 5, 2)
    condition = Condition(context=Batch.full_length(history))
    torch.manual_seed(1)
    first = generator.sample(4, condition=condition)
    assert first.condition is condition
    torch.manual_seed(1)  # the same noise, other histories
    other = generator.sample(4, condition=Condition(context=Batch.full_length(history.flip(0))))
    assert not torch.allclose(first.values, other.values)
    # With a zero output layer every step repeats the previous one: the forecast holds the history's last value.
    with torch.no_grad():
        generator.out.weight.zero_()
        generator.out.bias.zero_()
    held = generator.sample(4, condition=condition)
    assert torch.allclose(held.values, history[:, -1:].expand(-1, 3, -1), atol=1e-4)
    with pytest.raises(ValueError, match="need a condition per row"):
        generator.sample(2)


def test_mle_on_labelled_sines_raises_label_fidelity_above_the_untrained_generator() -> None:
    # The 'code' variant's slow waves: a band shows in each series' slope, and teacher forcing learns it steadily.
    domain = SinesDomain(samples=400, length=12, features=3, variant="code", condition="label", bands=2, plots=False)
    train, test = domain.load("train").batch, domain.load("test").batch
    fidelity = LabelFidelity(domain.spec, steps=100, hidden_dim=16, folds=2)
    torch.manual_seed(0)
    generator = LSTMGenerator(domain.spec, hidden_dim=24, noise_dim=2, latent_dim=4, condition_dim=8)

    def score() -> float:
        torch.manual_seed(5)
        with torch.no_grad():
            return fidelity(test, generator.sample(test.size, condition=test.condition))

    before = score()
    optimiser = torch.optim.Adam(generator.parameters(), lr=0.01)
    stream = torch.Generator().manual_seed(0)
    for _ in range(60):
        loss = generator.pretrain_loss(train.index(torch.randperm(train.size, generator=stream)[:64]))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    after = score()
    assert fidelity.ceiling(test) > 0.85  # the classifier tells the bands apart on real series it never saw
    assert before < 0.5 and after > 0.9, (before, after)


# ------------------------------------------------------------------ metrics


def test_crps_is_the_empirical_formula_by_hand() -> None:
    forecasts = torch.tensor([[0.0], [1.0]])  # two forecasts of one value
    # E|X - y| = (0.25 + 0.75) / 2 = 0.5; E|X - X'| over 4 pairs = (0 + 1 + 1 + 0) / 4 = 0.5; 0.5 - 0.25.
    assert crps_ensemble(forecasts, torch.tensor([0.25])).item() == pytest.approx(0.25)
    # One forecast: the absolute error.
    assert crps_ensemble(torch.tensor([[0.2]]), torch.tensor([0.5])).item() == pytest.approx(0.3)
    # Three forecasts 0, 0.5, 1 of y = 1: E|X-y| = 0.5; pairs: |diffs| sum = 2 * (0.5 + 1 + 0.5) = 4 over 9.
    assert crps_ensemble(torch.tensor([[0.0], [0.5], [1.0]]), torch.tensor([1.0])).item() == pytest.approx(0.5 - 0.5 * 4 / 9)


def test_forecast_metrics_group_samples_by_history_and_score_the_naive_forecast() -> None:
    history = Batch.full_length(torch.tensor([[[0.1], [0.2]], [[0.5], [0.4]]]))  # two histories, one feature
    real = Batch.full_length(torch.tensor([[[0.3], [0.4]], [[0.3], [0.2]]]), condition=Condition(context=history))
    # Samples 0 and 2 answer history 0, 1 and 3 history 1 (as evaluations draw them).
    fake_values = torch.tensor([[[0.3], [0.6]], [[0.4], [0.2]], [[0.5], [0.4]], [[0.2], [0.2]]])
    fake = Batch.full_length(fake_values, condition=Condition(context=history.index(torch.tensor([0, 1, 0, 1]))))
    # Means: history 0 -> [0.4, 0.5] vs [0.3, 0.4]: errors 0.1, 0.1; history 1 -> [0.3, 0.2] vs [0.3, 0.2]: 0, 0.
    assert ForecastMAE()(real, fake) == pytest.approx(0.05)
    # CRPS per value with two forecasts a, b of y: (|a-y| + |b-y|) / 2 - |a-b| / 4.
    by_hand = [(0.0 + 0.2) / 2 - 0.2 / 4, (0.2 + 0.0) / 2 - 0.2 / 4, (0.1 + 0.1) / 2 - 0.2 / 4, 0.0]
    assert ForecastCRPS()(real, fake) == pytest.approx(sum(by_hand) / 4)
    # Repeat the last value: 0.2 for history 0 (errors 0.1, 0.2), 0.4 for history 1 (0.1, 0.2).
    assert ForecastMAE().naive(real) == pytest.approx(0.15)
    assert ForecastCRPS().naive(real) == pytest.approx(0.15)
    wrong = Batch.full_length(fake_values, condition=Condition(context=history.index(torch.tensor([1, 0, 1, 0]))))
    with pytest.raises(ValueError, match="must answer test history"):
        ForecastMAE()(real, wrong)


def test_forecast_metrics_draw_several_forecasts_per_history_from_the_generator() -> None:
    torch.manual_seed(0)
    generator = LSTMGenerator(FORECAST_SPEC, hidden_dim=8, noise_dim=2)
    history = Batch.full_length(torch.rand(3, 5, 2))
    real = Batch.full_length(torch.rand(3, 3, 2), condition=Condition(context=history))
    metric = ForecastCRPS(generator=generator, samples=4)
    forecasts, future = metric.forecasts(real, real)
    assert forecasts.shape == (4, 3, 3, 2) and torch.equal(future, real.values)
    assert not torch.allclose(forecasts[0], forecasts[1])  # fresh noise per draw
    assert metric.score(forecasts, future) == pytest.approx(float(crps_ensemble(forecasts.double(), future.double()).mean()))


def test_the_class_discriminative_score_averages_the_score_within_each_class() -> None:
    spec = DomainSpec(kind="continuous", max_len=4, features=1, conditions=ConditionSpec(num_classes=3))
    stream = torch.Generator().manual_seed(0)
    real = Batch.full_length(torch.rand(12, 4, 1, generator=stream), condition=Condition(labels=torch.tensor([0, 1] * 6)))
    fake = Batch.full_length(torch.rand(10, 4, 1, generator=stream), condition=Condition(labels=torch.tensor([0, 1] * 4 + [2, 2])))
    metric = ClassDiscriminativeScore(spec, steps=5, batch_size=4, seed=3)
    by_hand = [
        discriminative_score(real.values[k::2], fake.values[k:8:2], steps=5, batch_size=4, seed=3 + k) for k in (0, 1)
    ]  # class 2 has no real series: left out
    assert metric(real, fake) == pytest.approx(sum(by_hand) / 2)


def test_label_fidelity_refuses_a_domain_without_labels() -> None:
    with pytest.raises(ValueError, match="no class labels"):
        LabelFidelity(DomainSpec(kind="continuous", max_len=4, features=1))


# ------------------------------------------------------------------ the domains


def test_labelled_windows_take_their_first_rows_label_and_scaled_static_features(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "data.csv")
    domain = TimeSeriesDomain(
        path=str(path), series_column="series", condition="label+static", label_column="label", static_columns=["size"],
        window=3, stride=3, split="tail", test_fraction=0.25, plots=False,
    )
    assert domain.feature_names == ["value"]  # condition columns are not features
    spec = domain.spec.conditions
    assert spec.class_names == ("down", "up") and spec.num_classes == 2 and spec.static_features == 1
    train, test = domain.load("train").batch, domain.load("test").batch
    # 9 training rows per series -> windows start at t = 0, 3, 6; the 3 test rows (t = 9..11) make one window each.
    assert train.size == 6 and test.size == 2
    assert train.condition.labels.tolist() == [1, 1, 1, 0, 0, 0]  # a is 'up' (1), b is 'down' (0)
    assert test.condition.labels.tolist() == [1, 0]
    # size = 10 + t (a) or 30 + t (b); the training rows span 10..38.
    expected = [(s - 10) / 28 for s in (10, 13, 16, 30, 33, 36)]
    assert train.condition.static.squeeze(1).tolist() == pytest.approx(expected)
    assert test.condition.static.squeeze(1).tolist() == pytest.approx([9 / 28, 29 / 28])  # not clipped, as features
    assert train.values[1, :, 0].tolist() == pytest.approx([(v + 8) / 16 for v in (3, 4, 5)])  # values of a: 0..8, of b: 0..-8 in training
    assert domain.state_dict()["conditions"]["class_names"] == ["down", "up"]


def test_forecast_windows_split_into_history_and_future(tmp_path: Path) -> None:
    path = tmp_path / "walk.csv"
    path.write_text("value\n" + "\n".join(str(t) for t in range(40)) + "\n")
    domain = TimeSeriesDomain(path=str(path), condition="forecast", window=5, horizon=2, split="tail", test_fraction=0.25, plots=False)
    spec = domain.spec
    assert spec.max_len == 2 and spec.conditions.context.max_len == 5 and spec.conditions.words == {"context"}
    train, test = domain.load("train").batch, domain.load("test").batch
    assert train.size == 30 - 7 + 1 and test.size == 10 - 7 + 1
    scaled = lambda rows: [(r - 0) / 29 for r in rows]  # fitted on the 30 training rows 0..29
    assert train.condition.context.values[3, :, 0].tolist() == pytest.approx(scaled(range(3, 8)))
    assert train.values[3, :, 0].tolist() == pytest.approx(scaled([8, 9]))
    assert test.condition.context.values[0, :, 0].tolist() == pytest.approx(scaled(range(30, 35)))
    shuffled = TimeSeriesDomain(path=str(path), condition="forecast", window=5, horizon=2, split="tail", test_fraction=0.25, plots=False, shuffle_train_conditions=True)
    assert torch.equal(shuffled.load("train").batch.values, train.values)
    assert not torch.equal(shuffled.load("train").batch.condition.context.values, train.condition.context.values)
    assert torch.equal(shuffled.load("test").batch.condition.context.values, test.condition.context.values)


def test_shuffling_sines_labels_touches_the_training_split_only() -> None:
    plain = SinesDomain(samples=60, length=6, features=1, condition="label", bands=2, plots=False)
    shuffled = SinesDomain(samples=60, length=6, features=1, condition="label", bands=2, plots=False, shuffle_train_conditions=True)
    a, b = plain.load("train").batch, shuffled.load("train").batch
    assert torch.equal(a.values, b.values) and not torch.equal(a.condition.labels, b.condition.labels)
    assert sorted(a.condition.labels.tolist()) == sorted(b.condition.labels.tolist())
    assert torch.equal(plain.load("test").batch.condition.labels, shuffled.load("test").batch.condition.labels)
    # Each label's frequencies come from its band: the slow band changes less per step.
    speed = (a.values[:, 1:] - a.values[:, :-1]).abs().mean((1, 2))
    labels = a.condition.labels
    assert speed[labels == 0].mean() < speed[labels == 1].mean()


def test_a_misspelt_label_column_is_a_data_error_with_a_suggestion(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "data.csv")
    domain = TimeSeriesDomain(path=str(path), series_column="series", columns=["value"], condition="label", label_column="lable", window=4, plots=False)
    with pytest.raises(DataError, match=r"no column named 'lable' \(did you mean 'label'.*fix label_column"):
        domain.load("train")


@pytest.mark.parametrize(
    "params, message",
    [
        ({"condition": "label"}, "condition 'label' needs label_column"),
        ({"label_column": "label"}, "label_column is set but condition is 'none'"),
        ({"condition": "forecast", "horizon": 2, "window": None}, "needs a window"),
        ({"condition": "label", "label_column": "value", "columns": ["value"]}, "both a condition column and in columns"),
    ],
)
def test_conditional_parameters_are_checked_before_the_file_is_read(tmp_path: Path, params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TimeSeriesDomain(path=str(tmp_path / "absent.csv"), **params)


def test_a_forecasting_recipe_refuses_a_generator_that_cannot_read_a_history(tmp_path: Path) -> None:
    path = tmp_path / "walk.csv"
    path.write_text("value\n" + "\n".join(str(t) for t in range(40)) + "\n")
    host = PluginHost()
    host.registry.add("generators", "plain-lstm", "seqtk.plugins.generators:LSTMGenerator", plugin="old", requires=["continuous"], provides=["values", "reparam"])
    recipe: dict[str, Any] = {
        "seqtk": 1,
        "name": "fc",
        "domain": {"name": "timeseries", "params": {"path": str(path), "condition": "forecast", "window": 5, "horizon": 2}},
        "generator": {"name": "plain-lstm"},
        "discriminator": {"name": "gru"},
        "objective": "minimax",
        "estimator": "reparam",
        "output": {"dir": str(tmp_path / "run")},
    }
    with pytest.raises(RecipeError, match=r"generator 'plain-lstm' cannot use the domain's context condition \(it accepts none\); generators that can: .*lstm"):
        load_recipe(recipe, host=host)
    load_recipe({**recipe, "generator": {"name": "lstm"}}, host=host)


def test_conditional_samples_are_written_beside_their_condition(tmp_path: Path) -> None:
    path = tmp_path / "walk.csv"
    path.write_text("value\n" + "\n".join(str(t) for t in range(40)) + "\n")
    domain = TimeSeriesDomain(path=str(path), condition="forecast", window=3, horizon=2, split="tail", test_fraction=0.25, plots=False)
    test = domain.load("test").batch
    written = domain.write_samples(test.index(torch.arange(1)), tmp_path, "s")
    rows = written[0].read_text().splitlines()
    assert rows[0] == "sample,part,step,value"
    assert [r.split(",")[:3] for r in rows[1:]] == [["0", "history", "0"], ["0", "history", "1"], ["0", "history", "2"], ["0", "forecast", "3"], ["0", "forecast", "4"]]
    assert [float(r.split(",")[3]) for r in rows[1:]] == pytest.approx([30, 31, 32, 33, 34])  # original units
    sines = SinesDomain(samples=20, length=3, features=1, condition="label", bands=2, plots=False)
    lines = sines.write_samples(sines.load("test").batch, tmp_path, "l")[0].read_text().splitlines()
    assert lines[0] == "sample,step,label,f0" and lines[1].split(",")[2].startswith("band-")


# ------------------------------------------------------------------ forecasts read in the history's units


def test_history_units_are_the_last_step_and_the_mean_absolute_change_by_hand() -> None:
    from seqtk.plugins.conditioning import MIN_HISTORY_SCALE, history_units

    values = torch.tensor([[[0.1], [0.3], [0.2], [9.0]], [[0.5], [0.5], [0.5], [0.5]]])
    last, scale = history_units(Batch(values=values, lengths=torch.tensor([3, 4])))  # row 0's 9.0 is padding
    assert torch.allclose(last.flatten(), torch.tensor([0.2, 0.5]))
    assert torch.allclose(scale.flatten(), torch.tensor([(0.2 + 0.1) / 2, MIN_HISTORY_SCALE]))  # a flat history: the floor


def test_context_then_sequence_puts_each_row_right_after_its_history() -> None:
    from seqtk.plugins.conditioning import context_then_sequence

    history = Batch(values=torch.tensor([[[1.0], [2.0], [3.0]], [[4.0], [5.0], [7.0]]]), lengths=torch.tensor([3, 2]))
    future = torch.tensor([[[10.0], [11.0]], [[20.0], [99.0]]], requires_grad=True)
    batch = Batch(values=future, lengths=torch.tensor([2, 1]), condition=Condition(context=history))
    joined, lengths, offsets = context_then_sequence(batch)
    assert lengths.tolist() == [5, 3] and offsets.tolist() == [3, 2]
    assert joined[0, :, 0].tolist() == [1.0, 2.0, 3.0, 10.0, 11.0]
    assert joined[1, :, 0].tolist() == [4.0, 5.0, 20.0, 0.0, 0.0]  # history padding and future padding are gone
    joined.sum().backward()
    assert future.grad is not None and future.grad[:, :, 0].tolist() == [[1.0, 1.0], [1.0, 0.0]]
    relative, _, _ = context_then_sequence(batch, relative=True)
    # row 0: last 3, mean |change| 1; row 1: last 5, mean |change| 1
    assert relative[0, :, 0].tolist() == [-2.0, -1.0, 0.0, 7.0, 8.0]
    assert relative[1, :, 0].tolist() == [-1.0, 0.0, 15.0, 0.0, 0.0]


def test_a_discriminator_that_reads_the_history_scores_the_future_and_sees_a_jump_at_the_seam() -> None:
    from seqtk.plugins.discriminators import GRUDiscriminator

    torch.manual_seed(0)
    per_step = GRUDiscriminator(FORECAST_SPEC, hidden_dim=8, per_step=True, read_context=True)
    assert per_step.projection is None  # the history is read, not projected
    history = torch.linspace(0.2, 0.3, 5).view(1, 5, 1).expand(64, 5, 2).contiguous()
    smooth = history[:, -1:] + 0.025 * torch.arange(1, 4).view(1, 3, 1)  # the history's own pace
    batch = Batch.full_length(smooth, condition=Condition(context=Batch.full_length(history)))
    assert per_step(batch).shape == (64, 3)
    # Trained briefly on real (the history's pace) against a forecast that jumps 4 daily changes at the seam.
    torch.manual_seed(0)
    disc = GRUDiscriminator(FORECAST_SPEC, hidden_dim=8, read_context=True)
    history = history + 0.5 * torch.rand(64, 1, 2)  # any level: the units make it invisible
    real = Batch.full_length(history[:, -1:] + 0.025 * torch.arange(1, 4).view(1, 3, 1), condition=Condition(context=Batch.full_length(history)))
    fake = Batch.full_length(real.values + 0.1, condition=real.condition)
    optimiser = torch.optim.Adam(disc.parameters(), lr=1e-2)
    for _ in range(60):
        loss = torch.nn.functional.softplus(-disc(real)).mean() + torch.nn.functional.softplus(disc(fake)).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert bool((disc(real) > disc(fake)).all())


def test_read_context_refuses_a_domain_without_a_history() -> None:
    from seqtk.plugins.discriminators import GRUDiscriminator

    with pytest.raises(ValueError, match="read_context needs a domain that conditions on a context"):
        GRUDiscriminator(DomainSpec(kind="continuous", max_len=3, features=2, value_range=(0.0, 1.0)), read_context=True)
    labelled = DomainSpec(kind="continuous", max_len=3, features=2, conditions=ConditionSpec(num_classes=2, class_names=("a", "b")))
    with pytest.raises(ValueError, match="read_context"):
        GRUDiscriminator(labelled, read_context=True)
    with pytest.raises(ValueError, match="history_units needs a forecasting domain"):
        LSTMGenerator(labelled, history_units=True)


def test_in_history_units_a_zero_output_repeats_the_last_value_and_the_absolute_error_is_by_hand() -> None:
    torch.manual_seed(0)
    generator = LSTMGenerator(FORECAST_SPEC, hidden_dim=8, noise_dim=2, history_units=True, pretrain_error="absolute")
    torch.nn.init.zeros_(generator.out.weight)
    torch.nn.init.zeros_(generator.out.bias)
    history = torch.rand(4, 5, 2)
    condition = Condition(context=Batch.full_length(history))
    forecast = generator.sample(4, condition=condition).values
    assert torch.allclose(forecast, history[:, -1:].expand(4, 3, 2))
    future = torch.rand(4, 3, 2)
    previous = torch.cat([history[:, -1:], future[:, :-1]], dim=1)  # teacher forcing: each step predicts "no change"
    loss = generator.pretrain_loss(Batch.full_length(future, condition=condition))
    assert torch.allclose(loss, (future - previous).abs().mean())


def pretrain_on(generator: LSTMGenerator, draw: Any, steps: int = 150) -> None:
    """``steps`` Adam updates (lr 0.01) of the generator's pretraining loss on ``draw(64)``'s (history, future) pairs."""
    optimiser = torch.optim.Adam(generator.parameters(), lr=1e-2)
    for _ in range(steps):
        history, future = draw(64)
        loss = generator.pretrain_loss(Batch.full_length(future, condition=Condition(context=Batch.full_length(history))))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()


def test_pretraining_in_history_units_beats_repeating_the_last_value_on_a_mean_reverting_series() -> None:
    """x_t = 0.5 + 0.5 (x_{t-1} - 0.5) + noise: the last value is a poor forecast, the history says where the mean is."""
    stream = torch.Generator().manual_seed(0)

    def windows(n: int) -> tuple[Tensor, Tensor]:
        x = torch.empty(n, 8, 2)
        x[:, 0] = 0.5 + 0.8 * (torch.rand(n, 2, generator=stream) - 0.5)
        for t in range(1, 8):
            x[:, t] = 0.5 + 0.5 * (x[:, t - 1] - 0.5) + 0.01 * torch.randn(n, 2, generator=stream)
        return x[:, :5], x[:, 5:]

    torch.manual_seed(0)
    generator = LSTMGenerator(FORECAST_SPEC, hidden_dim=16, noise_dim=2, history_units=True, pretrain_error="absolute")
    pretrain_on(generator, windows)
    history, future = windows(500)
    real = Batch.full_length(future, condition=Condition(context=Batch.full_length(history)))
    mae = ForecastMAE(generator, samples=5)
    naive = mae.naive(real)
    assert naive > 0.01 and mae(real, real) < 0.9 * naive  # measured: 0.0110 against 0.0132


def test_the_energy_pretraining_error_is_the_two_sample_energy_score_by_hand() -> None:
    torch.manual_seed(0)
    generator = LSTMGenerator(FORECAST_SPEC, hidden_dim=8, noise_dim=2, history_units=True, pretrain_error="energy")
    torch.nn.init.zeros_(generator.out.weight)
    torch.nn.init.zeros_(generator.out.bias)  # both predictions are "no change": |a - b| = 0
    history, future = torch.rand(4, 5, 2), torch.rand(4, 3, 2)
    previous = torch.cat([history[:, -1:], future[:, :-1]], dim=1)
    loss = generator.pretrain_loss(Batch.full_length(future, condition=Condition(context=Batch.full_length(history))))
    # (|a - y| + |b - y| - |a - b|) / 2 = |previous - y| (Euclidean over the 2 features), averaged per feature.
    assert torch.allclose(loss, (future - previous).norm(dim=-1).mean() / 2)


@pytest.mark.parametrize("error", ["absolute", "energy"])
def test_only_the_energy_score_teaches_the_noise_a_random_walks_spread(error: str) -> None:
    """Steps of a random walk are N(0, 0.02^2): a regression learns to ignore its noise, the energy score draws the steps' spread."""
    stream = torch.Generator().manual_seed(0)

    def walks(n: int) -> tuple[Tensor, Tensor]:
        x = 0.5 + torch.cumsum(0.02 * torch.randn(n, 8, 2, generator=stream), dim=1)
        return x[:, :5], x[:, 5:]

    torch.manual_seed(0)
    generator = LSTMGenerator(FORECAST_SPEC, hidden_dim=16, noise_dim=2, history_units=True, pretrain_error=error)
    pretrain_on(generator, walks)
    history, _ = walks(1)
    condition = Condition(context=Batch.full_length(history.expand(400, 5, 2)))
    with torch.no_grad():
        first_step = generator.sample(400, condition=condition).values[:, 0]
    spread = float(first_step.std(0).mean())
    if error == "energy":
        assert 0.01 < spread < 0.04, spread
    else:
        assert spread < 0.01, spread
