"""tdxlib.argument.proposals: the format (errors name file, line, field), evaluation, verdicts, rendering."""

from __future__ import annotations

import dataclasses
import typing
from concurrent.futures import ThreadPoolExecutor
from html import escape
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from paths import ROOT

from tdxlib.argument import proposals as P
from tdxlib.argument.proposals.load import line_for
from tdxlib.argument.proposals.schema import StrategyName, StrategyParams, VmmOverrides
from tdxlib.argument.proposals.suites import Suite, load_suites
from tdxlib.data import data_path, load_yaml_text
from tdxlib.errors import ProposalError, ValidationError
from tdxlib.tdx.strategies import STRATEGY_NAMES, make_strategy
from tdxlib.tdx.vmm import VmmProfile

REQUIRED = {
    "ghci-as-written",
    "must-inject",
    "apic-id-in-setup",
    "vector-in-getquote",
    "caller-vcpu",
    "polling-only",
}

# A small valid proposal; tests corrupt one line of it and check the error points there.
BASE = """\
id: tiny
title: "A tiny proposal"
status: draft
base_spec: "GHCI 1.0"
summary: "Only for tests."
changes:
  - tdvmcall: SetupEventNotifyInterrupt
    section: "3.5"
    arguments:
      - register: R13
        name: apic_id
        action: added
        meaning: "target vCPU"
    summary: "adds an APIC ID"
strategy:
  name: dynamic-apic
  layout: linux-5.19
  params:
    reregister: true
vmm: apic-id-arg
rationale:
  - point: "Because."
    sources:
      - section: "3.5"
annotations:
  - anchor: {section: "3.5", tdvmcall: SetupEventNotifyInterrupt}
    kind: question
    author: Someone
    date: 2026-01-01
    text: "Which vCPU?"
"""


def _line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing ``needle``."""
    for i, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in text")


def _error(text: str, path: str = "bad.yaml") -> ProposalError:
    with pytest.raises(ProposalError) as info:
        P.load_proposal_text(text, path)
    return info.value


# --------------------------------------------------------------------------------------------------
# Format
# --------------------------------------------------------------------------------------------------


def test_base_is_valid():
    p = P.load_proposal_text(BASE)
    assert p.id == "tiny"
    assert p.spec_elements()["new_arguments"] == 1


def test_every_builtin_validates_and_is_named_after_its_file():
    ids = P.builtin_ids()
    assert set(ids) >= REQUIRED
    for pid in ids:
        path = data_path("proposals", f"{pid}.yaml")
        p = P.load_proposal(path)
        assert p.id == pid
        assert p.rationale and all(r.sources for r in p.rationale)


def test_schema_json_is_in_sync():
    committed = data_path("proposals", "schema.json").read_text(encoding="utf-8")
    assert committed == P.schema_json(), "run: tdxlib proposals schema --out data/proposals/schema.json"


def test_strategy_params_cover_every_strategy_parameter():
    assert set(typing.get_args(StrategyName)) == set(STRATEGY_NAMES)
    for name in STRATEGY_NAMES:
        for f in dataclasses.fields(make_strategy(name)):
            assert f.name in StrategyParams.model_fields, f"{name}.{f.name} missing from StrategyParams"


def test_vmm_overrides_cover_the_profile_fields():
    not_overridable = {"name", "source", "models"}
    for f in dataclasses.fields(VmmProfile):
        if f.name not in not_overridable:
            assert f.name in VmmOverrides.model_fields, f"VmmProfile.{f.name} missing from VmmOverrides"


def test_yaml_syntax_error_names_file_line_and_field():
    text = BASE.replace("  name: dynamic-apic\n", "  name: [dynamic-apic\n")
    err = _error(text)
    assert err.path == "bad.yaml"
    assert err.line is not None and _line_of(text, "[dynamic-apic") <= err.line <= _line_of(text, "layout:")
    assert err.field is not None and err.field.startswith("strategy")
    assert "syntax" in str(err)


def test_unknown_field_names_file_line_and_field():
    text = BASE.replace('summary: "Only for tests."\n', 'summary: "Only for tests."\nsumary: typo\n')
    err = _error(text)
    assert (err.path, err.line, err.field) == ("bad.yaml", _line_of(text, "sumary:"), "sumary")
    assert "unknown field" in str(err) and "summary" in str(err)


def test_unknown_nested_field_uses_the_alias_names():
    text = BASE.replace("        name: apic_id\n", "        name: apic_id\n        regster: R14\n")
    err = _error(text)
    assert err.field == "changes[0].arguments[0].regster"
    assert err.line == _line_of(text, "regster")
    assert "register" in str(err)  # the allowed names, as written in files


def test_wrong_type_names_file_line_and_field():
    text = BASE.replace("    reregister: true\n", '    reregister: "yes"\n')
    err = _error(text)
    assert (err.line, err.field) == (_line_of(text, "reregister:"), "strategy.params.reregister")
    assert "'yes'" in str(err)


def test_strings_are_not_numbers():
    text = BASE.replace("    reregister: true\n", '    reregister_delay_ms: "5"\n')
    err = _error(text)
    assert err.field == "strategy.params.reregister_delay_ms"


def test_vector_300_names_file_line_and_field():
    text = BASE.replace("  name: dynamic-apic\n", "  name: system-vector\n").replace(
        "    reregister: true\n", "    vector: 300\n"
    )
    err = _error(text)
    assert (err.path, err.line, err.field) == (
        "bad.yaml",
        _line_of(text, "vector: 300"),
        "strategy.params.vector",
    )
    assert "300" in str(err) and "255" in str(err)


def test_vector_range_of_an_argument_is_checked():
    text = BASE.replace(
        "        name: apic_id\n", "        name: vector\n        range: [32, 300]\n"
    ).replace("register: R13", "register: R14")
    err = _error(text)
    assert err.field == "changes[0].arguments[0].range"
    assert err.line == _line_of(text, "range: [32, 300]")


def test_annotation_anchored_to_an_unknown_section():
    text = BASE.replace('{section: "3.5", tdvmcall: SetupEventNotifyInterrupt}', '{section: "3.99"}')
    err = _error(text)
    assert (err.line, err.field) == (_line_of(text, '"3.99"'), "annotations[0].anchor.section")
    assert "3.99" in str(err) and "3.5" in str(err)


def test_annotation_anchor_tdvmcall_must_belong_to_the_section():
    text = BASE.replace("tdvmcall: SetupEventNotifyInterrupt}", "tdvmcall: GetQuote}")
    err = _error(text)
    assert err.field == "annotations[0].anchor.tdvmcall"
    assert err.line == _line_of(text, "anchor:")


def test_added_argument_may_not_reuse_a_register():
    err = _error(BASE.replace("register: R13", "register: R12"))
    assert err.field == "changes[0].arguments[0].register"
    assert "R12" in str(err)


def test_a_parameter_the_strategy_does_not_have():
    text = BASE.replace("    reregister: true\n", "    interval_ms: 5\n")
    err = _error(text)
    assert err.field == "strategy.params.interval_ms"
    assert "dynamic-apic" in str(err)


def test_inconsistent_vmm_override_points_at_the_field():
    text = BASE.replace(
        "vmm: apic-id-arg\n", "vmm:\n  profile: apic-id-arg\n  overrides:\n    inject_probability: 0.5\n"
    )
    err = _error(text)
    assert err.field == "vmm.overrides.inject_probability"
    assert err.line == _line_of(text, "inject_probability")


def test_unknown_vmm_profile_and_missing_field():
    err = _error(BASE.replace("vmm: apic-id-arg", "vmm: qemu-99"))
    assert err.field == "vmm.profile" and "qemu-10.1" in str(err)
    err = _error(BASE.replace('title: "A tiny proposal"\n', ""))
    assert err.field == "title" and "missing" in str(err)


def test_url_must_be_http():
    text = BASE.replace('      - section: "3.5"\n', '      - url: "javascript:alert(1)"\n')
    err = _error(text)
    assert err.field == "rationale[0].sources[0].url"


def test_not_a_mapping_and_empty_file():
    assert _error("- a\n- b\n").line == 1
    assert "empty" in str(_error(""))


def test_yaml_is_read_with_the_safe_loader(tmp_path):
    marker = tmp_path / "pwned"
    text = f'!!python/object/apply:os.system ["touch {marker}"]\n'
    err = _error(text)
    assert err.line == 1
    assert not marker.exists()


def test_load_proposal_from_a_file_names_the_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(BASE.replace("kind: question", "kind: wish"), encoding="utf-8")
    with pytest.raises(ProposalError) as info:
        P.load_proposal(path)
    assert info.value.path == path
    assert info.value.field == "annotations[0].kind"
    proposal, errors = P.check_proposal(tmp_path / "missing.yaml")
    assert proposal is None and "not found" in str(errors[0])


def test_check_reports_every_error():
    text = BASE.replace("status: draft", "status: dreaming").replace("kind: question", "kind: wish")
    proposal, errors = P.check_proposal_text(text, "x.yaml")
    assert proposal is None
    assert {e.field for e in errors} == {"status", "annotations[0].kind"}


def test_template_validates():
    p = P.load_proposal_text(P.TEMPLATE, "template.yaml")
    assert p.annotations and p.changes and p.rationale


def test_resolve_accepts_ids_paths_and_proposals(tmp_path):
    p = P.resolve("caller-vcpu")
    assert P.resolve(p) is p
    path = tmp_path / "t.yaml"
    path.write_text(BASE, encoding="utf-8")
    assert P.resolve(path).id == "tiny"
    with pytest.raises(ValidationError):
        P.resolve("no-such-proposal")


def test_inline_overrides_build_a_named_profile():
    prof = P.resolve("polling-only").vmm_profile()
    assert prof.name == "qemu-10.1.polling-only"
    assert not prof.supports_setup_event_notify and prof.inject == "never"
    assert P.resolve("caller-vcpu").vmm_profile().name == "ghci-1.5-caller"


@settings(max_examples=40, deadline=None)
@given(
    st.recursive(
        st.integers(0, 9),
        lambda children: st.one_of(
            st.lists(children, min_size=1, max_size=3),
            st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), children, min_size=1, max_size=3),
        ),
        max_leaves=12,
    )
)
def test_line_for_points_at_the_key(tree):
    """For every mapping key in a block-style YAML document, line_for gives the line the key is on."""
    doc = {"root": tree}
    text = yaml.safe_dump(doc, default_flow_style=False, sort_keys=False)
    data = load_yaml_text(text)
    lines = text.splitlines()

    def walk(node, loc):
        if isinstance(node, dict):
            for k, v in node.items():
                line = line_for(data, [*loc, k])
                assert line is not None
                assert lines[line - 1].lstrip(" -").startswith((f"{k}:", f"'{k}':"))
                walk(v, [*loc, k])
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, [*loc, i])

    walk(doc, [])


# --------------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------------

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


def test_suites_are_valid_and_reserve_proposal_fields():
    suites = load_suites()
    assert {"default", "quick"} <= set(suites)
    assert {"small-td", "large-td", "hotplug-churn", "fanout"} <= set(suites["default"].scenarios)
    assert {"qemu-10.1", "kvm-6.16"} <= set(suites["default"].real_vmms())
    with pytest.raises(Exception, match="comes from the proposal"):
        Suite.model_validate(
            {
                "description": "x",
                "seeds": [1],
                "vmms": [{"role": "proposal"}],
                "scenarios": {"a": {"title": "t", "why": "w", "scenario": {"cpus": 4, "vmm": "qemu-10.1"}}},
            }
        )


# --------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------


def test_annotation_text_is_escaped():
    evil = BASE.replace('text: "Which vCPU?"', 'text: "<script>alert(1)</script> & <b>bold</b>"').replace(
        'title: "A tiny proposal"', 'title: "<img src=x onerror=alert(1)>"'
    )
    p = P.load_proposal_text(evil)
    html = P.render_html(p, full_page=True)
    assert "<script>" not in html and "<img" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html


def test_render_html_puts_annotations_beside_their_section_with_evidence():
    p = P.resolve("caller-vcpu")
    ev = P.evaluate(p, "quick")
    html = P.render_html(p, ev)
    sections = P.known_sections()
    for note in p.annotations:
        assert escape(sections[note.anchor.section].title) in html
        assert escape(note.text) in html
    # the ambiguity names hotplug-no-rereg as evidence: its verdict is in the grid
    assert "hotplug-no-rereg" in html and "loses notifications" in html
    assert html.index("§3.5") < html.index("§3.13")
    assert "https://lore.kernel.org/all/" in html


def test_figures_build():
    from tdxlib.workbook.proposal_figures import comparison_grid, latency_points, verdict_grid

    ev = P.evaluate_all(["caller-vcpu", "polling-only"], "quick")
    one = ev[ev["proposal"] == "caller-vcpu"]
    for chart in (verdict_grid(one, "t"), latency_points(one, "t"), comparison_grid(ev, "t")):
        spec = chart.to_dict()
        assert spec["title"] == "t"
    with pytest.raises(ValidationError):
        verdict_grid(one.iloc[0:0], "empty")


def test_explorer_follows_its_controls():
    from tdxlib.workbook.proposal_panel import explorer

    ex = explorer("caller-vcpu", "quick")
    assert "caller-vcpu" in ex.html.value
    ex.panel.controls["proposal"].value = "polling-only"
    assert "polling-only: Polling only" in ex.html.value
    assert ex.panel.error == ""
    assert set(ex.panel.result["proposal"]) == {"polling-only"}


def test_builtin_paths_exclude_meta():
    from tdxlib.argument.proposals.catalog import builtin_paths

    assert all(Path(p).parent.name == "proposals" for p in builtin_paths().values())
    assert "sections" not in builtin_paths() and "suites" not in builtin_paths()


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


def test_notebook_parameters_accept_every_builtin():
    import json

    from tdxlib.report.params import find_parameters_cell

    path = ROOT / "notebooks" / "06_proposals.ipynb"
    nb = json.loads(path.read_text(encoding="utf-8"))
    cell = find_parameters_cell(nb, path)
    assert {"interactive", "proposal", "suite"} <= set(cell.parameters)
    assert set(cell.parameters["suite"].choices or ()) == set(load_suites())
    for pid in P.builtin_ids():
        assert cell.problems({"proposal": pid, "interactive": False}, pid) == []
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c["outputs"] and c["execution_count"] is None for c in code)
    assert all(len("".join(c["source"]).strip().splitlines()) <= 15 for c in code)


def test_evaluations_are_shared_through_the_build_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under ``tdxlib report`` kernels share evaluations: the second runs no simulation, same rows."""
    import pandas as pd

    import tdxlib.sim
    from tdxlib.argument.proposals import evaluate_all
    from tdxlib.cache import BUILD_CACHE_ENV as EVAL_CACHE_ENV

    monkeypatch.setenv(EVAL_CACHE_ENV, str(tmp_path))
    first = evaluate_all(["caller-vcpu", "polling-only"], "quick")
    assert len(list(tmp_path.glob("evaluations/*.pkl"))) == 2

    def no_sweep(*args: object, **kwargs: object) -> None:
        raise AssertionError("evaluated again")

    monkeypatch.setattr(tdxlib.sim, "sweep", no_sweep)
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
    import importlib

    ev = importlib.import_module("tdxlib.argument.proposals.evaluate")
    frame = pd.DataFrame(rows, columns=["scenario", "vmm", "verdict"])
    expected = frame.groupby(["scenario", "vmm"], sort=False)["verdict"].agg(ev.worst)
    got = ev.worst_per_group(frame, ["scenario", "vmm"])
    assert list(got.index) == list(expected.index)
    assert list(got) == list(expected)


def test_worst_per_group_names_an_unknown_verdict() -> None:
    import importlib

    ev = importlib.import_module("tdxlib.argument.proposals.evaluate")
    frame = pd.DataFrame({"scenario": ["a"], "verdict": ["meh"]})
    with pytest.raises(ValidationError, match="meh"):
        ev.worst_per_group(frame, ["scenario"])
