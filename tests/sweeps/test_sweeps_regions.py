"""tdxlib.sweeps.regions: shares with Wilson intervals per claim and per region, the boundary where a
claim flips, latency medians with bootstrap intervals — on a result built by hand, so every number is
known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tdxlib.errors import ValidationError
from tdxlib.sweeps.confidence import wilson_interval
from tdxlib.sweeps.holds import HoldsIn, holds_in_metrics, holds_in_of
from tdxlib.sweeps.regions import (
    axis_column,
    claim_shares,
    flip_boundary,
    holds_in,
    latency_intervals,
    region_shares,
)
from tdxlib.sweeps.spec import SweepSpec
from tdxlib.sweeps.store import SweepResult
from tdxlib.sweeps.work import claim_column

WASTE = claim_column("system-vector-wasteful")
WORKS = claim_column("notify-works")
SPEC = SweepSpec.model_validate(
    {
        "name": "hand",
        "seeds": 2,
        "axes": {"cpus": [2, 8], "device_irqs": {"per_cpu": [0, 100, 180]}, "vmm": ["a.yaml", "b.yaml"]},
        "metrics": ["latency_ms_p99"],
        "claims": ["system-vector-wasteful", "notify-works", "polling-sufficient"],
    }
)


def _result() -> SweepResult:
    rows = []
    for cpus in (2, 8):
        for load in (0, 100, 180):
            for vmm in ("a.yaml", "b.yaml"):
                for r in (0, 1):
                    refused = load >= (100 if cpus == 2 else 180)  # the boundary moves with the CPUs
                    rows.append(
                        {
                            "cpus": cpus,
                            "device_irqs_per_cpu": load,
                            "vmm": vmm,
                            "replicate": r,
                            WASTE: refused,
                            WORKS: vmm == "a.yaml" or r == 0,
                            claim_column("polling-sufficient"): pd.NA,
                            "latency_ms_p99": float(100 * cpus + r) if vmm == "a.yaml" else np.nan,
                        }
                    )
    frame = pd.DataFrame(rows).astype(
        {WASTE: "boolean", WORKS: "boolean", claim_column("polling-sufficient"): "boolean"}
    )
    return SweepResult(Path("."), SPEC, frame)


def test_claim_shares_count_the_cells_a_claim_speaks_about() -> None:
    shares = claim_shares(_result()).set_index("claim")
    works = shares.loc["notify-works"]
    assert (works["cells"], works["holds"], works["share"]) == (24, 18, 0.75)
    assert (works["low"], works["high"]) == pytest.approx(wilson_interval(18, 24))
    assert works["verdict"] == "depends on where"
    assert shares.loc["polling-sufficient", "verdict"] == "not swept"
    assert shares.loc["polling-sufficient", "silent"] == 24
    assert set(holds_in(claim_shares(_result()))) == {"system-vector-wasteful", "notify-works"}


def test_region_shares_cover_the_grid_with_others_pinned() -> None:
    grid = region_shares(_result(), "notify-works", ["cpus", "vmm"])
    assert len(grid) == 4 and list(grid.columns[:2]) == ["cpus", "vmm"]
    assert list(grid["share"]) == [1.0, 0.5, 1.0, 0.5]
    pinned = region_shares(_result(), "system-vector-wasteful", ["device_irqs"], fixed={"cpus": 8})
    assert list(pinned["device_irqs_per_cpu"]) == [0, 100, 180]
    assert list(pinned["share"]) == [0.0, 0.0, 1.0] and set(pinned["cells"]) == {4}
    with pytest.raises(ValidationError):
        region_shares(_result(), "notify-works", ["cpus"], fixed={"cpus": 3})
    with pytest.raises(ValidationError):
        region_shares(_result(), "config-gated", ["cpus"])


def test_the_flip_boundary_moves_with_the_cpu_count() -> None:
    flips = flip_boundary(_result(), "system-vector-wasteful", along="device_irqs", by="cpus").set_index(
        "cpus"
    )
    assert flips.loc[2, "last"] == 0 and flips.loc[2, "first"] == 100
    assert flips.loc[8, "last"] == 100 and flips.loc[8, "first"] == 180
    assert set(flips["direction"]) == {"starts holding"}
    none = flip_boundary(_result(), "notify-works", along="device_irqs", fixed={"vmm": "a.yaml"})
    assert not none.loc[0, "flips"] and none.loc[0, "last"] is None


def test_latency_intervals_bootstrap_over_cells() -> None:
    lat = latency_intervals(_result(), ["cpus", "vmm"]).set_index(["cpus", "vmm"])
    a2 = lat.loc[(2, "a.yaml")]
    assert a2["cells"] == 6 and a2["median"] == 200.5 and a2["low"] <= 200.5 <= a2["high"]
    assert lat.loc[(2, "b.yaml"), "cells"] == 0 and np.isnan(lat.loc[(2, "b.yaml"), "median"])
    with pytest.raises(ValidationError):
        latency_intervals(_result(), ["cpus"], metric="latency_ms_p50")


def test_axes_by_name_or_column() -> None:
    assert (
        axis_column(SPEC, "device_irqs") == axis_column(SPEC, "device_irqs_per_cpu") == "device_irqs_per_cpu"
    )
    with pytest.raises(ValidationError):
        axis_column(SPEC, "hz")


def test_holds_in_numbers_round_trip_through_recorded_metrics() -> None:
    h = HoldsIn(0.75, 0.55, 0.88, 24)
    recorded = {k: {"value": v, "rel_tol": 0.0} for k, v in holds_in_metrics("notify-works", h).items()}
    assert holds_in_of(recorded, "notify-works") == h
    assert holds_in_of(recorded, "timeout-required") is None
    assert h.text() == "75% (55–88%) of 24 cells"


@given(
    values=st.lists(st.sampled_from([True, False, None]), min_size=24, max_size=24),
    by=st.sampled_from([["cpus"], ["vmm", "cpus"], ["device_irqs", "vmm", "cpus"], ["device_irqs"]]),
    pin=st.sampled_from([{}, {"cpus": 8}, {"vmm": "b.yaml"}]),
)
@settings(max_examples=60, deadline=None)
def test_region_shares_count_every_region_as_its_cells_do(
    values: list[bool | None], by: list[str], pin: dict[str, object]
) -> None:
    """Against a plain count over the rows: each region's cells (judged), holds, share and interval."""
    if set(pin) & set(by):
        return
    result = _result()
    result.cells[WORKS] = pd.array(values, dtype="boolean")
    grid = region_shares(result, "notify-works", by, fixed=pin)
    cols = [axis_column(SPEC, b) for b in by]
    rows = result.cells.to_dict("records")
    for region in grid.to_dict("records"):
        mine = [
            r[WORKS]
            for r in rows
            if all(r[c] == region[c] for c in cols)
            and all(r[axis_column(SPEC, k)] == v for k, v in pin.items())
        ]
        judged = [v for v in mine if not pd.isna(v)]
        n, k = len(judged), sum(bool(v) for v in judged)
        assert (region["cells"], region["holds"]) == (n, k)
        assert region["share"] == (k / n if n else pytest.approx(np.nan, nan_ok=True))
        assert (region["low"], region["high"]) == pytest.approx(wilson_interval(k, n))
