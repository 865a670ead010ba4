"""The charts of notebook 07: how far each verdict holds across a sweep.

One function per chart, taking the frames of :mod:`tdxlib.sweeps.regions` and returning an altair
chart: the share of cells each claim holds in with its Wilson interval, the share over two axes as
faceted heatmaps, where a claim flips along an axis, and latency medians with bootstrap intervals.
Shares run from the colour of "fails" (0) through "depends" to "holds" (1); a cell where the claim
says nothing is grey.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from tdxlib.workbook.charts import layer
from tdxlib.workbook.charts import tooltips as _tips  # importing charts registers the theme
from tdxlib.workbook.palette import PALETTE, VERDICT_COLOURS

__all__ = ["boundary_chart", "latency_chart", "share_heatmaps", "shares_chart"]

#: Colour of a share: fails (0) -> depends (0.5) -> holds (1).
_SHARE_SCALE = alt.Scale(
    domain=[0.0, 0.5, 1.0],
    range=[VERDICT_COLOURS["fails"], VERDICT_COLOURS["depends"], VERDICT_COLOURS["holds"]],
)


def _pct(values: pd.Series) -> list[str]:
    return ["n/a" if pd.isna(v) else f"{100 * float(v):.0f}%" for v in values]


def shares_chart(shares: pd.DataFrame, title: str) -> alt.TopLevelMixin:
    """One row per claim: the share of cells it holds in (a point) and its Wilson interval (a bar)."""
    df = shares[shares["cells"] > 0].copy()
    df["share_text"] = _pct(df["share"])
    order = list(df["claim"])
    y = alt.Y(field="claim", type="nominal", sort=order, title=None)
    tips = _tips(["claim:N", "cells:Q", "holds:Q", "share_text:N", "low:Q", "high:Q", "verdict:N"])
    interval = (
        alt.Chart()
        .mark_rule(strokeWidth=3, color="#999999")
        .encode(x=alt.X(field="low", type="quantitative", title="share of cells where it holds",
                        scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
                x2="high", y=y, tooltip=tips)
    )  # fmt: skip
    point = (
        alt.Chart()
        .mark_point(filled=True, size=90)
        .encode(
            x=alt.X(field="share", type="quantitative"),
            y=y,
            color=alt.Color(field="share", type="quantitative", scale=_SHARE_SCALE, legend=None),
            tooltip=tips,
        )
    )
    return layer(df, interval, point, title=title).properties(width=420, height=alt.Step(22))


def share_heatmaps(
    grid: pd.DataFrame, x: str, y: str, facet: str | None, title: str, orders: dict[str, list[Any]]
) -> alt.TopLevelMixin:
    """The share of cells holding over ``x`` × ``y`` (one heatmap per value of ``facet``), in the
    axes' ``orders``; cells labelled with the share, grey "n/a" where the claim says nothing."""
    df = grid.copy()
    df["label"] = _pct(df["share"])
    df["share"] = df["share"].astype(float).where(df["share"].notna(), None)
    for name in (x, y, *([facet] if facet else [])):
        df[name] = df[name].astype(str)
    shown = [c for c in df.columns if c != "label"]
    base = alt.Chart().encode(
        x=alt.X(field=x, type="ordinal", sort=[str(v) for v in orders[x]], axis=alt.Axis(labelAngle=-30)),
        y=alt.Y(field=y, type="ordinal", sort=[str(v) for v in orders[y]]),
    )
    empty = base.mark_rect(color="#eeeeee").encode(tooltip=_tips(shown))
    cells = (
        base.mark_rect()
        .encode(
            color=alt.Color(field="share", type="quantitative", scale=_SHARE_SCALE, title="holds in"),
            tooltip=_tips(shown),
        )
        .transform_filter("isValid(datum['share'])")
    )
    text = base.mark_text(fontSize=10).encode(text=alt.Text(field="label", type="nominal"))
    sized = alt.layer(empty, cells, text).properties(width=alt.Step(46), height=alt.Step(24))
    if not facet:
        return layer(df, empty, cells, text, title=title).properties(width=alt.Step(46), height=alt.Step(24))
    column = alt.Column(field=facet, type="ordinal", sort=[str(v) for v in orders[facet]], title=facet)
    return alt.layer(sized, data=df).facet(column=column, title=title)


def boundary_chart(flips: pd.DataFrame, along: str, by: str, title: str) -> alt.TopLevelMixin:
    """Per value of ``by``: the bracket along ``along`` in which the claim flips (from the last value
    on one side to the first on the other)."""
    df = flips[flips["flips"]].copy()
    df[by] = df[by].astype(str)
    df["last"] = pd.to_numeric(df["last"])
    df["first"] = pd.to_numeric(df["first"])
    y = alt.Y(field=by, type="ordinal", title=by, sort=list(df[by]))
    tips = _tips([f"{by}:N", "last:Q", "first:Q", "share_last:Q", "share_first:Q", "direction:N"])
    bracket = (
        alt.Chart()
        .mark_bar(height=10, color=PALETTE[0], opacity=0.6)
        .encode(x=alt.X(field="last", type="quantitative", title=f"{along} at which it flips"), x2="first",
                y=y, tooltip=tips)
    )  # fmt: skip
    ends = alt.Chart().mark_tick(thickness=2, color=PALETTE[0]).encode(x="first:Q", y=y, tooltip=tips)
    return layer(df, bracket, ends, title=title).properties(width=420, height=alt.Step(28))


def latency_chart(lat: pd.DataFrame, x: str, colour: str, title: str) -> alt.TopLevelMixin:
    """The median over cells of a latency percentile per ``x`` and ``colour`` (a point), with its
    bootstrap interval (a rule); log scale."""
    df = lat[lat["cells"] > 0].copy()
    df[x] = df[x].astype(str)
    df[colour] = df[colour].astype(str)
    enc: dict[str, Any] = {
        "x": alt.X(field=x, type="nominal", sort=list(dict.fromkeys(df[x])), axis=alt.Axis(labelAngle=-30)),
        "xOffset": alt.XOffset(field=colour, type="nominal"),
        "color": alt.Color(field=colour, type="nominal", scale=alt.Scale(range=list(PALETTE))),
        "tooltip": _tips([f"{x}:N", f"{colour}:N", "cells:Q", "median:Q", "low:Q", "high:Q"]),
    }
    scale = alt.Scale(type="log")
    rule = alt.Chart().mark_rule().encode(y=alt.Y(field="low", type="quantitative", scale=scale,
                                                  title="latency (ms)"), y2="high", **enc)  # fmt: skip
    point = alt.Chart().mark_point(filled=True).encode(y=alt.Y(field="median", type="quantitative"), **enc)
    return layer(df, rule, point, title=title).properties(width=alt.Step(70), height=260)
