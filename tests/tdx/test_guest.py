"""tdxlib.tdx.guest.TdGuest: topology, device load, interrupt delivery, copies."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tdxlib.errors import MatrixError, ValidationError
from tdxlib.tdx.guest import TdGuest, make_apic_ids


def test_apic_topologies():
    assert make_apic_ids(4) == (0, 1, 2, 3)
    ids = make_apic_ids(48, "x2apic-gaps")
    assert len(set(ids)) == 48
    assert max(ids) > 47  # holes in the ID space
    assert set(range(24, 32)).isdisjoint(ids)  # 12 cores x 2 threads use 5 bits: 24..31 are holes
    g = TdGuest(48, apic_ids="x2apic-gaps")
    assert all(g.cpu_of_apic(g.apic_id(c)) == c for c in range(48))
    assert g.cpu_of_apic(25) is None
    assert TdGuest(3, apic_ids=[7, 9, 11]).apic_id(2) == 11
    with pytest.raises(ValidationError, match="apic_ids"):
        make_apic_ids(3, [1, 1, 2])
    with pytest.raises(ValidationError, match="apic_ids"):
        make_apic_ids(3, [1, 2])
    with pytest.raises(ValidationError, match="apic_ids"):
        make_apic_ids(3, "mesh")


def test_bad_sizes():
    with pytest.raises(ValidationError, match="cpus"):
        TdGuest(0)
    with pytest.raises(ValidationError, match="device_irqs"):
        TdGuest(2, device_irqs=-1)
    with pytest.raises(ValidationError, match="online"):
        TdGuest(2, online=[1])


def test_device_irqs_spread_by_best_cpu_rule():
    g = TdGuest(8, device_irqs=40)
    counts = [len(g.irqs_on(c)) for c in range(8)]
    # the allocator picks the CPU with the most free vectors; CPU 0 starts 15 behind (ISA vectors),
    # so 40 IRQs all go to CPUs 1..7, evenly
    assert counts[0] == 0 and sum(counts) == 40
    assert max(counts[1:]) - min(counts[1:]) <= 1
    g2 = TdGuest(8, device_irqs=300)
    free = g2.device_vectors_free()
    assert int(free.max() - free.min()) <= 1  # enough load: every CPU levelled


def test_early_allocation_lands_on_cpu0():
    g = TdGuest(8, online=[0])
    irq = g.request_irq("early")
    assert irq.cpu == 0
    g.bring_up()
    late = g.request_irq("late")
    assert late.cpu != 0  # CPU 0 carries the ISA vectors, others have more room


def test_deliver_kinds():
    g = TdGuest(4, device_irqs=4)
    hits: list[tuple[int, int]] = []
    irq = g.request_irq("mine", lambda cpu, vec: hits.append((cpu, vec)), affinity=[3])
    assert g.deliver(g.apic_id(3), irq.vector).kind == "handled"
    assert hits == [(3, irq.vector)]
    d = g.deliver(g.apic_id(1), irq.vector)
    if irq.vector not in g.vector_irq[1]:
        assert d.kind == "spurious"
        assert g.counters.spurious == 1 and g.spurious_per_cpu[1] == 1
    assert g.deliver(99, irq.vector).kind == "no-cpu"
    assert g.deliver(g.apic_id(1), 3).kind == "exception"
    g.cpu_offline(1)
    assert g.deliver(g.apic_id(1), irq.vector).kind == "offline"


def test_system_handler_is_on_every_cpu():
    g = TdGuest(4)
    vec = g.layout.vector("TDX_GUEST_EVENT_NOTIFY_VECTOR")
    seen = []
    g.set_system_handler(vec, "TDX_GUEST_EVENT_NOTIFY_VECTOR", lambda c, v: seen.append(c))
    for cpu in range(4):
        assert g.deliver(g.apic_id(cpu), vec).owner == "TDX_GUEST_EVENT_NOTIFY_VECTOR"
    assert seen == [0, 1, 2, 3]
    with pytest.raises(ValidationError, match="system vector"):
        g.set_system_handler(0x40, "x", lambda c, v: None)
    # a named system vector with another owner is taken by that owner, not by us
    timer = g.layout.vector("LOCAL_TIMER_VECTOR")
    assert g.deliver(0, timer).owner == "LOCAL_TIMER_VECTOR"


def _state(g: TdGuest) -> tuple[object, ...]:
    """Everything a simulation can observe of a guest: IRQ placement, vector tables, matrix counts."""
    irqs = [(i.irq, i.cpu, i.vector, i.shutdown, i.migrations, i.affinity) for i in g.irqs]
    tables = [sorted((v, i.irq) for v, i in t.items()) for t in g.vector_irq]
    on = [sorted(i.irq for i in s) for s in g._irqs_on]
    counts = [(g.matrix.allocated(c), g.matrix.cpu_available(c)) for c in range(g.ncpus)]
    return irqs, tables, on, counts, g.online_cpus(), dict(vars(g.counters))


_ops = st.lists(
    st.one_of(
        st.tuples(st.just("offline"), st.integers(1, 15)),
        st.tuples(st.just("online"), st.integers(1, 15)),
        st.tuples(st.just("irq"), st.lists(st.integers(0, 15), max_size=3)),
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 16), st.integers(0, 40), st.integers(0, 2), _ops)
def test_copy_behaves_like_a_fresh_boot_and_leaves_the_original_alone(ncpus, devices, queues, ops):
    """A copy and a guest booted the same way go through the same hotplug and IRQ requests alike
    (single-CPU affinities, broken affinities, managed queues shut down and restarted); the guest
    copied from does not move."""
    booted = TdGuest(ncpus, device_irqs=devices, managed_queues=queues)
    before = _state(booted)
    copy, fresh = booted.copy(), TdGuest(ncpus, device_irqs=devices, managed_queues=queues)
    refused: dict[int, list[int]] = {id(copy): [], id(fresh): []}
    for g in (copy, fresh):
        for i, (op, arg) in enumerate(ops):
            if op == "irq":
                try:
                    g.request_irq("x", affinity=[c % ncpus for c in arg] or None)
                except MatrixError:  # every CPU of the affinity offline, or no vector left
                    refused[id(g)].append(i)
            elif op == "offline" and arg < ncpus and g.is_online(arg) and len(g.online_cpus()) > 1:
                g.cpu_offline(arg)
            elif op == "online" and arg < ncpus and not g.is_online(arg):
                g.cpu_online(arg)
    assert _state(copy) == _state(fresh)
    assert refused[id(copy)] == refused[id(fresh)]
    assert _state(booted) == before
