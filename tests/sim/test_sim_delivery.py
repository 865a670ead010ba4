"""tdxlib.sim.delivery: every notification and every request accounted for, whatever the strategy and VMM."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kernels import V8_OFFLINING

from tdxlib.sim import OUTCOMES, Scenario, run
from tdxlib.tdx.strategies import SystemVector, make_strategy


@settings(max_examples=12, deadline=None)
@given(
    name=st.sampled_from(
        ["system-vector", "dynamic", "dynamic-apic", "caller-vcpu", "polling", "quote-carries-vector"]
    ),
    vmm=st.sampled_from(
        ["ghci-1.0", "qemu-10.1", "random-vcpu", "never-injects", "apic-id-arg", "qgs-never-answers"]
    ),
    workload=st.sampled_from(["open", "closed"]),
    seed=st.integers(0, 1000),
)
def test_accounting_invariants(name, vmm, workload, seed):
    strat = make_strategy(name) if name == "polling" else make_strategy(name, timeout_s=40)
    sc = Scenario(
        cpus=6,
        device_irqs=12,
        strategy=strat,
        vmm=vmm,
        workload=workload,
        rate_per_s=3,
        quotes=30,
        **V8_OFFLINING,
        hotplug=((2.0, 3, "offline"), (6.0, 3, "online"), (7.0, 1, "offline")),
        seed=seed,
    )
    r = run(sc)
    m = r.metrics
    counts = r.quotes["outcome"].value_counts()
    assert m.quotes_issued == len(r.quotes) == sum(int(counts.get(o, 0)) for o in OUTCOMES)
    assert m.completed == m.completed_by_interrupt + m.completed_by_poll
    assert m.lost_notifications <= m.notifications_injected
    assert m.lost_notifications == (
        m.spurious_interrupts
        + m.misdirected_interrupts
        + m.dropped_offline
        + m.pending_at_end
        + m.displaced_callbacks
    )
    assert m.vectors_total == sum(m.vectors_per_cpu)
    assert m.wakeups == m.poll_wakeups + m.interrupts_handled
    done = r.quotes[r.quotes["outcome"] == "completed"]
    assert (done["latency_ms"] >= 0).all()
    if m.completed:
        assert m.latency_ms["min"] <= m.latency_ms["p50"] <= m.latency_ms["p99"] <= m.latency_ms["max"]
    assert m.quotes_per_s == pytest.approx(m.completed / m.duration_s)
    json.dumps(m.to_dict())  # JSON-able (NaN -> None)


def test_every_injection_has_one_fate_in_the_event_frame():
    """Each inject event is followed by exactly one of handled / lost / held, for the same quote."""
    sc = Scenario(
        cpus=6,
        device_irqs=12,
        strategy=make_strategy("dynamic", timeout_s=5),
        vmm="random-vcpu",
        workload="open",
        rate_per_s=6,
        quotes=60,
        **V8_OFFLINING,
        hotplug_every_s=0.8,
        seed=9,
    )
    r = run(sc)
    ev, m = r.events, r.metrics
    kinds = ev["kind"].value_counts()
    assert kinds["inject"] == m.notifications_injected > 0
    taken = int(kinds["irq_handled"])
    lost = int(kinds["spurious"] + kinds["misdirected"] + kinds["dropped_offline"])
    assert taken > 0 and lost > 0
    # every injection reaches the driver, is lost, or is still held for an offline vCPU at the end
    assert taken + lost + m.pending_at_end == m.notifications_injected
    assert lost + m.pending_at_end == m.lost_notifications
    # one interrupt that reaches the driver wakes every waiter whose status is written
    assert m.completed_by_interrupt >= taken - m.fanout_callbacks


def test_an_interrupt_only_wait_with_nothing_to_wake_it_hangs():
    m = run(Scenario(cpus=2, strategy=SystemVector(), vmm="never-injects", quotes=3)).metrics
    assert m.hung == 1 and m.quotes_issued == 1 and m.not_injected == 1  # closed loop: stuck on the first
