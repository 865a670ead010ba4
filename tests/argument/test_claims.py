"""tdxlib.argument.claims: every claim has a verdict, each verdict and its deciding numbers are pinned
(numbers recomputed here from the vector layouts, the GHCI data and binomial arithmetic where possible),
and re-running a check where its premise is absent flips it."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from paths import ROOT

from tdxlib.argument.claims import (
    VERDICTS,
    Verdict,
    check,
    check_ids,
    claims,
    ledger,
    load_claims,
)
from tdxlib.data import data_path
from tdxlib.errors import DataError, ValidationError
from tdxlib.kernel.vectors import load_layout

CLAIMS_YAML = data_path("claims", "claims.yaml")

EXPECTED = {
    "notify-works": "holds",
    "any-cpu-needs-system-vector": "holds",
    "apic-id-enables-dynamic": "holds",
    "caller-vcpu-rule-suffices": "holds",
    "hotplug-needs-reregistration": "holds",
    "may-inject-needs-polling": "holds",
    "timeout-required": "holds",
    "system-vector-wasteful": "depends",
    "config-gated": "fails",
    "removal-fan-out": "depends",
    "getquote-carries-vector": "holds",
    "early-init-lands-on-cpu0": "holds",
    "polling-sufficient": "holds",
}


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return ledger()


def nums(table: pd.DataFrame, claim_id: str) -> dict[str, Any]:
    row = table[table["id"] == claim_id]
    assert len(row) == 1
    return dict(row.iloc[0]["numbers"])


def default(claim_id: str, name: str) -> Any:
    return check.parameters(claim_id)[name]


def in_binomial(k: float, n: int, p: float, z: float = 4.0) -> bool:
    sd = math.sqrt(n * p * (1 - p))
    return n * p - z * sd <= k <= n * p + z * sd


def spec_inputs(leaf_name: str) -> set[str]:
    leaves = yaml.safe_load(data_path("ghci", "leaves.yaml").read_text())["leaves"]
    return set(leaves[leaf_name]["inputs"])


# ------------------------------------------------------------------ the ledger as a whole


def test_ledger_has_every_claim_in_file_order(table: pd.DataFrame) -> None:
    ids = [c["id"] for c in yaml.safe_load(CLAIMS_YAML.read_text())["claims"]]
    assert list(table["id"]) == ids
    assert list(table.columns[:5]) == ["id", "author", "claim", "verdict", "evidence"]
    assert set(table["verdict"]) <= set(VERDICTS)
    assert all(isinstance(e, str) and len(e.strip()) > 20 for e in table["evidence"])
    assert all(isinstance(f, str) and f.strip() for f in table["flips"])
    assert set(check_ids()) == set(ids)


def test_verdicts_pinned(table: pd.DataFrame) -> None:
    assert dict(zip(table["id"], table["verdict"], strict=True)) == EXPECTED


def test_numbers_are_plain_json(table: pd.DataFrame) -> None:
    for n in table["numbers"]:
        assert n and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in n.values())
    json.dumps(check("config-gated").to_dict())


# ------------------------------------------------------------------ deciding numbers, one claim each


def test_notify_works_numbers(table: pd.DataFrame) -> None:
    n = nums(table, "notify-works")
    q = default("notify-works", "quotes")
    for vmm in default("notify-works", "vmm"):
        assert n[f"lost[{vmm}]"] == 0
        assert n[f"injected[{vmm}]"] == n[f"notified[{vmm}]"] == q
    assert n["vectors_total"] == default("notify-works", "cpus")


def test_any_cpu_loses_about_n_minus_1_over_n(table: pd.DataFrame) -> None:
    n = nums(table, "any-cpu-needs-system-vector")
    cpus = default("any-cpu-needs-system-vector", "cpus")
    injected = n["injected_dynamic"]
    assert injected == default("any-cpu-needs-system-vector", "quotes")
    assert in_binomial(n["lost_dynamic"], injected, (cpus - 1) / cpus)
    assert n["lost_system_vector"] == 0 and n["injected_system_vector"] == injected
    assert (n["vectors_total_system_vector"], n["vectors_total_dynamic"]) == (cpus, 1)


def test_apic_id_argument_makes_one_vector_enough(table: pd.DataFrame) -> None:
    n = nums(table, "apic-id-enables-dynamic")
    assert n["lost"] == 0 and n["injected"] == n["quotes"] == default("apic-id-enables-dynamic", "quotes")
    assert n["vectors_total"] == 1
    # the spec's SetupEventNotifyInterrupt takes the vector only: the APIC ID is one more register
    assert spec_inputs("SetupEventNotifyInterrupt") == {"R12"}
    assert (n["new_arguments"], n["new_leaves"]) == (1, 0)
    cpus = default("apic-id-enables-dynamic", "cpus")
    q = default("apic-id-enables-dynamic", "quotes")
    assert in_binomial(n["lost_fraction_baseline"] * q, q, (cpus - 1) / cpus)


def test_caller_rule_numbers(table: pd.DataFrame) -> None:
    n = nums(table, "caller-vcpu-rule-suffices")
    for vmm in default("caller-vcpu-rule-suffices", "vmm"):
        assert n[f"lost[{vmm}]"] == 0
        assert n[f"injected[{vmm}]"] == default("caller-vcpu-rule-suffices", "quotes")
        assert n[f"vectors_total[{vmm}]"] == 1
    assert (n["new_arguments"], n["new_leaves"]) == (0, 0)
    assert n["lost_hotplug_no_reregister"] == n["injected_after_offline"] > 0


def test_hotplug_window_with_and_losses_growing_without(table: pd.DataFrame) -> None:
    n = nums(table, "hotplug-needs-reregistration")
    delay_s = default("hotplug-needs-reregistration", "reregister_delay_ms") / 1000.0
    short, long_ = sorted(default("hotplug-needs-reregistration", "durations"))
    assert n["nobalancing_new_cpu"] != n["nobalancing_old_cpu"]
    for d in ("dynamic-apic", "caller-vcpu"):
        assert n[f"migrations[{d}]"] == 1
        assert n[f"notify_cpu_after[{d}]"] not in (n[f"target_cpu[{d}]"], -1)
        assert n[f"loss_window_s[{d}]"] == pytest.approx(delay_s)
        assert n[f"lost_reregister[{d}]"] == n[f"injected_in_window[{d}]"]
        lost_short = n[f"lost_no_reregister_{short:g}s[{d}]"]
        lost_long = n[f"lost_no_reregister_{long_:g}s[{d}]"]
        assert n[f"lost_reregister[{d}]"] < lost_short < lost_long
        assert lost_long == n[f"injected_after_offline_{long_:g}s[{d}]"]
        # roughly rate * time after the offline: the loss does not stop
        rate = default("hotplug-needs-reregistration", "rate_per_s")
        off = default("hotplug-needs-reregistration", "offline_at_s")
        expected = rate * (long_ - off)  # Poisson arrivals after the offline
        assert abs(lost_long - expected) <= 5 * math.sqrt(expected)


def test_may_inject_numbers(table: pd.DataFrame) -> None:
    n = nums(table, "may-inject-needs-polling")
    q = default("may-inject-needs-polling", "quotes")
    assert (n["interrupt_completed"], n["interrupt_hung"], n["not_injected"]) == (0, q, q)
    assert n["polling_completed"] == n["fallback_completed"] == q
    assert n["polling_p50_ms"] >= 1000.0


def test_timeout_numbers(table: pd.DataFrame) -> None:
    n = nums(table, "timeout-required")
    q = default("timeout-required", "quotes")
    t_ms = default("timeout-required", "timeout_s") * 1000.0
    assert n["hung_without_timeout"] == q
    assert n["returned_with_timeout"] == n["timed_out_with_timeout"] == q
    assert t_ms <= n["max_latency_with_timeout_ms"] < t_ms + 1.0
    # 30 kernel sleeps of at least 1 s each, each at most a few jiffies longer
    assert 30_000.0 < n["polling_first_latency_ms"] < 31 * 1040.0
    assert n["polling_busy"] == q - 1
    assert (n["hung_with_vmm_timeout"], n["failed_with_vmm_timeout"]) == (0, q)


def test_system_vector_budget_numbers(table: pd.DataFrame) -> None:
    n = nums(table, "system-vector-wasteful")
    v8 = load_layout("linux-5.19-tdx-v8", TDX_GUEST_DETECTED=True)
    base = load_layout("linux-5.19")
    sv1, sv0 = v8.device_vectors_per_cpu(1), v8.device_vectors_per_cpu(0)
    dy1, dy0 = base.device_vectors_per_cpu(1), base.device_vectors_per_cpu(0)
    assert (n["device_vectors_per_cpu_system_vector"], n["device_vectors_per_cpu_dynamic"]) == (sv1, dy1)
    assert n["per_cpu_fraction"] == pytest.approx((dy1 - sv1) / dy1)
    assert n["per_cpu_fraction"] < 0.01
    for c in default("system-vector-wasteful", "cpus"):
        assert n[f"vectors_total_system_vector@{c}"] == c
        assert n[f"vectors_total_dynamic@{c}"] == 1
        assert n[f"device_capacity_system_vector@{c}"] == sv0 + (c - 1) * sv1
        assert n[f"device_capacity_dynamic@{c}"] == dy0 + (c - 1) * dy1 - 1
        assert n[f"offline_limit_system_vector@{c}"] < n[f"offline_limit_dynamic@{c}"]
        # one device IRQ past the system-vector limit: every hot-pluggable CPU refused, none for dynamic
        assert n[f"offline_refused_system_vector@{c}"] == c - 1
        assert n[f"offline_refused_dynamic@{c}"] == 0
    assert n["onset_load_fraction_min"] > 0.8


def test_config_gated_numbers(table: pd.DataFrame) -> None:
    n = nums(table, "config-gated")
    for tag, cfg in (("off", {"INTEL_TDX_GUEST": False}), ("on", {"INTEL_TDX_GUEST": True})):
        b = load_layout("linux-5.19", **cfg)
        p = load_layout("linux-5.19-tdx-v8", **cfg)
        assert n[f"device_vectors_per_cpu[linux-5.19,{tag}]"] == b.device_vectors_per_cpu(1)
        assert n[f"device_vectors_per_cpu[linux-5.19-tdx-v8,{tag}]"] == p.device_vectors_per_cpu(1)
        assert b.device_vectors_per_cpu(1) - p.device_vectors_per_cpu(1) == 1
        assert n[f"FIRST_SYSTEM_VECTOR[linux-5.19,{tag}]"] == 0xEC
        assert n[f"FIRST_SYSTEM_VECTOR[linux-5.19-tdx-v8,{tag}]"] == 0xEB
    assert (
        n["device_vectors_per_cpu[linux-5.19-tdx-v8,on-bare-metal]"]
        == n["device_vectors_per_cpu[linux-5.19-tdx-v8,off]"]
    )
    assert n["distro_default_INTEL_TDX_GUEST"] == 1


def test_fan_out_numbers(table: pd.DataFrame) -> None:
    n = nums(table, "removal-fan-out")
    q = default("removal-fan-out", "quotes")
    for k in default("removal-fan-out", "drivers"):
        assert n[f"callbacks_per_notification_list@{k}"] == k
        assert n[f"quote_notified_list@{k}"] == q
        assert n[f"callbacks_per_notification_v8@{k}"] == 1
        assert n[f"quote_notified_v8@{k}"] == (q if k == 1 else 0)
        assert n[f"displaced_v8@{k}"] == (0 if k == 1 else q)


def test_getquote_carries_vector_numbers(table: pd.DataFrame) -> None:
    n = nums(table, "getquote-carries-vector")
    # GetQuote in the spec loads R12 (GPA) and R13 (size); vector and APIC ID need two more registers
    assert spec_inputs("GetQuote") == {"R12", "R13"}
    assert (n["new_leaves"], n["new_arguments"], n["setup_calls"]) == (0, 2, 0)
    assert n["migrations"] >= 2
    assert 0 < n["lost"] == n["exposed_requests"]
    assert n["loss_window_s_caller_reregister"] > 0
    assert n["lost_caller_no_reregister"] > n["lost"]


def test_early_init_numbers(table: pd.DataFrame) -> None:
    n = nums(table, "early-init-lands-on-cpu0")
    trials = default("early-init-lands-on-cpu0", "trials")
    assert n["trials"] == n["early_on_cpu0"] == n["late_on_best_cpu"] == trials
    assert n["late_on_cpu0"] < trials // 2
    assert n["sim_early_cpu"] == 0 and n["sim_late_cpu"] > 0
    assert n["max_early_load"] > 100


def test_polling_numbers(table: pd.DataFrame) -> None:
    n = nums(table, "polling-sufficient")
    q = default("polling-sufficient", "quotes")
    assert n["completed_polling"] == n["completed_interrupt"] == q
    assert n["min_polling_ms"] >= 1000.0  # a 1 s poller is never faster than its first sleep
    # HZ=250: 1000 ms -> 250 jiffies + 1, rounded up in a level-1 wheel bucket (8 jiffies), + phase
    assert 1004.0 <= n["one_sleep_ms"] <= (250 + 1 + 8) * 4.0
    assert 0 < n["added_p50_ms"] <= n["one_sleep_ms"]
    assert n["added_p99_ms"] <= n["one_sleep_ms"]
    assert n["wakeups_per_quote_polling"] == pytest.approx(1.0, abs=0.1)
    assert n["capacity_polling_per_s"] < 1.0 < n["capacity_interrupt_per_s"]
    assert n["rate_per_s"] < n["capacity_polling_per_s"]


# ------------------------------------------------------------------ flips


@pytest.mark.parametrize(
    ("claim_id", "params", "verdict"),
    [
        ("notify-works", {"vmm": "never-injects"}, "fails"),
        ("any-cpu-needs-system-vector", {"vmm": "ghci-1.5-caller", "call_from_target": True}, "fails"),
        ("apic-id-enables-dynamic", {"vmm": "ghci-1.0"}, "fails"),
        ("caller-vcpu-rule-suffices", {"hotplug": True, "reregister": False}, "fails"),
        ("may-inject-needs-polling", {"vmm": "qemu-10.1"}, "fails"),
        ("timeout-required", {"vmm": "qemu-10.1"}, "fails"),
        ("polling-sufficient", {"rate_per_s": 2.0}, "fails"),
        ("getquote-carries-vector", {"with_apic": False}, "depends"),
        ("removal-fan-out", {"drivers": (1,)}, "holds"),
    ],
)
def test_a_parameter_flips_the_verdict(claim_id: str, params: dict[str, Any], verdict: str) -> None:
    assert EXPECTED[claim_id] != verdict
    v = check(claim_id, **params)
    assert v.verdict == verdict
    assert v.params[next(iter(params))] == params[next(iter(params))]


def test_flipped_any_cpu_loses_nothing() -> None:
    v = check("any-cpu-needs-system-vector", vmm="ghci-1.5-caller", call_from_target=True, quotes=200)
    assert v.numbers["lost_dynamic"] == 0 and v.numbers["injected_dynamic"] == 200


def test_caller_rule_survives_hotplug_when_it_reregisters() -> None:
    assert check("caller-vcpu-rule-suffices", hotplug=True).verdict == "holds"


def test_checks_are_deterministic() -> None:
    a = check("any-cpu-needs-system-vector", quotes=300, seed=5)
    b = check("any-cpu-needs-system-vector", quotes=300, seed=5)
    assert a.numbers == b.numbers and a.evidence == b.evidence


# ------------------------------------------------------------------ API and validation


def test_unknown_id_and_parameter_are_validation_errors() -> None:
    with pytest.raises(ValidationError, match="notify-works"):
        check("no-such-claim")
    with pytest.raises(ValidationError, match="quotes"):
        check("notify-works", bogus=1)
    with pytest.raises(ValidationError, match="claim id"):
        ledger(ids=["no-such-claim"])
    with pytest.raises(ValidationError, match="seed"):
        ledger(ids=["config-gated"], seed=3)


def test_ledger_subset_and_shared_parameters() -> None:
    t = ledger(ids=["removal-fan-out", "config-gated"], quotes=20)
    assert list(t["id"]) == ["config-gated", "removal-fan-out"]  # file order, not argument order
    assert t.iloc[1]["numbers"]["quote_notified_list@1"] == 20
    assert list(ledger(ids="config-gated")["id"]) == ["config-gated"]


def test_verdict_record_validates() -> None:
    with pytest.raises(ValidationError, match="verdict"):
        Verdict(id="x", verdict="maybe", evidence="e", numbers={}, flips="")
    with pytest.raises(ValidationError, match="evidence"):
        Verdict(id="x", verdict="holds", evidence="  ", numbers={}, flips="")


def test_claims_match_the_file() -> None:
    raw = yaml.safe_load(CLAIMS_YAML.read_text())["claims"]
    got = claims()
    assert [c.id for c in got] == [r["id"] for r in raw]
    assert [c.author for c in got] == [r["author"] for r in raw]
    assert all(c.line is not None and c.line > 0 for c in got)


GOOD = """\
claims:
  - id: some-claim
    author: A. Person
    date: 2022-06-20
    message: "Re: something"
    source: "<id@example>"
    claim: our words
"""


@pytest.mark.parametrize(
    ("text", "match", "line"),
    [
        (GOOD.replace("    claim: our words\n", ""), "lacks field 'claim'", 2),
        (GOOD + "    colour: red\n", "unknown claim field 'colour'", 8),
        (GOOD.replace("2022-06-20", "June 2022"), "not a date", 4),
        (GOOD.replace("some-claim", "Some Claim"), "lower-case", 2),
        (GOOD + GOOD.split("\n", 1)[1], "duplicate claim id", 8),
        (GOOD.replace("claims:", "claimz:"), "'claims' list", 1),
        (GOOD.replace("author: A. Person", "author: 3"), "'author'", 3),
    ],
)
def test_claims_file_errors_name_file_and_line(tmp_path: Path, text: str, match: str, line: int) -> None:
    p = tmp_path / "claims.yaml"
    p.write_text(text)
    with pytest.raises(DataError, match=match) as exc:
        load_claims(p)
    assert exc.value.path == p and exc.value.line == line


def test_good_claims_file_loads(tmp_path: Path) -> None:
    p = tmp_path / "claims.yaml"
    p.write_text(GOOD)
    (c,) = load_claims(p)
    assert (c.id, c.date.isoformat(), c.claim) == ("some-claim", "2022-06-20", "our words")


def test_a_vmm_that_stops_injecting_fails_the_golden_check() -> None:
    """The committed golden summary catches a model change that flips a verdict (issue 4)."""
    import copy

    from tdxlib.report.golden import compare, read_golden

    golden = read_golden(ROOT / "reports" / "summary.golden.json")
    fresh = copy.deepcopy(golden)
    flipped = ledger(ids=["notify-works"], vmm="never-injects").iloc[0]
    fresh["runs"]["01_the_question"]["verdicts"]["notify-works"]["verdict"] = flipped["verdict"]
    diffs = compare(golden, fresh)
    assert len(diffs) == 1, diffs
    assert diffs[0].startswith("01_the_question: claim notify-works verdict flipped: 'holds' -> 'fails'")
    assert compare(golden, copy.deepcopy(golden)) == []
