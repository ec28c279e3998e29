"""GumbelSoftmax's inverse-temperature schedules: RelGAN's seven, checked against values computed by hand."""

from __future__ import annotations

import math

import pytest

from seqtk.plugins.estimators import GumbelSoftmax


def beta(schedule: str, i: int, n: int, beta_max: float = 9.0) -> float:
    return GumbelSoftmax(max_inverse_temperature=beta_max, schedule=schedule).inverse_temperature(i, n)


@pytest.mark.parametrize(
    ("schedule", "i", "n", "expected"),
    [
        ("constant", 0, 5, 9.0),
        ("linear", 0, 5, 1.0),
        ("linear", 2, 5, 5.0),                  # 1 + 8 * 2 / 4
        ("linear", 4, 5, 9.0),
        ("exponential", 0, 5, 1.0),
        ("exponential", 2, 5, 2.408224685),     # 9 ** 0.4 = 3 ** 0.8
        ("exponential", 5, 5, 9.0),
        ("logarithmic", 0, 5, 1.0),             # ln 1 = 0
        ("logarithmic", 1, 5, 4.445412),        # 1 + 8 * ln 2 / ln 5 = 1 + 8 * 0.693147 / 1.609438
        ("logarithmic", 4, 5, 9.0),
        ("sigmoid", 5, 10, 5.0),                # midpoint: 1 + 8 / (1 + e^0)
        ("sigmoid", 0, 10, 1.000363),           # 1 + 8 / (1 + e^10) = 1 + 8 / 22027.47
        ("quadratic", 2, 5, 3.0),               # 1 + 8 * 4 / 16
        ("quadratic", 4, 5, 9.0),
        ("square-root", 1, 5, 5.0),             # 1 + 8 * 1 / 2
        ("square-root", 4, 5, 9.0),
    ],
)
def test_schedules_match_hand_computed_values(schedule: str, i: int, n: int, expected: float) -> None:
    assert beta(schedule, i, n) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("schedule", GumbelSoftmax.SCHEDULES)
def test_schedules_rise_from_1_and_stay_at_the_top_past_the_end(schedule: str) -> None:
    values = [beta(schedule, i, 50) for i in range(50)]
    assert all(b <= a + 1e-12 for b, a in zip(values, values[1:]))  # never falls
    assert values[0] == pytest.approx(9.0 if schedule == "constant" else 1.0, abs=2e-3)
    assert beta(schedule, 80, 50) == pytest.approx(beta(schedule, 50, 50))
    assert beta(schedule, 80, 50) == pytest.approx(9.0, rel=1e-3)
    assert beta(schedule, 0, 1) >= 1.0 and math.isfinite(beta(schedule, 3, 1))


def test_relgans_fixed_horizon_ends_below_the_maximum() -> None:
    """RelGAN anneals over N = 5000 steps; its COCO run stops after 2000: 100 ** 0.4."""
    estimator = GumbelSoftmax(max_inverse_temperature=100.0, schedule="exponential", anneal_steps=5000)
    assert estimator.inverse_temperature(2000, estimator.anneal_steps) == pytest.approx(100**0.4)


def test_unknown_schedules_name_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="square-root"):
        GumbelSoftmax(schedule="sqrt")
