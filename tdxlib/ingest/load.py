"""``VectorLoad``: what a machine's vector allocator holds, per CPU, and how to seed an IrqMatrix with it.

A load is ``exact`` when it comes from the kernel's own VECTOR matrix dump (debugfs): the per-CPU
counters and allocation bitmaps are the kernel's. It is ``estimated`` when only ``/proc/interrupts``
and ``/proc/irq/N/*affinity*`` were readable: every requested IRQ is taken to hold one vector on the
CPU its effective affinity names, IRQs whose action names match a managed-IRQ pattern (NVMe I/O
queues...) are taken as managed (one reserved vector on every CPU of their affinity mask), and the
system vectors come from a :class:`~tdxlib.kernel.vectors.VectorLayout`. Every assumption is written into
``notes``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from tdxlib.errors import DataError, ValidationError
from tdxlib.ingest.affinity import IrqAffinity, format_bitlist
from tdxlib.ingest.procinterrupts import IrqRow, ProcInterrupts
from tdxlib.ingest.vectordump import VectorDump

if TYPE_CHECKING:
    from tdxlib.kernel.matrix import IrqMatrix
    from tdxlib.kernel.vectors import VectorLayout

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


@dataclass(frozen=True)
class IrqPlacement:
    """Where an estimated load put one IRQ: its vector's CPU, whether managed, its affinity mask."""

    irq: int
    cpu: int
    managed: bool
    mask: tuple[int, ...]
    name: str
    how: str  # "effective_affinity" | "smp_affinity+counts" | "counts" | "first online CPU"


@dataclass(frozen=True, eq=False)
class VectorLoad:
    """Per-CPU vector usage of one machine: the counters of kernel/irq/matrix.c's struct cpumap.

    Arrays are indexed by CPU number (length ``ncpus``); CPUs not in ``cpus`` (offline, or beyond what
    the input showed) hold zeros. ``system`` is the number of system vectors inside the allocation
    range (``systembits_inalloc``, the same on every CPU); ``allocated`` is the raw counter (it
    includes ``managed_allocated`` and legacy vectors); ``available`` is what is left for devices.
    """

    kind: Literal["exact", "estimated"]
    ncpus: int
    cpus: tuple[int, ...]
    matrix_bits: int
    alloc_start: int
    alloc_end: int
    system_bits: tuple[int, ...]
    available: npt.NDArray[np.int64]
    allocated: npt.NDArray[np.int64]
    managed: npt.NDArray[np.int64]
    managed_allocated: npt.NDArray[np.int64]
    global_reserved: int = 0
    total_allocated: int | None = None
    alloc_maps: Mapping[int, tuple[int, ...]] | None = None
    irqs: tuple[IrqPlacement, ...] = ()
    layout: str | None = None
    source: str | None = None
    notes: tuple[str, ...] = field(default=())

    # -- derived ----------------------------------------------------------------------------
    @property
    def exact(self) -> bool:
        """True when the counters are the kernel's (a VECTOR dump)."""
        return self.kind == "exact"

    @property
    def alloc_size(self) -> int:
        """Size of the allocation range [alloc_start, alloc_end)."""
        return self.alloc_end - self.alloc_start

    @property
    def systembits_inalloc(self) -> int:
        """System vectors inside the allocation range (unavailable on every CPU)."""
        return sum(1 for b in self.system_bits if self.alloc_start <= b < self.alloc_end)

    @property
    def online_mask(self) -> npt.NDArray[np.bool_]:
        """Bool array over CPUs: True for the CPUs this load describes (online when read)."""
        m = np.zeros(self.ncpus, dtype=np.bool_)
        m[list(self.cpus)] = True
        return m

    @property
    def system(self) -> npt.NDArray[np.int64]:
        """Per-CPU system vectors in the allocation range (``systembits_inalloc`` on described CPUs)."""
        return np.where(self.online_mask, self.systembits_inalloc, 0).astype(np.int64)

    @property
    def reserved_managed(self) -> npt.NDArray[np.int64]:
        """Per-CPU managed vectors reserved but not yet allocated (``managed - managed_allocated``)."""
        return self.managed - self.managed_allocated

    @property
    def global_available(self) -> int:
        """Sum of ``available`` over the described CPUs (the kernel's ``global_available``)."""
        return int(self.available[list(self.cpus)].sum())

    @property
    def drift(self) -> npt.NDArray[np.int64]:
        """Per-CPU ``available`` minus what the other counters imply (size - system - man - (act - mac)).

        Zero normally. The kernel does not touch ``available`` when a managed vector is reserved or
        removed on an *offline* CPU and recomputes it only on the first online, so a real dump can
        carry a drift; estimated loads never do.
        """
        out = np.zeros(self.ncpus, dtype=np.int64)
        cpus = list(self.cpus)
        implied = self.alloc_size - self.systembits_inalloc - self.managed[cpus]
        implied = implied - (self.allocated[cpus] - self.managed_allocated[cpus])
        out[cpus] = self.available[cpus] - implied
        return out

    def check(self) -> list[str]:
        """Structural problems of the counters (managed_allocated above managed or allocated, negatives)."""
        out: list[str] = []
        for c in self.cpus:
            if self.managed_allocated[c] > self.managed[c] or self.managed_allocated[c] > self.allocated[c]:
                out.append(f"CPU {c}: managed_allocated exceeds managed or allocated")
            if min(self.available[c], self.allocated[c], self.managed[c], self.managed_allocated[c]) < 0:
                out.append(f"CPU {c}: a negative counter")
            if self.alloc_maps is not None and len(self.alloc_maps.get(c, ())) != self.allocated[c]:
                out.append(
                    f"CPU {c}: {len(self.alloc_maps.get(c, ()))} bits for allocated = {self.allocated[c]}"
                )
        return out

    def to_frame(self) -> Any:
        """Per-CPU pandas DataFrame: cpu, system, available, allocated, managed, managed_allocated."""
        import pandas as pd

        cpus = list(self.cpus)
        return pd.DataFrame(
            {
                "cpu": cpus,
                "system": self.system[cpus],
                "available": self.available[cpus],
                "allocated": self.allocated[cpus],
                "managed": self.managed[cpus],
                "managed_allocated": self.managed_allocated[cpus],
            }
        )

    def summary(self) -> dict[str, Any]:
        """Headline numbers as a flat dict."""
        cpus = list(self.cpus)
        avl = self.available[cpus]
        return {
            "kind": self.kind,
            "layout": self.layout,
            "cpus_online": len(cpus),
            "ncpus": self.ncpus,
            "alloc_range": f"{self.alloc_start:#x}-{self.alloc_end - 1:#x}",
            "systembits_inalloc": self.systembits_inalloc,
            "global_available": int(avl.sum()),
            "global_reserved": self.global_reserved,
            "allocated": int(self.allocated[cpus].sum()),
            "managed": int(self.managed[cpus].sum()),
            "available_min": int(avl.min()),
            "available_max": int(avl.max()),
        }

    # -- seeding ----------------------------------------------------------------------------
    def to_matrix(self, layout: VectorLayout | str | None = None, *, reserve_top: int = 0) -> IrqMatrix:
        """An IrqMatrix whose counters equal this load (for exact loads: the same bits too).

        ``layout`` (a VectorLayout or name) re-seats the load on another kernel's vector space: its
        system bits and allocation range replace the captured ones, and every allocated or reserved
        vector that collides moves to the lowest free bit of its CPU. ``reserve_top`` takes that many
        more vectors off the top of the allocation range (what a reserved system vector below
        FIRST_SYSTEM_VECTOR costs, as the v8 patch did). A vector that no longer fits its CPU raises
        MatrixError(ENOSPC).
        """
        from tdxlib.ingest.seed import seed_matrix

        return seed_matrix(self, layout, reserve_top)


# --------------------------------------------------------------------------------------------------
# From a VECTOR dump
# --------------------------------------------------------------------------------------------------


def _infer_alloc_end(dump: VectorDump, start: int, candidates: Iterable[int]) -> int | None:
    """The alloc_end that makes the most CPUs' counters add up (ties: the smallest), or None."""
    sysb = dump.system_bits
    used = dump.available + dump.managed + dump.allocated - dump.managed_allocated
    top = max((max(m) for m in dump.alloc_maps if m), default=-1)
    best: tuple[int, int] | None = None
    for end in candidates:
        if top >= end:
            continue
        sys_in = sum(1 for b in sysb if start <= b < end)
        score = int(np.count_nonzero(used + sys_in == end - start))
        if score and (best is None or score > best[0]):
            best = (score, end)
    return None if best is None else best[1]


def load_from_dump(
    dump: VectorDump,
    *,
    layout: VectorLayout | str | None = None,
    ncpus: int | None = None,
    matrix_bits: int = 256,
    alloc_start: int = 0x20,
    alloc_end: int | None = None,
) -> VectorLoad:
    """An exact VectorLoad from a parsed VECTOR dump.

    The dump does not print the allocation range; it is taken from ``layout`` when given (and
    checked), else inferred: the ``alloc_end`` for which every CPU's avl + man + (act - mac) + system
    bits in range add up to the range size (FIRST_SYSTEM_VECTOR 0xec for 5.x, 0xeb since 6.10), or
    given as ``alloc_end`` (with ``matrix_bits`` and ``alloc_start``) for a non-x86-sized matrix.
    """
    notes = list(dump.notes)
    lay = _layout(layout) if layout is not None else None
    if lay is not None:
        matrix_bits, alloc_start = lay.NR_VECTORS, lay.FIRST_EXTERNAL_VECTOR
        end = _infer_alloc_end(dump, alloc_start, [lay.FIRST_SYSTEM_VECTOR])
        if end is None:
            raise DataError(
                f"the dump's counters do not fit layout {lay.name} "
                f"(FIRST_SYSTEM_VECTOR {lay.FIRST_SYSTEM_VECTOR:#x}); "
                "pass layout=None to infer the allocation range",
                dump.path,
            )
    elif alloc_end is not None:
        if not alloc_start <= alloc_end <= matrix_bits:
            raise ValidationError("alloc_end", alloc_end, f"{alloc_start}..{matrix_bits}")
        end = alloc_end
        if any(b >= end or b < alloc_start for bits in dump.alloc_maps for b in bits):
            raise DataError(f"the dump has vectors outside [{alloc_start:#x}, {end:#x})", dump.path)
    else:
        end = _infer_alloc_end(dump, alloc_start, range(alloc_start + 1, matrix_bits + 1))
        if end is None:
            raise DataError(
                "no allocation range [0x20, end) makes any CPU's avl + man + (act - mac) + system bits "
                "add up "
                "(inconsistent snapshot?)",
                dump.path,
            )
        notes.append(
            f"allocation range inferred from the counters: [{alloc_start:#x}, {end:#x}) "
            f"(FIRST_SYSTEM_VECTOR = {end:#x})"
        )
    cpus = [int(c) for c in dump.cpus]
    size = end - alloc_start
    sys_in = sum(1 for b in dump.system_bits if alloc_start <= b < end)
    drift = dump.available - (size - sys_in - dump.managed - (dump.allocated - dump.managed_allocated))
    for c, d in zip(cpus, drift.tolist(), strict=True):
        if d:
            notes.append(
                f"CPU {c}: available is {d:+d} off what its counters imply (managed vectors reserved or "
                "removed "
                "while it was offline: the kernel leaves available alone then)"
            )
    n = ncpus if ncpus is not None else (max(cpus) + 1)
    if n <= max(cpus):
        raise ValidationError("ncpus", ncpus, f"more than the highest CPU in the dump ({max(cpus)})")

    def arr(vals: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        a = np.zeros(n, dtype=np.int64)
        a[cpus] = vals
        return a

    if len(cpus) < n:
        notes.append(
            f"{n - len(cpus)} CPU(s) not in the dump (offline when it was read): their maps are unknown, "
            "left empty"
        )
    return VectorLoad(
        kind="exact",
        ncpus=n,
        cpus=tuple(cpus),
        matrix_bits=matrix_bits,
        alloc_start=alloc_start,
        alloc_end=end,
        system_bits=dump.system_bits,
        available=arr(dump.available),
        allocated=arr(dump.allocated),
        managed=arr(dump.managed),
        managed_allocated=arr(dump.managed_allocated),
        global_reserved=dump.global_reserved,
        total_allocated=dump.total_allocated,
        alloc_maps={c: bits for c, bits in zip(cpus, dump.alloc_maps, strict=True)},
        layout=lay.name if lay is not None else None,
        source=dump.path,
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------------------------------
# Estimated from /proc/interrupts
# --------------------------------------------------------------------------------------------------


def _layout(layout: VectorLayout | str) -> VectorLayout:
    from tdxlib.kernel.vectors import VectorLayout, load_layout

    if isinstance(layout, VectorLayout):
        return layout
    return load_layout(layout)


def _version_tuple(text: str) -> tuple[int, ...]:
    m = re.search(r"(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else ()


def layout_for_kernel(release: str | None) -> tuple[str, str]:
    """The shipped plain layout closest below kernel ``release`` (e.g. ``"6.18.44-fc"``) and why."""
    from tdxlib.kernel.vectors import layout_names, load_layout

    plain = []
    for name in layout_names():
        if re.fullmatch(r"linux-\d+\.\d+", name):
            plain.append((_version_tuple(load_layout(name).kernel), name))
    plain.sort()
    if not plain:
        raise DataError("no plain linux-X.Y layout under data/vectors")
    want = _version_tuple(release or "")
    if not want:
        return plain[-1][1], f"kernel version unknown: took the newest layout {plain[-1][1]}"
    below = [p for p in plain if p[0] <= want]
    if not below:
        return plain[0][1], f"kernel {release} is older than every layout: took {plain[0][1]}"
    return below[-1][1], f"kernel {release}: took {below[-1][1]}, the newest shipped layout not newer than it"


def layout_config_from_kernel_config(
    layout: str, config: Mapping[str, str] | None, arch_rows: Iterable[str] = ()
) -> tuple[dict[str, bool], list[str]]:
    """Layout switch overrides read from a captured ``CONFIG_*`` map and the arch rows present.

    A kconfig switch ``X`` is True when ``CONFIG_X`` is ``y`` or ``m``, False when unset; the HYP row
    of /proc/interrupts (printed only when HYPERVISOR_CALLBACK_VECTOR is in system_vectors) sets the
    run-time HYPERVISOR_CALLBACK switch, HRE/HVS rows set HYPERV_GUEST.
    """
    from tdxlib.kernel.vectors import layout_switches

    sw = layout_switches(layout)
    out: dict[str, bool] = {}
    notes: list[str] = []
    if config:
        for key, s in sw.items():
            if s.kind != "kconfig":
                continue
            v = config.get(f"CONFIG_{key}")
            out[key] = v in ("y", "m")
        notes.append(
            "layout switches from the captured kernel config: "
            + ", ".join(f"{k}={'y' if v else 'n'}" for k, v in out.items())
        )
    rows = set(arch_rows)
    if "HYPERVISOR_CALLBACK" in sw and "HYP" in rows:
        out["HYPERVISOR_CALLBACK"] = True
        notes.append("HYP row present: HYPERVISOR_CALLBACK_VECTOR is a system vector (run-time switch on)")
    if "HYPERV_GUEST" in sw and rows & {"HRE", "HVS"}:
        out["HYPERV_GUEST"] = True
        notes.append("HRE/HVS rows present: booted on Hyper-V (run-time switch on)")
    return out, notes


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
        lay = _layout(name)
    else:
        lay = _layout(layout)
    cpus = [int(c) for c in interrupts.cpus]
    n = ncpus if ncpus is not None else max(cpus) + 1
    if n <= max(cpus):
        raise ValidationError("ncpus", ncpus, f"more than the highest CPU in the header ({max(cpus)})")
    online = set(cpus)
    if nr_legacy_irqs is None:
        legacy = any(r.irq < 16 and r.chip in _LEGACY_CHIPS for r in interrupts.irqs)
        nr_legacy_irqs = 16 if legacy else 0
        notes.append(
            "legacy PIC present (IRQs below 16 on IO-APIC/XT-PIC): nr_legacy_irqs = 16, PIC cascade 0x32 "
            "is a system bit"
            if legacy
            else "no IRQ below 16 on an IO-APIC/XT-PIC: taken as nr_legacy_irqs = 0 (no PIC cascade vector)"
        )
    system = tuple(lay.matrix_system_bits(nr_legacy_irqs))
    start, end = lay.FIRST_EXTERNAL_VECTOR, lay.FIRST_SYSTEM_VECTOR
    pred, how_managed = _managed_predicate(managed)
    notes.append(how_managed)
    allocated = np.zeros(n, dtype=np.int64)
    man = np.zeros(n, dtype=np.int64)
    mac = np.zeros(n, dtype=np.int64)
    placements: list[IrqPlacement] = []
    skipped = 0
    hows: dict[str, int] = {}
    if affinity is None:
        notes.append(
            "no /proc/irq affinity files: each IRQ placed on the CPU that took most of its interrupts"
        )
        affinity = {}
    counts = interrupts.counts
    cpu_arr = np.asarray(cpus, dtype=np.int64)
    for i, row in enumerate(interrupts.irqs):
        if not row.actions:
            skipped += 1
            continue
        aff = affinity.get(row.irq)
        mask = tuple(c for c in (aff.smp_affinity or ()) if c in online) if aff else ()
        target: int | None = None
        how = ""
        if row.chip == "XT-PIC":
            target, how = cpus[0], "legacy PIC vector (boot CPU)"
        elif aff is not None and aff.effective_affinity:
            eff = [c for c in aff.effective_affinity if c in online]
            if eff:
                target, how = eff[0], "effective_affinity"
        if target is None:
            rc = counts[i]
            if mask:
                cand = np.searchsorted(cpu_arr, mask)
                best = int(cand[int(rc[cand].argmax())])  # argmax: the first (lowest CPU) on ties
            else:
                best = int(rc.argmax())
            if int(rc[best]) > 0:
                target, how = cpus[best], ("smp_affinity+counts" if mask else "counts")
            else:
                target, how = (mask[0] if mask else cpus[0]), "first online CPU"
        hows[how] = hows.get(how, 0) + 1
        is_managed = pred(row)
        allocated[target] += 1
        if is_managed:
            m = mask if mask else (target,)
            if target not in m:
                m = tuple(sorted(set(m) | {target}))
            man[list(m)] += 1
            mac[target] += 1
        else:
            m = mask
        placements.append(IrqPlacement(row.irq, target, is_managed, m, ", ".join(row.actions), how))
    if skipped:
        notes.append(
            f"{skipped} IRQ row(s) without an action skipped (freed IRQs still counted by old kernels)"
        )
    notes.append("IRQ placement: " + ", ".join(f"{k} {v}" for k, v in sorted(hows.items())))
    nman = sum(1 for p in placements if p.managed)
    notes.append(f"{len(placements)} IRQs hold a vector, {nman} of them taken as managed")
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
    sys_in = sum(1 for b in system if start <= b < end)
    available = np.zeros(n, dtype=np.int64)
    for c in cpus:
        available[c] = (end - start) - sys_in - int(man[c]) - int(allocated[c] - mac[c])
    over = [c for c in cpus if available[c] < 0]
    if over:
        notes.append(
            f"CPU(s) {format_bitlist(over)} would need more vectors than {lay.name} has: wrong layout, or "
            "IRQs sharing a vector"
        )
    return VectorLoad(
        kind="estimated",
        ncpus=n,
        cpus=tuple(cpus),
        matrix_bits=lay.NR_VECTORS,
        alloc_start=start,
        alloc_end=end,
        system_bits=system,
        available=available,
        allocated=allocated,
        managed=man,
        managed_allocated=mac,
        global_reserved=0,
        total_allocated=None,
        alloc_maps=None,
        irqs=tuple(placements),
        layout=lay.name,
        source=interrupts.path,
        notes=tuple(notes),
    )
