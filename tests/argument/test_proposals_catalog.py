"""tdxlib.argument.proposals.catalog and .suites: what a proposal may name, the scenario suites, and
data files edited in a running session (read again on the next call, never shared mutable)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from paths import ROOT
from proposal_helpers import BASE

from tdxlib.argument import proposals as P
from tdxlib.argument.proposals import catalog
from tdxlib.argument.proposals.catalog import builtin_paths
from tdxlib.argument.proposals.suites import Suite, load_suites
from tdxlib.report.paramcell import find_parameters_cell


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


def test_builtin_paths_exclude_meta():

    assert all(Path(p).parent.name == "proposals" for p in builtin_paths().values())
    assert "sections" not in builtin_paths() and "suites" not in builtin_paths()


def test_notebook_parameters_accept_every_builtin():

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


# --------------------------------------------------------------------------------------------------
# Data files edited in a running session
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def proposals_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of data/proposals/ that the catalog reads instead of the shipped one."""
    copy = tmp_path / "proposals"
    shutil.copytree(catalog.PROPOSALS_DIR, copy)
    monkeypatch.setattr(catalog, "PROPOSALS_DIR", copy)
    monkeypatch.setattr(catalog, "SECTIONS_PATH", copy / "meta" / "sections.yaml")
    monkeypatch.setattr(catalog, "SUITES_PATH", copy / "meta" / "suites.yaml")
    return copy


def _edit(path: Path, old: str, new: str) -> None:
    """Replace every ``old`` in the file (there must be one) with ``new``."""
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_an_edited_builtin_proposal_is_read_again(proposals_copy: Path) -> None:
    first = P.resolve("caller-vcpu")
    _edit(
        proposals_copy / "caller-vcpu.yaml",
        'title: "Inject into the vCPU that executed SetupEventNotifyInterrupt (GHCI 1.5)"',
        'title: "Edited while the session runs"',
    )
    again = P.resolve("caller-vcpu")
    assert again.title == "Edited while the session runs"
    assert first.title != again.title
    assert [p.title for p in P.load_builtins() if p.id == "caller-vcpu"] == [again.title]
    ev = P.evaluate("caller-vcpu", "quick")
    assert P.ledger(ev)[0]["claim"] == "Edited while the session runs"


def test_an_edited_user_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(BASE, encoding="utf-8")
    assert P.resolve(path).title == "A tiny proposal"
    path.write_text(BASE.replace("A tiny proposal", "A tiny proposal, edited"), encoding="utf-8")
    assert P.resolve(path).title == "A tiny proposal, edited"
    assert set(P.evaluate(path, "quick")["proposal"]) == {"tiny"}


def test_edited_suites_and_sections_are_read_again(proposals_copy: Path) -> None:
    meta = proposals_copy / "meta"
    assert "small-td" in catalog.suite_scenario_names()
    before = load_suites()["quick"].description
    _edit(meta / "suites.yaml", "small-td:", "tiny-td:")
    _edit(meta / "suites.yaml", f'description: "{before}"', 'description: "Edited."')
    assert load_suites()["quick"].description == "Edited."
    assert "tiny-td" in catalog.suite_scenario_names() and "small-td" not in catalog.suite_scenario_names()
    title = catalog.known_sections()["3.1"].title
    _edit(meta / "sections.yaml", f'title: "{title}"', 'title: "Edited section"')
    assert catalog.known_sections()["3.1"].title == "Edited section"
    assert '"Edited section"' not in P.schema_json()  # titles are not in the schema, the numbers are
    assert '"3.1"' in P.schema_json()


def test_no_caller_changes_what_the_next_caller_gets() -> None:
    p = P.resolve("caller-vcpu")
    p.changes.clear()  # frozen model, but its lists are the caller's own
    assert P.resolve("caller-vcpu").changes
    suites = load_suites()
    suites["default"].seeds.append(99)
    suites.pop("quick")
    assert load_suites()["default"].seeds == [1] and "quick" in load_suites()
    sections = catalog.known_sections()
    sections.clear()
    assert catalog.known_sections()
