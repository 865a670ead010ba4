"""The workbook's figures: one function per chart, taking model output and returning an altair chart.

Notebooks call these and hand the chart to :func:`tdxlib.workbook.charts.show`; widgets call them again on
every redraw. Each function takes plain rows or a DataFrame so it can be tested without a kernel.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import altair as alt
import pandas as pd

from tdxlib.workbook.charts import layer
from tdxlib.workbook.charts import tooltips as _tips  # importing charts registers the theme
from tdxlib.workbook.palette import VERDICT_COLOURS

_ROLE_ORDER = ["exception", "isa-legacy", "pic-cascade", "device", "syscall", "system", "unused-system"]
_ROLE_COLOURS = ["#999999", "#CC79A7", "#CC79A7", "#56B4E9", "#F0E442", "#D55E00", "#E69F00"]


def _frame(rows: pd.DataFrame | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    return rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))


def vector_space(rows: pd.DataFrame | Iterable[Mapping[str, Any]], title: str) -> alt.Chart:
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
                field="col",
                type="ordinal",
                title="low nibble",
                axis=alt.Axis(labelExpr="format(datum.value, 'x')", labelAngle=0),
            ),
            y=alt.Y(field="row_label", type="ordinal", title="vector", sort=None),
            color=alt.Color(
                field="role",
                type="nominal",
                scale=alt.Scale(domain=_ROLE_ORDER, range=_ROLE_COLOURS),
                legend=alt.Legend(title="role"),
            ),
            tooltip=_tips(["hex:N", "role:N", "name:N", "how:N"]),
        )
        .properties(width=360, height=360)
    )


def budget_lines(
    rows: pd.DataFrame | Iterable[Mapping[str, Any]],
    y: str,
    y_title: str,
    title: str,
    *,
    log_y: bool = False,
) -> alt.Chart:
    """One line per notify mechanism: ``y`` against the number of CPUs (log scale; ``log_y`` for y too)."""
    df = _frame(rows)
    if log_y:
        df = df[df[y] > 0]
    y_scale = alt.Scale(type="log", base=2) if log_y else alt.Undefined
    return (
        alt.Chart(df, title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X(field="ncpus", type="quantitative", scale=alt.Scale(type="log", base=2), title="vCPUs"),
            y=alt.Y(field=y, type="quantitative", title=y_title, scale=y_scale),
            color=alt.Color(field="mechanism", type="nominal", title="notify mechanism"),
            tooltip=_tips(["mechanism:N", "ncpus:Q", f"{y}:Q", "layout:N"]),
        )
    )


def headroom_bars(rows: pd.DataFrame | Iterable[Mapping[str, Any]], title: str) -> alt.Chart:
    """Device IRQs a guest can hold while every CPU can still go offline, per mechanism."""
    df = _frame(rows)
    return (
        alt.Chart(df, title=title)
        .mark_bar()
        .encode(
            x=alt.X(
                field="limit_per_cpu",
                type="quantitative",
                title="device IRQs per vCPU before a CPU offline is refused",
            ),
            y=alt.Y(field="mechanism", type="nominal", title=None),
            color=alt.Color(field="mechanism", type="nominal", legend=None),
            row=alt.Row(field="ncpus", type="ordinal", title="vCPUs"),
            tooltip=_tips(["mechanism:N", "ncpus:Q", "limit:Q", "limit_per_cpu:Q"]),
        )
        .properties(height=60)
    )


def delivery_heatmap(
    rows: pd.DataFrame | Iterable[Mapping[str, Any]], value: str, title: str
) -> alt.TopLevelMixin:
    """Strategy × VMM profile matrix coloured by ``value`` (a share in 0..1; NaN cells grey, "n/a")."""
    df = _frame(rows).copy()
    df["label"] = [("n/a" if pd.isna(v) else f"{v:.0%}") for v in df[value]]
    df[value] = df[value].astype(float).where(df[value].notna(), None)
    x_order = list(dict.fromkeys(df["vmm"]))
    y_order = list(dict.fromkeys(df["strategy"]))
    base = alt.Chart().encode(  # the data goes on the layer: see charts.layer
        x=alt.X(
            field="vmm",
            type="nominal",
            title="VMM profile",
            sort=x_order,
            axis=alt.Axis(labelAngle=-30, grid=False),
        ),
        y=alt.Y(
            field="strategy", type="nominal", title="guest strategy", sort=y_order, axis=alt.Axis(grid=False)
        ),
    )
    shown = [c for c in df.columns if c != "label"]
    empty = base.mark_rect(color="#eeeeee").encode(tooltip=_tips(shown))
    cells = (
        base.mark_rect()
        .encode(
            color=alt.Color(
                field=value,
                type="quantitative",
                scale=alt.Scale(scheme="orangered", domain=[0, 1]),
                title=value,
            ),
            tooltip=_tips(shown),
        )
        .transform_filter(f"isValid(datum['{value}'])")
    )
    text = base.mark_text(fontSize=11).encode(
        text=alt.Text(field="label", type="nominal"),
        color=alt.ColorValue("black", condition={"test": f"datum['{value}'] > 0.5", "value": "white"}),
    )
    return layer(df, empty, cells, text, title=title).properties(width=alt.Step(64), height=alt.Step(32))


def event_timeline(events: pd.DataFrame, title: str, kinds: Sequence[str] | None = None) -> alt.Chart:
    """Events of one simulation run on a time axis, one lane per event kind."""
    df = events if kinds is None else events[events["kind"].isin(list(kinds))]
    return (
        alt.Chart(df, title=title)
        .mark_tick(thickness=2, size=14)
        .encode(
            x=alt.X(field="time_s", type="quantitative", title="time (s)"),
            y=alt.Y(field="kind", type="nominal", title=None),
            color=alt.Color(field="kind", type="nominal", legend=None),
            tooltip=_tips(
                c for c in ("time_s", "kind", "quote_id", "cpu", "apic_id", "vector", "detail") if c in df
            ),
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
            x=alt.X(
                field="poll_ms", type="quantitative", scale=alt.Scale(type="log"), title="poll interval (ms)"
            ),
            y=alt.Y(field="latency_ms", type="quantitative", title="quote latency (ms)"),
            color=alt.Color(field="series", type="nominal", title=None),
            strokeDash=alt.StrokeDash(field="percentile", type="nominal"),
            tooltip=_tips(long.columns),
        )
    )


def verdict_table(ledger: pd.DataFrame, title: str = "The claims ledger") -> alt.TopLevelMixin:
    """The claims ledger as a chart-table: one row per claim, coloured by verdict."""
    df = ledger[["id", "author", "verdict"]].copy()
    base = alt.Chart().encode(  # the data goes on the layer: see charts.layer
        y=alt.Y(
            field="id",
            type="nominal",
            title=None,
            sort=None,
            axis=alt.Axis(grid=False),
            scale=alt.Scale(paddingInner=0.2),
        )
    )
    badge = base.mark_rect().encode(
        x=alt.XValue(0),
        x2=alt.X2Value(80),
        color=alt.Color(
            field="verdict",
            type="nominal",
            scale=alt.Scale(domain=list(VERDICT_COLOURS), range=list(VERDICT_COLOURS.values())),
        ),
    )
    label = base.mark_text(align="left", dx=4, color="white").encode(
        x=alt.XValue(0), text=alt.Text(field="verdict", type="nominal")
    )
    author = base.mark_text(align="left").encode(
        x=alt.XValue(96), text=alt.Text(field="author", type="nominal")
    )
    return layer(df, badge, label, author, title=title).properties(width=420, height=alt.Step(20))


def era_grid(eras: pd.DataFrame, title: str = "The claims by era") -> alt.TopLevelMixin:
    """Claims × kernel profiles (``nb01_question.era_frame``), each cell coloured by the verdict there."""
    order = list(dict.fromkeys(eras["kernel"]))
    base = alt.Chart().encode(  # the data goes on the layer: see charts.layer
        y=alt.Y(field="id", type="nominal", title=None, sort=None, axis=alt.Axis(grid=False, ticks=False)),
        x=alt.X(
            field="kernel",
            type="nominal",
            title=None,
            sort=order,
            axis=alt.Axis(orient="top", labelAngle=0, grid=False, ticks=False, domain=False),
        ),
    )
    cell = base.mark_rect(stroke="white").encode(
        color=alt.Color(
            field="verdict",
            type="nominal",
            scale=alt.Scale(domain=list(VERDICT_COLOURS), range=list(VERDICT_COLOURS.values())),
        ),
        tooltip=_tips(["id:N", "kernel:N", "verdict:N"]),
    )
    label = base.mark_text(color="white").encode(text=alt.Text(field="verdict", type="nominal"))
    return layer(eras, cell, label, title=title).properties(width=110 * len(order), height=alt.Step(20))


def vector_spaces(rows: pd.DataFrame, title: str) -> alt.HConcatChart:
    """Several layouts' vector grids side by side (``workbook.vector_space_frame``, one per ``variant``)."""
    charts = [
        vector_space(grp.drop(columns="variant"), str(name)).properties(width=240, height=240)
        for name, grp in rows.groupby("variant", sort=False)
    ]
    return alt.hconcat(*charts, title=title).resolve_scale(color="shared")


_MECHANISMS = ["none", "system-vector", "dynamic"]
#: Line widths per mechanism, drawn in this order (widest first): where the curves coincide (they
#: differ by one vector per vCPU at most) each still shows, as a band around the next.
_MECHANISM_WIDTHS = (7.0, 4.0, 1.8)


def _mechanism_lines(data: pd.DataFrame, base: alt.Chart, title: str, **mark: Any) -> alt.LayerChart:
    """One line layer per notify mechanism, widest first (a line mark's width cannot vary by group:
    the theme's line width would win), the data given once on the layer."""
    lines = [
        base.mark_line(strokeWidth=width, **mark).transform_filter(alt.datum.mechanism == mech)
        for mech, width in zip(_MECHANISMS, _MECHANISM_WIDTHS, strict=True)
    ]
    return layer(data, *lines, title=title)


def load_curves(
    full: pd.DataFrame, band: pd.DataFrame | None, selected: float | None, title: str
) -> alt.HConcatChart:
    """Against device IRQs per vCPU: vectors left on the fullest vCPU (whole range), and vCPUs that
    could not go offline, zoomed on the band where the mechanisms differ (``workbook.band_frame``)."""
    color = alt.Color(field="mechanism", type="nominal", title="notify mechanism", sort=_MECHANISMS)
    tip = ["mechanism:N", "device_irqs:Q", "load_per_cpu:Q", "left_min:Q", "offline_refused:Q", "ncpus:Q"]
    left_base = alt.Chart().encode(
        x=alt.X(field="load_per_cpu", type="quantitative", title="device IRQs per vCPU"),
        y=alt.Y(field="left_min", type="quantitative", title="vectors left"),
        color=color,
        strokeDash=alt.StrokeDash(field="mechanism", type="nominal", sort=_MECHANISMS, legend=None),
        tooltip=_tips(tip),
    )
    left = _mechanism_lines(_frame(full), left_base, "vectors left on the fullest vCPU").properties(
        width=280, height=220
    )
    if selected is not None:
        rule = (
            alt.Chart(pd.DataFrame({"load_per_cpu": [float(selected)]}))
            .mark_rule(color="#555555", strokeDash=[4, 3])
            .encode(x=alt.X(field="load_per_cpu", type="quantitative"))
        )
        left = left + rule
    if band is None:
        return alt.hconcat(left, title=title)
    zoom_base = alt.Chart().encode(
        x=alt.X(
            field="load_per_cpu",
            type="quantitative",
            title="device IRQs per vCPU",
            scale=alt.Scale(zero=False),
        ),
        y=alt.Y(field="offline_refused", type="quantitative", title="vCPUs refused"),
        color=color,
        tooltip=_tips(tip),
    )
    zoom = _mechanism_lines(
        _frame(band), zoom_base, "vCPUs that cannot go offline (zoom)", interpolate="step-after"
    ).properties(width=280, height=220)
    return alt.hconcat(left, zoom, title=title)


def capture_bars(per_cpu: pd.DataFrame, title: str) -> alt.Chart:
    """Per CPU of a capture: device vectors available now and with the reserved vector.

    Up to 64 CPUs, a pair of bars per CPU; beyond that bars would be thinner than a pixel, so each case
    is a step line across the CPU numbers (sockets and loaded CPUs still show as steps and dips).
    """
    df = per_cpu[["cpu", "available", "available_reserved", "can_offline", "can_offline_reserved"]]
    long = df.melt(
        id_vars=["cpu", "can_offline", "can_offline_reserved"],
        value_vars=["available", "available_reserved"],
        var_name="case",
        value_name="vectors",
    )
    long["case"] = long["case"].map({"available": "now", "available_reserved": "with reserved vector"})
    y = alt.Y(field="vectors", type="quantitative", title="device vectors available")
    colour = alt.Color(field="case", type="nominal", title=None)
    if len(df) <= 64:
        return (
            alt.Chart(long, title=title)
            .mark_bar()
            .encode(
                x=alt.X(field="cpu", type="ordinal", title="CPU"),
                xOffset=alt.XOffset(field="case", type="nominal"),
                y=y,
                color=colour,
                tooltip=_tips(long.columns),
            )
            .properties(width=alt.Step(18), height=220)
        )
    return (
        alt.Chart(long, title=title)
        .mark_line(interpolate="step-after", strokeWidth=1.5)
        .encode(
            x=alt.X(field="cpu", type="quantitative", title="CPU"),
            y=y.scale(zero=False),
            color=colour,
            strokeDash=alt.StrokeDash(field="case", type="nominal"),
        )
        .properties(width=600, height=220)
    )


_HOTPLUG_COLOURS = {
    "setup_notify": "#0072B2",
    "reregister": "#0072B2",
    "quote_issue": "#999999",
    "quote_done": "#009E73",
    "inject": "#56B4E9",
    "irq_handled": "#009E73",
    "spurious": "#D55E00",
    "misdirected": "#D55E00",
    "dropped_offline": "#D55E00",
    "pending": "#E69F00",
    "cpu_offline": "#000000",
    "cpu_online": "#000000",
    "notify_migrate": "#CC79A7",
}


def hotplug_timeline(events: pd.DataFrame, windows: pd.DataFrame, title: str) -> alt.TopLevelMixin:
    """Events of a hotplug run, one lane per kind; loss windows (migrated, not re-registered) shaded."""
    order = [k for k in _HOTPLUG_COLOURS if k in set(events["kind"])]
    cols = [c for c in ("time_s", "kind", "quote_id", "cpu", "apic_id", "vector", "detail") if c in events]
    df = events[cols].copy()
    for c in ("quote_id", "cpu", "apic_id", "vector"):
        if c in df:
            df[c] = df[c].astype("float")
    if "detail" in df:
        df["detail"] = df["detail"].astype(str)
    ticks = (
        alt.Chart(df)
        .mark_tick(thickness=2, size=14)
        .encode(
            x=alt.X(field="time_s", type="quantitative", title="time (s)"),
            y=alt.Y(field="kind", type="nominal", title=None, sort=order),
            color=alt.Color(
                field="kind",
                type="nominal",
                scale=alt.Scale(domain=order, range=[_HOTPLUG_COLOURS[k] for k in order]),
                legend=None,
            ),
            tooltip=_tips(cols),
        )
    )
    win = windows.copy()
    win["label"] = [
        f"{w:.0f} ms" + ("" if c else ", never closed")
        for w, c in zip(win["length_ms"], win["closed"], strict=True)
    ]
    shade = (
        alt.Chart(win)
        .mark_rect(color="#D55E00", opacity=0.18)
        .encode(
            x=alt.X(field="start_s", type="quantitative"),
            x2=alt.X2(field="end_s"),
            tooltip=_tips(["start_s:Q", "end_s:Q", "label:N"]),
        )
    )
    return alt.layer(shade, ticks, title=title).properties(width=620, height=alt.Step(20))


def latency_chart(
    sweep: pd.DataFrame, reference: pd.DataFrame | None, title: str, percentile: str = "p50"
) -> alt.TopLevelMixin:
    """Quote latency against the poll interval, one line per HZ, interrupt delivery as dashed rules."""
    y = f"latency_{percentile}_ms"
    lines = (
        alt.Chart(sweep)
        .mark_line(point=True)
        .encode(
            x=alt.X(
                field="poll_ms", type="quantitative", scale=alt.Scale(type="log"), title="poll interval (ms)"
            ),
            y=alt.Y(field=y, type="quantitative", title=f"quote latency {percentile} (ms)"),
            color=alt.Color(
                field="series", type="nominal", title=None, sort=list(dict.fromkeys(sweep["series"]))
            ),
            tooltip=_tips(["series:N", "poll_ms:Q", f"{y}:Q", "wakeups_per_quote:Q"]),
        )
    )
    layers: list[Any] = [lines]
    if reference is not None and len(reference):
        ref = reference.drop_duplicates(subset=[y]).copy()
        layers.append(
            alt.Chart(ref)
            .mark_rule(strokeDash=[5, 4], color="#000000")
            .encode(y=alt.Y(f"{y}:Q"), tooltip=_tips(["series:N", f"{y}:Q"]))
        )
    return alt.layer(*layers, title=title)


def wakeup_lines(sweep: pd.DataFrame, title: str) -> alt.Chart:
    """Wake-ups that found the quote still in flight, per quote, against the poll interval (log-log)."""
    df = sweep[sweep["wasted_wakeups_per_quote"] > 0]
    return (
        alt.Chart(df, title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X(
                field="poll_ms", type="quantitative", scale=alt.Scale(type="log"), title="poll interval (ms)"
            ),
            y=alt.Y(
                field="wasted_wakeups_per_quote",
                type="quantitative",
                scale=alt.Scale(type="log"),
                title="wasted wake-ups per quote",
            ),
            color=alt.Color(
                field="series", type="nominal", title=None, sort=list(dict.fromkeys(df["series"]))
            ),
            tooltip=_tips(["series:N", "poll_ms:Q", "wasted_wakeups_per_quote:Q", "wakeups_per_quote:Q"]),
        )
    )


def mechanism_timeline(events: pd.DataFrame, title: str) -> alt.Chart:
    """A few GetQuote round trips: one lane per event kind, coloured by quote (the 01 walk-through)."""
    cols = [c for c in ("time_s", "kind", "quote_id", "cpu", "vector", "detail") if c in events]
    df = events[cols].copy()
    for c in ("quote_id", "cpu", "vector"):
        if c in df:
            df[c] = df[c].astype("float")
    if "detail" in df:
        df["detail"] = df["detail"].astype(str)
    order = list(dict.fromkeys(df["kind"]))
    df["quote"] = ["setup" if pd.isna(q) else f"quote {int(q)}" for q in df["quote_id"]]
    return (
        alt.Chart(df, title=title)
        .mark_point(filled=True, size=90, shape="diamond")
        .encode(
            x=alt.X(field="time_s", type="quantitative", title="time (s)"),
            y=alt.Y(field="kind", type="nominal", title=None, sort=order),
            color=alt.Color(field="quote", type="nominal", title=None, sort=list(dict.fromkeys(df["quote"]))),
            tooltip=_tips(cols),
        )
        .properties(width=560, height=alt.Step(20))
    )
