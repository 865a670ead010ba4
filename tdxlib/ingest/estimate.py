"""A VectorLoad estimated from ``/proc/interrupts`` and ``/proc/irq/N/*affinity*`` (no debugfs dump).

Every requested IRQ is taken to hold one vector on the CPU its effective affinity names (x86 targets
one CPU); IRQs whose action names match a managed-IRQ pattern (NVMe I/O queues...) are taken as
managed (one reserved vector on every CPU of their affinity mask); the system vectors come from a
:class:`~tdxlib.kernel.vectors.VectorLayout`. Every assumption is written into the load's ``notes``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from tdxlib.errors import ValidationError
from tdxlib.ingest.affinity import IrqAffinity, format_bitlist
from tdxlib.ingest.irqlines import IrqRow
from tdxlib.ingest.kernel_layout import as_layout, layout_for_kernel
from tdxlib.ingest.procinterrupts import ProcInterrupts
from tdxlib.ingest.vectorload import IrqPlacement, VectorLoad
from tdxlib.kernel.vectors.layout import VectorLayout

#: Action-name patterns of IRQs allocated as *managed* (pci_alloc_irq_vectors_affinity with
#: PCI_IRQ_AFFINITY / irq_create_affinity_masks): NVMe I/O queues (the admin queue nvmeXq0 is the
#: non-managed pre-vector), virtio-blk and virtio-scsi request queues, mpt3sas/megaraid_sas reply
#: queues. A heuristic (per-driver behaviour read from memory, UNVERIFIED against each driver's source):
#: pass ``managed=`` to override.
DEFAULT_MANAGED_PATTERNS: tuple[str, ...] = (
    r"nvme\d+q[1-9]\d*",
    r"virtio\d+-req\.\d+",
    r"virtio\d+-request",
    r"(mpt3sas|megasas)\d+-msix\d+",
)

#: Chips whose rows are not vectors of the x86 VECTOR domain... none known on x86; XT-PIC rows use the
#: ISA vectors the boot CPU got at boot and are counted on CPU 0.
_LEGACY_CHIPS = ("IO-APIC", "IR-IO-APIC", "XT-PIC")

ManagedSpec = str | Sequence[str] | Callable[[IrqRow], bool] | None


def _managed_predicate(spec: ManagedSpec) -> tuple[Callable[[IrqRow], bool], str]:
    if spec is None:
        return (lambda _row: False), "no IRQ taken as managed"
    if callable(spec):
        return spec, "managed IRQs chosen by a caller-supplied predicate"
    pats = [spec] if isinstance(spec, str) else list(spec)
    rx = re.compile("|".join(f"(?:{p})" for p in pats))

    def pred(row: IrqRow) -> bool:
        return any(rx.fullmatch(a) for a in row.actions)

    return pred, f"IRQs taken as managed when an action name matches {' | '.join(pats)}"


def _legacy_irqs(interrupts: ProcInterrupts, notes: list[str]) -> int:
    """nr_legacy_irqs: 16 when an IRQ below 16 sits on an IO-APIC or XT-PIC (a PIC is present), else 0."""
    legacy = any(r.irq < 16 and r.chip in _LEGACY_CHIPS for r in interrupts.irqs)
    notes.append(
        "legacy PIC present (IRQs below 16 on IO-APIC/XT-PIC): nr_legacy_irqs = 16, PIC cascade 0x32 "
        "is a system bit"
        if legacy
        else "no IRQ below 16 on an IO-APIC/XT-PIC: taken as nr_legacy_irqs = 0 (no PIC cascade vector)"
    )
    return 16 if legacy else 0


@dataclass(frozen=True)
class _Cpus:
    """The online CPUs of the header, as a list, a sorted array and a set."""

    cpus: list[int]
    cpu_arr: npt.NDArray[np.int64]
    online: frozenset[int]


def _target(
    row: IrqRow, counts: npt.NDArray[np.int64], aff: IrqAffinity | None, mask: tuple[int, ...], on: _Cpus
) -> tuple[int, str]:
    """The CPU whose vector an IRQ holds, and how that was decided.

    XT-PIC rows keep the boot CPU's ISA vector; otherwise the first online CPU of the effective
    affinity; else the CPU (of the affinity mask, if known) that took most of its interrupts, the
    lowest on a tie; else the first CPU of the mask (or the first online CPU).
    """
    if row.chip == "XT-PIC":
        return on.cpus[0], "legacy PIC vector (boot CPU)"
    if aff is not None and aff.effective_affinity:
        eff = [c for c in aff.effective_affinity if c in on.online]
        if eff:
            return eff[0], "effective_affinity"
    if mask:
        cand = np.searchsorted(on.cpu_arr, mask)
        best = int(cand[int(counts[cand].argmax())])  # argmax: the first (lowest CPU) on ties
    else:
        best = int(counts.argmax())
    if int(counts[best]) > 0:
        return on.cpus[best], ("smp_affinity+counts" if mask else "counts")
    return (mask[0] if mask else on.cpus[0]), "first online CPU"


@dataclass
class _Placed:
    """The per-CPU counters and the placements of the IRQs placed so far."""

    allocated: npt.NDArray[np.int64]
    man: npt.NDArray[np.int64]
    mac: npt.NDArray[np.int64]
    placements: list[IrqPlacement] = field(default_factory=list)
    hows: dict[str, int] = field(default_factory=dict)
    skipped: int = 0

    def add(self, row: IrqRow, target: int, how: str, mask: tuple[int, ...], is_managed: bool) -> None:
        """One vector on ``target``; a managed IRQ also reserves one on every CPU of its mask."""
        self.hows[how] = self.hows.get(how, 0) + 1
        self.allocated[target] += 1
        if is_managed:
            m = mask if mask else (target,)
            if target not in m:
                m = tuple(sorted(set(m) | {target}))
            self.man[list(m)] += 1
            self.mac[target] += 1
        else:
            m = mask
        self.placements.append(IrqPlacement(row.irq, target, is_managed, m, ", ".join(row.actions), how))


def _place_irqs(
    interrupts: ProcInterrupts,
    affinity: Mapping[int, IrqAffinity],
    pred: Callable[[IrqRow], bool],
    n: int,
    on: _Cpus,
) -> _Placed:
    """Place every IRQ row with an action (rows without one are freed IRQs: skipped)."""
    placed = _Placed(np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64))
    counts = interrupts.counts
    for i, row in enumerate(interrupts.irqs):
        if not row.actions:
            placed.skipped += 1
            continue
        aff = affinity.get(row.irq)
        mask = tuple(c for c in (aff.smp_affinity or ()) if c in on.online) if aff else ()
        target, how = _target(row, counts[i], aff, mask, on)
        placed.add(row, target, how, mask, pred(row))
    return placed


def _placement_notes(placed: _Placed, cpus: list[int], n: int) -> list[str]:
    """What the placement did and what it cannot see."""
    notes: list[str] = []
    if placed.skipped:
        notes.append(
            f"{placed.skipped} IRQ row(s) without an action skipped (freed IRQs still counted by old kernels)"
        )
    notes.append("IRQ placement: " + ", ".join(f"{k} {v}" for k, v in sorted(placed.hows.items())))
    nman = sum(1 for p in placed.placements if p.managed)
    notes.append(f"{len(placed.placements)} IRQs hold a vector, {nman} of them taken as managed")
    notes.append(
        "not visible without debugfs: IRQs allocated but never requested (reservation mode, counted in "
        "global_reserved) and managed vectors of shut-down queues; global_reserved taken as 0"
    )
    notes.append(
        "legacy ISA vectors the boot CPU got at boot are taken as released unless their IRQ is listed "
        "(vector_configure_legacy() frees those of IRQs not yet activated)"
    )
    if len(cpus) < n:
        notes.append(f"{n - len(cpus)} CPU(s) not in the header (offline): left empty")
    return notes


def _available(
    placed: _Placed, cpus: list[int], n: int, lay: VectorLayout, system: tuple[int, ...], notes: list[str]
) -> npt.NDArray[np.int64]:
    """Per-CPU available: the device range minus system bits in it, managed and regular vectors."""
    start, end = lay.FIRST_EXTERNAL_VECTOR, lay.FIRST_SYSTEM_VECTOR
    sys_in = sum(1 for b in system if start <= b < end)
    available = np.zeros(n, dtype=np.int64)
    for c in cpus:
        available[c] = (end - start) - sys_in - int(placed.man[c]) - int(placed.allocated[c] - placed.mac[c])
    over = [c for c in cpus if available[c] < 0]
    if over:
        notes.append(
            f"CPU(s) {format_bitlist(over)} would need more vectors than {lay.name} has: wrong layout, or "
            "IRQs sharing a vector"
        )
    return available


def estimate_load(
    interrupts: ProcInterrupts,
    affinity: Mapping[int, IrqAffinity] | None = None,
    layout: VectorLayout | str | None = None,
    *,
    ncpus: int | None = None,
    managed: ManagedSpec = DEFAULT_MANAGED_PATTERNS,
    nr_legacy_irqs: int | None = None,
    kernel: str | None = None,
) -> VectorLoad:
    """An estimated VectorLoad from ``/proc/interrupts`` (+ affinities) and a vector layout.

    Each IRQ row with an action holds one vector on its effective-affinity CPU (x86 targets one CPU);
    managed ones also reserve a vector on every online CPU of their affinity mask. ``layout``
    defaults to the shipped layout closest below ``kernel``. Everything assumed lands in ``notes``.
    """
    notes: list[str] = []
    if layout is None:
        name, why = layout_for_kernel(kernel)
        notes.append(why)
        lay = as_layout(name)
    else:
        lay = as_layout(layout)
    cpus = [int(c) for c in interrupts.cpus]
    n = ncpus if ncpus is not None else max(cpus) + 1
    if n <= max(cpus):
        raise ValidationError("ncpus", ncpus, f"more than the highest CPU in the header ({max(cpus)})")
    if nr_legacy_irqs is None:
        nr_legacy_irqs = _legacy_irqs(interrupts, notes)
    system = tuple(lay.matrix_system_bits(nr_legacy_irqs))
    pred, how_managed = _managed_predicate(managed)
    notes.append(how_managed)
    if affinity is None:
        notes.append(
            "no /proc/irq affinity files: each IRQ placed on the CPU that took most of its interrupts"
        )
        affinity = {}
    on = _Cpus(cpus, np.asarray(cpus, dtype=np.int64), frozenset(cpus))
    placed = _place_irqs(interrupts, affinity, pred, n, on)
    notes.extend(_placement_notes(placed, cpus, n))
    available = _available(placed, cpus, n, lay, system, notes)
    return VectorLoad(
        kind="estimated",
        ncpus=n,
        cpus=tuple(cpus),
        matrix_bits=lay.NR_VECTORS,
        alloc_start=lay.FIRST_EXTERNAL_VECTOR,
        alloc_end=lay.FIRST_SYSTEM_VECTOR,
        system_bits=system,
        available=available,
        allocated=placed.allocated,
        managed=placed.man,
        managed_allocated=placed.mac,
        global_reserved=0,
        total_allocated=None,
        alloc_maps=None,
        irqs=tuple(placed.placements),
        layout=lay.name,
        source=interrupts.path,
        notes=tuple(notes),
    )
