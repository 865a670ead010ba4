"""``VectorLoad``: what a machine's vector allocator holds, per CPU, and how to seed an IrqMatrix with it.

A load is ``exact`` when it comes from the kernel's own VECTOR matrix dump (debugfs,
:func:`~tdxlib.ingest.dumpload.load_from_dump`): the per-CPU counters and allocation bitmaps are the
kernel's. It is ``estimated`` when only ``/proc/interrupts`` and ``/proc/irq/N/*affinity*`` were
readable (:func:`~tdxlib.ingest.estimate.estimate_load`); every assumption is written into ``notes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from tdxlib.ingest.seed import seed_matrix
from tdxlib.kernel.matrix import IrqMatrix
from tdxlib.kernel.vectors.layout import VectorLayout


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
        import pandas as pd  # heavy, and only this table needs it: tdxlib.ingest loads without pandas

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
        return seed_matrix(self, layout, reserve_top)
