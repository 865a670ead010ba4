"""The notebooks' interactive panels, at one place: each notebook has a *view* (its parameter model ->
:class:`View` with the model result, the chart and a one-line caption) and a *panel* built on the
same view, in the notebook's own module; the machinery is :mod:`tdxlib.workbook.panel`.

=====================  ======================================  =====================================
notebook               view                                    panel
=====================  ======================================  =====================================
01_the_question        :func:`question_view`                   :func:`question_panel`
02_vector_budget       :func:`budget_view`                     :func:`budget_panel`
03_who_gets_the_int…   :func:`delivery_view`                   :func:`delivery_panel`
04_hotplug             :func:`hotplug_view`                    :func:`hotplug_panel`
05_polling             :func:`polling_view`                    :func:`polling_panel`
06_proposals           ``nb06_proposals.proposal_view``        ``nb06_proposals.explorer``
=====================  ======================================  =====================================
"""

from __future__ import annotations

import pandas as pd

from tdxlib.errors import ValidationError
from tdxlib.workbook.nb01_question import question_panel, question_view
from tdxlib.workbook.nb02_budget import BUDGET_LOADS, budget_panel, budget_view
from tdxlib.workbook.nb03_delivery import delivery_panel, delivery_view
from tdxlib.workbook.nb04_hotplug import HotplugRun, hotplug_panel, hotplug_view
from tdxlib.workbook.nb05_polling import polling_panel, polling_view
from tdxlib.workbook.panel import Panel, View
from tdxlib.workbook.params import HZ_CHOICES, POLL_INTERVALS

__all__ = [
    "BUDGET_LOADS",
    "HZ_CHOICES",
    "POLL_INTERVALS",
    "Panel",
    "View",
    "budget_panel",
    "budget_view",
    "delivery_panel",
    "delivery_view",
    "frame_of",
    "hotplug_panel",
    "hotplug_view",
    "polling_panel",
    "polling_view",
    "question_panel",
    "question_view",
]


def frame_of(view: View) -> pd.DataFrame:
    """The main table behind a view (the delivery matrix, the polling sweep, the budget points, ...)."""
    res = view.result
    if isinstance(res, pd.DataFrame):
        return res
    if isinstance(res, dict):
        for key in ("points", "sweep"):
            if key in res:
                frame: pd.DataFrame = res[key]
                return frame
    if isinstance(res, HotplugRun):
        return res.events
    raise ValidationError(
        "view result", type(res).__name__, "a DataFrame, a budget/polling dict or a HotplugRun"
    )
