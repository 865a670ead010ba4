"""Every report names its kernel profile; the ledger by era reaches summary.json, summary.md, the index
and the golden summary, whose check catches a flip on one era."""

from __future__ import annotations

import copy
import json

from tdxlib.report.golden import compare, golden_from_summary
from tdxlib.report.index import build_summary, era_kernels, index_html, summary_markdown
from tdxlib.report.paramcell import run_kernel, run_kernel_line

ROW = {
    "id": "hotplug-needs-reregistration",
    "author": "Kai Huang",
    "claim": "offlining migrates the IRQ",
    "verdict": "depends",
    "depends_on": "moot where a TD cannot offline CPUs (linux-5.19-tdx-v8); holds from 6.11 (linux-6.12)",
    "eras": {"linux-5.19-tdx-v8": "moot", "linux-6.12": "holds"},
    "kernel": "linux-6.12",
    "evidence": "On linux-6.12: ...",
}


def _summary() -> dict:
    runs = {
        "04_hotplug": {
            "notebook": "04_hotplug",
            "set": "default",
            "parameters": {},
            "kernel": run_kernel("04_hotplug", {}),
            "status": "ok",
            "metrics": {},
            "ledger": [ROW],
        }
    }
    return build_summary(runs, "0.1.0", "abc")


def test_each_notebook_names_its_kernel_profile() -> None:
    assert run_kernel("04_hotplug", {}) == "linux-6.12"
    assert run_kernel("05_polling", {}) == "linux-6.6"
    assert run_kernel("05_polling", {"kernel": "linux-6.12"}) == "linux-6.12"
    assert run_kernel("01_the_question", {}) == "linux-5.19-tdx-v8"
    assert run_kernel("02_vector_budget", {"cpus": 8}) == "linux-5.19-tdx-v8"  # fixed, no parameter
    assert run_kernel("03_who_gets_the_interrupt", {}) == "linux-5.19-tdx-v8"
    assert run_kernel("06_proposals", {"proposal": "caller-vcpu"}) == "linux-6.12"  # the suite's
    assert run_kernel("fx_small", {}) is None
    name, line = run_kernel_line("04_hotplug", {})
    assert name == "linux-6.12" and line.startswith("linux-6.12 (layout linux-5.19-tdx-v8, HZ 250")
    assert "can offline CPUs" in line and "overridden: layout=linux-5.19-tdx-v8" in line
    assert run_kernel_line("02_vector_budget", {})[1].startswith(
        "linux-5.19-tdx-v8 (layout linux-5.19-tdx-v8,"
    )
    assert "overridden: layout=linux-5.19" in run_kernel_line("06_proposals", {"proposal": "caller-vcpu"})[1]
    assert run_kernel_line("fx_small", {}) == (None, "none (no parameter model)")


def test_summary_index_and_markdown_carry_the_kernel_and_the_eras() -> None:
    s = _summary()
    assert s["runs"]["04_hotplug"]["kernel"] == "linux-6.12"
    assert s["ledger"][0]["eras"] == ROW["eras"]
    json.dumps(s)
    assert era_kernels(s["ledger"]) == ["linux-5.19-tdx-v8", "linux-6.12"]
    page = index_html(s)
    assert "<th>kernel profile</th>" in page and "<code>linux-6.12</code></td>" in page
    assert "Claims ledger, by era" in page and "<th><code>linux-5.19-tdx-v8</code></th>" in page
    assert ">moot</td>" in page and "moot where a TD cannot offline CPUs" in page
    md = summary_markdown(s)
    assert "| 04_hotplug | linux-6.12 | defaults | ok |" in md
    head = "| claim | verdict | holds in | linux-5.19-tdx-v8 | linux-6.12 | depends on | author | runs |"
    assert head in md  # holds in: no sweep in this summary
    assert "| hotplug-needs-reregistration | **depends** |  | moot | holds |" in md


def test_the_golden_check_catches_a_flip_on_one_era_and_a_new_kernel() -> None:
    golden = golden_from_summary(_summary())
    entry = golden["runs"]["04_hotplug"]
    assert entry["kernel"] == "linux-6.12" and entry["verdicts"][ROW["id"]]["eras"] == ROW["eras"]
    fresh = copy.deepcopy(golden)
    fresh["runs"]["04_hotplug"]["verdicts"][ROW["id"]]["eras"]["linux-5.19-tdx-v8"] = "holds"
    fresh["runs"]["04_hotplug"]["kernel"] = "linux-7.1"
    diffs = compare(golden, fresh)
    assert f"04_hotplug: claim {ROW['id']} on linux-5.19-tdx-v8: 'moot' -> 'holds'" in diffs
    assert "04_hotplug: kernel profile changed: 'linux-6.12' -> 'linux-7.1'" in diffs
    assert compare(golden, copy.deepcopy(golden)) == []
