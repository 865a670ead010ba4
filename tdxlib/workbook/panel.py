"""The machinery of the notebooks' interactive panels: a :class:`View` (parameters -> result, chart,
caption) and a :class:`Panel` whose ipywidgets controls are generated from the notebook's parameter
model (type, range, choices and panel hints of :mod:`tdxlib.workbook.params`).

Every change of a control validates the parameters with the model, re-runs the view and redraws its
altair chart in a :class:`~tdxlib.workbook.livechart.LiveChart` (the spec once, then only the data
that changed); the panel's first chart is the view's at the notebook's parameters, so a report shows
exactly the panel's starting figure. Panels are plain Python objects: tests drive them by setting
``panel.controls[name].value`` and read ``panel.result`` / ``panel.chart``, no browser needed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import altair as alt

from tdxlib.workbook.livechart import LiveChart, adopt
from tdxlib.workbook.param_model import FieldFacts, NotebookParams, facts

__all__ = ["Panel", "View", "control", "make_panel"]


def _ipywidgets() -> Any:
    import ipywidgets  # reason: 0.17 s to import, and report runs build no panel

    return ipywidgets


@dataclass(frozen=True, eq=False)
class View:
    """One evaluation of a notebook's model: the parameters, the result, the chart and a caption."""

    params: NotebookParams
    result: Any
    chart: alt.TopLevelMixin
    caption: str = ""


@dataclass(eq=False)
class Panel:
    """Controls bound to a view: every change re-runs the view and redraws its chart in ``output``.

    ``params`` are the starting parameters (fields without a control keep their value);
    ``result``/``chart``/``caption`` hold the latest view; ``timings`` the last redraw's cost in ms
    (``model``: the view function, ``chart``: the chart converted to its Vega-Lite spec and sent to
    the live chart). ``chart_widget`` is the live chart, ``widget`` the whole panel.
    Views and their specs are remembered per parameter model (the last :data:`MEMO` of them), so
    moving a control back redraws at once.
    """

    title: str
    params: NotebookParams
    view: Callable[[Any], View]
    controls: dict[str, Any]
    redraws: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    last: View | None = None
    error: str = ""
    memo: dict[NotebookParams, tuple[View, dict[str, Any]]] = field(default_factory=dict, repr=False)

    #: How many parameter combinations a panel remembers.
    MEMO = 64

    def __post_init__(self) -> None:
        w = _ipywidgets()
        self.chart_widget = adopt(LiveChart())
        self.caption_html = w.HTML()
        boxes = list(self.controls.values())
        rows = [w.HBox(boxes[i : i + 3]) for i in range(0, len(boxes), 3)]
        head = w.HTML(f"<b>{_escape(self.title)}</b>")
        self.widget = w.VBox([head, *rows, self.caption_html, self.chart_widget])
        self.widget.add_class("tdxlib-panel")
        for c in self.controls.values():
            c.observe(self._changed, names="value")
        self.redraw()

    # -- state
    def values(self) -> dict[str, Any]:
        """The parameters as plain values: the starting ones with every control's current value."""
        vals = {name: _plain(c.value) for name, c in self.controls.items()}
        return {**self.params.model_dump(), **vals}

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
        try:
            params = type(self.params)(**self.values())
            hit = self.memo.pop(params, None)
            view = self.view(params) if hit is None else hit[0]
        except Exception as exc:  # values the model refuses: say so in the panel
            self.error = f"{type(exc).__name__}: {exc}"
            self.caption_html.value = f"<span style='color:#D55E00'>{_escape(self.error)}</span>"
            return
        t1 = time.perf_counter()
        spec = view.chart.to_dict(validate=False) if hit is None else hit[1]
        self.memo[params] = (view, spec)  # most recent last
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
        self.chart_widget.show(spec)

    def _ipython_display_(self) -> None:
        from IPython.display import display  # reason: called by IPython only, which has loaded it

        display(self.widget)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --------------------------------------------------------------------------------------------------
# Controls generated from the parameter model
# --------------------------------------------------------------------------------------------------

#: Most rows a multiple selection shows at once.
_MULTI_ROWS = 10
#: The smallest value of a log slider whose range starts at 0 (10**-2).
_LOG_MIN_EXP = -2


def _bounds(f: FieldFacts, params: NotebookParams, value: float) -> tuple[float, float]:
    """The slider's range: the panel hint or the field's range, widened to hold ``value``."""
    lo, hi = f.hints.get("slider") or (f.low, f.high)
    if f.hints.get("max_from"):
        hi = float(getattr(params, f.hints["max_from"]))
    if lo is None or hi is None:
        raise ValueError(f"parameter {f.name!r} has no range for a slider: give it ge/le or slider=")
    return min(lo, value), max(hi, value)


def _number(f: FieldFacts, params: NotebookParams, value: Any, label: str) -> Any:
    w = _ipywidgets()
    widget = f.hints.get("widget")
    if widget == "text":
        return w.BoundedIntText(value=value, min=f.low, max=f.high, description=label)
    if widget == "pow2":
        top = int(math.log2(f.high or value))
        sizes = sorted({2**k for k in range(top + 1)} | {int(value)})
        return w.SelectionSlider(options=sizes, value=int(value), description=label, continuous_update=False)
    if widget == "log":
        lo_exp = math.log10(f.low) if f.low else _LOG_MIN_EXP
        hi_exp = math.log10(f.high or max(value, 1.0))
        return w.FloatLogSlider(
            value=max(float(value), 10**lo_exp),
            base=10,
            min=lo_exp,
            max=hi_exp,
            description=label,
            continuous_update=False,
        )
    lo, hi = _bounds(f, params, value)
    if f.kind is int:
        return w.IntSlider(
            value=value,
            min=int(lo),
            max=int(hi),
            step=int(f.hints.get("step", 1)),
            description=label,
            continuous_update=False,
        )
    step = float(f.hints.get("step", 0.1))
    return w.FloatSlider(value=value, min=lo, max=hi, step=step, description=label, continuous_update=False)


def control(params: NotebookParams, name: str) -> Any:
    """The ipywidgets control of parameter ``name``, starting at ``params``' value: a checkbox, a
    dropdown or buttons over the choices, a multiple selection for a list, a slider over the range."""
    w = _ipywidgets()
    f = facts(type(params), name)
    value = params.control_value(name)
    label = str(f.hints.get("label", name))
    if f.kind is bool:
        return w.Checkbox(value=bool(value), description=label)
    if f.is_list:
        options = list(dict.fromkeys([*value, *(f.choices or ())]))
        rows = min(len(options), _MULTI_ROWS)  # every choice visible (ipywidgets shows 5)
        return w.SelectMultiple(options=options, value=tuple(value), description=label, rows=rows)
    if f.choices is not None:
        options = list(dict.fromkeys([*f.choices, value]))
        if f.hints.get("widget") == "toggle":
            return w.ToggleButtons(options=options, value=value, description=label)
        return w.Dropdown(options=options, value=value, description=label)
    if f.kind is str:
        return w.Text(value=value, description=label)
    return _number(f, params, value, label)


def make_panel(
    title: str,
    params: NotebookParams,
    view: Callable[[Any], View],
    names: Sequence[str],
    overrides: Mapping[str, Any] | None = None,
) -> Panel:
    """A panel over ``view`` with a control per parameter in ``names`` (generated from the model,
    or given in ``overrides``); the other parameters stay at ``params``' values."""
    given = dict(overrides or {})
    controls = {name: given.pop(name) if name in given else control(params, name) for name in names}
    return Panel(title, params, view, controls)
