"""Verdicts with confidence from a sweep result: how far does each claim hold, and where does it flip?

- :func:`claim_shares` — per claim, over every cell it speaks about: the share where it holds with its
  Wilson interval, and what that makes of it across the space (holds everywhere, fails everywhere,
  depends on where);
- :func:`region_shares` — the same share per region: grouped by some axes, others pinned to a value
  (what notebook 07's heatmaps colour);
- :func:`flip_boundary` — along one axis (a device load, a rate), per value of another (the CPU
  count): the last value where the claim still reads one way and the first where it reads the other;
- :func:`latency_intervals` — a latency percentile per region: the median over cells of each cell's
  percentile, with a bootstrap interval over the cells.

Axes are named as in the spec (``device_irqs``) or as their column (``device_irqs_per_cpu``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tdxlib.errors import ValidationError
from tdxlib.sweeps.confidence import DEFAULT_LEVEL, bootstrap_interval, wilson_interval
from tdxlib.sweeps.holds import HoldsIn
from tdxlib.sweeps.spec import SweepSpec, value_label
from tdxlib.sweeps.store import SweepResult
from tdxlib.sweeps.work import claim_column

__all__ = [
    "REGION_VERDICTS",
    "axis_column",
    "claim_shares",
    "flip_boundary",
    "holds_in",
    "latency_intervals",
    "pinned",
    "region_shares",
]

#: What a claim's cells make of it across the swept space.
REGION_VERDICTS: tuple[str, ...] = ("holds everywhere", "fails everywhere", "depends on where", "not swept")


def axis_column(spec: SweepSpec, name: str) -> str:
    """The column of an axis given by its name or its column."""
    if name in spec.axes:
        return spec.column(name)
    if name in {spec.column(a) for a in spec.axes}:
        return name
    raise ValidationError("axis", name, f"one of {', '.join(spec.column(a) for a in spec.axes)}")


def _axis_values(spec: SweepSpec, column: str) -> list[Any]:
    axis = next(a for a in spec.axes if spec.column(a) == column)
    return [value_label(v) for v in spec.values(axis)]


def _claim(result: SweepResult, claim_id: str) -> str:
    if claim_id not in result.spec.claim_ids:
        raise ValidationError("claim", claim_id, f"one the sweep records: {', '.join(result.spec.claim_ids)}")
    return claim_column(claim_id)


def pinned(result: SweepResult, fixed: Mapping[str, Any] | None) -> pd.DataFrame:
    """The cells with each axis of ``fixed`` at its value (a value or the text of one)."""
    frame = result.cells
    for name, value in (fixed or {}).items():
        column = axis_column(result.spec, name)
        labels = _axis_values(result.spec, column)
        # a value written as text ("8" from a notebook parameter) matches the label it spells
        match = [x for x in labels if x == value_label(value)] or [x for x in labels if str(x) == str(value)]
        if not match:
            raise ValidationError(f"value of {column}", value, f"one of {labels}")
        frame = frame[frame[column] == match[0]]
    return frame


def _counts(holds: pd.Series, level: float) -> dict[str, Any]:
    judged = holds.dropna()
    n, k = len(judged), int(judged.astype(bool).sum())
    low, high = wilson_interval(k, n, level)
    return {"cells": n, "holds": k, "share": k / n if n else np.nan, "low": low, "high": high}


def _region_verdict(k: int, n: int) -> str:
    if n == 0:
        return REGION_VERDICTS[3]
    return REGION_VERDICTS[0] if k == n else REGION_VERDICTS[1] if k == 0 else REGION_VERDICTS[2]


_COUNTS = ("cells", "holds", "share", "low", "high")


def _tuple(key: Any) -> tuple[Any, ...]:
    return key if isinstance(key, tuple) else (key,)


def claim_shares(result: SweepResult, level: float = DEFAULT_LEVEL) -> pd.DataFrame:
    """One row per claim the sweep records: cells it speaks about, how many hold, the share and its
    Wilson interval, the cells it says nothing about, and the region verdict."""
    rows = []
    for cid in result.spec.claim_ids:
        column = result.cells[claim_column(cid)] if len(result.cells) else pd.Series(dtype="boolean")
        c = _counts(column, level)
        verdict = _region_verdict(c["holds"], c["cells"])
        rows.append({"claim": cid, **c, "silent": int(column.isna().sum()), "verdict": verdict})
    return pd.DataFrame(rows, columns=["claim", *_COUNTS, "silent", "verdict"])


def holds_in(shares: pd.DataFrame) -> dict[str, HoldsIn]:
    """The claims of :func:`claim_shares` that some cell speaks about, as :class:`HoldsIn` numbers."""
    rows = shares.to_dict("records")
    return {
        str(r["claim"]): HoldsIn(float(r["share"]), float(r["low"]), float(r["high"]), int(r["cells"]))
        for r in rows
        if r["cells"] > 0
    }


def region_shares(
    result: SweepResult,
    claim_id: str,
    by: Sequence[str],
    fixed: Mapping[str, Any] | None = None,
    level: float = DEFAULT_LEVEL,
) -> pd.DataFrame:
    """The share of ``claim_id`` per combination of the ``by`` axes (every value, also where the claim
    is silent: ``cells`` 0, share NaN), over the cells with ``fixed`` axes at their values."""
    column = _claim(result, claim_id)
    cols = [axis_column(result.spec, b) for b in by]
    if len(set(cols)) != len(cols):
        raise ValidationError("region axes", list(by), "different axes")
    frame = pinned(result, fixed)
    grid = pd.MultiIndex.from_product([_axis_values(result.spec, c) for c in cols], names=cols)
    tally: dict[tuple[Any, ...], tuple[int, int]] = {}
    if cols and len(frame):  # one groupby for every region (a live panel redraws this on each move)
        holds = frame[column]
        judged = frame[cols].assign(_n=holds.notna().to_numpy(), _k=holds.eq(True).fillna(False).to_numpy())
        sums = judged.groupby(cols, dropna=False, sort=False)[["_n", "_k"]].sum()
        tally = {_tuple(key): (int(n), int(k)) for key, n, k in sums.itertuples(name=None)}
    rows = []
    for point in grid:
        n, k = tally.get(_tuple(point), (0, 0))
        low, high = wilson_interval(k, n, level)
        counts = {"cells": n, "holds": k, "share": k / n if n else np.nan, "low": low, "high": high}
        rows.append({**dict(zip(cols, _tuple(point), strict=True)), **counts})
    return pd.DataFrame(rows, columns=[*cols, *_COUNTS])


def _flip(seen: pd.DataFrame, along: str, threshold: float) -> dict[str, Any]:
    """The first change of side of ``threshold`` in the shares of ``seen`` (in order along ``along``)."""
    out: dict[str, Any] = {"flips": False, "direction": "", "last": None, "first": None}
    out |= {"share_last": np.nan, "share_first": np.nan}
    if not len(seen):
        return out
    above = seen["share"].to_numpy() >= threshold
    change = np.flatnonzero(above != above[0])
    if not change.size:
        return out
    i = int(change[0])
    return {
        "flips": True,
        "direction": "stops holding" if above[0] else "starts holding",
        "last": seen[along].iloc[i - 1],
        "first": seen[along].iloc[i],
        "share_last": float(seen["share"].iloc[i - 1]),
        "share_first": float(seen["share"].iloc[i]),
    }


def flip_boundary(
    result: SweepResult,
    claim_id: str,
    along: str,
    by: str | None = None,
    fixed: Mapping[str, Any] | None = None,
    threshold: float = 0.5,
) -> pd.DataFrame:
    """Where the claim flips along the axis ``along`` (in the spec's order), per value of ``by``: the
    last value on the first side of ``threshold`` (the share of cells holding) and the first past it,
    their shares, and which way it goes (``starts holding``/``stops holding``). Cells where the claim
    is silent are skipped; no flip: ``flips`` False and the bounds empty."""
    along_col = axis_column(result.spec, along)
    by_cols = [] if by is None else [axis_column(result.spec, by)]
    shares = region_shares(result, claim_id, [*by_cols, along_col], fixed)
    groups = shares.groupby(by_cols, sort=False) if by_cols else [((), shares)]
    rows = []
    for key, group in groups:
        point: dict[str, Any] = dict(zip(by_cols, _tuple(key), strict=True))
        rows.append(point | _flip(group[group["cells"] > 0], along_col, threshold))
    columns = [*by_cols, "flips", "direction", "last", "first", "share_last", "share_first"]
    return pd.DataFrame(rows, columns=columns)


def latency_intervals(
    result: SweepResult,
    by: Sequence[str],
    metric: str = "latency_ms_p99",
    fixed: Mapping[str, Any] | None = None,
    level: float = DEFAULT_LEVEL,
) -> pd.DataFrame:
    """Per combination of ``by``: the median over cells of ``metric`` (a cell's latency percentile),
    with a percentile-bootstrap interval over the cells; cells without a completed quote are left out."""
    if metric not in result.spec.metrics:
        raise ValidationError("metric", metric, f"one the sweep records: {', '.join(result.spec.metrics)}")
    cols = [axis_column(result.spec, b) for b in by]
    rows = []
    for key, group in pinned(result, fixed).groupby(cols, sort=False):
        values = pd.to_numeric(group[metric], errors="coerce").dropna().tolist()
        estimate, low, high = bootstrap_interval(values, level=level)
        point = dict(zip(cols, _tuple(key), strict=True))
        rows.append({**point, "cells": len(values), "median": estimate, "low": low, "high": high})
    return pd.DataFrame(rows, columns=[*cols, "cells", "median", "low", "high"])
