"""numpy's ``percentile`` (linear), ``median`` and ``mean`` for short lists of floats, bit for bit.

A simulation summarises a few dozen latencies; numpy's per-call machinery then costs more than the
arithmetic (about 0.1 ms a call, a fifth of a small run). These follow numpy's own steps — the same
interpolation (``_lerp``) and the same pairwise summation order — so results are identical, which
``tests/test_smallstats.py`` checks against numpy itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: numpy's pairwise-summation block (``PW_BLOCKSIZE`` in ``loops_utils.h``).
_BLOCK = 128


def _pairwise(a: Sequence[float], lo: int, n: int) -> float:
    """numpy's ``pairwise_sum`` of ``a[lo:lo + n]``: 8 accumulators, halves above one block."""
    if n < 8:
        res = -0.0  # numpy starts from -0.0 so that a sum of -0.0 stays -0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    if n <= _BLOCK:
        r = [a[lo + j] for j in range(8)]
        i = 8
        while i < n - (n % 8):
            for j in range(8):
                r[j] += a[lo + i + j]
            i += 8
        res = (r[0] + r[1]) + (r[2] + r[3]) + ((r[4] + r[5]) + (r[6] + r[7]))
        for k in range(i, n):
            res += a[lo + k]
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise(a, lo, n2) + _pairwise(a, lo + n2, n - n2)


def fsum_numpy(values: Sequence[float]) -> float:
    """``np.sum`` of a float64 vector, in numpy's order."""
    return _pairwise(values, 0, len(values)) if values else 0.0


def mean(values: Sequence[float]) -> float:
    """``np.mean`` of a non-empty float64 vector."""
    return fsum_numpy(values) / len(values)


def _linear(ordered: Sequence[float], q: float) -> float:
    """numpy's 'linear' percentile (Hyndman & Fan 7) of ascending values at fraction ``q``."""
    n = len(ordered)
    virtual = (n - 1) * q
    if virtual >= n - 1:
        return ordered[-1]
    below = math.floor(virtual)
    a, b = ordered[below], ordered[below + 1]
    t = virtual - below
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


def percentiles(values: Sequence[float], qs: Sequence[float]) -> list[float]:
    """``np.percentile(values, qs).tolist()`` for finite values (``qs`` in 0..100)."""
    ordered = sorted(values)
    return [_linear(ordered, q / 100) for q in qs]


def median(values: Sequence[float]) -> float:
    """``np.median`` of non-empty finite values: the middle one, or the mean of the middle two."""
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2
