"""The report renderer process: SVG and HTML answers, errors, a dead helper, fonts that do not leak in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tdxlib.errors import ReportError
from tdxlib.report.renderer import Renderer

SPEC: dict[str, Any] = {
    "$schema": "https://vega.github.io/schema/vega-lite/v6.4.1.json",
    "data": {"values": [{"cpu": "CPU 0", "n": 3}, {"cpu": "CPU 1", "n": 5}]},
    "mark": {"type": "bar", "color": "#D55E00"},
    "encoding": {"x": {"field": "cpu", "type": "nominal"}, "y": {"field": "n", "type": "quantitative"}},
    "title": "Device vectors taken per CPU, widest title text first",
}


@pytest.fixture(scope="module")
def renderer() -> Iterator[Renderer]:
    with Renderer() as w:
        yield w


def test_renders_a_spec_and_survives_a_bad_one(renderer: Renderer) -> None:
    svg = renderer.svg(SPEC)
    assert svg.lstrip().startswith("<svg") and "#D55E00" in svg and "CPU 1" in svg
    with pytest.raises(RuntimeError, match="conversion failed"):
        renderer.svg({"mark": "no-such-mark", "data": {"values": [{"a": 1}]}})
    assert renderer.svg(SPEC) == svg  # the same answer again, after the failure


def _layout(svg: str) -> str:
    """The SVG without its font-family attributes: what text measurement decided."""
    return re.sub(r'font-family="[^"]*"', "", svg)


def test_text_is_measured_with_the_bundled_font_whatever_the_machine_has(renderer: Renderer) -> None:
    # DejaVu Sans is much wider than Liberation Sans; where the machine has it, vl-convert in this
    # process would use it for the title and lay the chart out differently. The helper sees no
    # system fonts, so it falls through to the bundled Liberation Sans either way.
    first_choice = {**SPEC, "config": {"font": "DejaVu Sans, Liberation Sans, sans-serif"}}
    bundled = {**SPEC, "config": {"font": "Liberation Sans"}}
    a, b = renderer.svg(first_choice), renderer.svg(bundled)
    assert "DejaVu Sans" in a and "DejaVu Sans" not in b
    assert _layout(a) == _layout(b)


def test_a_dead_helper_is_a_report_error() -> None:
    w = Renderer()
    try:
        w._proc.kill()
        w._proc.wait()
        with pytest.raises(ReportError, match="report renderer"):
            w.svg(SPEC)
    finally:
        w.close()
    with pytest.raises(ReportError, match="report renderer"):
        w.svg(SPEC)  # closed: still a clear error, not a crash on a closed pipe


def test_exports_the_page_this_process_would(renderer: Renderer) -> None:
    import copy

    import nbformat

    from tdxlib.report.export import export_html

    cell = nbformat.v4.new_code_cell("show(chart)", execution_count=1)
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data", data={"image/svg+xml": renderer.svg(SPEC), "text/plain": "<chart>"}
        )
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Vector budget"), cell])
    page = renderer.html(nbformat.v4.writes(nb), "budget", "<header>facts</header>")
    assert page == export_html(copy.deepcopy(nb), "budget", "<header>facts</header>")
    assert "data:image/svg+xml;base64," in page and "<header>facts</header>" in page
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": '<img src="https://cdn.example/x.png">'})
    ]
    with pytest.raises(ReportError, match=r"off the page.*cdn\.example"):
        renderer.html(nbformat.v4.writes(nb), "budget")
