"""tdxlib.sweeps.confidence: Wilson intervals (checked against the formula's known values) and
deterministic bootstrap intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tdxlib.errors import ValidationError
from tdxlib.sweeps.confidence import bootstrap_interval, wilson_interval, z_of


def test_z_of_the_usual_levels() -> None:
    assert z_of(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert z_of(0.99) == pytest.approx(2.575829, abs=1e-6)
    with pytest.raises(ValidationError):
        z_of(1.0)


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (0, 10, 0.0, 0.277533),  # all failures: the interval still reaches 28 %
        (10, 10, 0.722467, 1.0),
        (5, 10, 0.236593, 0.763407),
        (1, 50, 0.003537, 0.104963),  # computed by hand from the formula
    ],
)
def test_wilson_known_values(k: int, n: int, low: float, high: float) -> None:
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=1e-5) and hi == pytest.approx(high, abs=1e-5)


def test_wilson_is_symmetric_and_narrows_with_more_cells() -> None:
    lo, hi = wilson_interval(3, 20)
    lo2, hi2 = wilson_interval(17, 20)
    assert lo == pytest.approx(1 - hi2) and hi == pytest.approx(1 - lo2)
    assert (hi - lo) > np.subtract(*reversed(wilson_interval(30, 200)))
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValidationError):
        wilson_interval(5, 3)


def test_bootstrap_is_deterministic_and_brackets_the_estimate() -> None:
    values = list(np.random.default_rng(1).lognormal(5, 0.5, size=60))
    est, lo, hi = bootstrap_interval(values)
    assert est == pytest.approx(float(np.median(values)))
    assert lo < est < hi
    assert bootstrap_interval(values) == (est, lo, hi)
    assert bootstrap_interval(values, np.mean, seed=2) != bootstrap_interval(values, np.mean, seed=3)
    wider = bootstrap_interval(values, level=0.99)
    assert wider[1] <= lo and wider[2] >= hi


def test_bootstrap_edge_cases() -> None:
    assert all(math.isnan(x) for x in bootstrap_interval([]))
    assert all(math.isnan(x) for x in bootstrap_interval([math.nan]))
    assert bootstrap_interval([3.0]) == (3.0, 3.0, 3.0)
    assert bootstrap_interval([1.0, 2.0, 3.0], np.mean)[0] == 2.0
