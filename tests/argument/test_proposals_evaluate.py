"""tdxlib.argument.proposals.evaluate: runs across a suite, their verdicts (worst first), the verdict
table, key numbers and ledger rows, and evaluations shared by the kernels of a report build."""

from __future__ import annotations

import importlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from proposal_helpers import BASE

from tdxlib.argument import proposals as P
from tdxlib.argument.proposals import evaluate_all
from tdxlib.argument.proposals.suites import load_suites
from tdxlib.cache import BUILD_CACHE_ENV as EVAL_CACHE_ENV
from tdxlib.data import data_path
from tdxlib.errors import ValidationError

THREAD = ["ghci-as-written", "dynamic-irq-as-written", "apic-id-in-setup", "caller-vcpu", "polling-only"]


@pytest.fixture(scope="module")
def default_eval() -> pd.DataFrame:
    return P.evaluate_all(THREAD, "default")


def _rows(ev: pd.DataFrame, proposal: str, scenario: str, vmm: str) -> pd.DataFrame:
    rows = ev[(ev["proposal"] == proposal) & (ev["scenario"] == scenario) & (ev["vmm"] == vmm)]
    assert len(rows), (proposal, scenario, vmm)
    return rows


def test_vector_only_dynamic_irq_loses_notifications_when_the_vmm_injects_anywhere(default_eval):
    for proposal in ("dynamic-irq-as-written", "caller-vcpu"):
        r = _rows(default_eval, proposal, "small-td", "ghci-1.0")
        assert r["lost_notifications"].sum() > 0
        assert r["spurious_interrupts"].sum() > 0
        assert (r["verdict"] == "loses notifications").all()


def test_apic_targeting_holds_until_hotplug_without_reregistration(default_eval):
    churn = _rows(default_eval, "apic-id-in-setup", "hotplug-churn", "proposal")
    assert churn["notify_migrations"].sum() > 0  # the IRQ did move
    assert churn["reregistrations"].sum() > 0
    assert churn["lost_notifications"].sum() == 0
    assert (churn["verdict"] == "ok").all()
    stale = _rows(default_eval, "apic-id-in-setup", "hotplug-no-rereg", "proposal")
    assert stale["reregistrations"].sum() == 0
    assert stale["lost_notifications"].sum() > 0
    assert (stale["verdict"] == "loses notifications").all()


def test_system_vector_costs_a_vector_per_cpu_and_refuses_offline_when_crowded(default_eval):
    large = _rows(default_eval, "ghci-as-written", "large-td", "proposal")
    assert (large["vectors_consumed"] == large["cpus"]).all()
    assert (large["verdict"] == "wastes vectors").all()
    crowded_sys = _rows(default_eval, "ghci-as-written", "crowded-td", "proposal")
    crowded_dyn = _rows(default_eval, "caller-vcpu", "crowded-td", "proposal")
    assert crowded_sys["offline_refused"].sum() > 0
    assert crowded_dyn["offline_refused"].sum() == 0
    assert (crowded_dyn["vectors_consumed"] == 1).all()


def test_interrupt_only_guests_hang_on_kvm_and_polling_never_does(default_eval):
    kvm = default_eval[default_eval["vmm"] == "kvm-6.16"]
    interrupt_only = kvm[kvm["proposal"] != "polling-only"]
    assert (interrupt_only["hung"] > 0).all()
    polling = default_eval[default_eval["proposal"] == "polling-only"]
    assert (polling["hung"] == 0).all() and (polling["lost_notifications"] == 0).all()
    assert (polling["completed"] == polling["quotes"]).all()
    assert (polling["vectors_consumed"] == 0).all()


def test_evaluation_columns_and_spec_elements(default_eval):
    ev = default_eval
    assert list(ev.columns) == list(P.evaluate.__globals__["COLUMNS"])
    suite = load_suites()["default"]
    per_proposal = len(suite.scenarios) * len(suite.vmms) * len(suite.seeds)
    assert len(ev) == per_proposal * len(THREAD)
    for pid in THREAD:
        raw = yaml.safe_load(data_path("proposals", f"{pid}.yaml").read_text(encoding="utf-8"))
        added = sum(a["action"] == "added" for c in raw.get("changes", []) for a in c.get("arguments", []))
        added += sum(c.get("leaf") == "added" for c in raw.get("changes", []))
        assert set(ev.loc[ev["proposal"] == pid, "new_elements"]) == {added}


def test_verdict_table_has_a_column_per_proposal(default_eval):
    table = P.verdict_table(default_eval)
    assert list(table.columns) == ["scenario", "vmm", *THREAD]
    own = table[(table["scenario"] == "(worst)") & (table["vmm"] == "own VMM")].iloc[0]
    assert own["caller-vcpu"] == "ok"
    assert own["dynamic-irq-as-written"] == "loses notifications"
    assert own["polling-only"] == "slow"
    assert set(table.iloc[:-4, 2:].to_numpy().ravel()) <= set(P.VERDICTS)


def test_judge_orders_problems_worst_first():
    row = {
        "lost_notifications": 0,
        "hung": 0,
        "timed_out": 0,
        "failed": 0,
        "offline_refused": 0,
        "vectors_consumed": 1,
        "latency_p50_ms": 300.0,
        "service_p50_ms": 290.0,
    }
    assert P.judge(row) == ("ok", [])
    assert P.judge({**row, "latency_p50_ms": 1000.0})[0] == "slow"
    assert P.judge({**row, "vectors_consumed": 64, "latency_p50_ms": 1000.0}) == (
        "wastes vectors",
        ["wastes vectors", "slow"],
    )
    assert P.judge({**row, "hung": 1, "lost_notifications": 3})[0] == "loses notifications"
    assert P.judge({**row, "hung": 1, "latency_p50_ms": float("nan")})[0] == "hangs"
    assert P.worst(["ok", "slow", "fails"]) == "fails"
    assert P.worst([]) == "ok"


def test_misuse_scenarios_stay_out_of_the_summary_rows():
    base = {"vmm_kind": "proposal", "vmm": "proposal", "new_elements": 0, "seed": 1}
    ev = pd.DataFrame(
        [
            {**base, "proposal": "a", "scenario": "s1", "misuse": False, "verdict": "ok"},
            {**base, "proposal": "a", "scenario": "s2", "misuse": True, "verdict": "loses notifications"},
        ]
    )
    table = P.verdict_table(ev)
    by = {(r["scenario"], r["vmm"]): r["a"] for r in table.to_dict("records")}
    assert by[("s2", "proposal")] == "loses notifications"
    assert by[("(worst)", "own VMM")] == "ok"


def test_evaluation_is_deterministic_and_executor_neutral():
    a = P.evaluate("caller-vcpu", "quick")
    b = P.evaluate("caller-vcpu", "quick")
    with ThreadPoolExecutor(2) as pool:
        c = P.evaluate("caller-vcpu", "quick", executor=pool)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)
    assert set(P.evaluate("caller-vcpu", "quick", seeds=[5])["seed"]) == {5}


def test_evaluate_rejects_bad_suites_and_seeds():
    with pytest.raises(ValidationError):
        P.evaluate("caller-vcpu", "no-such-suite")
    with pytest.raises(ValidationError):
        P.evaluate("caller-vcpu", "quick", seeds=[-1])
    with pytest.raises(ValidationError):
        P.evaluate_all(["caller-vcpu", "caller-vcpu"], "quick")


def test_comparison_set_keeps_builtin_order_and_adds_files(tmp_path):
    ids = [p.id for p in P.comparison_set("caller-vcpu")]
    assert ids == P.builtin_ids()
    path = tmp_path / "tiny.yaml"
    path.write_text(BASE, encoding="utf-8")
    assert [p.id for p in P.comparison_set(path, ["polling-only"])] == ["tiny", "polling-only"]


def test_key_numbers():
    ev = P.evaluate("apic-id-in-setup", "quick")
    k = P.key_numbers(ev)
    assert k["verdict_own_vmm"] == "ok"  # the misuse scenario is left out
    assert k["verdict_real_vmms"] == "loses notifications"  # QEMU ignores R13, injects at the caller
    assert k["new_elements"] == 1
    assert k["runs"] == len(ev)


def test_ledger_rows_one_per_proposal(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(BASE, encoding="utf-8")
    tiny = P.load_proposal(path)
    ev = P.evaluate_all([tiny, "polling-only"], "quick")
    rows = P.ledger(ev, [tiny])
    assert [r["id"] for r in rows] == ["proposal:tiny", "proposal:polling-only"]
    assert rows[0]["claim"] == "A tiny proposal"
    assert rows[1]["verdict"] == "slow" and rows[1]["author"]
    assert all(r["verdict"] in P.VERDICTS for r in rows)


def test_evaluations_are_shared_through_the_build_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under ``tdxlib report`` kernels share evaluations: the second runs no simulation, same rows."""

    monkeypatch.setenv(EVAL_CACHE_ENV, str(tmp_path))
    first = evaluate_all(["caller-vcpu", "polling-only"], "quick")
    assert len(list(tmp_path.glob("evaluations/*.pkl"))) == 2

    def no_sweep(*args: object, **kwargs: object) -> None:
        raise AssertionError("evaluated again")

    # the module, not the function of the same name the package exports
    evaluate_module = importlib.import_module("tdxlib.argument.proposals.evaluate")
    monkeypatch.setattr(evaluate_module, "sweep", no_sweep)
    again = evaluate_all(["polling-only", "caller-vcpu"], "quick")
    pd.testing.assert_frame_equal(
        again.set_index(["proposal", "scenario", "vmm", "seed"]).sort_index(),
        first.set_index(["proposal", "scenario", "vmm", "seed"]).sort_index(),
    )
    monkeypatch.delenv(EVAL_CACHE_ENV)
    with pytest.raises(AssertionError, match="evaluated again"):
        evaluate_all(["caller-vcpu"], "quick")  # no build cache outside tdxlib report


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(["x", "y"]), st.sampled_from(P.VERDICTS)),
        min_size=1,
        max_size=30,
    )
)
def test_worst_per_group_is_worst_of_each_group(rows: list[tuple[str, str, str]]) -> None:

    ev = importlib.import_module("tdxlib.argument.proposals.evaluate")
    frame = pd.DataFrame(rows, columns=["scenario", "vmm", "verdict"])
    expected = frame.groupby(["scenario", "vmm"], sort=False)["verdict"].agg(ev.worst)
    got = ev.worst_per_group(frame, ["scenario", "vmm"])
    assert list(got.index) == list(expected.index)
    assert list(got) == list(expected)


def test_worst_per_group_names_an_unknown_verdict() -> None:

    ev = importlib.import_module("tdxlib.argument.proposals.evaluate")
    frame = pd.DataFrame({"scenario": ["a"], "verdict": ["meh"]})
    with pytest.raises(ValidationError, match="meh"):
        ev.worst_per_group(frame, ["scenario"])
