"""tdxlib.sweeps.predicates: each claim's reading of one run — about the designs the claim is about,
silent elsewhere, and flipping where the run shows the opposite."""

from __future__ import annotations

from typing import Any

import pytest

from tdxlib.argument.claims import claims
from tdxlib.sim import Scenario, run
from tdxlib.sweeps.predicates import PREDICATES, judge_cell, predicate, predicate_ids

#: A guest that can offline CPUs (6.11+), in the v8 IDT (it has the system vector).
GUEST = {"kernel": "linux-6.12", "layout": "linux-5.19-tdx-v8"}


def _read(claim: str, **fields: Any) -> bool | None:
    sc = Scenario(**{**GUEST, "workload": "open", "rate_per_s": 5.0, "quotes": 20, "seed": 3, **fields})
    return PREDICATES[claim](sc, run(sc, frames=False).metrics)


def test_every_predicate_is_a_claim_of_the_thread() -> None:
    ids = [c.id for c in claims()]
    assert set(predicate_ids()) <= set(ids)
    assert list(predicate_ids()) == [i for i in ids if i in PREDICATES]  # claims.yaml order
    assert "config-gated" not in PREDICATES  # no run shows a kernel config


def test_a_claim_has_one_predicate() -> None:
    with pytest.raises(ValueError, match="already"):
        predicate("notify-works")(lambda sc, m: None)


@pytest.mark.parametrize(
    ("claim", "holds", "fails", "silent"),
    [
        ("notify-works", {"vmm": "random-vcpu"}, {"vmm": "never-injects"}, {"strategy": "polling"}),
        (
            "any-cpu-needs-system-vector",
            {"strategy": "dynamic", "vmm": "random-vcpu"},
            {"strategy": {"name": "dynamic", "target_cpu": 0}, "vmm": "bsp-only"},  # lands where it injects
            {"strategy": "dynamic-apic", "vmm": "random-vcpu"},
        ),
        (
            "apic-id-enables-dynamic",
            {"strategy": "dynamic-apic", "vmm": "apic-id-arg"},
            {"strategy": "dynamic-apic", "vmm": "random-vcpu"},
            {"strategy": "dynamic-apic", "vmm": "never-injects"},
        ),
        (
            "caller-vcpu-rule-suffices",
            {"strategy": "caller-vcpu", "vmm": "qemu-10.1"},
            {"strategy": "caller-vcpu", "vmm": "random-vcpu"},
            {"strategy": "system-vector"},
        ),
        (
            "may-inject-needs-polling",
            {"strategy": "polling", "vmm": "never-injects"},
            {"strategy": {"name": "polling", "timeout_s": 0.1}, "vmm": "never-injects"},
            {"strategy": "polling", "vmm": "qemu-10.1"},
        ),
        (
            "timeout-required",
            {"strategy": "system-vector", "vmm": "qgs-never-answers", "quotes": 3},
            None,  # the simulator never shows a timeout-less request return, nor a timed one hang
            {"strategy": "system-vector", "vmm": "qemu-10.1"},
        ),
        (
            "system-vector-wasteful",
            {"cpus": 2, "device_irqs": 190, "hotplug_every_s": 2.0},
            {"cpus": 2, "device_irqs": 0, "hotplug_every_s": 2.0},
            {"cpus": 2, "device_irqs": 190},
        ),
        (
            "removal-fan-out",
            {"strategy": {"name": "system-vector", "drivers": 3}},
            {"strategy": {"name": "system-vector", "drivers": 3, "callback_list": False}},
            {"strategy": "system-vector"},
        ),
        (
            "getquote-carries-vector",
            {"strategy": "quote-carries-vector", "vmm": "getquote-carries-vector"},
            None,
            {"strategy": "quote-carries-vector", "vmm": "random-vcpu"},  # it injects nothing
        ),
        (
            "early-init-lands-on-cpu0",
            {"strategy": {"name": "dynamic", "early": True}},
            None,
            {"strategy": "dynamic"},
        ),
        (
            "polling-sufficient",
            {"strategy": "polling", "vmm": "qemu-10.1", "rate_per_s": 0.2, "quotes": 5},
            {"strategy": {"name": "polling", "timeout_s": 0.1}, "vmm": "qemu-10.1"},
            {"strategy": "polling", "vmm": "qgs-never-answers"},
        ),
    ],
)
def test_a_predicate_holds_fails_and_is_silent(
    claim: str, holds: dict[str, Any], fails: dict[str, Any] | None, silent: dict[str, Any]
) -> None:
    assert _read(claim, **holds) is True
    if fails is not None:
        assert _read(claim, **fails) is False
    assert _read(claim, **silent) is None


def test_timeout_required_holds_with_a_timeout_too() -> None:
    timed = {"strategy": {"name": "system-vector", "timeout_s": 1.0}, "vmm": "qgs-never-answers", "quotes": 3}
    assert _read("timeout-required", **timed) is True


def test_the_hotplug_claim_reads_a_migration() -> None:
    moved = {"strategy": "caller-vcpu", "vmm": "qemu-10.1", "cpus": 4, "hotplug_every_s": 1.0}
    moved |= {"hotplug_cpus": "notify", "duration_s": 5.0, "quotes": None}
    assert _read("hotplug-needs-reregistration", **moved) is True
    assert _read("hotplug-needs-reregistration", strategy="caller-vcpu", vmm="qemu-10.1") is None


def test_judge_cell_reads_every_claim_asked() -> None:
    sc = Scenario(vmm="random-vcpu", quotes=5)
    got = judge_cell(("notify-works", "polling-sufficient"), sc, run(sc, frames=False).metrics)
    assert got == {"notify-works": True, "polling-sufficient": None}
