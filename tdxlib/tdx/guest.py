"""A TD guest: vCPUs with APIC IDs, per-CPU vector tables, device IRQ load and interrupt delivery.

The guest owns an :class:`~tdxlib.kernel.matrix.IrqMatrix` booted from a
:mod:`tdxlib.kernel.vectors` layout and the per-CPU ``vector_irq`` tables that ``common_interrupt()``
consults. An interrupt on a CPU whose table has no handler for the vector is *spurious* ("No irq handler
for vector", arch/x86/kernel/irq.c); system vectors (the IDT's ``system_vectors``) are the same on every
CPU. CPU hotplug and the IRQ migration it forces are :mod:`tdxlib.tdx.cpuhotplug`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from tdxlib.errors import ValidationError
from tdxlib.kernel.limits import APIC_ID_MAX, NR_CPUS_MAX
from tdxlib.kernel.profile import GuestKernel, KernelProfile, Offlining, load_kernel
from tdxlib.kernel.vectors import load_layout
from tdxlib.tdx.cpuhotplug import (
    Migration,
    OfflineResult,
    cpu_down_maps_locked,
    irq_affinity_online_cpu,
    lapic_can_unplug_cpu,
)

if TYPE_CHECKING:
    from tdxlib.kernel.matrix import IrqMatrix
    from tdxlib.kernel.vectors import VectorLayout

__all__ = [
    "Delivery",
    "Handler",
    "Irq",
    "Migration",
    "OfflineResult",
    "TdGuest",
    "make_apic_ids",
]

#: An interrupt handler: called with (cpu, vector) when the interrupt is taken.
Handler = Callable[[int, int], None]

#: Default layout: the v8 patch's IDT (TDX_GUEST_EVENT_NOTIFY_VECTOR 0xec, LOCAL_TIMER 0xeb).
DEFAULT_LAYOUT = "linux-5.19-tdx-v8"
#: A guest built without a kernel profile: the allocator model alone, which lets every CPU go offline.
NO_PROFILE = Offlining("no kernel profile", True)


def _guest_kernel(kernel: str | KernelProfile | GuestKernel | None) -> GuestKernel | None:
    if kernel is None or isinstance(kernel, GuestKernel):
        return kernel
    return load_kernel(kernel).guest()


def _noop_handler(cpu: int, vector: int) -> None:
    """Handler of modelled device IRQs: taking the interrupt is all that matters here."""


#: What the guest hands ``IrqMatrix.alloc``: one online CPU as a one-item list, or a bool CPU mask.
_Target = list[int] | npt.NDArray[np.bool_]


@dataclass(eq=False)
class Irq:
    """One Linux IRQ with a vector (``struct irq_desc`` + ``apic_chip_data``, reduced to what matters)."""

    irq: int
    name: str
    cpu: int
    vector: int
    affinity: frozenset[int] | None = None  # None: any CPU
    managed: bool = False
    nobalancing: bool = False
    handler: Handler = _noop_handler
    shutdown: bool = False
    migrations: int = 0


class Delivery(NamedTuple):
    """Fate of one injected interrupt: ``kind`` is handled / spurious / offline / no-cpu / exception."""

    kind: Literal["handled", "spurious", "offline", "no-cpu", "exception"]
    cpu: int | None
    owner: str | None  # IRQ name or system-vector owner that took it


def make_apic_ids(ncpus: int, topology: str | Sequence[int] = "identity") -> tuple[int, ...]:
    """APIC IDs for ``ncpus`` vCPUs: ``"identity"`` (APIC ID = CPU number), ``"x2apic-gaps"`` (IDs as a
    two-thread-per-core, 2**k-cores-per-package x2APIC topology numbers them, with holes), or an explicit
    list of distinct IDs."""
    if isinstance(topology, str):
        if topology == "identity":
            return tuple(range(ncpus))
        if topology == "x2apic-gaps":
            # SMT shift 1 bit; cores per package rounded up to a power of two; packages of 12 cores
            # (odd core counts leave holes in the ID space, as on real multi-socket parts).
            cores_per_pkg, threads = 12, 2
            core_bits = (cores_per_pkg - 1).bit_length()
            ids = []
            for cpu in range(ncpus):
                thread = cpu % threads
                core = (cpu // threads) % cores_per_pkg
                pkg = cpu // (threads * cores_per_pkg)
                ids.append((pkg << (core_bits + 1)) | (core << 1) | thread)
            return tuple(ids)
        raise ValidationError(
            "apic_ids", topology, "'identity', 'x2apic-gaps' or a list of distinct APIC IDs"
        )
    ids_list = [int(a) for a in topology]
    if len(ids_list) != ncpus:
        raise ValidationError(
            "apic_ids", list(topology), f"a list of exactly {ncpus} APIC IDs (one per vCPU)"
        )
    if len(set(ids_list)) != ncpus or any(a < 0 or a > APIC_ID_MAX for a in ids_list):
        raise ValidationError("apic_ids", ids_list, f"distinct APIC IDs in 0..{APIC_ID_MAX:#x}")
    return tuple(ids_list)


@dataclass
class _Counters:
    offline_refused: int = 0
    offline_ok: int = 0
    online: int = 0
    migrations: int = 0
    migration_failures: int = 0
    spurious: int = 0


class TdGuest:
    """A TD guest with ``ncpus`` vCPUs, an IDT layout, an :class:`IrqMatrix` and device IRQ load.

    ``online=None`` boots every vCPU; ``online=[0]`` stops before SMP bring-up (what an early initcall
    sees); call :meth:`bring_up` later. ``device_irqs`` non-managed device IRQs are requested after
    bring-up, spread by the allocator's best-CPU rule; ``managed_queues`` multi-queue devices get one
    managed IRQ per CPU (like NVMe I/O queues).

    ``kernel`` (a profile name, a :class:`KernelProfile` or a resolved :class:`GuestKernel`) gives the
    layout (unless ``layout`` is given) and whether CPUs may go offline: a kernel that cannot offline
    in a TD refuses :meth:`cpu_offline` with :class:`~tdxlib.errors.CpuOfflineUnsupported`. Without a
    kernel the guest is the allocator model alone (layout ``DEFAULT_LAYOUT``, offlining allowed).
    """

    def __init__(
        self,
        ncpus: int,
        *,
        kernel: str | KernelProfile | GuestKernel | None = None,
        layout: str | VectorLayout | None = None,
        apic_ids: str | Sequence[int] = "identity",
        online: Iterable[int] | None = None,
        device_irqs: int = 0,
        managed_queues: int = 0,
        nr_legacy_irqs: int = 16,
    ) -> None:
        is_int = isinstance(ncpus, (int, np.integer)) and not isinstance(ncpus, bool)
        if not is_int or not 1 <= ncpus <= NR_CPUS_MAX:
            raise ValidationError("cpus", ncpus, f"an integer number of vCPUs in 1..{NR_CPUS_MAX}")
        for what, value in (("device_irqs", device_irqs), ("managed_queues", managed_queues)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
                raise ValidationError(what, value, "an integer >= 0")
        self.ncpus = int(ncpus)
        gk = _guest_kernel(kernel)
        self.offlining: Offlining = NO_PROFILE if gk is None else gk.offlining
        if layout is None:
            layout = DEFAULT_LAYOUT if gk is None else load_layout(gk.layout, **dict(gk.layout_config))
        self.layout: VectorLayout = load_layout(layout) if isinstance(layout, str) else layout
        self.apic_ids: tuple[int, ...] = make_apic_ids(self.ncpus, apic_ids)
        self._cpu_of_apic = {a: c for c, a in enumerate(self.apic_ids)}
        self._apic_arr = np.asarray(self.apic_ids, dtype=np.int64)
        self.bsp = 0
        first_online = [0] if online is None else sorted({self._check_cpu(c) for c in online})
        if 0 not in first_online:
            raise ValidationError("online", first_online, "a set of CPUs that includes the BSP (CPU 0)")
        self.matrix: IrqMatrix = self.layout.new_matrix(self.ncpus, online=[0], nr_legacy_irqs=nr_legacy_irqs)
        self._online = np.zeros(self.ncpus, dtype=np.bool_)
        self._online_cache: tuple[tuple[int, ...], tuple[int, ...]] | None = None
        self._set_online(0, True)
        self.vector_irq: list[dict[int, Irq]] = [{} for _ in range(self.ncpus)]
        self.system_handlers: dict[int, tuple[str, Handler]] = {}
        self._system_bits = frozenset(self.layout.system_bits())
        self._system_names = {v: n for n, v in self.layout.system_vectors().items()}
        self._first_system = self.layout.FIRST_SYSTEM_VECTOR
        self.irqs: list[Irq] = []
        self._managed_down: list[Irq] = []  # managed IRQs shut down for lack of an online CPU
        self._irqs_on: list[set[Irq]] = [set() for _ in range(self.ncpus)]
        self._next_irq = max(nr_legacy_irqs, 16) + 8  # after legacy ISA IRQs and a few platform ones
        self.counters = _Counters()
        self.spurious_per_cpu = np.zeros(self.ncpus, dtype=np.int64)
        self.bring_up(c for c in (range(self.ncpus) if online is None else first_online) if c != 0)
        if device_irqs:
            self.add_device_irqs(int(device_irqs))
        if managed_queues:
            self.add_managed_queues(int(managed_queues))

    def copy(self) -> TdGuest:
        """An independent copy in the same state (matrix, IRQs, handlers, counters).

        Much cheaper than booting again, so a simulation can boot a guest once and run copies of it.
        IRQs are copied (their CPU and vector change on migration); the layout and APIC IDs are
        immutable and shared; handlers are shared as they are (a booted guest without a notify
        mechanism only has the no-op device handler).
        """
        new = object.__new__(TdGuest)
        new.__dict__.update(self.__dict__)
        make = object.__new__
        twin: dict[int, Irq] = {}
        for irq in (*self.irqs, *self._managed_down):  # every IRQ the tables below can reference
            hit = make(Irq)  # a field-for-field copy, without dataclasses.replace's __init__
            hit.__dict__ = irq.__dict__.copy()
            twin[id(irq)] = hit

        def same(irq: Irq) -> Irq:  # the copy of an IRQ referenced only from the vector tables
            hit = twin.get(id(irq))
            if hit is None:
                hit = twin[id(irq)] = make(Irq)
                hit.__dict__ = irq.__dict__.copy()
            return hit

        get = twin.get
        new.matrix = self.matrix.copy()
        new._online = self._online.copy()
        new.vector_irq = [{v: get(id(i)) or same(i) for v, i in table.items()} for table in self.vector_irq]
        new.system_handlers = dict(self.system_handlers)
        new.irqs = [twin[id(i)] for i in self.irqs]
        new._managed_down = [twin[id(i)] for i in self._managed_down]
        new._irqs_on = [{get(id(i)) or same(i) for i in on} for on in self._irqs_on]
        new.counters = dataclasses.replace(self.counters)
        new.spurious_per_cpu = self.spurious_per_cpu.copy()
        return new

    # ------------------------------------------------------------------ topology and state

    def _check_cpu(self, cpu: object) -> int:
        if isinstance(cpu, bool) or not isinstance(cpu, (int, np.integer)) or not 0 <= int(cpu) < self.ncpus:
            raise ValidationError("cpu", cpu, f"a CPU number in 0..{self.ncpus - 1}")
        return int(cpu)

    def apic_id(self, cpu: int) -> int:
        """APIC ID of ``cpu`` (``apic->cpu_present_to_apicid``)."""
        return self.apic_ids[self._check_cpu(cpu)]

    def cpu_of_apic(self, apic_id: int) -> int | None:
        """The CPU with this APIC ID, or None when no vCPU has it."""
        return self._cpu_of_apic.get(apic_id)

    def is_online(self, cpu: int) -> bool:
        """Whether ``cpu`` is in cpu_online_mask."""
        return bool(self._online[cpu])

    def _set_online(self, cpu: int, online: bool) -> None:
        self._online[cpu] = online
        self._online_cache = None

    def _online_lists(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        if self._online_cache is None:
            idx = np.flatnonzero(self._online)
            self._online_cache = (tuple(idx.tolist()), tuple(self._apic_arr[idx].tolist()))
        return self._online_cache

    def online_cpus(self) -> list[int]:
        """Online CPUs, ascending."""
        return list(self._online_lists()[0])

    def online_cpu_tuple(self) -> tuple[int, ...]:
        """Online CPUs, ascending, as a cached tuple (cheap to call per event)."""
        return self._online_lists()[0]

    def online_apic_ids(self) -> tuple[int, ...]:
        """APIC IDs of the online CPUs, in CPU order (cached until the next hotplug)."""
        return self._online_lists()[1]

    def irqs_on(self, cpu: int) -> list[Irq]:
        """IRQs whose vector currently lives on ``cpu`` (sorted by IRQ number)."""
        return sorted(self._irqs_on[self._check_cpu(cpu)], key=lambda i: i.irq)

    @property
    def offline_refused(self) -> int:
        """CPU offline attempts refused by lapic_can_unplug_cpu (vector space)."""
        return self.counters.offline_refused

    # ------------------------------------------------------------------ boot

    def bring_up(self, cpus: Iterable[int] | None = None) -> None:
        """SMP bring-up: online the given CPUs (default: every offline CPU) in ascending order."""
        todo = [c for c in range(self.ncpus) if not self._online[c]] if cpus is None else list(cpus)
        for cpu in sorted(self._check_cpu(c) for c in todo):
            if not self._online[cpu]:
                self.matrix.online(cpu)
                self._set_online(cpu, True)

    def add_device_irqs(self, count: int, *, prefix: str = "dev") -> list[Irq]:
        """Request ``count`` non-managed device IRQs with no affinity (allocator's best CPU each)."""
        return [self.request_irq(f"{prefix}{i}") for i in range(count)]

    def add_managed_queues(self, devices: int, *, prefix: str = "nvme") -> list[Irq]:
        """``devices`` multi-queue devices, each with one managed IRQ per CPU (affinity = that CPU)."""
        made = []
        for d in range(devices):
            for cpu in range(self.ncpus):
                made.append(self.request_irq(f"{prefix}{d}q{cpu}", affinity=[cpu], managed=True))
        return made

    # ------------------------------------------------------------------ IRQs

    def _new_irq_number(self) -> int:
        n = self._next_irq
        self._next_irq += 1
        return n

    def request_irq(
        self,
        name: str,
        handler: Handler | None = None,
        *,
        affinity: Iterable[int] | None = None,
        managed: bool = False,
        nobalancing: bool = False,
    ) -> Irq:
        """Allocate an IRQ and its vector (``irq_domain_alloc_irqs`` + ``request_irq``).

        Non-managed: ``irq_matrix_alloc`` on the online CPUs of ``affinity`` (all online CPUs when
        None). Managed: ``irq_matrix_reserve_managed`` on the mask, then ``alloc_managed`` if a CPU of
        the mask is online, else the IRQ stays shut down until one comes up. Raises MatrixError(ENOSPC).
        """
        aff = None if affinity is None else frozenset(self._check_cpu(c) for c in affinity)
        if aff is not None and not aff:
            raise ValidationError("affinity", sorted(aff), "a non-empty set of CPUs")
        irq = Irq(
            irq=self._new_irq_number(),
            name=name,
            cpu=-1,
            vector=0,
            affinity=aff,
            managed=managed,
            nobalancing=nobalancing,
            handler=handler or _noop_handler,
        )
        if managed:
            mask = sorted(aff) if aff is not None else list(range(self.ncpus))
            self.matrix.reserve_managed(mask)
            online_mask = [c for c in mask if self._online[c]]
            if online_mask:
                bit, cpu = self.matrix.alloc_managed(online_mask)
                self._attach(irq, cpu, bit)
            else:
                irq.shutdown = True
                self._managed_down.append(irq)
        else:
            bit, cpu = self.matrix.alloc(self._alloc_target(aff), False)
            self._attach(irq, cpu, bit)
        self.irqs.append(irq)
        return irq

    def free_irq(self, irq: Irq) -> None:
        """Release an IRQ and its vector (``free_irq`` + ``irq_domain_free_irqs``)."""
        if not irq.shutdown:
            self._detach(irq)
            self.matrix.free(irq.cpu, irq.vector, irq.managed)
        if irq.managed:
            self.matrix.remove_managed(sorted(irq.affinity) if irq.affinity else range(self.ncpus))
        self.irqs.remove(irq)
        if irq in self._managed_down:
            self._managed_down.remove(irq)
        irq.shutdown = True

    def _alloc_target(self, aff: frozenset[int] | None, exclude: int | None = None) -> _Target:
        """What to hand ``matrix.alloc`` for ``aff``: one online CPU as a one-item list (the matrix's
        fast path, same choice), else the bool mask of :meth:`_online_mask`."""
        if aff is not None and len(aff) == 1:
            (cpu,) = aff
            if cpu != exclude and self._online[cpu]:
                return [cpu]
        return self._online_mask(aff, exclude)

    def _online_mask(self, aff: frozenset[int] | None, exclude: int | None = None) -> npt.NDArray[np.bool_]:
        """Online CPUs of ``aff`` (all when None) minus ``exclude``, as the bool mask the matrix takes."""
        mask = self._online.copy()
        if aff is not None:
            sel = np.zeros(self.ncpus, dtype=np.bool_)
            sel[list(aff)] = True
            mask &= sel
        if exclude is not None:
            mask[exclude] = False
        return mask

    def _attach(self, irq: Irq, cpu: int, vector: int) -> None:
        irq.cpu, irq.vector, irq.shutdown = cpu, vector, False
        self.vector_irq[cpu][vector] = irq
        self._irqs_on[cpu].add(irq)

    def _detach(self, irq: Irq) -> None:
        if self.vector_irq[irq.cpu].get(irq.vector) is irq:
            del self.vector_irq[irq.cpu][irq.vector]
        self._irqs_on[irq.cpu].discard(irq)

    def set_system_handler(self, vector: int, owner: str, handler: Handler) -> None:
        """Install the IDT entry of a system vector (``alloc_intr_gate``/``DEFINE_IDTENTRY_SYSVEC``).

        The vector must be one the layout assigns as a system vector at boot (it is then reserved on
        every CPU); anything else is refused.
        """
        if vector not in self._system_bits and vector < self._first_system:
            raise ValidationError(
                "system vector",
                vector,
                f"a system vector of layout {self.layout.name} "
                f"(>= {self._first_system:#x} or in its system bits)",
            )
        self.system_handlers[vector] = (owner, handler)

    # ------------------------------------------------------------------ hotplug

    def can_unplug(self, cpu: int) -> bool:
        """``lapic_can_unplug_cpu()``: enough vectors elsewhere for this CPU's non-managed ones."""
        return lapic_can_unplug_cpu(self, self._check_cpu(cpu))

    def cpu_offline(self, cpu: int) -> OfflineResult:
        """Take ``cpu`` offline as the kernel does: CpuOfflineUnsupported (-EOPNOTSUPP) when the guest's
        kernel cannot offline CPUs in a TD; else ``native_cpu_disable()``, refused (counted) when
        vectors lack."""
        return cpu_down_maps_locked(self, cpu)

    def cpu_online(self, cpu: int) -> list[Irq]:
        """Bring ``cpu`` back; restarts managed IRQs whose mask it is in (``irq_affinity_online_cpu``)."""
        cpu = self._check_cpu(cpu)
        if self._online[cpu]:
            raise ValidationError("cpu", cpu, "an offline CPU (it is already online)")
        self.matrix.online(cpu)
        self._set_online(cpu, True)
        self.counters.online += 1
        return irq_affinity_online_cpu(self, cpu)

    # ------------------------------------------------------------------ interrupts

    def deliver(self, apic_id: int, vector: int) -> Delivery:
        """Take an interrupt ``vector`` sent to ``apic_id`` now: run its handler or count it spurious."""
        cpu = self._cpu_of_apic.get(apic_id)
        if cpu is None:
            return Delivery("no-cpu", None, None)
        if not self._online[cpu]:
            return Delivery("offline", cpu, None)
        if vector < 32:
            return Delivery("exception", cpu, None)
        sysh = self.system_handlers.get(vector)
        if sysh is not None:
            sysh[1](cpu, vector)
            return Delivery("handled", cpu, sysh[0])
        if vector in self._system_bits or vector >= self._first_system:
            name = self._system_names.get(vector)
            if name is not None:
                return Delivery("handled", cpu, name)
        irq = self.vector_irq[cpu].get(vector)
        if irq is None:
            self.counters.spurious += 1
            self.spurious_per_cpu[cpu] += 1
            return Delivery("spurious", cpu, None)
        irq.handler(cpu, vector)
        return Delivery("handled", cpu, irq.name)

    def device_vectors_free(self) -> npt.NDArray[np.int64]:
        """Vectors still available per CPU (the matrix's per-CPU ``available``)."""
        return np.asarray(self.matrix.available_counts, dtype=np.int64)

    def describe(self) -> dict[str, object]:
        """Summary: CPUs online, IRQs, matrix totals, refusals (for reports and debugging)."""
        return {
            "cpus": self.ncpus,
            "online": int(self._online.sum()),
            "layout": self.layout.name,
            "kernel": self.offlining.kernel,
            "irqs": len(self.irqs),
            "global_available": self.matrix.global_available,
            "total_allocated": self.matrix.total_allocated,
            "offline_refused": self.counters.offline_refused,
            "spurious": self.counters.spurious,
        }
