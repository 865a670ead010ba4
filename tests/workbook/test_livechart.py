"""The live chart: a spec split into a frame sent once, datasets of the encoded columns only, the title
as a signal; a redraw of the same frame is an update, not a re-embed; a re-run cell closes its old charts."""

from __future__ import annotations

import altair as alt
import pandas as pd
import pytest

from tdxlib.workbook import livechart
from tdxlib.workbook.livechart import TITLE_SIGNAL, LiveChart, adopt, referenced, split
from tdxlib.workbook.nb02_budget import budget_view
from tdxlib.workbook.params import BudgetParams


def _chart(n: int, title: str = "T", extra: int = 0) -> dict[str, object]:
    df = pd.DataFrame({"x": range(n), "y": [i * i for i in range(n)], "unused": [extra] * n, "k": ["a"] * n})
    return alt.Chart(df, title=title).mark_line().encode(x="x:Q", y="y:Q").to_dict()


def test_split_keeps_only_the_columns_the_spec_refers_to_under_stable_names() -> None:
    s = split(_chart(5))
    assert list(s.data) == ["d0"]
    assert set(s.data["d0"]) == {"x", "y"}  # "unused" and "k" never travel
    assert s.data["d0"]["y"] == [0, 1, 4, 9, 16]
    assert s.frame["data"] == {"name": "d0"} and "datasets" not in s.frame


def test_the_frame_id_ignores_data_and_title_but_not_the_encoding() -> None:
    a, b = split(_chart(5, "one")), split(_chart(7, "two", extra=3))
    assert a.frame_id == b.frame_id and a.data != b.data
    assert a.signals == {TITLE_SIGNAL: "one"} and b.signals == {TITLE_SIGNAL: "two"}
    df = pd.DataFrame({"x": [1], "y": [2]})
    other = split(alt.Chart(df, title="one").mark_point().encode(x="x:Q", y="y:Q").to_dict())
    assert other.frame_id != a.frame_id


def test_datum_references_in_expressions_keep_their_columns() -> None:
    assert {"a", "b c"} <= referenced({"transform": [{"filter": "datum.a > 1 && datum['b c'] != null"}]})


def test_a_panel_redraw_of_the_budget_view_is_an_update() -> None:
    chart = LiveChart(budget_view(BudgetParams()).chart.to_dict(validate=False))
    spec_id = chart.spec_id
    assert (chart.embeds, chart.updates) == (1, 0)
    how = chart.show(budget_view(BudgetParams(cpus=128, intel_tdx_guest=False)).chart.to_dict(validate=False))
    assert how == "update" and chart.spec_id == spec_id and chart.rev == 2
    assert "128 vCPUs" in chart.signals[TITLE_SIGNAL]
    sizes = {name: len(cols) for name, cols in chart.data.items()}
    assert all(n <= 7 for n in sizes.values()), sizes  # of the 13 columns of the budget rows
    assert len(chart._esm) > 100_000  # vega, vega-lite and vega-embed travel with the front-end code


def test_a_cells_rerun_closes_the_charts_its_earlier_run_showed(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = iter([("cell-a", "m1"), ("cell-a", "m1"), ("cell-a", "m2"), ("cell-b", "m3")])
    monkeypatch.setattr(livechart, "_cell_run", lambda: next(runs))
    monkeypatch.setattr(livechart, "_BY_CELL", {})
    first, second = adopt(LiveChart(_chart(3))), adopt(LiveChart(_chart(3)))
    assert first.comm is not None and second.comm is not None
    third = adopt(LiveChart(_chart(3)))  # cell-a again, a new run: the two of its last run go
    assert first.comm is None and second.comm is None and third.comm is not None
    other = adopt(LiveChart(_chart(3)))  # another cell leaves cell-a's chart alone
    assert third.comm is not None and other.comm is not None
