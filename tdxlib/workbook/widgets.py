"""The notebooks' interactive panels: ipywidgets controls that re-run a model and redraw its altair chart.

Each notebook has a *view* (a pure function: parameters -> :class:`View` with the model result, the
chart and a one-line caption) and a *panel* built on the same view, so the static figure a report
shows for a parameter set is exactly the panel's starting figure. Panels are plain Python objects:
tests drive them by setting ``panel.controls[name].value`` and read ``panel.result`` / ``panel.chart``,
no browser needed. Models are cached in :mod:`tdxlib.workbook`; a redraw converts the chart without
re-validating its schema (the view's chart was validated when the notebook first showed it).

=====================  ======================================  =====================================
notebook               view                                    panel
=====================  ======================================  =====================================
01_the_question        :func:`question_view`                   :func:`question_panel`
02_vector_budget       :func:`budget_view`                     :func:`budget_panel`
03_who_gets_the_int…   :func:`delivery_view`                   :func:`delivery_panel`
04_hotplug             :func:`hotplug_view`                    :func:`hotplug_panel`
05_polling             :func:`polling_view`                    :func:`polling_panel`
=====================  ======================================  =====================================
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import altair as alt
import pandas as pd

from tdxlib import workbook as wb
from tdxlib.errors import ValidationError
from tdxlib.workbook import figures

__all__ = [
    "BUDGET_LOADS",
    "HZ_CHOICES",
    "Panel",
    "View",
    "budget_panel",
    "budget_view",
    "delivery_panel",
    "delivery_view",
    "hotplug_panel",
    "hotplug_view",
    "polling_panel",
    "polling_view",
    "question_panel",
    "question_view",
]


@dataclass(frozen=True, eq=False)
class View:
    """One evaluation of a notebook's model: the parameters, the result, the chart and a caption."""

    params: dict[str, Any]
    result: Any
    chart: alt.TopLevelMixin
    caption: str = ""


# --------------------------------------------------------------------------------------------------
# Views (pure: no widgets)
# --------------------------------------------------------------------------------------------------


def question_view(
    strategy: str = "system-vector",
    vmm: str = "qemu-10.1",
    quotes: int = 3,
    seed: int = 0,
    cpus: int = 4,
) -> View:
    """01: a few GetQuote round trips of one strategy on one VMM profile, as a timeline."""
    params = {"strategy": strategy, "vmm": vmm, "quotes": quotes, "seed": seed, "cpus": cpus}
    events = wb.mechanism_run(strategy, vmm, cpus=cpus, quotes=quotes, seed=seed)
    done = int((events["kind"] == "quote_done").sum())
    lost = int(events["kind"].isin(["spurious"]).sum())
    injected = int((events["kind"] == "inject").sum())
    caption = (
        f"{strategy} on {vmm}: {done} of {quotes} quotes returned; {injected} interrupts injected, "
        f"{lost} found no handler"
    )
    chart = figures.mechanism_timeline(events, f"GetQuote round trips: {strategy} guest, {vmm} VMM")
    return View(params, events, chart, caption)


#: Device loads (IRQs per vCPU) of the budget view's left chart.
BUDGET_LOADS: tuple[int, ...] = tuple(range(0, 206, 5))


def budget_view(cpus: int = 64, device_irqs_per_cpu: int = 4, intel_tdx_guest: bool = True) -> View:
    """02: vectors left and offline refusals against device load on ``cpus`` vCPUs, per notify mechanism."""
    params = {"cpus": cpus, "device_irqs_per_cpu": device_irqs_per_cpu, "intel_tdx_guest": intel_tdx_guest}
    config = {"INTEL_TDX_GUEST": bool(intel_tdx_guest)}
    full = wb.load_frame(cpus, BUDGET_LOADS, **config)
    band = wb.band_frame(cpus, **config)
    points = wb.load_frame(cpus, [device_irqs_per_cpu], **config)
    w = wb.when_it_matters(cpus, **config)
    sv = points[points["mechanism"] == "system-vector"].iloc[0]
    caption = (
        f"{cpus} vCPUs at {device_irqs_per_cpu} device IRQs per vCPU: the system vector takes "
        f"{sv['notify_vectors_total']} vectors (one per vCPU); it alone refuses a CPU offline between "
        f"{w['band_start_per_cpu']:.2f} and {w['band_end_per_cpu']:.2f} IRQs per vCPU"
    )
    chart = figures.load_curves(
        full,
        band,
        device_irqs_per_cpu,
        f"The vector budget on {cpus} vCPUs (CONFIG_INTEL_TDX_GUEST={'y' if intel_tdx_guest else 'n'})",
    )
    return View(params, {"points": points, "full": full, "band": band, "when": w}, chart, caption)


_METRIC_TITLES = {
    "lost_share": "Share of injected notifications lost",
    "completed_share": "Share of quotes completed",
}


def delivery_view(
    metric: str = "lost_share",
    cpus: int = 8,
    quotes: int = wb.DELIVERY_QUOTES,
    seed: int = 0,
    workload: str = "open",
    strategies: Sequence[str] = wb.DELIVERY_STRATEGIES,
    vmms: Sequence[str] = wb.DELIVERY_VMMS,
) -> View:
    """03: strategy × VMM profile delivery matrix coloured by ``metric`` (``quotes`` per cell: 10 by
    default, :data:`tdxlib.workbook.DELIVERY_QUOTES`, so that a redraw stays under 100 ms)."""
    if metric not in _METRIC_TITLES:
        raise ValidationError("metric", metric, " or ".join(_METRIC_TITLES))
    strategies, vmms = list(strategies), list(vmms)
    params = {
        "metric": metric,
        "cpus": cpus,
        "quotes": quotes,
        "seed": seed,
        "workload": workload,
        "strategies": strategies,
        "vmms": vmms,
    }
    matrix = wb.delivery_matrix(strategies, vmms, cpus=cpus, quotes=quotes, seed=seed, workload=workload)
    shown = matrix[["strategy", "vmm", metric, "quotes", "completed", "injected", "lost"]]
    ok = int((matrix["completed_share"] == 1.0).sum())
    caption = (
        f"{ok} of {len(matrix)} strategy × VMM cells complete every quote ({cpus} vCPUs, {quotes} quotes)"
    )
    title = f"{_METRIC_TITLES[metric]} ({cpus} vCPUs, {workload} workload, seed {seed})"
    return View(params, matrix, figures.delivery_heatmap(shown, metric, title), caption)


def hotplug_view(
    strategy: str = "caller-vcpu",
    vmm: str = "qemu-10.1",
    cpus: int = 4,
    reregister: bool = True,
    reregister_delay_ms: float = 1.0,
    offline_at_s: float = 3.0,
    online_at_s: float = 6.0,
    duration_s: float = 10.0,
    rate_per_s: float = 4.0,
    service_ms: float = 50.0,
    seed: int = 0,
) -> View:
    """04: take the notify CPU offline (and back at ``online_at_s``; 0 = never) and draw the timeline."""
    params: dict[str, Any] = {
        "strategy": strategy,
        "vmm": vmm,
        "cpus": cpus,
        "reregister": reregister,
        "reregister_delay_ms": reregister_delay_ms,
        "offline_at_s": offline_at_s,
        "online_at_s": online_at_s,
        "duration_s": duration_s,
        "rate_per_s": rate_per_s,
        "service_ms": service_ms,
        "seed": seed,
    }
    run = wb.hotplug_run(**params)
    m = run.metrics
    caption = (
        f"CPU {m['offlined_cpu']} offline at {offline_at_s:g} s: {m['lost_notifications']} notifications "
        f"lost, {m['hung']} quotes hung, loss window {m['loss_window_ms']:.0f} ms"
    )
    how = f"re-register after {reregister_delay_ms:g} ms" if reregister else "no re-registration"
    title = f"CPU hotplug: {strategy} guest on {vmm} ({how})"
    return View(params, run, figures.hotplug_timeline(run.events, run.windows, title), caption)


#: HZ values a kernel can be built with (Kconfig).
HZ_CHOICES: tuple[int, ...] = (100, 250, 300, 1000)
#: Poll intervals of the polling view (ms): 1 and 5 ms proposals, the merged 1 s, and between.
POLL_INTERVALS: tuple[int, ...] = (1, 5, 10, 50, 100, 250, 1000)


def polling_view(
    vmm: str = "qemu-10.1",
    hz_values: Sequence[int] = (100, 250, 1000),
    extra_jiffy: bool = True,
    quotes: int = 50,
    service_ms: float = 0.0,
    seed: int = 0,
    percentile: str = "p50",
    intervals_ms: Sequence[int] = POLL_INTERVALS,
) -> View:
    """05: quote latency against the poll interval per HZ, with interrupt delivery as the reference."""
    if percentile not in ("p50", "p99"):
        raise ValidationError("percentile", percentile, "p50 or p99")
    hz_values, intervals_ms = [int(h) for h in hz_values], [int(i) for i in intervals_ms]
    params = {
        "vmm": vmm,
        "hz_values": hz_values,
        "extra_jiffy": extra_jiffy,
        "quotes": quotes,
        "service_ms": service_ms,
        "seed": seed,
        "percentile": percentile,
        "intervals_ms": intervals_ms,
    }
    svc = service_ms if service_ms > 0 else None
    sweep = wb.polling_sweep(
        intervals_ms, hz_values, vmm=vmm, quotes=quotes, seed=seed, service_ms=svc, extra_jiffy=extra_jiffy
    )
    ref = wb.interrupt_reference(vmm=vmm, quotes=quotes, seed=seed, service_ms=svc)
    ref_done = ref[ref["completed"] > 0]
    if len(ref_done):
        best = ref_done["latency_mean_ms"].min()
        f = sweep.sort_values("poll_ms").iloc[0]
        caption = (
            f"interrupts: mean {best:.0f} ms; polling every {int(f['poll_ms'])} ms at HZ={int(f['hz'])}: "
            f"mean {f['latency_mean_ms']:.0f} ms, {f['wasted_wakeups_per_quote']:.1f} wasted wake-ups/quote"
        )
    else:
        caption = f"{vmm} injects no interrupt: polling is the only way to learn that the quote is ready"
    title = f"Quote latency ({percentile}) against the poll interval, {vmm}"
    chart = figures.latency_chart(sweep, ref_done if len(ref_done) else None, title, percentile)
    return View(params, {"sweep": sweep, "reference": ref}, chart, caption)


# --------------------------------------------------------------------------------------------------
# Panels
# --------------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Panel:
    """Controls bound to a view: every change re-runs the view and redraws its chart in ``output``.

    ``result``/``chart``/``caption`` hold the latest view; ``timings`` the last redraw's cost in ms
    (``model``: the view function, ``chart``: the chart converted to its Vega-Lite spec and displayed).
    Views and their specs are remembered per parameter combination (the last :data:`MEMO` of them),
    so moving a control back redraws at once.
    """

    title: str
    controls: dict[str, Any]
    view: Callable[..., View]
    fixed: dict[str, Any] = field(default_factory=dict)
    redraws: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    last: View | None = None
    error: str = ""
    memo: dict[str, tuple[View, dict[str, Any]]] = field(default_factory=dict, repr=False)

    #: How many parameter combinations a panel remembers.
    MEMO = 64

    def __post_init__(self) -> None:
        import ipywidgets as w

        self.output = w.Output()
        self.caption_html = w.HTML()
        boxes = list(self.controls.values())
        rows = [w.HBox(boxes[i : i + 3]) for i in range(0, len(boxes), 3)]
        self.widget = w.VBox([w.HTML(f"<b>{self.title}</b>"), *rows, self.caption_html, self.output])
        for control in self.controls.values():
            control.observe(self._changed, names="value")
        self.redraw()

    # -- state
    def values(self) -> dict[str, Any]:
        """The view's keyword arguments: fixed ones plus every control's current value."""
        vals = {name: _plain(c.value) for name, c in self.controls.items()}
        return {**self.fixed, **vals}

    @property
    def result(self) -> Any:
        """The latest model result (the view's ``result``)."""
        return None if self.last is None else self.last.result

    @property
    def chart(self) -> alt.TopLevelMixin | None:
        """The latest chart."""
        return None if self.last is None else self.last.chart

    @property
    def caption(self) -> str:
        """The latest one-line caption."""
        return "" if self.last is None else self.last.caption

    # -- drawing
    def _changed(self, change: Mapping[str, Any]) -> None:
        self.redraw()

    def redraw(self) -> None:
        """Re-run the view with the controls' values and show the new chart (errors shown, not raised)."""
        t0 = time.perf_counter()
        params = self.values()
        key = repr(sorted(params.items()))
        hit = self.memo.pop(key, None)
        if hit is None:
            try:
                view = self.view(**params)
            except Exception as exc:  # a control combination the model refuses: say so in the panel
                self.error = f"{type(exc).__name__}: {exc}"
                self.caption_html.value = f"<span style='color:#D55E00'>{_escape(self.error)}</span>"
                return
            t1 = time.perf_counter()
            spec = view.chart.to_dict(validate=False)
        else:
            view, spec = hit
            t1 = time.perf_counter()
        self.memo[key] = (view, spec)  # most recent last
        while len(self.memo) > self.MEMO:
            self.memo.pop(next(iter(self.memo)))
        self.error = ""
        self.last = view
        self._display(spec)
        t2 = time.perf_counter()
        self.caption_html.value = _escape(view.caption)
        self.redraws += 1
        self.timings = {"model": (t1 - t0) * 1000.0, "chart": (t2 - t1) * 1000.0, "total": (t2 - t0) * 1000.0}

    def _display(self, spec: dict[str, Any]) -> None:
        try:
            from IPython import get_ipython
            from IPython.display import clear_output, display
        except ImportError:  # pragma: no cover - IPython comes with ipywidgets
            return
        if get_ipython() is None:
            return  # plain Python (tests, benchmarks): the spec is built, nothing to show it on
        renderer = alt.renderers.get()
        if renderer is None:  # pragma: no cover - altair always has an active renderer
            return
        bundle = renderer(spec)
        with self.output:
            clear_output(wait=True)
            display(bundle, raw=True)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _dropdown(options: Sequence[Any], value: Any, description: str) -> Any:
    import ipywidgets as w

    opts = list(options)
    if value not in opts:
        opts.append(value)
    return w.Dropdown(options=opts, value=value, description=description)


def _int_slider(value: int, lo: int, hi: int, description: str, step: int = 1) -> Any:
    import ipywidgets as w

    return w.IntSlider(
        value=value,
        min=min(lo, value),
        max=max(hi, value),
        step=step,
        description=description,
        continuous_update=False,
    )


def _float_slider(value: float, lo: float, hi: float, description: str, step: float) -> Any:
    import ipywidgets as w

    return w.FloatSlider(
        value=value,
        min=min(lo, value),
        max=max(hi, value),
        step=step,
        description=description,
        continuous_update=False,
    )


def _seed(value: int) -> Any:
    import ipywidgets as w

    return w.BoundedIntText(value=value, min=0, max=2**31 - 1, description="seed")


def question_panel(
    strategy: str = "system-vector", vmm: str = "qemu-10.1", quotes: int = 3, seed: int = 0, cpus: int = 4
) -> Panel:
    """01: pick a strategy and a VMM profile; the GetQuote round trips are redrawn."""
    from tdxlib.tdx.strategies import STRATEGY_NAMES
    from tdxlib.tdx.vmm import profile_names

    controls = {
        "strategy": _dropdown(STRATEGY_NAMES, strategy, "strategy"),
        "vmm": _dropdown(profile_names(), vmm, "VMM"),
        "quotes": _int_slider(quotes, 1, 10, "quotes"),
        "seed": _seed(seed),
    }
    return Panel("One GetQuote, step by step", controls, question_view, {"cpus": cpus})


def budget_panel(cpus: int = 64, device_irqs_per_cpu: int = 4, intel_tdx_guest: bool = True) -> Panel:
    """02: vCPUs, device load and CONFIG_INTEL_TDX_GUEST; the budget curves are redrawn."""
    import ipywidgets as w

    sizes = sorted({2**k for k in range(14)} | {int(cpus)})
    controls = {
        "cpus": w.SelectionSlider(
            options=sizes, value=int(cpus), description="vCPUs", continuous_update=False
        ),
        "device_irqs_per_cpu": _int_slider(device_irqs_per_cpu, 0, 205, "IRQs/vCPU"),
        "intel_tdx_guest": w.Checkbox(value=bool(intel_tdx_guest), description="CONFIG_INTEL_TDX_GUEST"),
    }
    return Panel("The vector budget", controls, budget_view)


def delivery_panel(
    metric: str = "lost_share",
    cpus: int = 8,
    quotes: int = wb.DELIVERY_QUOTES,
    seed: int = 0,
    workload: str = "open",
    strategies: Sequence[str] = wb.DELIVERY_STRATEGIES,
    vmms: Sequence[str] = wb.DELIVERY_VMMS,
) -> Panel:
    """03: metric, vCPUs, quotes, seed, workload, strategies and VMM profiles; the matrix is redrawn."""
    import ipywidgets as w

    from tdxlib.tdx.strategies import STRATEGY_NAMES
    from tdxlib.tdx.vmm import profile_names

    controls = {
        "metric": _dropdown(list(_METRIC_TITLES), metric, "metric"),
        "cpus": _int_slider(cpus, 2, 64, "vCPUs"),
        "quotes": _int_slider(quotes, 1, 100, "quotes"),
        "seed": _seed(seed),
        "workload": w.ToggleButtons(options=["open", "closed"], value=workload, description="workload"),
        "strategies": w.SelectMultiple(
            options=list(dict.fromkeys([*strategies, *STRATEGY_NAMES])),
            value=tuple(strategies),
            description="strategies",
        ),
        "vmms": w.SelectMultiple(
            options=list(dict.fromkeys([*vmms, *profile_names()])), value=tuple(vmms), description="VMMs"
        ),
    }
    return Panel("Who gets the interrupt", controls, delivery_view)


def hotplug_panel(
    strategy: str = "caller-vcpu",
    vmm: str = "qemu-10.1",
    cpus: int = 4,
    reregister: bool = True,
    reregister_delay_ms: float = 1.0,
    offline_at_s: float = 3.0,
    online_at_s: float = 6.0,
    duration_s: float = 10.0,
    rate_per_s: float = 4.0,
    service_ms: float = 50.0,
    seed: int = 0,
) -> Panel:
    """04: strategy, VMM, re-registration and hotplug times; the timeline is redrawn."""
    import ipywidgets as w

    from tdxlib.tdx.vmm import profile_names

    controls = {
        "strategy": _dropdown(wb.HOTPLUG_STRATEGIES, strategy, "strategy"),
        "vmm": _dropdown(profile_names(), vmm, "VMM"),
        "cpus": _int_slider(cpus, 2, 64, "vCPUs"),
        "reregister": w.Checkbox(value=bool(reregister), description="re-register"),
        "reregister_delay_ms": w.FloatLogSlider(
            value=max(float(reregister_delay_ms), 0.01),
            base=10,
            min=-2,
            max=4,
            description="delay ms",
            continuous_update=False,
        ),
        "offline_at_s": _float_slider(offline_at_s, 0.0, duration_s, "offline at", 0.1),
        "online_at_s": _float_slider(online_at_s, 0.0, duration_s, "online at", 0.1),
        "rate_per_s": _float_slider(rate_per_s, 0.5, 50.0, "quotes/s", 0.5),
        "seed": _seed(seed),
    }
    fixed = {"duration_s": duration_s, "service_ms": service_ms}
    return Panel("CPU hotplug and the notify IRQ", controls, hotplug_view, fixed)


def polling_panel(
    vmm: str = "qemu-10.1",
    hz_values: Sequence[int] = (100, 250, 1000),
    extra_jiffy: bool = True,
    quotes: int = 50,
    service_ms: float = 0.0,
    seed: int = 0,
    percentile: str = "p50",
    intervals_ms: Sequence[int] = POLL_INTERVALS,
) -> Panel:
    """05: VMM, HZ, the pre-6.13 extra jiffy, service time; latency against poll interval is redrawn."""
    import ipywidgets as w

    from tdxlib.tdx.vmm import profile_names

    controls = {
        "vmm": _dropdown(profile_names(), vmm, "VMM"),
        "hz_values": w.SelectMultiple(
            options=list(dict.fromkeys([*HZ_CHOICES, *hz_values])), value=tuple(hz_values), description="HZ"
        ),
        "extra_jiffy": w.Checkbox(value=bool(extra_jiffy), description="msleep +1 jiffy (< 6.13)"),
        "quotes": _int_slider(quotes, 5, 200, "quotes", 5),
        "service_ms": _float_slider(service_ms, 0.0, 2000.0, "service ms", 10.0),
        "seed": _seed(seed),
        "percentile": w.ToggleButtons(options=["p50", "p99"], value=percentile, description="percentile"),
    }
    fixed = {"intervals_ms": [int(i) for i in intervals_ms]}
    return Panel("Polling: latency and wake-ups", controls, polling_view, fixed)


def frame_of(view: View) -> pd.DataFrame:
    """The main table behind a view (the delivery matrix, the polling sweep, the budget points, ...)."""
    res = view.result
    if isinstance(res, pd.DataFrame):
        return res
    if isinstance(res, dict):
        for key in ("points", "sweep"):
            if key in res:
                frame: pd.DataFrame = res[key]
                return frame
    if isinstance(res, wb.HotplugRun):
        return res.events
    raise ValidationError(
        "view result", type(res).__name__, "a DataFrame, a budget/polling dict or a HotplugRun"
    )
