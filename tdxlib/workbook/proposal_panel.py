"""The interactive panel of notebook 06: pick a proposal and a suite, see its verdict grid and the
annotated proposal redrawn.

Built on :class:`~tdxlib.workbook.widgets.Panel` (the shared control/redraw machinery):
:func:`proposal_view` is the pure view, :func:`explorer` the panel plus an HTML widget holding
:func:`render_html`. Evaluations are cached per (proposal, suite), so switching back is instant.
Tests drive it by setting ``explorer.panel.controls["proposal"].value`` and reading ``explorer.html.value``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from tdxlib.argument.proposals.annotate import render_html
from tdxlib.argument.proposals.evaluate import evaluate, key_numbers
from tdxlib.argument.proposals.load import builtin_ids, resolve
from tdxlib.argument.proposals.suites import suite_names

__all__ = ["Explorer", "cached_evaluation", "explorer", "proposal_view"]


@lru_cache(maxsize=64)
def _evaluation(proposal: str, suite: str, mtime: float) -> pd.DataFrame:
    return evaluate(resolve(proposal), suite)


def cached_evaluation(proposal: str, suite: str = "default") -> pd.DataFrame:
    """``evaluate(proposal, suite)``, cached per built-in id or file (a changed file is re-run)."""
    p = Path(proposal)
    mtime = p.stat().st_mtime if proposal not in builtin_ids() and p.is_file() else 0.0
    return _evaluation(proposal, suite, mtime).copy()


def proposal_view(proposal: str = "caller-vcpu", suite: str = "default") -> Any:
    """The view of one proposal: its evaluation (result), verdict grid (chart) and a caption."""
    from tdxlib.workbook.proposal_figures import verdict_grid
    from tdxlib.workbook.widgets import View

    ev = cached_evaluation(proposal, suite)
    p = resolve(proposal)
    k = key_numbers(ev)
    caption = (
        f"{p.id}: own VMM {k['verdict_own_vmm']}, real VMMs {k['verdict_real_vmms']}; "
        f"{k['ok_runs']}/{k['runs']} runs ok; new spec elements {k['new_elements']}"
    )
    chart = verdict_grid(ev, f"{p.id} across the {suite} suite")
    return View({"proposal": proposal, "suite": suite}, ev, chart, caption)


@dataclass(eq=False)
class Explorer:
    """A :class:`tdxlib.workbook.widgets.Panel` (verdict grid) plus the annotated proposal as HTML."""

    panel: Any
    html: Any
    widget: Any

    def refresh(self, _change: Any = None) -> None:
        """Re-render the annotated proposal for the panel's current values."""
        values = self.panel.values()
        ev = self.panel.result
        if ev is None:
            return
        self.html.value = render_html(resolve(values["proposal"]), ev)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def explorer(proposal: str = "caller-vcpu", suite: str = "default") -> Explorer:
    """Dropdowns for proposal (built-ins, plus ``proposal`` if it is a file) and suite; the verdict grid
    and the annotated proposal follow them."""
    import ipywidgets as w

    from tdxlib.workbook.widgets import Panel

    options: list[tuple[str, str]] = [(i, i) for i in builtin_ids()]
    if proposal not in builtin_ids():
        options.insert(0, (resolve(proposal).id + " (file)", proposal))
    controls = {
        "proposal": w.Dropdown(options=options, value=proposal, description="proposal"),
        "suite": w.Dropdown(options=suite_names(), value=suite, description="suite"),
    }
    panel = Panel("Evaluate a proposal", controls, proposal_view)
    html = w.HTML()
    ex = Explorer(panel, html, w.VBox([panel.widget, html]))
    for control in controls.values():
        control.observe(ex.refresh, names="value")
    ex.refresh()
    return ex
