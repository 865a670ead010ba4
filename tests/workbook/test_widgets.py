"""tdxlib.workbook.widgets: every notebook's view and panel at one place; the main table behind a view."""

from __future__ import annotations

import pandas as pd
import pytest

from tdxlib.errors import ValidationError
from tdxlib.workbook import widgets
from tdxlib.workbook.panel import View
from tdxlib.workbook.params import BudgetParams, HotplugParams, PollingParams


def test_every_notebook_view_and_panel_is_listed() -> None:
    for name in widgets.__all__:
        assert getattr(widgets, name) is not None, name
    assert {n for n in widgets.__all__ if n.endswith("_view")} == {
        "question_view",
        "budget_view",
        "delivery_view",
        "hotplug_view",
        "polling_view",
    }


@pytest.mark.parametrize(
    ("view", "column"),
    [
        (lambda: widgets.budget_view(BudgetParams(cpus=8)), "left_min"),
        (lambda: widgets.hotplug_view(HotplugParams(duration_s=5.0)), "kind"),
        (lambda: widgets.polling_view(PollingParams(quotes=5, hz_values=[250], poll_intervals_ms=[1])), "hz"),
    ],
)
def test_frame_of_finds_the_main_table(view: object, column: str) -> None:
    frame = widgets.frame_of(view())  # type: ignore[operator]
    assert isinstance(frame, pd.DataFrame) and column in frame


def test_frame_of_refuses_other_results() -> None:
    v = widgets.budget_view(BudgetParams(cpus=8))
    with pytest.raises(ValidationError, match="view result"):
        widgets.frame_of(View(v.params, 42, v.chart))
