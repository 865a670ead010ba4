"""Live charts: a widget (no HTML, no vega bundle in a cell's outputs); a page of its own draws offline."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

import tdxlib.workbook.charts as charts
from tdxlib.report.browser import CHROMIUM_FLAGS, find_chromium

_WIDGET = "application/vnd.jupyter.widget-view+json"


def _spec(title: str = "T") -> dict[str, object]:
    df = pd.DataFrame({"x": [1, 2, 3], "y": [3, 1, 2]})
    return charts.alt.Chart(df, title=title).mark_line().encode(x="x", y="y").to_dict()


def test_a_live_chart_output_is_a_widget_reference_not_its_code() -> None:
    out = charts._live_renderer(_spec())
    assert set(out) == {"text/plain", _WIDGET}
    assert len(json.dumps(out)) < 500  # the model id: the vega bundle lives in the widget's front end
    assert charts.LIVE_RENDERER in charts.alt.renderers.names()


def test_spec_text_cannot_close_the_script_element() -> None:
    html = charts.offline_html(_spec("a </script><script>alert(1)</script>"), with_bundle=False)
    assert html.count("</script>") == 1  # only our own closing tag


@pytest.mark.browser
@pytest.mark.skipif(find_chromium() is None, reason="needs Debian chromium")
def test_two_offline_charts_on_one_page_draw_in_chromium(tmp_path: Path) -> None:
    outs = [charts.offline_html(_spec(f"chart {i}"), with_bundle=i == 0) for i in range(2)]
    page = tmp_path / "live.html"
    page.write_text("<html><body>" + "".join(outs) + "</body></html>")
    cmd = [
        find_chromium(), *CHROMIUM_FLAGS,
        f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom", page.as_uri(),
    ]  # fmt: skip
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    assert dom.count('class="marks"') == 2, "both charts drawn by vega-embed"


def test_tooltips_spell_out_simple_shorthands_as_altair_would() -> None:
    import altair as alt
    import pandas as pd

    from tdxlib.workbook.charts import tooltips

    df = pd.DataFrame({"cpu": ["CPU 0"], "lost": [0.5], "t": [1.0]})
    shorthands = ["cpu:N", "lost:Q", "t:O", "sum(lost):Q"]
    ours = tooltips(shorthands)
    assert [t.to_dict().get("field") for t in ours[:3]] == ["cpu", "lost", "t"]
    assert ours[3].to_dict() == alt.Tooltip("sum(lost):Q").to_dict()  # not simple: left to altair
    chart = alt.Chart(df).mark_bar().encode(x="cpu:N")
    assert (
        chart.encode(tooltip=ours).to_dict()["encoding"]["tooltip"]
        == chart.encode(tooltip=shorthands).to_dict()["encoding"]["tooltip"]
    )


def test_layer_gives_the_spec_of_altairs_own_layering() -> None:
    """charts.layer (data once, on the layer) writes the same spec as adding layers built on the frame."""
    import altair as alt

    df = pd.DataFrame({"x": ["a", "b", "c"], "y": [1.0, 2.5, None], "label": ["one", "", "three"]})

    def parts(data: pd.DataFrame | None) -> tuple[alt.Chart, alt.Chart]:
        base = (alt.Chart(data) if data is not None else alt.Chart()).encode(
            x=alt.X(field="x", type="nominal"), y=alt.Y(field="y", type="quantitative")
        )
        return base.mark_bar(), base.mark_text(dy=-4).encode(text=alt.Text(field="label", type="nominal"))

    ours = charts.layer(df, *parts(None), title="t").properties(width=200)
    theirs = alt.layer(*parts(df), title="t").properties(width=200)
    assert ours.to_dict() == theirs.to_dict()
    assert ours.to_dict()["datasets"] and all("data" not in sub for sub in ours.to_dict()["layer"])
