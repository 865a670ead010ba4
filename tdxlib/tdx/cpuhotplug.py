"""CPU hotplug of a TD guest: taking a vCPU offline and back, and moving its IRQs as the kernel does.

Named after kernel/irq/cpuhotplug.c, whose ``migrate_one_irq()`` this mirrors, with the generic and the
x86 side:

- a kernel that cannot offline CPUs in a TD refuses every offline with ``-EOPNOTSUPP`` before anything
  else (``cpu_down_maps_locked()`` in kernel/cpu.c: ``CC_ATTR_HOTPLUG_DISABLED`` in 5.19..6.10,
  ``cpu_hotplug_offline_disabled`` from 6.11 without a version-1 MADT wakeup mailbox); this raises
  :class:`~tdxlib.errors.CpuOfflineUnsupported` with the kernel profile's reason;
- offlining a CPU is refused when ``irq_matrix_allocated(cpu) > irq_matrix_available(cpudown)``
  (``lapic_can_unplug_cpu()``, arch/x86/kernel/apic/vector.c); the BSP cannot go offline (x86 since 6.3);
- on offline every non-managed IRQ of that CPU migrates (``fixup_irqs()`` -> ``migrate_one_irq()``):
  a vector is allocated on an online CPU of its affinity — or of all online CPUs when none is left
  (affinity broken) — and the old vector is freed at once because its CPU is already out of the online
  mask (``apic_update_vector()``). ``IRQF_NOBALANCING`` does not stop this. Managed IRQs whose affinity
  has no online CPU are shut down, and restarted when a CPU of their mask comes back
  (``irq_affinity_online_cpu()``).

The functions work on a :class:`~tdxlib.tdx.guest.TdGuest`'s own tables (its methods ``can_unplug``,
``cpu_offline`` and ``cpu_online`` call them); they are the guest's hotplug half, kept apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from tdxlib.errors import CpuOfflineUnsupported, MatrixError, ValidationError

if TYPE_CHECKING:
    from tdxlib.tdx.guest import Irq, TdGuest, _Target

__all__ = [
    "Migration",
    "OfflineResult",
    "cpu_down_maps_locked",
    "fixup_irqs",
    "irq_affinity_online_cpu",
    "lapic_can_unplug_cpu",
    "migrate_one_irq",
    "native_cpu_disable",
]


class Migration(NamedTuple):
    """An IRQ moved off a CPU that went offline (old and new vector/CPU)."""

    irq: Irq
    old_cpu: int
    old_vector: int
    new_cpu: int
    new_vector: int
    affinity_broken: bool


class OfflineResult(NamedTuple):
    """What ``cpu_offline`` did: refused or not, IRQs moved, managed IRQs shut down, IRQs left stranded."""

    ok: bool
    migrations: list[Migration]
    shutdown: list[Irq]
    failed: list[Irq]
    reason: str


def lapic_can_unplug_cpu(guest: TdGuest, cpu: int) -> bool:
    """Enough vectors on the other online CPUs for this CPU's non-managed ones."""
    tomove = guest.matrix.allocated(cpu)
    avl = guest.matrix.available(cpudown_cpu=cpu)
    return avl >= tomove


def cpu_down_maps_locked(guest: TdGuest, cpu: int) -> OfflineResult:
    """Offline ``cpu`` as kernel/cpu.c does: refused with -EOPNOTSUPP (raised) when the guest's kernel
    cannot offline CPUs in a TD, else :func:`native_cpu_disable`."""
    if not guest.offlining.allowed:
        raise CpuOfflineUnsupported(guest.offlining.kernel, guest.offlining.reason)
    return native_cpu_disable(guest, cpu)


def native_cpu_disable(guest: TdGuest, cpu: int) -> OfflineResult:
    """Take ``cpu`` offline as ``native_cpu_disable()`` does; refused (counted) when vectors lack."""
    cpu = guest._check_cpu(cpu)
    if cpu == guest.bsp:
        raise ValidationError("cpu", cpu, "a non-BSP CPU (x86 cannot offline CPU 0 since Linux 6.3)")
    if not guest._online[cpu]:
        raise ValidationError("cpu", cpu, "an online CPU (it is already offline)")
    if np.count_nonzero(guest._online) == 1:
        raise ValidationError("cpu", cpu, "not the last online CPU")
    if not lapic_can_unplug_cpu(guest, cpu):
        guest.counters.offline_refused += 1
        reason = (
            f"CPU {cpu} has {guest.matrix.allocated(cpu)} vectors, "
            f"{guest.matrix.available(cpudown_cpu=cpu)} available. Cannot disable CPU"
        )
        return OfflineResult(False, [], [], [], reason)
    guest._set_online(cpu, False)  # set_cpu_online(cpu, false) precedes fixup_irqs()
    result = fixup_irqs(guest, cpu)
    guest.matrix.offline(cpu)
    guest.counters.offline_ok += 1
    guest.counters.migrations += len(result.migrations)
    return result


class _Targets:
    """Per affinity, what to allocate on and whether no CPU of it is left online, worked out once:
    the online CPUs do not change while one CPU's IRQs move."""

    def __init__(self, guest: TdGuest, leaving: int) -> None:
        self.guest = guest
        self.leaving = leaving
        self.known: dict[frozenset[int] | None, tuple[_Target, bool]] = {}

    def __call__(self, aff: frozenset[int] | None) -> tuple[_Target, bool]:
        """(what to allocate on, whether no CPU of ``aff`` is left online) for ``aff``."""
        hit = self.known.get(aff)
        if hit is None:
            mask = self.guest._alloc_target(aff, exclude=self.leaving)
            hit = self.known[aff] = (
                mask,
                not (len(mask) if isinstance(mask, list) else np.count_nonzero(mask)),
            )
        return hit


def fixup_irqs(guest: TdGuest, cpu: int) -> OfflineResult:
    """Move every IRQ off ``cpu`` (already out of the online mask), in IRQ-number order."""
    migrations: list[Migration] = []
    shutdown: list[Irq] = []
    failed: list[Irq] = []
    targets = _Targets(guest, cpu)
    for irq in sorted(guest._irqs_on[cpu], key=lambda i: i.irq):
        if irq.managed and (irq.affinity is None or not any(guest._online[c] for c in irq.affinity)):
            _shutdown_managed(guest, irq, cpu)
            shutdown.append(irq)
            continue
        moved = migrate_one_irq(guest, irq, cpu, targets)
        if moved is None:
            guest.counters.migration_failures += 1
            failed.append(irq)
        else:
            migrations.append(moved)
    return OfflineResult(True, migrations, shutdown, failed, "")


def _shutdown_managed(guest: TdGuest, irq: Irq, cpu: int) -> None:
    """A managed IRQ with no online CPU left in its mask: shut down until one comes back."""
    guest._detach(irq)
    guest.matrix.free(cpu, irq.vector, True)
    irq.shutdown = True
    guest._managed_down.append(irq)


def migrate_one_irq(guest: TdGuest, irq: Irq, cpu: int, targets: _Targets) -> Migration | None:
    """Give ``irq`` a vector on an online CPU and free its old one on ``cpu``; None when no CPU has room.

    Its affinity is used while a CPU of it is online; otherwise, or when that allocation fails for a
    non-managed IRQ (-ENOSPC), every online CPU is tried and the affinity is broken.
    """
    mask, broken = targets(irq.affinity)
    if broken:
        mask = targets(None)[0]
    try:
        bit, new_cpu = guest.matrix.alloc_managed(mask) if irq.managed else guest.matrix.alloc(mask, False)
    except MatrixError:
        if broken:
            return None
        try:
            bit, new_cpu = guest.matrix.alloc(targets(None)[0], False)
        except MatrixError:
            return None
        broken = True
    old_vector = irq.vector
    guest._detach(irq)
    guest.matrix.free(cpu, old_vector, irq.managed)
    guest._attach(irq, new_cpu, bit)
    irq.migrations += 1
    if broken:
        irq.affinity = None
    return Migration(irq, cpu, old_vector, new_cpu, bit, broken)


def irq_affinity_online_cpu(guest: TdGuest, cpu: int) -> list[Irq]:
    """``cpu`` came back online: restart the managed IRQs shut down whose mask holds it."""
    restarted = []
    for irq in [i for i in guest._managed_down if i.affinity is not None and cpu in i.affinity]:
        guest._managed_down.remove(irq)
        if irq.shutdown:
            aff = irq.affinity or frozenset()
            bit, new_cpu = guest.matrix.alloc_managed([c for c in sorted(aff) if guest._online[c]])
            guest._attach(irq, new_cpu, bit)
            restarted.append(irq)
    return restarted
