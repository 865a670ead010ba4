"""The workbook's figures: one function per chart, taking model output and returning an altair chart.

Notebooks call these and hand the chart to :func:`tdxlib.charts.show`; widgets call them again on
every redraw. Each function takes plain rows or a DataFrame so it can be tested without a kernel.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import altair as alt
import pandas as pd

import tdxlib.charts  # noqa: F401  (registers the theme)

_ROLE_ORDER = ["exception", "isa-legacy", "pic-cascade", "device", "syscall", "system", "unused-system"]
_ROLE_COLOURS = ["#999999", "#CC79A7", "#CC79A7", "#56B4E9", "#F0E442", "#D55E00", "#E69F00"]
_VERDICT_COLOURS = {"holds": "#009E73", "fails": "#D55E00", "depends": "#E69F00"}


def _frame(rows: pd.DataFrame | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    return rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))


def vector_space(rows: Iterable[Mapping[str, Any]], title: str) -> alt.Chart:
    """The 256 IDT vectors of one layout as a 16×16 grid coloured by role (``VectorLayout.describe``)."""
    df = _frame(rows).copy()
    df["row"] = df["vector"] // 16
    df["col"] = df["vector"] % 16
    df["row_label"] = df["row"].map(lambda r: f"0x{r:x}0")
    return (
        alt.Chart(df, title=title)
        .mark_rect(stroke="white", strokeWidth=1)
        .encode(
            x=alt.X(
                "col:O", title="low nibble", axis=alt.Axis(labelExpr="format(datum.value, 'x')", labelAngle=0)
            ),
            y=alt.Y("row_label:O", title="vector", sort=None),
            color=alt.Color(
                "role:N",
                scale=alt.Scale(domain=_ROLE_ORDER, range=_ROLE_COLOURS),
                legend=alt.Legend(title="role"),
            ),
            tooltip=["hex:N", "role:N", "name:N", "how:N"],
        )
        .properties(width=360, height=360)
    )


def budget_lines(
    rows: pd.DataFrame | Iterable[Mapping[str, Any]], y: str, y_title: str, title: str
) -> alt.Chart:
    """One line per notify mechanism: ``y`` against the number of CPUs (log scale)."""
    df = _frame(rows)
    return (
        alt.Chart(df, title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X("ncpus:Q", scale=alt.Scale(type="log", base=2), title="vCPUs"),
            y=alt.Y(f"{y}:Q", title=y_title),
            color=alt.Color("mechanism:N", title="notify mechanism"),
            tooltip=["mechanism:N", "ncpus:Q", f"{y}:Q", "layout:N"],
        )
    )


def headroom_bars(rows: pd.DataFrame | Iterable[Mapping[str, Any]], title: str) -> alt.Chart:
    """Device IRQs a guest can hold while every CPU can still go offline, per mechanism."""
    df = _frame(rows)
    return (
        alt.Chart(df, title=title)
        .mark_bar()
        .encode(
            x=alt.X("limit_per_cpu:Q", title="device IRQs per vCPU before a CPU offline is refused"),
            y=alt.Y("mechanism:N", title=None),
            color=alt.Color("mechanism:N", legend=None),
            row=alt.Row("ncpus:O", title="vCPUs"),
            tooltip=["mechanism:N", "ncpus:Q", "limit:Q", "limit_per_cpu:Q"],
        )
        .properties(height=60)
    )


def delivery_heatmap(rows: pd.DataFrame | Iterable[Mapping[str, Any]], value: str, title: str) -> alt.Chart:
    """Strategy × VMM profile matrix coloured by ``value`` (e.g. the share of notifications lost)."""
    df = _frame(rows)
    base = alt.Chart(df, title=title).encode(
        x=alt.X("vmm:N", title="VMM profile", axis=alt.Axis(labelAngle=-30)),
        y=alt.Y("strategy:N", title="guest strategy"),
    )
    cells = base.mark_rect().encode(
        color=alt.Color(f"{value}:Q", scale=alt.Scale(scheme="orangered", domain=[0, 1]), title=value),
        tooltip=list(df.columns),
    )
    text = base.mark_text(fontSize=11).encode(
        text=alt.Text(f"{value}:Q", format=".0%"),
        color=alt.condition(f"datum['{value}'] > 0.5", alt.value("white"), alt.value("black")),
    )
    return (cells + text).properties(width=520, height=220)


def event_timeline(events: pd.DataFrame, title: str, kinds: Sequence[str] | None = None) -> alt.Chart:
    """Events of one simulation run on a time axis, one lane per event kind."""
    df = events if kinds is None else events[events["kind"].isin(list(kinds))]
    return (
        alt.Chart(df, title=title)
        .mark_tick(thickness=2, size=14)
        .encode(
            x=alt.X("time_s:Q", title="time (s)"),
            y=alt.Y("kind:N", title=None),
            color=alt.Color("kind:N", legend=None),
            tooltip=[
                c for c in ("time_s", "kind", "quote_id", "cpu", "apic_id", "vector", "detail") if c in df
            ],
        )
        .properties(width=620, height=alt.Step(22))
    )


def latency_lines(rows: pd.DataFrame | Iterable[Mapping[str, Any]], title: str) -> alt.Chart:
    """Quote latency (p50 and p99) against the poll interval, one line per series."""
    df = _frame(rows)
    long = df.melt(
        id_vars=[c for c in df.columns if c not in ("latency_p50_ms", "latency_p99_ms")],
        value_vars=["latency_p50_ms", "latency_p99_ms"],
        var_name="percentile",
        value_name="latency_ms",
    )
    long["percentile"] = long["percentile"].str.replace("latency_", "").str.replace("_ms", "")
    return (
        alt.Chart(long, title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X("poll_ms:Q", scale=alt.Scale(type="log"), title="poll interval (ms)"),
            y=alt.Y("latency_ms:Q", title="quote latency (ms)"),
            color=alt.Color("series:N", title=None),
            strokeDash=alt.StrokeDash("percentile:N"),
            tooltip=list(long.columns),
        )
    )


def verdict_table(ledger: pd.DataFrame, title: str = "The claims ledger") -> alt.Chart:
    """The claims ledger as a chart-table: one row per claim, coloured by verdict."""
    df = ledger[["id", "author", "verdict"]].copy()
    base = alt.Chart(df, title=title).encode(y=alt.Y("id:N", title=None, sort=None))
    badge = base.mark_rect().encode(
        x=alt.value(0),
        x2=alt.value(80),
        color=alt.Color(
            "verdict:N",
            scale=alt.Scale(domain=list(_VERDICT_COLOURS), range=list(_VERDICT_COLOURS.values())),
        ),
    )
    label = base.mark_text(align="left", dx=4, color="white").encode(x=alt.value(0), text="verdict:N")
    author = base.mark_text(align="left").encode(x=alt.value(96), text="author:N")
    return (badge + label + author).properties(width=420, height=alt.Step(20))
