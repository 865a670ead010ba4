"""Offline HTML export, the record API and tdxlib.workbook.charts.show — in process, no kernel."""

from __future__ import annotations

import base64
import copy
from html.parser import HTMLParser
from typing import Any

import nbformat
import numpy as np
import pandas as pd
import pytest

from tdxlib.errors import ReportError, ValidationError
from tdxlib.report import records
from tdxlib.report.export import export_html, header_html, offline_problems, render_charts
from tdxlib.report.records import RECORD_MIME, collect_records
from tdxlib.workbook.svg import CHART_MIME

SPEC = {
    "$schema": "https://vega.github.io/schema/vega-lite/v6.4.1.json",
    "data": {"values": [{"a": 1, "b": 2}, {"a": 2, "b": 5}]},
    "mark": {"type": "bar", "color": "#D55E00"},
    "encoding": {"x": {"field": "a", "type": "ordinal"}, "y": {"field": "b", "type": "quantitative"}},
}


class OffPage(HTMLParser):
    """Independent check: src/href of scripts, styles, images and frames that leave the page."""

    def __init__(self) -> None:
        super().__init__()
        self.bad: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        watched = {
            "script": "src",
            "link": "href",
            "img": "src",
            "iframe": "src",
            "source": "src",
            "image": "href",
        }
        for name, value in attrs:
            if watched.get(tag) == name and value and not value.startswith(("data:", "#")):
                self.bad.append(f"{tag} {name}={value}")


def off_page(page: str) -> list[str]:
    parser = OffPage()
    parser.feed(page)
    return parser.bad


def notebook(outputs: list[dict[str, Any]], widgets: bool = False) -> Any:
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"widgets": {"state": {}}} if widgets else {},
        "cells": [
            {"cell_type": "markdown", "id": "m", "metadata": {}, "source": "# Heading\n\nSome *prose*."},
            {
                "cell_type": "code",
                "id": "c",
                "metadata": {},
                "source": "secret_code_line = 1",
                "execution_count": 1,
                "outputs": outputs,
            },
        ],
    }
    return nbformat.from_dict(nb)


def display_data(data: dict[str, Any]) -> dict[str, Any]:
    return {"output_type": "display_data", "metadata": {}, "data": data}


def test_export_is_offline_and_hides_code() -> None:
    nb = notebook(
        [
            display_data({RECORD_MIME: {"kind": "metric", "name": "x", "value": 1}, "text/plain": ""}),
            display_data({CHART_MIME: SPEC, "text/plain": "<chart>"}),
            display_data({"application/vnd.jupyter.widget-view+json": {"model_id": "1"}, "text/plain": "w"}),
            {"output_type": "stream", "name": "stdout", "text": "printed line\n"},
        ],
        widgets=True,
    )
    page = export_html(nb, "demo", header_html("demo", {"cpus": "8"}))
    assert off_page(page) == []
    assert offline_problems(page) == []
    assert "secret_code_line" not in page
    assert "printed line" in page and "Heading" in page
    assert RECORD_MIME not in page and "widget-view" not in page
    assert "cdn" not in page.lower() and "unpkg" not in page.lower()
    assert "all reports" in page and "cpus" in page
    # the chart is an inline SVG image carrying the bar colour
    start = page.index('src="data:image/svg+xml;base64,') + len('src="data:image/svg+xml;base64,')
    svg = base64.b64decode(page[start : page.index('"', start)]).decode()
    assert svg.startswith("<svg") and "#D55E00" in svg


def test_vegalite_output_becomes_svg() -> None:
    nb = notebook([display_data({"application/vnd.vegalite.v6+json": SPEC, "text/plain": "chart"})])
    page = export_html(nb, "vl")
    assert "data:image/svg+xml" in page and off_page(page) == []


def test_cdn_output_is_refused() -> None:
    html = '<div id="vis"></div><script src="https://cdn.jsdelivr.net/npm/vega@6"></script>'
    nb = notebook([display_data({"text/html": html, "text/plain": "x"})])
    with pytest.raises(ReportError) as info:
        export_html(nb, "cdn")
    assert "cdn.jsdelivr.net" in str(info.value) and "cdn:" in str(info.value)


@pytest.mark.parametrize(
    ("page", "count"),
    [
        ('<script src="https://x.org/a.js"></script>', 1),
        ('<link rel="stylesheet" href="style.css">', 1),
        ('<img src="//x.org/i.png"><img src="data:image/png;base64,AA">', 1),
        ("<style>body{background:url('https://x.org/b.png')}</style>", 1),
        ('<style>@import "https://x.org/c.css";</style>', 1),
        ('<div style="background:url(http://x.org/i.png)"></div>', 1),
        ("<script>import('https://cdn.example.com/m.mjs')</script>", 1),
        ('<svg><image href="https://x.org/i.png"/></svg>', 1),
        ('<a href="https://lore.kernel.org/x">a link is fine</a><img src="#frag">', 0),
        ("<style>.i{background:url(data:image/svg+xml;base64,AA)}</style>", 0),
    ],
)
def test_offline_scanner(page: str, count: int) -> None:
    assert len(offline_problems(page)) == count


def test_render_charts_reports_bad_specs() -> None:
    nb = notebook([display_data({CHART_MIME: SPEC}), display_data({CHART_MIME: {"mark": 5}})])
    failures = render_charts(nb)
    assert [n for n, _ in failures] == [2]
    assert "image/svg+xml" in nb.cells[1].outputs[0].data


def test_records_roundtrip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "_recorded", [])
    records.record("vectors", np.int64(42), unit="vectors")
    records.record_metrics({"ratio": np.float64(0.25), "name": "x", "arr": np.arange(3)}, rel_tol=1e-6)
    frame = pd.DataFrame(
        {"id": ["C1", "C2"], "author": ["a", "b"], "claim": ["c", "d"], "verdict": ["holds", "refuted"]}
    )
    frame["evidence"] = ["e1", "e2"]
    records.record_ledger(frame)
    outs = [display_data({RECORD_MIME: p, "text/plain": ""}) for p in records.recorded()]
    metrics, ledger = collect_records(notebook(outs))
    assert metrics["vectors"] == {"value": 42, "rel_tol": 1e-9, "abs_tol": 0.0, "unit": "vectors"}
    assert metrics["ratio"]["rel_tol"] == 1e-6 and metrics["arr"]["value"] == [0, 1, 2]
    assert ledger is not None and [r["verdict"] for r in ledger] == ["holds", "refuted"]


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: records.record("", 1), "metric name"),
        (lambda: records.record("x", float("nan")), "finite"),
        (lambda: records.record("x", object()), "recorded value"),
        (lambda: records.record("x", 1, rel_tol=-1), "rel_tol"),
        (lambda: records.record_ledger([{"id": "C1"}]), "at least verdict"),
        (
            lambda: records.record_ledger([{"id": "C1", "verdict": "a"}, {"id": "C1", "verdict": "b"}]),
            "unique",
        ),
        (lambda: records.record_ledger("C1"), "a DataFrame or a list"),
    ],
)
def test_record_validation(monkeypatch: pytest.MonkeyPatch, call: Any, fragment: str) -> None:
    monkeypatch.setattr(records, "_recorded", [])
    with pytest.raises(ValidationError, match=fragment):
        call()


def test_charts_show_headless_and_live(monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython.display

    import tdxlib.workbook.charts as charts

    shown: list[Any] = []

    def fake_display(obj: Any, **kw: Any) -> None:  # a live chart is a widget: kept, not copied
        shown.append(copy.copy(obj) if isinstance(obj, dict) else obj)

    monkeypatch.setattr(IPython.display, "display", fake_display)
    chart = (
        charts.alt.Chart(pd.DataFrame({"a": [1, 2], "b": [3, 4]}), title="T").mark_line().encode(x="a", y="b")
    )

    monkeypatch.delenv("TDXLIB_CHARTS", raising=False)
    charts.show(chart, interactive=False)
    assert set(shown[-1]) == {"image/svg+xml", "text/plain"} and shown[-1]["image/svg+xml"].startswith("<svg")
    assert "#0072B2" in shown[-1]["image/svg+xml"]  # the theme's first colour

    monkeypatch.setenv("TDXLIB_CHARTS", "deferred")
    charts.show(chart, interactive=False)
    assert shown[-1][CHART_MIME]["title"] == "T" and shown[-1]["text/plain"] == "<chart: T>"

    charts.show(chart, interactive=True)
    assert shown[-1] is not None and not isinstance(shown[-1], dict)
    assert type(shown[-1]).__name__ == "LiveChart" and shown[-1].signals == {"tdxlib_title": "T"}

    monkeypatch.setenv("TDXLIB_HEADLESS", "1")
    charts.set_interactive(None)
    try:
        assert not charts.is_interactive() and charts.alt.renderers.active == "svg"
        charts.set_interactive(True)
        assert charts.is_interactive() and charts.alt.renderers.active == charts.LIVE_RENDERER
    finally:
        charts.set_interactive(None)


def test_svg_cache_renders_each_spec_once(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    import tdxlib.report.export as export

    calls: list[str] = []
    real = export.vegalite_svg

    def counting(spec: Any) -> str:
        calls.append("x")
        return real(spec)

    monkeypatch.setattr(export, "vegalite_svg", counting)
    other = {**SPEC, "mark": {"type": "bar", "color": "#0072B2"}}
    first = notebook([display_data({CHART_MIME: SPEC}), display_data({CHART_MIME: other})])
    again = notebook([display_data({CHART_MIME: copy.deepcopy(SPEC)})])
    assert render_charts(first, tmp_path) == [] and render_charts(again, tmp_path) == []
    assert len(calls) == 2  # the repeated spec came from the cache
    assert again.cells[1].outputs[0].data["image/svg+xml"] == first.cells[1].outputs[0].data["image/svg+xml"]
    svgs = sorted(tmp_path.glob("*.svg"))
    assert len(svgs) == 2
    os.utime(svgs[0], (0, 0))  # unused for decades
    assert export.prune_svg_cache(tmp_path) == 1 and len(list(tmp_path.glob("*.svg"))) == 1


def test_images_get_a_text_and_cells_become_focusable() -> None:
    from tdxlib.report.export import _accessible

    page = (
        '<div class="jp-Cell-inputWrapper"><img src="data:image/png;base64,AA"></div>'
        '<div class="jp-RenderedSVG jp-OutputArea-output" data-mime-type="image/svg+xml">'
        '<img alt="chart" src="data:image/svg+xml;base64,AA"></div><div class="jp-OutputArea-outputs">x</div>'
    )
    out = _accessible(page)
    assert out.count('tabindex="0"') == 2  # input wrapper and output, not the outputs container
    assert '<img alt="No description has been provided for this image" src="data:image/png' in out
    assert '<img alt="chart"' in out and out.count("alt=") == 2


def test_same_spec_same_svg_with_gradient_ids_of_its_own() -> None:
    """vega numbers gradients per process: a chart must not change with what was rendered before it,
    and two charts on one page must not share a gradient id."""
    import re

    from tdxlib.workbook.svg import vegalite_svg

    def spec(mark: str) -> dict[str, Any]:
        rows = [{"x": i, "y": i * i, "c": i} for i in range(5)]
        enc = {f: {"field": f, "type": "quantitative"} for f in ("x", "y")}
        return {
            "data": {"values": rows},
            "mark": mark,
            "encoding": {**enc, "color": {"field": "c", "type": "quantitative"}},
        }

    first = vegalite_svg(spec("point"))
    other = vegalite_svg(spec("square"))
    assert vegalite_svg(spec("point")) == first
    ids = re.findall(r'id="(gradient_[^"]+)"', first)
    assert ids and all(f"url(#{i})" in first for i in ids)
    assert not set(ids) & set(re.findall(r'id="(gradient_[^"]+)"', other))
