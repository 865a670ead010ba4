"""tdxlib.argument.proposals — the format (schema, fields, behaviour) and reading files (load): every
built-in validates, and every error names file, line and field."""

from __future__ import annotations

import dataclasses
import typing

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from proposal_helpers import BASE, error_of, line_of

from tdxlib.argument import proposals as P
from tdxlib.argument.proposals.behaviour import StrategyParams, VmmOverrides
from tdxlib.argument.proposals.fields import StrategyName
from tdxlib.argument.proposals.load import line_for
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
    err = error_of(text)
    assert err.path == "bad.yaml"
    assert err.line is not None and line_of(text, "[dynamic-apic") <= err.line <= line_of(text, "layout:")
    assert err.field is not None and err.field.startswith("strategy")
    assert "syntax" in str(err)


def test_unknown_field_names_file_line_and_field():
    text = BASE.replace('summary: "Only for tests."\n', 'summary: "Only for tests."\nsumary: typo\n')
    err = error_of(text)
    assert (err.path, err.line, err.field) == ("bad.yaml", line_of(text, "sumary:"), "sumary")
    assert "unknown field" in str(err) and "summary" in str(err)


def test_unknown_nested_field_uses_the_alias_names():
    text = BASE.replace("        name: apic_id\n", "        name: apic_id\n        regster: R14\n")
    err = error_of(text)
    assert err.field == "changes[0].arguments[0].regster"
    assert err.line == line_of(text, "regster")
    assert "register" in str(err)  # the allowed names, as written in files


def test_wrong_type_names_file_line_and_field():
    text = BASE.replace("    reregister: true\n", '    reregister: "yes"\n')
    err = error_of(text)
    assert (err.line, err.field) == (line_of(text, "reregister:"), "strategy.params.reregister")
    assert "'yes'" in str(err)


def test_strings_are_not_numbers():
    text = BASE.replace("    reregister: true\n", '    reregister_delay_ms: "5"\n')
    err = error_of(text)
    assert err.field == "strategy.params.reregister_delay_ms"


def test_vector_300_names_file_line_and_field():
    text = BASE.replace("  name: dynamic-apic\n", "  name: system-vector\n").replace(
        "    reregister: true\n", "    vector: 300\n"
    )
    err = error_of(text)
    assert (err.path, err.line, err.field) == (
        "bad.yaml",
        line_of(text, "vector: 300"),
        "strategy.params.vector",
    )
    assert "300" in str(err) and "255" in str(err)


def test_vector_range_of_an_argument_is_checked():
    text = BASE.replace(
        "        name: apic_id\n", "        name: vector\n        range: [32, 300]\n"
    ).replace("register: R13", "register: R14")
    err = error_of(text)
    assert err.field == "changes[0].arguments[0].range"
    assert err.line == line_of(text, "range: [32, 300]")


def test_annotation_anchored_to_an_unknown_section():
    text = BASE.replace('{section: "3.5", tdvmcall: SetupEventNotifyInterrupt}', '{section: "3.99"}')
    err = error_of(text)
    assert (err.line, err.field) == (line_of(text, '"3.99"'), "annotations[0].anchor.section")
    assert "3.99" in str(err) and "3.5" in str(err)


def test_annotation_anchor_tdvmcall_must_belong_to_the_section():
    text = BASE.replace("tdvmcall: SetupEventNotifyInterrupt}", "tdvmcall: GetQuote}")
    err = error_of(text)
    assert err.field == "annotations[0].anchor.tdvmcall"
    assert err.line == line_of(text, "anchor:")


def test_added_argument_may_not_reuse_a_register():
    err = error_of(BASE.replace("register: R13", "register: R12"))
    assert err.field == "changes[0].arguments[0].register"
    assert "R12" in str(err)


def test_a_parameter_the_strategy_does_not_have():
    text = BASE.replace("    reregister: true\n", "    interval_ms: 5\n")
    err = error_of(text)
    assert err.field == "strategy.params.interval_ms"
    assert "dynamic-apic" in str(err)


def test_inconsistent_vmm_override_points_at_the_field():
    text = BASE.replace(
        "vmm: apic-id-arg\n", "vmm:\n  profile: apic-id-arg\n  overrides:\n    inject_probability: 0.5\n"
    )
    err = error_of(text)
    assert err.field == "vmm.overrides.inject_probability"
    assert err.line == line_of(text, "inject_probability")


def test_unknown_vmm_profile_and_missing_field():
    err = error_of(BASE.replace("vmm: apic-id-arg", "vmm: qemu-99"))
    assert err.field == "vmm.profile" and "qemu-10.1" in str(err)
    err = error_of(BASE.replace('title: "A tiny proposal"\n', ""))
    assert err.field == "title" and "missing" in str(err)


def test_url_must_be_http():
    text = BASE.replace('      - section: "3.5"\n', '      - url: "javascript:alert(1)"\n')
    err = error_of(text)
    assert err.field == "rationale[0].sources[0].url"


def test_not_a_mapping_and_empty_file():
    assert error_of("- a\n- b\n").line == 1
    assert "empty" in str(error_of(""))


def test_yaml_is_read_with_the_safe_loader(tmp_path):
    marker = tmp_path / "pwned"
    text = f'!!python/object/apply:os.system ["touch {marker}"]\n'
    err = error_of(text)
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
