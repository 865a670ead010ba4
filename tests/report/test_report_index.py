"""tdxlib.report.index: the claims ledger gains a "holds in" column — the share of a sweep's cells where
each claim holds, with its interval, read from the metrics notebook 07 records — in summary.json,
summary.md and index.html."""

from __future__ import annotations

from typing import Any

from tdxlib.report.index import build_summary, index_html, summary_markdown
from tdxlib.sweeps.holds import HoldsIn, holds_in_metrics


def _runs() -> dict[str, dict[str, Any]]:
    ledger = [
        {"id": "notify-works", "verdict": "holds", "author": "A", "claim": "c1", "evidence": "e1"},
        {"id": "config-gated", "verdict": "fails", "author": "B", "claim": "c2", "evidence": "e2"},
    ]
    recorded = holds_in_metrics("notify-works", HoldsIn(0.75, 0.55, 0.88, 24))
    return {
        "01_the_question": {"status": "ok", "html": "01_the_question.html", "ledger": ledger, "metrics": {}},
        "07_how_far": {
            "status": "ok",
            "html": "07_how_far.html",
            "ledger": ledger,
            "metrics": {k: {"value": v, "rel_tol": 1e-9, "abs_tol": 0.0} for k, v in recorded.items()},
        },
    }


def test_the_summary_ledger_carries_how_far_a_claim_holds() -> None:
    summary = build_summary(_runs(), "0.1.0", None)
    rows = {r["id"]: r for r in summary["ledger"]}
    assert rows["notify-works"]["holds_in"] == {
        "share": 0.75,
        "low": 0.55,
        "high": 0.88,
        "cells": 24,
        "run": "07_how_far",
        "html": "07_how_far.html",
    }
    assert rows["config-gated"]["holds_in"] is None
    assert rows["notify-works"]["runs"] == ["01_the_question", "07_how_far"]


def test_the_index_and_the_markdown_show_the_column() -> None:
    summary = build_summary(_runs(), "0.1.0", None)
    page = index_html(summary)
    assert "95% Wilson interval'>holds in</th>" in page
    assert "<a href='07_how_far.html'>75% (55–88%) of 24 cells</a>" in page
    assert "<span class='meta'>not swept</span>" in page
    md = summary_markdown(summary)
    assert "| claim | verdict | holds in | depends on | author | runs |" in md
    assert "| notify-works | **holds** | 75% (55–88%) of 24 cells |  | A |" in md
    assert "| config-gated | **fails** |  |  | B |" in md


def test_without_a_sweep_every_claim_is_not_swept() -> None:
    runs = _runs()
    del runs["07_how_far"]
    summary = build_summary(runs, "0.1.0", None)
    assert all(r["holds_in"] is None for r in summary["ledger"])
    assert index_html(summary).count("not swept") == 2
