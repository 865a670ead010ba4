"""tdxlib.smallstats gives numpy's percentile, median and mean bit for bit (the simulator's summaries)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tdxlib import smallstats

# latencies and service times: finite, non-negative, from sub-microsecond to minutes, with repeats
values = st.lists(
    st.one_of(
        st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False),
        st.integers(min_value=0, max_value=50).map(float),
    ),
    min_size=1,
    max_size=300,  # beyond one 128-value block: numpy's pairwise summation splits
)


@settings(max_examples=400, deadline=None)
@given(values, st.lists(st.floats(min_value=0.0, max_value=100.0), min_size=1, max_size=4))
def test_percentiles_equal_numpy(vals: list[float], qs: list[float]) -> None:
    assert smallstats.percentiles(vals, qs) == np.percentile(np.array(vals), qs).tolist()


@settings(max_examples=400, deadline=None)
@given(values)
def test_median_and_mean_equal_numpy(vals: list[float]) -> None:
    arr = np.array(vals)
    assert smallstats.median(vals) == float(np.median(arr))
    assert smallstats.mean(vals) == float(arr.mean())
    assert smallstats.fsum_numpy(vals) == float(arr.sum())


@pytest.mark.parametrize("n", [7, 8, 9, 128, 129, 300])
def test_summation_order_is_numpys_not_sequential(n: int) -> None:
    """Values whose sum depends on the order: numpy's pairwise order, not a left-to-right loop."""
    vals = [1e16] + [1.0] * (n - 1)  # left to right, every 1.0 is lost against 1e16 (its ulp is 2)
    sequential = 0.0
    for v in vals:
        sequential += v
    assert smallstats.fsum_numpy(vals) == float(np.array(vals).sum())
    if n >= 8:  # from 8 values numpy adds in 8 lanes: the ones add up before they meet 1e16
        assert float(np.array(vals).sum()) != sequential


def test_percentile_ends_and_interpolation() -> None:
    assert smallstats.percentiles([3.0, 1.0, 2.0], (0, 50, 100)) == [1.0, 2.0, 3.0]
    assert smallstats.percentiles([0.0, 10.0], (25, 75)) == [2.5, 7.5]
    assert smallstats.median([4.0, 1.0, 3.0, 2.0]) == 2.5
