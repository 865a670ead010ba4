"""tdxlib.workbook.nb01_question: the walk-through, the range check, the thread, key numbers, panel."""

from __future__ import annotations

import pandas as pd
from _panels import check_panel_starts_from_the_view, title

from tdxlib.argument import claims
from tdxlib.workbook import nb01_question as nb
from tdxlib.workbook.params import QuestionParams


def test_mechanism_run_follows_one_round_trip_per_quote() -> None:
    ev = nb.mechanism_run("system-vector", "qemu-10.1", quotes=3)
    assert set(ev["kind"]) <= set(nb.MECHANISM_KINDS)
    assert (ev["kind"] == "quote_done").sum() == 3
    polled = nb.mechanism_run("polling", "qemu-10.1", quotes=2)
    assert "inject" not in set(polled["kind"])
    assert (polled["kind"] == "quote_done").sum() == 2


def test_setup_checks_reject_exceptions_and_out_of_range_vectors() -> None:
    df = nb.setup_checks((0x1F, 0x20, 0xFF, 0x100)).set_index("vector")
    assert df.loc["0x1f", "status"] == "TDVMCALL_STATUS_INVALID_OPERAND"
    assert df.loc["0x20", "status"] == "TDVMCALL_STATUS_SUCCESS"
    assert df.loc["0xff", "status"] == "TDVMCALL_STATUS_SUCCESS"
    assert df.loc["0x100", "status"] == "TDVMCALL_STATUS_INVALID_OPERAND"


def test_thread_frame_is_sorted_by_date_with_every_claim() -> None:
    df = nb.thread_frame()
    assert list(df["date"]) == sorted(df["date"])
    assert set(df["id"]) == {c.id for c in claims.claims()}


def test_question_metrics_count_the_ledger_and_the_walkthrough() -> None:
    ledger = claims.ledger()
    events = nb.mechanism_run("system-vector", "never-injects", quotes=2)
    m = nb.question_metrics(ledger, events)
    assert m["claims"] == len(ledger)
    assert m["claims_holding"] + m["claims_failing"] + m["claims_depending"] == len(ledger)
    assert m["claims_failing"] == int((ledger["verdict"] == "fails").sum())
    assert m["walkthrough_quotes_returned"] == 0  # the VMM never injects: the v8 guest waits forever
    assert nb.question_metrics(ledger, nb.mechanism_run(quotes=3))["walkthrough_quotes_returned"] == 3


def test_question_panel_starts_from_the_view_and_follows_the_strategy() -> None:
    params = QuestionParams(strategy="dynamic", vmm="ghci-1.0", quotes=2)
    p = nb.question_panel(params)
    check_panel_starts_from_the_view(nb.question_view(params), p)
    assert "inject" in set(p.result["kind"])
    p.controls["strategy"].value = "polling"
    assert p.redraws == 2
    assert "inject" not in set(p.result["kind"])
    assert "polling" in title(p.chart)


def test_round_trips_are_memoised_a_copy_per_caller() -> None:
    first = nb.mechanism_run("dynamic", "ghci-1.0", quotes=2, seed=5)
    first["kind"] = "changed by a caller"
    again = nb.mechanism_run("dynamic", "ghci-1.0", quotes=2, seed=5)
    assert "changed by a caller" not in set(again["kind"]) and set(again["kind"]) <= set(nb.MECHANISM_KINDS)
    assert nb._round_trips.cache_info().hits > 0  # type: ignore[attr-defined]


def test_era_table_has_a_column_per_kernel_and_the_overall_verdict():
    ledger = claims.ledger(ids=["hotplug-needs-reregistration", "config-gated"])
    table = nb.era_table(ledger)
    assert list(table.columns) == [
        "id",
        "linux-5.19-tdx-v8",
        "linux-6.6",
        "linux-6.12",
        "linux-7.1",
        "overall",
        "depends on",
    ]
    row = table.set_index("id").loc["hotplug-needs-reregistration"]
    assert (row["linux-5.19-tdx-v8"], row["linux-6.12"], row["overall"]) == ("moot", "holds", "depends")
    assert row["depends on"].startswith("moot where a TD cannot offline CPUs")
    m = nb.question_metrics(ledger, pd.DataFrame({"kind": ["quote_done"]}))
    assert m["claims_moot_on_some_kernel"] == 1 and m["claims_depending"] == 1


def test_the_walkthrough_runs_on_the_chosen_kernel():
    ev = nb.mechanism_run("polling", "qemu-10.1", kernel="linux-6.12", quotes=2)
    assert (ev["kind"] == "quote_done").sum() == 2
    assert "linux-6.12" in title(
        nb.question_view(QuestionParams(kernel="linux-6.12", strategy="polling")).chart
    )
