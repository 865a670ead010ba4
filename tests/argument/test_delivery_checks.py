"""tdxlib.argument.claims.delivery_checks: who gets the interrupt — each claim's deciding numbers
(recomputed from the GHCI data and binomial arithmetic where possible) and the inputs that flip it."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from claim_helpers import assert_flips, default, in_binomial, nums, spec_inputs

from tdxlib.argument import evidence
from tdxlib.argument.claims import check, key, key_at, ledger
from tdxlib.tdx.guest import TdGuest

IDS = (
    "notify-works",
    "any-cpu-needs-system-vector",
    "apic-id-enables-dynamic",
    "caller-vcpu-rule-suffices",
    "removal-fan-out",
    "getquote-carries-vector",
    "early-init-lands-on-cpu0",
)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return ledger(ids=IDS)


def test_notify_works_numbers(table: pd.DataFrame) -> None:
    n = nums(table, "notify-works")
    q = default("notify-works", "quotes")
    for vmm in default("notify-works", "vmm"):
        assert n[key("lost", vmm)] == 0
        assert n[key("injected", vmm)] == n[key("notified", vmm)] == q
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
        assert n[key("lost", vmm)] == 0
        assert n[key("injected", vmm)] == default("caller-vcpu-rule-suffices", "quotes")
        assert n[key("vectors_total", vmm)] == 1
    assert (n["new_arguments"], n["new_leaves"]) == (0, 0)
    assert n["lost_hotplug_no_reregister"] == n["injected_after_offline"] > 0


def test_fan_out_numbers(table: pd.DataFrame) -> None:
    n = nums(table, "removal-fan-out")
    q = default("removal-fan-out", "quotes")
    for k in default("removal-fan-out", "drivers"):
        assert n[key_at("callbacks_per_notification_list", k)] == k
        assert n[key_at("quote_notified_list", k)] == q
        assert n[key_at("callbacks_per_notification_v8", k)] == 1
        assert n[key_at("quote_notified_v8", k)] == (q if k == 1 else 0)
        assert n[key_at("displaced_v8", k)] == (0 if k == 1 else q)


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


# ------------------------------------------------------------------ flips


@pytest.mark.parametrize(
    ("claim_id", "params", "verdict"),
    [
        # flip: notify-works — a VMM that never injects: no completion reaches the handler
        ("notify-works", {"vmm": "never-injects"}, "fails"),
        # flip: any-cpu-needs-system-vector — the caller rule, called from the IRQ's CPU: nothing lost
        ("any-cpu-needs-system-vector", {"vmm": "ghci-1.5-caller", "call_from_target": True}, "fails"),
        # flip: apic-id-enables-dynamic — a VMM that ignores the APIC ID (the GHCI as written)
        ("apic-id-enables-dynamic", {"vmm": "ghci-1.0"}, "fails"),
        # flip: caller-vcpu-rule-suffices — its CPU offlined and the guest never registers again
        ("caller-vcpu-rule-suffices", {"hotplug": True, "reregister": False}, "fails"),
        # flip: getquote-carries-vector — the vector alone, no APIC ID: the VMM cannot target it
        ("getquote-carries-vector", {"with_apic": False}, "depends"),
        # flip: removal-fan-out — a single driver: v8's one pointer does what a list does
        ("removal-fan-out", {"drivers": (1,)}, "holds"),
    ],
)
def test_a_parameter_flips_the_verdict(claim_id: str, params: dict[str, Any], verdict: str) -> None:
    assert_flips(claim_id, params, verdict)


def test_flipped_any_cpu_loses_nothing() -> None:
    v = check("any-cpu-needs-system-vector", vmm="ghci-1.5-caller", call_from_target=True, quotes=200)
    assert v.numbers["lost_dynamic"] == 0 and v.numbers["injected_dynamic"] == 200


def test_any_cpu_loss_grows_with_the_cpus() -> None:
    two = check("any-cpu-needs-system-vector", cpus=2).numbers["lost_fraction_dynamic"]
    many = check("any-cpu-needs-system-vector", cpus=32).numbers["lost_fraction_dynamic"]
    assert two < 0.7 < 0.9 < many


def test_caller_rule_survives_hotplug_when_it_reregisters() -> None:
    assert check("caller-vcpu-rule-suffices", hotplug=True).verdict == "holds"


def test_early_init_fails_if_every_cpu_were_up_at_early_init(monkeypatch: pytest.MonkeyPatch) -> None:
    """The claim rests on one fact: an early initcall runs before SMP bring-up, with only CPU 0 online.
    With every CPU already online the allocator spreads the IRQ like any other."""
    # flip: early-init-lands-on-cpu0 — the guest boots every vCPU before the early request

    class AllOnline(TdGuest):
        def __init__(self, cpus: int, *args: Any, online: Any = None, **kw: Any) -> None:
            super().__init__(cpus, *args, **kw)

    monkeypatch.setattr(evidence, "TdGuest", AllOnline)
    v = check("early-init-lands-on-cpu0")
    assert v.verdict == "fails"
    assert v.numbers["early_on_cpu0"] < v.numbers["trials"] // 2
