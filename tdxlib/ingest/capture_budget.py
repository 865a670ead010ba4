"""What would a reserved system vector cost on a captured machine? Device vectors left per CPU, and hotplug.

``budget_from_capture()`` seeds an IrqMatrix from a capture (exact from the VECTOR dump, else
estimated), then asks the kernel's own questions of it:

- per CPU, how many device vectors are left (``available``);
- with ``k`` more vectors taken off the top of the device range on every CPU (the v8 patch moved
  FIRST_SYSTEM_VECTOR down by one to reserve TDX_GUEST_EVENT_NOTIFY_VECTOR), how many are left;
- whether each CPU could still go offline: arch/x86/kernel/apic/vector.c ``lapic_can_unplug_cpu()``
  refuses when ``irq_matrix_allocated()`` (its non-managed vectors, which must move) exceeds
  ``irq_matrix_available(true)`` (the global available minus its own), and warns when the result is
  below the global reservation count.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tdxlib.errors import MatrixError, ValidationError
from tdxlib.ingest.captures import load_capture
from tdxlib.ingest.load import VectorLoad

if TYPE_CHECKING:
    import pandas as pd

    from tdxlib.kernel.matrix import IrqMatrix
    from tdxlib.kernel.vectors import VectorLayout

#: Layout pair that defines the default cost of "the reserved vector": the v8 patch against 5.19.
BASE_LAYOUT = "linux-5.19"
PROPOSAL_LAYOUT = "linux-5.19-tdx-v8"


@dataclass(frozen=True, eq=False)
class CaptureBudget:
    """The answer for one capture: a per-CPU table, a summary dict and the notes behind them."""

    capture: str
    kind: str
    layout: str | None
    reserved_vectors: int
    per_cpu: pd.DataFrame
    summary: dict[str, Any]
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (per_cpu as a list of records) for JSON reports."""
        return {
            "capture": self.capture,
            "kind": self.kind,
            "layout": self.layout,
            "reserved_vectors": self.reserved_vectors,
            "summary": dict(self.summary),
            "per_cpu": self.per_cpu.to_dict(orient="records"),
            "notes": list(self.notes),
        }


def reserved_vector_cost(base: str = BASE_LAYOUT, proposal: str = PROPOSAL_LAYOUT) -> int:
    """Device vectors per CPU that ``proposal`` takes compared with ``base`` (1 for the v8 patch)."""
    from tdxlib.kernel.vectors import load_layout

    b, p = load_layout(base), load_layout(proposal)
    return b.external_vectors_per_cpu() - p.external_vectors_per_cpu()


def _unplug(m: IrqMatrix, cpus: list[int]) -> tuple[list[int], list[int], list[bool], list[bool]]:
    tomove, avl, ok, res_ok = [], [], [], []
    reserved = m.reserved()
    for c in cpus:
        t = m.allocated(c)
        a = m.available(cpudown_cpu=c)
        tomove.append(t)
        avl.append(a)
        ok.append(a >= t)
        res_ok.append(a >= reserved)
    return tomove, avl, ok, res_ok


def _waterfill(avl: np.ndarray, t: int) -> np.ndarray:
    """Take ``t`` vectors one by one from the CPU with the most available (ties: lowest CPU); new avl."""
    if t <= 0:
        return avl.copy()
    lo, hi = 0, int(avl.max())
    while lo < hi:  # smallest level L with sum(max(avl - L, 0)) <= t
        mid = (lo + hi) // 2
        if int(np.maximum(avl - mid, 0).sum()) <= t:
            hi = mid
        else:
            lo = mid + 1
    new = np.minimum(avl, lo)
    rest = t - int((avl - new).sum())
    if rest > 0:
        idx = np.flatnonzero(new == lo)[:rest]
        new[idx] -= 1
    return new


def sequential_offline(m: IrqMatrix, order: list[int] | None = None) -> int:
    """How many CPUs can go offline one after another (default highest first) before one is refused.

    Models what suspend or a mass hot-unplug does: each CPU must pass lapic_can_unplug_cpu(); its
    non-managed vectors then move to the online CPUs with the most available vectors (the kernel's
    best-CPU rule, one vector at a time), raising their irq_matrix_allocated(); managed vectors stay
    with their queue (moved within its mask on reserved vectors, or shut down), costing nothing.
    The last CPU never goes.
    """
    cpus = order if order is not None else sorted(m.online_cpus(), reverse=True)
    pos = {c: i for i, c in enumerate(cpus)}
    avl = np.array([m.cpu_available(c) for c in cpus], dtype=np.int64)
    tomove = np.array([m.allocated(c) for c in cpus], dtype=np.int64)
    alive = np.ones(len(cpus), dtype=np.bool_)
    done = 0
    for c in cpus[:-1]:
        i = pos[c]
        alive[i] = False
        others = np.flatnonzero(alive)
        t = int(tomove[i])
        if int(avl[others].sum()) < t:
            break
        new = _waterfill(avl[others], t)
        tomove[others] += avl[others] - new
        avl[others] = new
        done += 1
    return done


def budget_from_capture(
    name_or_path: str | Path,
    layout: VectorLayout | str | None = None,
    *,
    reserved_vectors: int | None = None,
    exact: bool | None = None,
) -> CaptureBudget:
    """Device vectors left per CPU on a captured machine, what a reserved system vector takes, and hotplug.

    ``layout`` re-seats the capture on another kernel's vector space (default: the capture's own
    layout). ``reserved_vectors`` is how many vectors the reservation takes off every CPU's device
    range (default: what the v8 patch takes, ``reserved_vector_cost()`` = 1).
    Returns a CaptureBudget whose ``per_cpu`` frame has one row per online CPU: ``available``,
    ``available_reserved``, ``taken`` (by the reservation), ``tomove`` (irq_matrix_allocated),
    ``avl_cpudown`` and ``can_offline`` (lapic_can_unplug_cpu), with ``_reserved`` twins.
    """
    import pandas as pd

    if reserved_vectors is None:
        k = reserved_vector_cost()
        how_k = f"reserved vector cost {k} per CPU: {BASE_LAYOUT} -> {PROPOSAL_LAYOUT} device vectors per CPU"
    else:
        if (
            isinstance(reserved_vectors, bool)
            or not isinstance(reserved_vectors, int)
            or reserved_vectors < 0
        ):
            raise ValidationError("reserved_vectors", reserved_vectors, "an integer >= 0")
        k = reserved_vectors
        how_k = f"reserved vector cost {k} per CPU (given)"
    cap = load_capture(name_or_path)
    use_dump = cap.vector_dump is not None and exact is not False
    # an exact load keeps the kernel's bits and is re-seated on ``layout``; an estimate is made against it
    load: VectorLoad = cap.load(None, exact=True) if use_dump else cap.load(layout, exact=exact)
    seat = layout if use_dump else None
    notes = [
        f"capture {cap.name} ({'constructed' if cap.constructed else 'real machine'})",
        *load.notes,
        how_k,
    ]
    m = load.to_matrix(seat)
    cpus = list(load.cpus)
    avl_now = np.array([m.cpu_available(c) for c in cpus], dtype=np.int64)
    tomove, avl_down, ok, res_ok = _unplug(m, cpus)
    try:
        mr = load.to_matrix(seat, reserve_top=k)
        avl_res = np.array([mr.cpu_available(c) for c in cpus], dtype=np.int64)
        tomove_r, avl_down_r, ok_r, _ = _unplug(mr, cpus)
        fits = True
    except MatrixError as exc:
        notes.append(f"with {k} reserved vector(s) some CPU cannot hold its vectors any more: {exc}")
        mr = None
        avl_res = np.maximum(avl_now - k, 0)
        tomove_r, avl_down_r, ok_r = tomove, list(np.asarray(avl_down) - k * len(cpus)), [False] * len(cpus)
        fits = False
    per_cpu = pd.DataFrame(
        {
            "cpu": cpus,
            "device_range": load.alloc_size - load.systembits_inalloc,
            "allocated": [m.cpu_allocated(c) for c in cpus],
            "managed": [m.cpu_managed(c) for c in cpus],
            "managed_allocated": [m.cpu_managed_allocated(c) for c in cpus],
            "available": avl_now,
            "available_reserved": avl_res,
            "taken": avl_now - avl_res,
            "tomove": tomove,
            "avl_cpudown": avl_down,
            "can_offline": ok,
            "reserved_ok": res_ok,
            "tomove_reserved": tomove_r,
            "avl_cpudown_reserved": avl_down_r,
            "can_offline_reserved": ok_r,
        }
    )
    summary: dict[str, Any] = {
        "capture": cap.name,
        "constructed": cap.constructed,
        "kind": load.kind,
        "layout": (
            (load.layout or f"as captured (FIRST_SYSTEM_VECTOR {load.alloc_end:#x})")
            if layout is None
            else (layout if isinstance(layout, str) else layout.name)
        ),
        "cpus_online": len(cpus),
        "reserved_vectors": k,
        "available_min": int(avl_now.min()),
        "available_median": float(np.median(avl_now)),
        "available_total": int(avl_now.sum()),
        "available_reserved_min": int(avl_res.min()),
        "available_reserved_total": int(avl_res.sum()),
        "taken_total": int((avl_now - avl_res).sum()),
        "reservation_fits": fits,
        "global_reserved": m.reserved(),
        "cpus_cannot_offline": int(len(cpus) - sum(ok)),
        "cpus_cannot_offline_reserved": int(len(cpus) - sum(ok_r)),
        "all_can_offline": bool(all(ok)),
        "all_can_offline_reserved": bool(all(ok_r)),
        "sequential_offline_max": sequential_offline(m),
        "sequential_offline_max_reserved": sequential_offline(mr) if mr is not None else None,
    }
    return CaptureBudget(cap.name, load.kind, summary["layout"], k, per_cpu, summary, tuple(notes))
