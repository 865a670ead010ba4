"""tdxlib.workbook.nb06_proposals: evaluations cached per proposal file and suite (an edited file is
evaluated again; each caller gets its own copy), the recorded key numbers, the view."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from paths import ROOT

from tdxlib.argument.proposals import evaluate, evaluate_all, key_numbers, resolve
from tdxlib.errors import ValidationError
from tdxlib.workbook import nb06_proposals as nb
from tdxlib.workbook.params import ProposalsParams
from tdxlib.workbook.proposal_figures import comparison_grid, latency_points, verdict_grid


def test_cached_evaluation_equals_a_fresh_one_and_is_a_copy_per_caller() -> None:
    ev = nb.cached_evaluation("caller-vcpu", "quick")
    pd.testing.assert_frame_equal(ev, evaluate(resolve("caller-vcpu"), "quick"))
    ev["verdict"] = "changed by a caller"
    assert "changed by a caller" not in set(nb.cached_evaluation("caller-vcpu", "quick")["verdict"])


def test_an_edited_proposal_file_is_evaluated_again(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    text = (ROOT / "data" / "proposals" / "caller-vcpu.yaml").read_text(encoding="utf-8")
    path.write_text(text.replace("id: caller-vcpu", "id: mine-first", 1), encoding="utf-8")
    assert set(nb.cached_evaluation(str(path), "quick")["proposal"]) == {"mine-first"}
    path.write_text(text.replace("id: caller-vcpu", "id: mine-second", 1), encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a later modification
    assert set(nb.cached_evaluation(str(path), "quick")["proposal"]) == {"mine-second"}


def test_proposal_metrics_are_the_key_numbers_that_have_a_value() -> None:
    ev = nb.cached_evaluation("polling-only", "quick")
    m = nb.proposal_metrics(ev)
    assert m == {k: v for k, v in key_numbers(ev).items() if v is not None}
    assert None not in m.values() and m["runs"] == len(ev)


def test_proposal_view_and_its_params() -> None:
    v = nb.proposal_view(ProposalsParams(proposal="polling-only", suite="quick"))
    assert v.caption.startswith("polling-only: own VMM")
    assert set(v.result["proposal"]) == {"polling-only"}
    assert ProposalsParams(seeds=[3, 4]).suite_seeds == [3, 4] and ProposalsParams().suite_seeds is None
    with pytest.raises(ValidationError, match="suite"):
        ProposalsParams(suite="no-such-suite")


def test_proposal_figures_build() -> None:
    ev = evaluate_all(["caller-vcpu", "polling-only"], "quick")
    one = ev[ev["proposal"] == "caller-vcpu"]
    for chart in (verdict_grid(one, "t"), latency_points(one, "t"), comparison_grid(ev, "t")):
        spec = chart.to_dict()
        assert spec["title"] == "t"
    with pytest.raises(ValidationError):
        verdict_grid(one.iloc[0:0], "empty")


def test_explorer_follows_its_controls() -> None:
    ex = nb.explorer("caller-vcpu", "quick")
    assert "caller-vcpu" in ex.html.value
    ex.panel.controls["proposal"].value = "polling-only"
    assert "polling-only: Polling only" in ex.html.value
    assert ex.panel.error == ""
    assert set(ex.panel.result["proposal"]) == {"polling-only"}


def test_the_annotated_proposal_fits_the_column() -> None:
    from tdxlib.workbook.nb06_proposals import explorer

    html = explorer().html.value
    assert html.startswith("<style>") and '<div class="tdxlib-proposal">' in html
    assert ".tdxlib-proposal{max-width:100%;overflow-x:auto" in html
    assert "grid-template-columns:minmax(0,2fr) minmax(0,3fr)" in html  # the rows may shrink


def test_prewarm_fills_the_evaluation_cache_in_the_background() -> None:
    from tdxlib.workbook.nb06_proposals import _evaluation, cached_evaluation, prewarm

    _evaluation.cache_clear()
    prewarm([("must-inject", "quick"), ("no-such-proposal", "quick")]).join(timeout=120)
    hits = _evaluation.cache_info().hits
    cached_evaluation("must-inject", "quick")
    assert _evaluation.cache_info().hits == hits + 1  # served from the cache, not evaluated again


def test_prewarm_starts_after_the_shown_proposal_in_its_suite() -> None:
    from tdxlib.workbook.nb06_proposals import _warm_order

    order = _warm_order(["a", "b", "c"], "b", "default")
    assert order[:2] == [("c", "default"), ("a", "default")]
    assert ("b", "default") not in order and ("b", "quick") in order
