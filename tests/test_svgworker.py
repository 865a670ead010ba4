"""The SVG helper process of report builds: answers, errors, a dead helper, fonts that do not leak in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tdxlib.errors import ReportError
from tdxlib.report.svgworker import SvgWorker

SPEC: dict[str, Any] = {
    "$schema": "https://vega.github.io/schema/vega-lite/v6.4.1.json",
    "data": {"values": [{"cpu": "CPU 0", "n": 3}, {"cpu": "CPU 1", "n": 5}]},
    "mark": {"type": "bar", "color": "#D55E00"},
    "encoding": {"x": {"field": "cpu", "type": "nominal"}, "y": {"field": "n", "type": "quantitative"}},
    "title": "Device vectors taken per CPU, widest title text first",
}


@pytest.fixture(scope="module")
def worker() -> Iterator[SvgWorker]:
    with SvgWorker() as w:
        yield w


def test_renders_a_spec_and_survives_a_bad_one(worker: SvgWorker) -> None:
    svg = worker.render(SPEC)
    assert svg.lstrip().startswith("<svg") and "#D55E00" in svg and "CPU 1" in svg
    with pytest.raises(RuntimeError, match="conversion failed"):
        worker.render({"mark": "no-such-mark", "data": {"values": [{"a": 1}]}})
    assert worker.render(SPEC) == svg  # the same answer again, after the failure


def _layout(svg: str) -> str:
    """The SVG without its font-family attributes: what text measurement decided."""
    return re.sub(r'font-family="[^"]*"', "", svg)


def test_text_is_measured_with_the_bundled_font_whatever_the_machine_has(worker: SvgWorker) -> None:
    # DejaVu Sans is much wider than Liberation Sans; where the machine has it, vl-convert in this
    # process would use it for the title and lay the chart out differently. The helper sees no
    # system fonts, so it falls through to the bundled Liberation Sans either way.
    first_choice = {**SPEC, "config": {"font": "DejaVu Sans, Liberation Sans, sans-serif"}}
    bundled = {**SPEC, "config": {"font": "Liberation Sans"}}
    a, b = worker.render(first_choice), worker.render(bundled)
    assert "DejaVu Sans" in a and "DejaVu Sans" not in b
    assert _layout(a) == _layout(b)


def test_a_dead_helper_is_a_report_error() -> None:
    w = SvgWorker()
    try:
        w._proc.kill()
        w._proc.wait()
        with pytest.raises(ReportError, match="SVG renderer"):
            w.render(SPEC)
    finally:
        w.close()
    with pytest.raises(ReportError, match="SVG renderer"):
        w.render(SPEC)  # closed: still a clear error, not a crash on a closed pipe
