"""The shared look of tdxlib's altair charts, and :func:`show`, which renders a chart offline.

In JupyterLab (and Voilà) :func:`show` displays the chart as a :class:`~tdxlib.workbook.livechart.LiveChart`
widget, whose front-end code carries vega from vl-convert: live charts need no network either
(altair's default would fetch vega from a CDN), cell outputs hold only the widget's id, and a
reopened notebook draws again. A bare chart (a cell's last expression) goes the same way through the
live renderer registered here. Headless (a report run: the notebook's
``interactive`` parameter is False, or the pipeline set ``TDXLIB_HEADLESS=1``) it displays the chart
as an ``image/svg+xml`` output rendered by vl-convert, which nbconvert inlines into the HTML: no vega
from a CDN, nothing to load. Under ``tdxlib report`` (``TDXLIB_CHARTS=deferred``) the kernel emits
only the Vega-Lite spec and the pipeline renders the SVG into the executed notebook, with one warm
vl-convert for all runs instead of a 0.7 s start-up in every kernel. Importing this module enables
the theme.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

from tdxlib.lazy import defer_rfc3987_syntax

defer_rfc3987_syntax()

import altair as alt  # noqa: E402  (after the import-time saving above)

from tdxlib.workbook import chartdata  # noqa: E402
from tdxlib.workbook.palette import PALETTE  # noqa: E402
from tdxlib.workbook.svg import CHART_MIME, vegalite_svg  # noqa: E402

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "PALETTE",
    "THEME",
    "enable",
    "is_interactive",
    "layer",
    "set_interactive",
    "show",
    "theme",
    "to_svg",
    "tooltips",
]

#: Name of the altair theme registered here.
THEME = "tdxlib"
#: Environment variable the report pipeline sets in every kernel it starts.
HEADLESS_ENV = "TDXLIB_HEADLESS"
#: Set to ``deferred`` by the pipeline: emit the spec, the pipeline renders the SVG.
RENDER_ENV = "TDXLIB_CHARTS"

_interactive: bool | None = None


def theme() -> dict[str, Any]:
    """The altair theme config: readable fonts, our palette, no chart border."""
    font = "Helvetica Neue, Arial, Liberation Sans, DejaVu Sans, sans-serif"
    return {
        "config": {
            "background": "white",
            "font": font,
            "view": {"continuousWidth": 520, "continuousHeight": 300, "stroke": None},
            "range": {"category": list(PALETTE)},
            # Text limits of 0 (no truncation): our labels are short enough, and measuring every label
            # against a limit is most of what rendering a chart to SVG costs (vl-convert, ~30%).
            "axis": {
                "labelFontSize": 12,
                "titleFontSize": 13,
                "grid": True,
                "gridColor": "#e6e6e6",
                "labelLimit": 0,
                "titleLimit": 0,
            },
            "legend": {"labelFontSize": 12, "titleFontSize": 13, "labelLimit": 0, "titleLimit": 0},
            "header": {"labelLimit": 0, "titleLimit": 0},
            "title": {"fontSize": 15, "anchor": "start", "limit": 0},
            "mark": {"color": PALETTE[0]},
            "line": {"strokeWidth": 2.5},
            "point": {"size": 60, "filled": True},
        }
    }


def enable() -> None:
    """Register and enable the tdxlib theme; headless, also make bare ``chart`` outputs static SVG.

    Under the report pipeline altair also stops validating every schema object as it is built (its
    "debug mode"): the test suite validates each figure, and the pipeline renders every spec anyway.
    """
    if _deferred():
        from altair.utils import schemapi  # reason: only the report pipeline turns validation off

        schemapi.disable_debug_mode()
    if THEME not in alt.theme.names():
        alt.theme.register(THEME, enable=False)(theme)  # type: ignore[arg-type]
    alt.theme.enable(THEME)
    chartdata.enable()
    _renderer()


#: Name of the live renderer registered here (a LiveChart widget in JupyterLab and Voilà).
LIVE_RENDERER = "tdxlib-live"


def offline_html(spec: dict[str, Any], *, with_bundle: bool) -> str:
    """HTML that draws ``spec`` with vega-embed, offline: no ``<script src>`` to any CDN.

    The vega/vega-lite/vega-embed bundle shipped in vl-convert sets ``window.vegaEmbed``; it is
    inlined (as a module, so its top-level names cannot collide) only when ``with_bundle`` is true,
    and the chart waits for it. (For a page of its own; live notebooks use :func:`live_chart`.)
    """
    div = f"tdxlib-chart-{uuid.uuid4().hex}"
    # "</" must not end the script element early; JSON allows the escaped slash.
    payload = json.dumps(spec).replace("</", "<\\/")
    parts = [f'<div id="{div}"></div>']
    if with_bundle:
        # reason: vl-convert (~0.1 s) only for a page that inlines the bundle
        import vl_convert as vlc

        bundle = vlc.javascript_bundle(None)  # type: ignore[arg-type]  # the stub omits the default
        parts.append('<script type="module">' + bundle + "</script>")
    parts.append(
        '<script type="module">'
        "(async () => {"
        " for (let i = 0; !window.vegaEmbed && i < 200; i++) await new Promise(r => setTimeout(r, 25));"
        f' const el = document.getElementById("{div}");'
        ' if (!window.vegaEmbed) { el.textContent = "vega bundle missing"; return; }'
        f" await window.vegaEmbed(el, {payload}, {{actions: false}});"
        "})();</script>"
    )
    return "".join(parts)


def live_chart(spec: dict[str, Any]) -> Any:
    """A :class:`~tdxlib.workbook.livechart.LiveChart` drawing ``spec``; the charts an earlier run
    of the same notebook cell showed are closed (their widgets would pile up in the kernel)."""
    # reason: anywidget and ipywidgets (~0.2 s) load only once a live chart is drawn
    from tdxlib.workbook.livechart import LiveChart, adopt

    return adopt(LiveChart(spec))


def _live_renderer(spec: dict[str, Any], **_: Any) -> dict[str, Any]:
    """altair renderer for JupyterLab and Voilà: the chart as a live widget (no network needed)."""
    data, _meta = live_chart(spec)._repr_mimebundle_()
    return dict(data)


def _renderer() -> None:
    """Live: our offline vega-embed renderer; headless: altair's ``svg`` (a bare chart stays offline)."""
    if LIVE_RENDERER not in alt.renderers.names():
        alt.renderers.register(LIVE_RENDERER, _live_renderer)
    alt.renderers.enable(LIVE_RENDERER if is_interactive() else "svg")


def set_interactive(interactive: bool | None) -> None:
    """Force live (True) or static SVG (False) charts; None goes back to auto-detection."""
    global _interactive
    _interactive = interactive
    _renderer()


def is_interactive() -> bool:
    """Whether :func:`show` draws live charts: False under the report pipeline (headless)."""
    if _interactive is not None:
        return _interactive
    return os.environ.get(HEADLESS_ENV, "") in ("", "0")


def _deferred() -> bool:
    """Whether the report pipeline renders the charts (it set :data:`RENDER_ENV` to ``deferred``)."""
    return os.environ.get(RENDER_ENV) == "deferred"


_SIMPLE_SHORTHAND = re.compile(r"([A-Za-z_][A-Za-z0-9_]*):([NQOT])")
_TYPES: dict[str, Literal["nominal", "quantitative", "ordinal", "temporal"]] = {
    "N": "nominal",
    "Q": "quantitative",
    "O": "ordinal",
    "T": "temporal",
}


def tooltips(fields: Iterable[str]) -> list[alt.Tooltip]:
    """Tooltip channels as objects, ``"name:T"`` given as field and type: altair parses shorthand
    strings with regular expressions compiled on first use (about 40 ms in every kernel)."""
    out = []
    for f in fields:
        m = _SIMPLE_SHORTHAND.fullmatch(f)
        out.append(alt.Tooltip(field=m[1], type=_TYPES[m[2]]) if m else alt.Tooltip(f))
    return out


def layer(data: pd.DataFrame, *charts: alt.Chart, **kwargs: Any) -> alt.LayerChart:
    """Layers drawn from one frame, the frame given once on the layer and the layers data-less.

    The same spec as ``chart_a + chart_b`` built on one frame, without altair's work for that case:
    it copies every layer and hashes each layer's data through the frame's text repr (tens of ms
    for a small frame).
    """
    return alt.LayerChart(data=data, layer=list(charts), **kwargs)


def to_svg(chart: alt.TopLevelMixin) -> str:
    """The chart rendered to SVG by vl-convert, with the Vega-Lite version altair produced."""
    return vegalite_svg(chart.to_dict())


def show(chart: alt.TopLevelMixin, *, interactive: bool | None = None) -> None:
    """Display ``chart``: live in JupyterLab, inline SVG when headless (see module doc)."""
    from IPython.display import display  # reason: IPython (0.2 s) loads only once a chart is shown

    live = is_interactive() if interactive is None else interactive
    if live:
        display(live_chart(chart.to_dict(validate=False)))
        return
    deferred = _deferred()
    # Under the pipeline the figures are already known to be valid (tests validate every one), and
    # validating large inline datasets against the Vega-Lite schema costs more than drawing them.
    spec = chart.to_dict(validate=not deferred)
    title = spec.get("title", "chart")
    if isinstance(title, dict):
        title = title.get("text", "chart")
    text = f"<chart: {title}>"
    if deferred:
        display({CHART_MIME: spec, "text/plain": text}, raw=True)
    else:
        display({"image/svg+xml": vegalite_svg(spec), "text/plain": text}, raw=True)


enable()
