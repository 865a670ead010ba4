"""The workbook: what the notebooks compute, so their code cells stay a few lines long and the logic
is tested. One module per notebook, each with its model functions, key numbers, view and panel:

=====================  ===========================================================================
``nb01_question``      a few GetQuote round trips, the range check, the thread's claims by date
``nb02_budget``        the vector budget: growth with CPUs, offline limits, layouts, captures
``nb03_delivery``      who gets the interrupt: the strategy × VMM profile delivery matrix
``nb04_hotplug``       the notify CPU goes offline: loss windows, re-registration compared
``nb05_polling``       msleep() at each HZ, latency and wake-ups against the poll interval
``nb06_proposals``     a spec proposal's evaluation and explorer
=====================  ===========================================================================

Shared: :mod:`~tdxlib.workbook.params` (one parameter model per notebook), ``session.start`` (every
notebook's first call), ``ledgers`` (each notebook's claims), ``simruns`` (memoised simulation runs),
``panel`` (the widget machinery), ``figures``/``charts`` (the look). The names below are re-exported
here, loaded on first use so that ``tdxlib.workbook.params`` stays light for ``tdxlib report``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tdxlib.workbook.ledgers import NOTEBOOK_CLAIMS, PARAM_ROUTES, claims_for, claims_view
    from tdxlib.workbook.nb01_question import (
        MECHANISM_KINDS,
        mechanism_run,
        question_metrics,
        setup_checks,
        thread_frame,
    )
    from tdxlib.workbook.nb02_budget import (
        GROWTH_COLUMNS,
        LAYOUT_VARIANTS,
        CaptureAnswer,
        band_frame,
        budget_metrics,
        budget_point,
        capture_answer,
        capture_names,
        growth_frame,
        headroom_frame,
        layouts_frame,
        load_frame,
        offline_limit,
        vector_space_frame,
        when_it_matters,
    )
    from tdxlib.workbook.nb03_delivery import (
        DELIVERY_QUOTES,
        DELIVERY_STRATEGIES,
        DELIVERY_VMMS,
        delivery_matrix,
        delivery_metrics,
        irq_placement,
        profiles_all_completed_key,
    )
    from tdxlib.workbook.nb04_hotplug import (
        HOTPLUG_KINDS,
        HOTPLUG_PAIRS,
        HOTPLUG_STRATEGIES,
        HotplugRun,
        hotplug_compare,
        hotplug_metric_key,
        hotplug_metrics,
        hotplug_run,
        loss_windows,
    )
    from tdxlib.workbook.nb05_polling import (
        STUCK_GUESTS,
        interrupt_reference,
        poll_metric_key,
        polling_cost,
        polling_metrics,
        polling_sweep,
        sleep_table,
        stuck_frame,
    )
    from tdxlib.workbook.session import start

#: Public name -> the module (under tdxlib.workbook) that defines it.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("NOTEBOOK_CLAIMS", "PARAM_ROUTES", "claims_for", "claims_view"), "ledgers"),
    **dict.fromkeys(
        ("MECHANISM_KINDS", "mechanism_run", "question_metrics", "setup_checks", "thread_frame"),
        "nb01_question",
    ),
    **dict.fromkeys(
        (
            "GROWTH_COLUMNS",
            "LAYOUT_VARIANTS",
            "CaptureAnswer",
            "band_frame",
            "budget_metrics",
            "budget_point",
            "capture_answer",
            "capture_names",
            "growth_frame",
            "headroom_frame",
            "layouts_frame",
            "load_frame",
            "offline_limit",
            "vector_space_frame",
            "when_it_matters",
        ),
        "nb02_budget",
    ),
    **dict.fromkeys(
        (
            "DELIVERY_QUOTES",
            "DELIVERY_STRATEGIES",
            "DELIVERY_VMMS",
            "delivery_matrix",
            "delivery_metrics",
            "irq_placement",
            "profiles_all_completed_key",
        ),
        "nb03_delivery",
    ),
    **dict.fromkeys(
        (
            "HOTPLUG_KINDS",
            "HOTPLUG_PAIRS",
            "HOTPLUG_STRATEGIES",
            "HotplugRun",
            "hotplug_compare",
            "hotplug_metric_key",
            "hotplug_metrics",
            "hotplug_run",
            "loss_windows",
        ),
        "nb04_hotplug",
    ),
    **dict.fromkeys(
        (
            "STUCK_GUESTS",
            "interrupt_reference",
            "poll_metric_key",
            "polling_cost",
            "polling_metrics",
            "polling_sweep",
            "sleep_table",
            "stuck_frame",
        ),
        "nb05_polling",
    ),
    "start": "session",
}

__all__ = [
    "DELIVERY_QUOTES",
    "DELIVERY_STRATEGIES",
    "DELIVERY_VMMS",
    "GROWTH_COLUMNS",
    "HOTPLUG_KINDS",
    "HOTPLUG_PAIRS",
    "HOTPLUG_STRATEGIES",
    "LAYOUT_VARIANTS",
    "MECHANISM_KINDS",
    "NOTEBOOK_CLAIMS",
    "PARAM_ROUTES",
    "STUCK_GUESTS",
    "CaptureAnswer",
    "HotplugRun",
    "band_frame",
    "budget_metrics",
    "budget_point",
    "capture_answer",
    "capture_names",
    "claims_for",
    "claims_view",
    "delivery_matrix",
    "delivery_metrics",
    "growth_frame",
    "headroom_frame",
    "hotplug_compare",
    "hotplug_metric_key",
    "hotplug_metrics",
    "hotplug_run",
    "interrupt_reference",
    "irq_placement",
    "layouts_frame",
    "load_frame",
    "loss_windows",
    "mechanism_run",
    "offline_limit",
    "poll_metric_key",
    "polling_cost",
    "polling_metrics",
    "polling_sweep",
    "profiles_all_completed_key",
    "question_metrics",
    "setup_checks",
    "sleep_table",
    "start",
    "stuck_frame",
    "thread_frame",
    "vector_space_frame",
    "when_it_matters",
]


def __getattr__(name: str) -> Any:
    """Import the re-exported names on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tdxlib.workbook' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"tdxlib.workbook.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*__all__, *(k for k in globals() if not k.startswith("_"))])
