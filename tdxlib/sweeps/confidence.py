"""How sure a share or a percentile of a sweep is: Wilson intervals for proportions, bootstrap
intervals for statistics of a sample (latency percentiles across cells).

A claim's share of cells is a proportion of independent trials (each cell has its own seed), so its
interval is Wilson's score interval — good at 0 and 1 and for a few dozen cells, where the normal
approximation claims impossible certainty. A latency percentile of a region has no such formula: its
cells are resampled (percentile bootstrap, a fixed seed, so a report is the same every time).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from statistics import NormalDist

import numpy as np

from tdxlib.errors import ValidationError

__all__ = ["DEFAULT_LEVEL", "bootstrap_interval", "wilson_interval", "z_of"]

#: Confidence level of every interval unless told otherwise.
DEFAULT_LEVEL = 0.95


def z_of(level: float) -> float:
    """The two-sided normal quantile of a confidence level (1.96 for 0.95)."""
    if not 0.0 < level < 1.0:
        raise ValidationError("confidence level", level, "a number in (0, 1), e.g. 0.95")
    return NormalDist().inv_cdf((1.0 + level) / 2.0)


def wilson_interval(k: int, n: int, level: float = DEFAULT_LEVEL) -> tuple[float, float]:
    """Wilson's score interval for ``k`` successes in ``n`` trials; (0, 1) when ``n`` is 0."""
    if n < 0 or not 0 <= k <= n:
        raise ValidationError("(k, n)", (k, n), "0 <= k <= n")
    if n == 0:
        return 0.0, 1.0
    z = z_of(level)
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denom
    # at 0 and n the bound is exactly 0 or 1 (the formula's rounding would leave 1e-16 off)
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return low, high


def bootstrap_interval(
    values: Sequence[float],
    statistic: Callable[[np.ndarray], float] = np.median,
    *,
    level: float = DEFAULT_LEVEL,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(estimate, low, high): ``statistic`` of the finite ``values`` and its percentile-bootstrap
    interval (``resamples`` resamples drawn with ``seed``); NaNs when there is no value."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    z_of(level)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    estimate = float(statistic(x))
    if x.size == 1:
        return estimate, estimate, estimate
    rng = np.random.default_rng(seed)
    draws = x[rng.integers(0, x.size, size=(resamples, x.size))]
    stats = np.apply_along_axis(statistic, 1, draws)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(stats, [tail, 100.0 - tail])
    return estimate, float(low), float(high)
