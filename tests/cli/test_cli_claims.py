"""``tdxlib claims``: the ledger per kernel profile as a table, JSON or Markdown; unknown names listed."""

from __future__ import annotations

import json

import pytest

from tdxlib import cli
from tdxlib.argument.claims import check, check_ids
from tdxlib.cli import main

HOTPLUG = "hotplug-needs-reregistration"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["claims", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_claims_is_registered() -> None:
    assert cli.COMMANDS["claims"] == "tdxlib.cli.claims"


def test_json_on_the_v8_kernel_gives_the_hotplug_claim_no_holds_with_the_reason(capsys) -> None:
    code, out, _ = run_cli(capsys, "--kernel", "linux-5.19-tdx-v8", "--format", "json")
    rows = {r["id"]: r for r in json.loads(out)}
    assert code == 0 and len(rows) == 13
    hot = rows[HOTPLUG]
    assert hot["verdict"] == "moot" and hot["verdict"] != "holds"
    era = hot["eras"]["linux-5.19-tdx-v8"]
    assert (
        era["verdict"] == "moot"
        and "EOPNOTSUPP" in era["evidence"]
        and "CC_ATTR_HOTPLUG_DISABLED" in era["evidence"]
    )
    caller = rows["caller-vcpu-rule-suffices"]
    assert caller["verdict"] == "holds" and "hotplug caveat is moot" in caller["depends_on"]
    assert caller["eras"]["linux-5.19-tdx-v8"]["moot"] == "its hotplug caveat"


def test_json_on_a_kernel_that_can_offline_gives_the_verdicts_of_today(capsys) -> None:
    code, out, _ = run_cli(capsys, "--kernel", "linux-6.12", "--format", "json")
    rows = json.loads(out)
    today = {c: check(c).verdict for c in check_ids()}  # each check at its defaults
    assert code == 0 and {r["id"]: r["verdict"] for r in rows} == today
    assert today[HOTPLUG] == "holds"
    hot = next(r for r in rows if r["id"] == HOTPLUG)
    assert hot["eras"]["linux-6.12"]["numbers"]["migrations[caller-vcpu]"] >= 1


def test_table_shows_every_era_and_what_the_verdict_depends_on(capsys) -> None:
    code, out, _ = run_cli(capsys, "--only", HOTPLUG)
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == [
        "claim",
        "verdict",
        "linux-5.19-tdx-v8",
        "linux-6.6",
        "linux-6.12",
        "linux-7.1",
    ]
    assert lines[2].split() == [HOTPLUG, "depends", "moot", "moot", "holds", "holds"]
    assert (
        "moot where a TD cannot offline CPUs" in lines[3]
        and "from 6.11 with a MADT wakeup mailbox v1" in lines[3]
    )


def test_markdown_with_several_kernels_and_claims(capsys) -> None:
    code, out, _ = run_cli(
        capsys,
        "--kernel",
        "ubuntu-24.04",
        "--kernel",
        "rhel-10",
        "--only",
        HOTPLUG,
        "--only",
        "polling-sufficient",
        "--format",
        "md",
    )
    assert code == 0 and out.startswith("| claim | verdict | ubuntu-24.04 | rhel-10 | depends on |")
    assert f"| `{HOTPLUG}` | **depends** | moot | holds |" in out
    assert "*rhel-10*, holds: At 1 quotes a minute" in out and "HZ 1000" in out


def test_all_kernels_includes_the_distributions(capsys) -> None:
    code, out, _ = run_cli(capsys, "--all-kernels", "--only", "config-gated")
    assert code == 0 and "opensuse-tumbleweed" in out.splitlines()[0] and "rhel-9" in out.splitlines()[0]


def test_unknown_kernel_and_claim_are_errors_naming_the_known_ones(capsys) -> None:
    code, _, err = run_cli(capsys, "--kernel", "linux-4.0")
    assert code == 1 and "linux-6.12" in err and "rhel-10" in err
    code, _, err = run_cli(capsys, "--only", "no-such-claim")
    assert code == 1 and HOTPLUG in err
