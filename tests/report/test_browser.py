"""The workbook's own reports in a real browser: the reduced parameter sets built with ``tdxlib report``,
then every page opened in headless chromium with the network off (``tdxlib.report.browser``), which must
see every chart drawn; and the checker itself failing on pages that do not show their charts."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from htmlrefs import Resources
from paths import ROOT

from tdxlib.errors import ReportError
from tdxlib.report import browser
from tdxlib.report.build import BuildResult, build
from tdxlib.report.config import load_config

CONFIG = ROOT / "notebooks" / "reports.yaml"
needs_chromium = pytest.mark.skipif(
    browser.find_chromium() is None, reason="needs chromium (.ci/run installs it)"
)

SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80">'
    '<rect width="120" height="80" fill="#d55e00"/></svg>'
)


def _img(svg: str, style: str = "") -> str:
    data = base64.b64encode(svg.encode()).decode()
    return f'<img alt="chart" style="{style}" src="data:image/svg+xml;base64,{data}">'


def _page(tmp_path: Path, name: str, body: str) -> Path:
    page = tmp_path / name
    page.write_text(f"<!DOCTYPE html><html><head><title>t</title></head><body>{body}</body></html>")
    return page


# --------------------------------------------------------------------------------------------------
# Without a browser: the probe, links, arguments
# --------------------------------------------------------------------------------------------------


def test_probe_goes_first_into_head_and_the_page_file_is_untouched(tmp_path: Path) -> None:
    text = "<html><head><script>var a=1;</script></head><body></body></html>"
    probed = browser._with_probe(text)
    assert probed.index(browser._PROBE_ID) < probed.index("var a=1")
    assert browser._with_probe("<p>no head</p>").startswith("<script>")


def test_dead_local_links_and_missing_anchors_are_named(tmp_path: Path) -> None:
    (tmp_path / "other.html").write_text("<h1 id='top'>x</h1><h2 id='a%C2%B7b'>y</h2>")
    page = _page(
        tmp_path,
        "p.html",
        '<a href="other.html#top">ok</a><a href="other.html#a%C2%B7b">raw id</a>'
        '<a href="https://example.org/x">remote: not ours to check</a><a href="#here">self</a>'
        '<a href="gone.html">dead</a><a href="other.html#nope">no anchor</a><span id="here"></span>',
    )
    scan = browser._Scan()
    scan.feed(page.read_text())
    dead = browser._dead_links(page, scan)
    assert dead == [
        "link 'gone.html' names no file beside the page",
        "link 'other.html#nope': other.html has no element with id 'nope'",
    ]


def test_a_missing_chromium_or_page_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ReportError, match="no such page"):
        browser.pages_of([tmp_path / "nowhere.html"])
    page = _page(tmp_path, "p.html", _img(SVG))
    monkeypatch.setenv("TDXLIB_CHROMIUM", "no-such-chromium-binary")
    with pytest.raises(ReportError, match="no chromium"):
        browser.check_page(page)
    assert browser.main([str(tmp_path)]) == 2


def test_the_probe_result_is_read_back_from_the_dumped_dom() -> None:
    dom = f'<body><pre id="{browser._PROBE_ID}">{{"images": [], "errors": ["a &amp; b"]}}</pre></body>'
    assert browser._probe_result(dom) == {"images": [], "errors": ["a & b"]}
    assert browser._probe_result("<body>never loaded</body>") is None


# --------------------------------------------------------------------------------------------------
# With chromium: the checker fails on what a reader would see as a missing chart
# --------------------------------------------------------------------------------------------------


@pytest.mark.browser
@needs_chromium
def test_a_page_whose_charts_draw_passes(tmp_path: Path) -> None:
    check = browser.check_page(_page(tmp_path, "good.html", _img(SVG) + _img(SVG)))
    assert check.ok, check.problems
    assert (check.expected, check.drawn) == (2, 2)


@pytest.mark.browser
@needs_chromium
def test_broken_hidden_and_remote_charts_are_each_named(tmp_path: Path) -> None:
    body = (
        _img(SVG)
        + _img("<svg this is not svg")  # does not decode
        + _img(SVG, style="display:none")  # decodes, but the reader sees nothing
        + '<img alt="cdn" src="http://cdn.example.invalid/chart.png">'  # would need the network
    )
    check = browser.check_page(_page(tmp_path, "bad.html", body))
    text = "\n".join(check.problems)
    assert (check.expected, check.drawn) == (4, 1)
    assert "image 2 of 4 did not decode" in text
    assert "image 3 of 4 decoded but is not shown" in text
    assert "image 4 of 4 did not decode" in text and "cdn.example.invalid" in text


@pytest.mark.browser
@needs_chromium
def test_a_live_chart_draws_with_its_bundle_and_not_without(tmp_path: Path) -> None:
    from tdxlib.workbook.charts import offline_html

    spec = {"mark": "bar", "data": {"values": [{"x": 1}]}, "encoding": {"x": {"field": "x"}}}
    missing = browser.check_page(_page(tmp_path, "live.html", offline_html(spec, with_bundle=False)))
    assert missing.expected == 1 and missing.drawn == 0
    assert any("drew no marks" in p for p in missing.problems)
    drawn = browser.check_page(_page(tmp_path, "live2.html", offline_html(spec, with_bundle=True)))
    assert drawn.ok and (drawn.expected, drawn.drawn) == (1, 1), drawn.problems


# --------------------------------------------------------------------------------------------------
# The workbook's reports (reduced parameter sets), built once for this module
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuildResult]:
    out = tmp_path_factory.mktemp("reports")
    result = build(config=CONFIG, out=out, reduced=True, jobs=2, progress=False)
    assert result.ok, [str(e) for e in result.errors]
    return out, result


@pytest.mark.notebooks
def test_every_reduced_run_of_the_workbook_has_a_report(reports: tuple[Path, BuildResult]) -> None:
    out, _ = reports
    runs = load_config(CONFIG).select(reduced=True)
    pages = {p.name for p in out.glob("*.html")}
    assert pages == {f"{r.name}.html" for r in runs} | {"index.html"}
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["runs"]) == {r.name for r in runs}


@pytest.mark.notebooks
def test_workbook_reports_load_nothing_off_page_and_link_siblings_to_the_index(
    reports: tuple[Path, BuildResult],
) -> None:
    out, _ = reports
    for page in out.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        loads = Resources()
        loads.feed(text)
        off_page = [r for r in loads.refs if not r.startswith(("data:", "#"))]
        assert off_page == [], page.name  # scripts, styles, images, frames: all on the page
        scan = browser._Scan()
        scan.feed(text)
        assert not [h for h in scan.links if ".ipynb" in h], f"{page.name} links a notebook file"
        assert browser._dead_links(page, scan) == [], page.name


@pytest.mark.notebooks
@pytest.mark.browser
@needs_chromium
def test_every_workbook_report_and_the_index_show_every_chart_in_chromium(
    reports: tuple[Path, BuildResult],
) -> None:
    out, _ = reports
    checks = browser.check_pages([out], jobs=2)
    assert {c.page.name for c in checks} == {p.name for p in out.glob("*.html")}
    assert [c.line() for c in checks if not c.ok] == []
    for check in checks:
        if check.page.name != "index.html":
            assert check.drawn >= 1 and check.drawn == check.expected, check.line()
