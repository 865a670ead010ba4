"""Notebook 06, spec proposals: a proposal's evaluation (cached per proposal file and suite), its
recorded key numbers, and the interactive explorer — pick a proposal and a suite, see the verdict
grid and the annotated proposal redrawn.

The explorer is a :class:`~tdxlib.workbook.panel.Panel` (verdict grid) plus an HTML widget holding
:func:`render_html`. Tests drive it by setting ``explorer.panel.controls["proposal"].value`` and
reading ``explorer.html.value``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tdxlib.argument.proposals.annotate import render_html
from tdxlib.argument.proposals.catalog import SUITES_PATH, builtin_paths
from tdxlib.argument.proposals.evaluate import evaluate, key_numbers
from tdxlib.argument.proposals.load import builtin_ids, resolve
from tdxlib.argument.proposals.suites import suite_names
from tdxlib.cache import memo, stat_key
from tdxlib.workbook.panel import View, make_panel
from tdxlib.workbook.params import ProposalsParams
from tdxlib.workbook.proposal_figures import verdict_grid

__all__ = [
    "Explorer",
    "ProposalsParams",
    "cached_evaluation",
    "explorer",
    "fit_to_column",
    "prewarm",
    "proposal_metrics",
    "proposal_view",
]


@memo(maxsize=64, copy=pd.DataFrame.copy)
def _evaluation(proposal: str, suite: str, files: tuple[tuple[str, int, int], ...]) -> pd.DataFrame:
    """``evaluate(proposal, suite)``; ``files`` (the proposal's and the suites' stat_key) is key only."""
    return evaluate(resolve(proposal), suite)


#: Evaluations the prewarm thread is running now (not a cache: an entry lives while it runs), so that
#: a redraw asking for one waits for it instead of running the same suite a second time.
_RUNNING: dict[tuple[str, str], threading.Event] = {}


def cached_evaluation(proposal: str, suite: str = "default") -> pd.DataFrame:
    """``evaluate(proposal, suite)``, cached per built-in id or path and suite; an edited proposal or
    suites file is evaluated again. Each caller gets its own copy."""
    running = _RUNNING.get((proposal, suite))
    if running is not None:
        running.wait(timeout=60)
    return _evaluate_cached(proposal, suite)


def _evaluate_cached(proposal: str, suite: str) -> pd.DataFrame:
    path = builtin_paths().get(proposal, Path(proposal))
    return _evaluation(proposal, suite, stat_key(path, SUITES_PATH))


def _in_kernel() -> bool:
    # reason: IPython is loaded in a kernel already; in plain Python the import finds no shell
    from IPython import get_ipython

    return get_ipython() is not None


def _warm_order(proposals: list[str], proposal: str, suite: str) -> list[tuple[str, str]]:
    """Every other (proposal, suite): this suite first, the proposals from the one after this one on
    (the order a reviewer steps through the dropdown)."""
    at = proposals.index(proposal) if proposal in proposals else -1
    ring = proposals[at + 1 :] + proposals[: at + 1]
    suites = [suite, *(s for s in suite_names() if s != suite)]
    return [(p, s) for s in suites for p in ring if (p, s) != (proposal, suite)]


def prewarm(pairs: Sequence[tuple[str, str]]) -> threading.Thread:
    """Evaluate each (proposal, suite) in a background thread, into :func:`cached_evaluation`'s cache.

    A proposal's first evaluation runs its whole suite: 0.1-0.6 s of simulation on this machine, too
    slow for a redraw. The explorer starts this while the reviewer reads, so picking another
    proposal or suite redraws from the cache (~20 ms).
    """

    def run() -> None:
        for key in pairs:
            done = _RUNNING.setdefault(key, threading.Event())
            try:
                _evaluate_cached(*key)
            except Exception:  # a proposal the suite refuses: the panel says so when it is picked
                pass
            finally:
                done.set()
                _RUNNING.pop(key, None)

    thread = threading.Thread(target=run, name="tdxlib-prewarm", daemon=True)
    thread.start()
    return thread


def proposal_metrics(evaluation: pd.DataFrame) -> dict[str, Any]:
    """Key numbers of notebook 06: the proposal's ``key_numbers`` that have a value."""
    return {k: v for k, v in key_numbers(evaluation).items() if v is not None}


def proposal_view(p: ProposalsParams | None = None) -> View:
    """The view of one proposal: its evaluation (result), verdict grid (chart) and a caption."""
    p = p or ProposalsParams()
    ev = cached_evaluation(p.proposal, p.suite)
    proposal = resolve(p.proposal)
    k = key_numbers(ev)
    caption = (
        f"{proposal.id}: own VMM {k['verdict_own_vmm']}, real VMMs {k['verdict_real_vmms']}; "
        f"{k['ok_runs']}/{k['runs']} runs ok; new spec elements {k['new_elements']}"
    )
    chart = verdict_grid(ev, f"{proposal.id} across the {p.suite} suite")
    return View(p, ev, chart, caption)


#: The annotated proposal fitted to the notebook's column: its two-column rows may shrink, and a table
#: still too wide scrolls inside its own box (the page's width is left alone).
_FIT_CSS = (
    "<style>"
    ".tdxlib-proposal-box,.tdxlib-proposal-box .widget-html-content{min-width:0;max-width:100%}"
    ".tdxlib-proposal{max-width:100%;overflow-x:auto;white-space:normal}"
    ".tdxlib-proposal .tdxp{max-width:100%}"
    ".tdxlib-proposal .tdxp .row{grid-template-columns:minmax(0,2fr) minmax(0,3fr)}"
    ".tdxlib-proposal .tdxp table{display:block;max-width:100%;overflow-x:auto}"
    ".tdxlib-proposal .tdxp code{overflow-wrap:anywhere}"
    "</style>"
)


def fit_to_column(html: str) -> str:
    """The annotated proposal's HTML in a box no wider than the notebook column (see ``_FIT_CSS``)."""
    return f'{_FIT_CSS}<div class="tdxlib-proposal">{html}</div>'


@dataclass(eq=False)
class Explorer:
    """A :class:`tdxlib.workbook.panel.Panel` (verdict grid) plus the annotated proposal as HTML."""

    panel: Any
    html: Any
    widget: Any

    def refresh(self, _change: Any = None) -> None:
        """Re-render the annotated proposal for the panel's current values."""
        values = self.panel.values()
        ev = self.panel.result
        if ev is None:
            return
        self.html.value = fit_to_column(render_html(resolve(values["proposal"]), ev))

    def _ipython_display_(self) -> None:
        from IPython.display import display  # reason: called by IPython only, which has loaded it

        display(self.widget)


def explorer(proposal: str = "caller-vcpu", suite: str = "default", *, warm: bool | None = None) -> Explorer:
    """Dropdowns for proposal (built-ins, plus ``proposal`` if it is a file) and suite; the verdict grid
    and the annotated proposal follow them. ``warm``: evaluate every other choice in the background
    (:func:`prewarm`); by default only in a live kernel (not in plain Python, tests, report runs)."""
    import ipywidgets as w  # reason: 0.17 s to import, and report runs build no panel

    p = ProposalsParams(proposal=proposal, suite=suite)
    options: list[tuple[str, str]] = [(i, i) for i in builtin_ids()]
    if proposal not in builtin_ids():
        options.insert(0, (resolve(proposal).id + " (file)", proposal))
    choose = {"proposal": w.Dropdown(options=options, value=proposal, description="proposal")}
    panel = make_panel("Evaluate a proposal", p, proposal_view, ("proposal", "suite"), choose)
    html = w.HTML(layout=w.Layout(width="100%", min_width="0"))
    html.add_class("tdxlib-proposal-box")
    ex = Explorer(panel, html, w.VBox([panel.widget, html], layout=w.Layout(width="100%", min_width="0")))
    for c in panel.controls.values():
        c.observe(ex.refresh, names="value")
    ex.refresh()
    if _in_kernel() if warm is None else warm:
        prewarm(_warm_order([pid for _, pid in options], proposal, suite))
    return ex
