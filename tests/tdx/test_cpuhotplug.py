"""tdxlib.tdx.cpuhotplug: CPU offline refusal, IRQ migration and broken affinities, managed IRQs restarted."""

from __future__ import annotations

import dataclasses
import errno

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tdxlib.errors import CpuOfflineUnsupported, MatrixError, ValidationError
from tdxlib.tdx import cpuhotplug, guest
from tdxlib.tdx.guest import TdGuest


def test_offline_migrates_nobalancing_irq_and_frees_old_vector():
    g = TdGuest(4)
    irq = g.request_irq("tdx_event_irq", affinity=[2], nobalancing=True)
    assert irq.cpu == 2
    old = irq.vector
    before = g.matrix.allocated(2)
    res = g.cpu_offline(2)
    assert res.ok
    (mig,) = [m for m in res.migrations if m.irq is irq]
    assert mig.old_cpu == 2 and mig.old_vector == old and mig.affinity_broken
    assert irq.cpu != 2 and g.is_online(irq.cpu)
    assert g.vector_irq[irq.cpu][irq.vector] is irq
    assert old not in g.vector_irq[2]
    assert g.matrix.allocated(2) == before - 1
    assert g.deliver(g.apic_id(irq.cpu), irq.vector).owner == "tdx_event_irq"
    # the IRQ stays where it went when the CPU comes back
    g.cpu_online(2)
    assert irq.cpu == mig.new_cpu


def test_offline_refused_when_vectors_lack():
    g = TdGuest(2)
    per_cpu = g.layout.device_vectors_per_cpu()
    for i in range(per_cpu - 20):
        g.request_irq(f"a{i}", affinity=[1])
    for i in range(per_cpu - 30):
        g.request_irq(f"b{i}", affinity=[0])
    assert not g.can_unplug(1)
    res = g.cpu_offline(1)
    assert not res.ok and "Cannot disable CPU" in res.reason
    assert g.offline_refused == 1
    assert g.is_online(1)  # nothing changed
    assert all(i.cpu == 1 for i in g.irqs if i.name.startswith("a"))


def test_managed_irqs_shut_down_and_restart():
    g = TdGuest(4, managed_queues=1)
    q2 = next(i for i in g.irqs if i.name == "nvme0q2")
    assert q2.managed and q2.cpu == 2
    res = g.cpu_offline(2)
    assert q2 in res.shutdown and q2.shutdown
    g.cpu_online(2)
    assert not q2.shutdown and q2.cpu == 2


def test_hotplug_refusals_for_bsp_and_state():
    g = TdGuest(3)
    with pytest.raises(ValidationError, match="BSP"):
        g.cpu_offline(0)
    g.cpu_offline(1)
    with pytest.raises(ValidationError, match="already offline"):
        g.cpu_offline(1)
    with pytest.raises(ValidationError, match="already online"):
        g.cpu_online(2)


@settings(max_examples=40, deadline=None)
@given(
    ncpus=st.integers(2, 12),
    devices=st.integers(0, 60),
    ops=st.lists(st.tuples(st.integers(1, 11), st.booleans()), max_size=25),
)
def test_hotplug_keeps_tables_and_matrix_consistent(ncpus, devices, ops):
    g = TdGuest(ncpus, device_irqs=devices, managed_queues=1)
    base = TdGuest(ncpus)  # allocated counts with no IRQs (ISA vectors on CPU 0)
    base_alloc = [base.matrix.allocated(c) for c in range(ncpus)]
    for cpu, offline in ops:
        cpu %= ncpus
        if cpu == 0:
            continue
        if offline and g.is_online(cpu) and len(g.online_cpus()) > 1:
            g.cpu_offline(cpu)
        elif not offline and not g.is_online(cpu):
            g.cpu_online(cpu)
    for irq in g.irqs:
        if irq.shutdown:
            assert irq.managed
            continue
        assert g.is_online(irq.cpu)
        assert g.vector_irq[irq.cpu][irq.vector] is irq
    for cpu in g.online_cpus():
        nonmanaged = sum(1 for i in g.irqs_on(cpu) if not i.managed)
        assert g.matrix.allocated(cpu) - base_alloc[cpu] == nonmanaged
        assert len(g.vector_irq[cpu]) == len(g.irqs_on(cpu))
    assert int(np.sum([len(g.irqs_on(c)) for c in range(ncpus)])) == sum(1 for i in g.irqs if not i.shutdown)


def test_an_affinity_without_room_is_broken_for_any_online_cpu():
    """migrate_one_irq: the affinity's online CPU has no vector left (-ENOSPC), so the IRQ goes to any
    online CPU and its affinity is broken (kernel/irq/cpuhotplug.c)."""
    g = TdGuest(3)
    for i in range(10):
        g.request_irq(f"load{i}", affinity=[2])
    irq = g.request_irq("mine", affinity=[1, 2])
    assert irq.cpu == 1  # the CPU of its affinity with the most room
    with pytest.raises(MatrixError):
        while True:
            g.request_irq("fill", affinity=[2])
    res = g.cpu_offline(1)
    (mig,) = [m for m in res.migrations if m.irq is irq]
    assert (mig.old_cpu, mig.new_cpu, mig.affinity_broken) == (1, 0, True)
    assert irq.affinity is None and irq.cpu == 0 and res.failed == []


def test_the_guest_keeps_its_hotplug_names():
    assert guest.Migration is cpuhotplug.Migration and guest.OfflineResult is cpuhotplug.OfflineResult
    assert {"Migration", "OfflineResult"} <= set(guest.__all__)


# ------------------------------------------------------------------------------ the kernel decides first


def test_a_kernel_that_cannot_offline_refuses_with_eopnotsupp_and_changes_nothing() -> None:
    g = TdGuest(4, kernel="linux-5.19-tdx-v8", device_irqs=8)
    assert g.layout.name == "linux-5.19-tdx-v8" and not g.offlining.allowed
    before = (g.matrix.copy(), [(i.cpu, i.vector) for i in g.irqs], dataclasses.replace(g.counters))
    with pytest.raises(CpuOfflineUnsupported) as exc:
        g.cpu_offline(1)
    err = exc.value
    assert err.errno == errno.EOPNOTSUPP and err.kernel == "linux-5.19-tdx-v8"
    assert "CC_ATTR_HOTPLUG_DISABLED" in str(err) and "EOPNOTSUPP" in str(err)
    assert g.is_online(1) and g.matrix == before[0] and g.counters == before[2]
    assert [(i.cpu, i.vector) for i in g.irqs] == before[1]


def test_a_kernel_with_a_v1_mailbox_offlines_and_a_guest_without_profile_too() -> None:
    g = TdGuest(4, kernel="linux-6.12")
    assert g.layout.name == "linux-6.12" and g.offlining.allowed and g.cpu_offline(1).ok
    assert TdGuest(4).cpu_offline(1).ok  # the allocator model alone: no kernel says no
    assert TdGuest(4, kernel="linux-6.12", layout="linux-5.19").layout.name == "linux-5.19"
