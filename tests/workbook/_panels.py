"""Helpers shared by the notebooks' view and panel tests."""

from __future__ import annotations

from typing import Any

import pandas as pd

from tdxlib.workbook import widgets
from tdxlib.workbook.panel import Panel, View


def title(chart: Any) -> str:
    """The chart's title text."""
    t = chart.to_dict(validate=False)["title"]
    return str(t["text"] if isinstance(t, dict) else t)


def datasets(chart: Any) -> list[list[dict[str, Any]]]:
    """The chart's inline datasets."""
    return list(chart.to_dict(validate=False).get("datasets", {}).values())


def check_panel_starts_from_the_view(view: View, panel: Panel) -> None:
    """The panel's first chart and caption are the view's at the same parameters; its figure validates."""
    assert panel.error == ""
    assert panel.redraws == 1
    assert panel.chart is not None
    assert panel.chart.to_dict(validate=False) == view.chart.to_dict(validate=False)
    assert panel.caption == view.caption
    view.chart.to_dict()  # the static figure validates against the Vega-Lite schema
    assert set(panel.timings) == {"model", "chart", "total"}
    assert isinstance(widgets.frame_of(view), pd.DataFrame)
    for name, c in panel.controls.items():  # every control starts at the notebook's value
        start = panel.params.control_value(name)
        assert c.value == (tuple(start) if isinstance(start, (list, tuple)) else start), name
