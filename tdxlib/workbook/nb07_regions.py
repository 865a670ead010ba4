"""Notebook 07, how far does each verdict hold: a sweep across the design space (run here on a local
Dask cluster, or read from a folder ``tdxlib sweep`` wrote), read as the share of cells where each
claim holds with its interval, where in the space it holds, where it flips, and what latency costs.

A sweep run here goes to the report build's shared folder (one per tdxlib source and data version)
or, outside a build, to ``$XDG_CACHE_HOME/tdxlib/sweeps/<spec>``; cells already there are not run
again, so re-running the notebook, or a redraw of its panel, costs a read of the folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from tdxlib.argument.claims import claims, key
from tdxlib.cache import build_folder, glob_key, memo
from tdxlib.errors import ValidationError
from tdxlib.sweeps.engine import run_sweep
from tdxlib.sweeps.holds import holds_in_metrics
from tdxlib.sweeps.regions import (
    axis_column,
    claim_shares,
    flip_boundary,
    holds_in,
    latency_intervals,
    region_shares,
)
from tdxlib.sweeps.spec import load_spec, value_label
from tdxlib.sweeps.store import SweepResult, read_result
from tdxlib.workbook import region_figures
from tdxlib.workbook.ledgers import claims_for
from tdxlib.workbook.panel import Panel, View, make_panel
from tdxlib.workbook.params import RegionsParams

__all__ = [
    "RegionsParams",
    "about",
    "boundary",
    "claims_table",
    "latency",
    "regions_claims",
    "regions_metrics",
    "regions_panel",
    "regions_view",
    "shares_view",
    "sweep",
    "sweep_folder",
]


def sweep_folder(spec: str) -> Path:
    """Where a sweep run from the notebook goes: the report build's shared folder, else the user's cache."""
    name = load_spec(spec).name
    shared = build_folder()
    if shared is not None:
        return shared / "sweeps" / name
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "tdxlib" / "sweeps" / name


@memo(maxsize=4, copy=lambda r: SweepResult(r.out, r.spec, r.cells.copy()))
def _read(out: Path, stat: tuple[tuple[str, int, int], ...]) -> SweepResult:
    """A result folder read (``stat``: its files, so a folder written to is read again)."""
    return read_result(out)


def _folder(p: RegionsParams) -> Path:
    return Path(p.result) if p.result else sweep_folder(p.spec)


def _result(p: RegionsParams) -> SweepResult:
    out = _folder(p)
    return _read(out, glob_key(out / "cells", "*/*.parquet"))


def sweep(p: RegionsParams) -> SweepResult:
    """The sweep of the notebook: ``result`` read as it is, or ``spec`` run here (only the cells not yet
    in its folder) on a LocalCluster of ``workers`` processes (0: one per core), then read."""
    if not p.result:
        run_sweep(p.spec, sweep_folder(p.spec), workers=p.workers or None)
    return _result(p)


def about(result: SweepResult) -> pd.DataFrame:
    """What the sweep is: its axes and values, seeds, cells done, cells the model refused."""
    spec = result.spec
    rows = [{"what": "spec", "value": f"{spec.name}: {spec.description}".strip(": ")}]
    for axis in spec.axes:
        values = ", ".join(str(value_label(v)) for v in spec.values(axis))
        rows.append({"what": f"axis {spec.column(axis)}", "value": values})
    fixed = ", ".join(f"{k}={v}" for k, v in spec.base.items())
    rows += [
        {"what": "fixed in every cell", "value": fixed or "(Scenario defaults)"},
        {"what": "seeds per point", "value": str(spec.seeds)},
        {"what": "cells", "value": f"{len(result.cells):,} of {spec.cells:,}"},
        {"what": "cells the model refused", "value": str(int(result.cells["error"].notna().sum()))},
    ]
    return pd.DataFrame(rows)


def claims_table(result: SweepResult) -> pd.DataFrame:
    """Per claim: how far it holds (share of the cells it speaks about, Wilson interval) and what that
    makes of it across the space, beside the claim's text."""
    shares = claim_shares(result)
    text = {c.id: c.claim for c in claims()}
    found = holds_in(shares)
    rows = []
    for r in shares.to_dict("records"):
        h = found.get(str(r["claim"]))
        holds = h.text() if h else "no cell speaks to it"
        rows.append(
            {
                "claim": r["claim"],
                "holds in": holds,
                "across the space": r["verdict"],
                "says": text.get(r["claim"], ""),
            }
        )
    return pd.DataFrame(rows)


def shares_view(result: SweepResult) -> Any:
    """The share of cells each claim holds in, with its Wilson interval."""
    return region_figures.shares_chart(
        claim_shares(result), f"How far each claim holds: sweep {result.spec.name}"
    )


def _orders(result: SweepResult) -> dict[str, list[Any]]:
    spec = result.spec
    return {spec.column(a): [value_label(v) for v in spec.values(a)] for a in spec.axes}


def regions_view(p: RegionsParams, result: SweepResult | None = None) -> View:
    """The share of ``claim`` over ``x`` × ``y``, a heatmap per ``facet`` value, ``fixed`` axes pinned."""
    result = result or _result(p)
    spec = result.spec
    x, y = axis_column(spec, p.x), axis_column(spec, p.y)
    facet = axis_column(spec, p.facet) if p.facet else None
    by = [c for c in (facet, y, x) if c]
    pins = p.pins
    pooled = [
        spec.column(a)
        for a in spec.axes
        if spec.column(a) not in by and a not in pins and spec.column(a) not in pins
    ]
    grid = region_shares(result, p.claim, by, fixed=pins)
    where = ", ".join(f"{k}={v}" for k, v in pins.items())
    title = f"{p.claim}: share of cells where it holds" + (f" ({where})" if where else "")
    chart = region_figures.share_heatmaps(grid, x, y, facet, title, _orders(result))
    seen = grid[grid["cells"] > 0]
    held, cells = int(seen["holds"].sum()), int(seen["cells"].sum())
    caption = f"{held} of {cells} cells hold, in {len(seen)} of {len(grid)} regions the claim speaks to"
    caption += f"; pooled over {', '.join(pooled)}" if pooled else ""
    return View(p, grid, chart, caption)


def boundary(p: RegionsParams, result: SweepResult | None = None) -> tuple[pd.DataFrame, Any]:
    """Where ``flip_claim`` flips along ``along``, per value of ``by`` (the table and its chart)."""
    result = result or _result(p)
    along, by = axis_column(result.spec, p.along), axis_column(result.spec, p.by)
    flips = flip_boundary(result, p.flip_claim, along=along, by=by)
    chart = region_figures.boundary_chart(flips, along, by, f"Where {p.flip_claim} flips, per {by}")
    return flips, chart


def latency(result: SweepResult, metric: str = "latency_ms_p99") -> tuple[pd.DataFrame, Any]:
    """The median over cells of a latency percentile per strategy and VMM (or the first two axes), with
    its bootstrap interval."""
    names = [a for a in ("strategy", "vmm") if a in result.spec.axes] or list(result.spec.axes)[:2]
    if len(names) < 2:
        raise ValidationError("sweep axes", list(result.spec.axes), "two axes to chart latency over")
    cols = [axis_column(result.spec, a) for a in names]
    lat = latency_intervals(result, cols, metric=metric)
    title = f"{metric}: median over cells, 95% bootstrap interval"
    return lat, region_figures.latency_chart(lat, cols[0], cols[1], title)


def regions_metrics(result: SweepResult, flips: pd.DataFrame, p: RegionsParams) -> dict[str, Any]:
    """Key numbers of notebook 07: each claim's share of cells (the index's "holds in" column), the
    sweep's size, and the flip boundary per ``by`` value."""
    out: dict[str, Any] = {
        "sweep_cells": len(result.cells),
        "sweep_refused": int(result.cells["error"].notna().sum()),
    }
    for cid, h in holds_in(claim_shares(result)).items():
        out |= holds_in_metrics(cid, h)
    by = axis_column(result.spec, p.by)
    for r in flips.to_dict("records"):
        if r["flips"]:
            out[key(f"flip_first_{axis_column(result.spec, p.along)}", p.flip_claim, f"{by}={r[by]}")] = r[
                "first"
            ]
    return out


def regions_claims() -> pd.DataFrame:
    """The claims ledger at the checks' defaults (one run each): what the sweep's shares are set against."""
    return claims_for()


def regions_panel(p: RegionsParams | None = None) -> Panel:
    """07: the claim and the axes of the heatmaps (from the sweep read), the axes pinned."""
    # reason: 0.17 s to import, and report runs build no panel
    import ipywidgets as w

    p = p or RegionsParams()
    result = _result(p)
    spec = result.spec
    axes = list(spec.axes)  # by name, as the parameters give them
    pins = [f"{a}={value_label(v)}" for a in axes for v in spec.values(a)]

    def pick(name: str, value: str, blank: bool = False) -> Any:
        named = next((a for a in axes if value in (a, spec.column(a))), value)
        return w.Dropdown(options=([""] if blank else []) + axes, value=named, description=name)

    controls = {
        "x": pick("x", p.x),
        "y": pick("y", p.y),
        "facet": pick("facet", p.facet, blank=True),
        "fixed": w.SelectMultiple(
            options=pins, value=tuple(v for v in p.fixed if v in pins), description="pinned"
        ),
    }
    return make_panel(
        "Where does it hold?", p, lambda q: regions_view(q, result), ("claim", *controls), controls
    )
