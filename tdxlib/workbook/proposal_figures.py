"""Charts of proposal evaluations (``tdxlib.argument.proposals.evaluate`` / ``evaluate_all`` frames).

Each function takes the frame and returns an altair chart for :func:`tdxlib.workbook.charts.show`; verdict
colours match the annotated HTML (``tdxlib.argument.proposals.annotate.VERDICT_COLOURS``).
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from tdxlib.argument.proposals.annotate import VERDICT_COLOURS
from tdxlib.argument.proposals.evaluate import VERDICTS, worst_per_group
from tdxlib.errors import ValidationError
from tdxlib.workbook.charts import layer
from tdxlib.workbook.charts import tooltips as _tips  # importing charts registers the theme

__all__ = ["comparison_grid", "latency_points", "verdict_grid"]

_SCALE = alt.Scale(domain=list(VERDICTS), range=[VERDICT_COLOURS[v] for v in VERDICTS])


def _need(frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing or frame.empty:
        raise ValidationError(
            "evaluation frame", f"columns missing {missing}" if missing else "empty", "evaluate() rows"
        )


def _cells(evaluation: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Worst verdict and summed numbers per ``by`` group (over seeds)."""
    g = evaluation.groupby(by, sort=False)
    out = g.agg(
        lost=("lost_notifications", "sum"),
        hung=("hung", "sum"),
        completed=("completed", "sum"),
        quotes=("quotes", "sum"),
        p50=("latency_p50_ms", "median"),
        vectors=("vectors_consumed", "max"),
        refused=("offline_refused", "sum"),
    ).reset_index()
    out["verdict"] = worst_per_group(evaluation, by).to_numpy()
    out["label"] = np.where(out["lost"] > 0, "lost " + out["lost"].astype(str), "")
    out["p50"] = out["p50"].round(0)
    return out


def verdict_grid(evaluation: pd.DataFrame, title: str) -> alt.LayerChart:
    """One proposal: scenario × VMM cells coloured by verdict, lost notifications written in."""
    _need(evaluation, ("scenario", "vmm", "verdict", "lost_notifications"))
    df = _cells(evaluation, ["scenario", "vmm"])
    order_s = list(dict.fromkeys(evaluation["scenario"]))
    order_v = list(dict.fromkeys(evaluation["vmm"]))
    base = alt.Chart().encode(  # the data goes on the layer: see charts.layer
        x=alt.X(
            field="vmm", type="nominal", sort=order_v, title="VMM", axis=alt.Axis(labelAngle=0, grid=False)
        ),
        y=alt.Y(field="scenario", type="nominal", sort=order_s, title=None, axis=alt.Axis(grid=False)),
    )
    rect = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.Color(field="verdict", type="nominal", scale=_SCALE, legend=alt.Legend(title="verdict")),
        tooltip=_tips(
            [
                "scenario:N",
                "vmm:N",
                "verdict:N",
                "completed:Q",
                "quotes:Q",
                "lost:Q",
                "hung:Q",
                "p50:Q",
                "vectors:Q",
            ]
        ),
    )
    text = base.mark_text(fontSize=11).encode(text=alt.Text(field="label", type="nominal"))
    return layer(df, rect, text).properties(title=title, width=alt.Step(110), height=alt.Step(30))


def comparison_grid(evaluation: pd.DataFrame, title: str) -> alt.LayerChart:
    """Several proposals (an ``evaluate_all`` frame): proposal × (scenario, VMM) coloured by verdict."""
    _need(evaluation, ("proposal", "scenario", "vmm", "verdict"))
    df = _cells(evaluation, ["proposal", "scenario", "vmm"])
    df["case"] = df["scenario"] + " · " + df["vmm"]
    order_p = list(dict.fromkeys(evaluation["proposal"]))
    order_c = list(dict.fromkeys(evaluation["scenario"] + " · " + evaluation["vmm"]))
    base = alt.Chart(df, title=title).encode(
        x=alt.X(
            field="proposal",
            type="nominal",
            sort=order_p,
            title=None,
            axis=alt.Axis(labelAngle=-30, grid=False),
        ),
        y=alt.Y(field="case", type="nominal", sort=order_c, title=None, axis=alt.Axis(grid=False)),
    )
    rect = base.mark_rect(stroke="white", strokeWidth=1).encode(
        color=alt.Color(field="verdict", type="nominal", scale=_SCALE, legend=alt.Legend(title="verdict")),
        tooltip=_tips(
            ["proposal:N", "scenario:N", "vmm:N", "verdict:N", "lost:Q", "hung:Q", "p50:Q", "vectors:Q"]
        ),
    )
    return rect.properties(width=alt.Step(70), height=alt.Step(14))


def latency_points(evaluation: pd.DataFrame, title: str) -> alt.Chart:
    """Median and p99 latency of completed quotes per scenario and VMM (log scale; runs with no
    completed quote are left out). Each VMM has its own lane in a scenario's row, so equal latencies
    of two VMMs do not hide one under the other."""
    _need(evaluation, ("scenario", "vmm", "latency_p50_ms", "latency_p99_ms"))
    long = evaluation.melt(
        id_vars=["scenario", "vmm"],
        value_vars=["latency_p50_ms", "latency_p99_ms"],
        var_name="percentile",
        value_name="latency_ms",
    ).dropna(subset=["latency_ms"])
    long["percentile"] = long["percentile"].map({"latency_p50_ms": "p50", "latency_p99_ms": "p99"})
    return (
        alt.Chart(long, title=title)
        .mark_point(filled=True)
        .encode(
            x=alt.X(
                field="latency_ms",
                type="quantitative",
                scale=alt.Scale(type="log"),
                title="latency of completed quotes (ms)",
            ),
            y=alt.Y(
                field="scenario", type="nominal", sort=list(dict.fromkeys(evaluation["scenario"])), title=None
            ),
            yOffset=alt.YOffset(field="vmm", type="nominal"),
            color=alt.Color(field="vmm", type="nominal", title="VMM"),
            shape=alt.Shape(field="percentile", type="nominal"),
            tooltip=[
                *_tips(["scenario:N", "vmm:N", "percentile:N"]),
                alt.Tooltip(field="latency_ms", type="quantitative", format=".0f"),
            ],
        )
        .properties(width=460)
    )
