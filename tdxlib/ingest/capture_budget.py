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
from tdxlib.ingest.captures import Capture, load_capture
from tdxlib.ingest.vectorload import VectorLoad
from tdxlib.kernel.budget import spread_load
from tdxlib.kernel.matrix import IrqMatrix
from tdxlib.kernel.vectors.layout import VectorLayout, load_layout

if TYPE_CHECKING:
    import pandas as pd

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
        new = spread_load(avl[others], t)  # the kernel's best-CPU rule, one vector at a time
        tomove[others] += avl[others] - new
        avl[others] = new
        done += 1
    return done


def _reservation(reserved_vectors: int | None) -> tuple[int, str]:
    """(vectors the reservation takes per CPU, a note saying where that number comes from)."""
    if reserved_vectors is None:
        k = reserved_vector_cost()
        return (
            k,
            f"reserved vector cost {k} per CPU: {BASE_LAYOUT} -> {PROPOSAL_LAYOUT} device vectors per CPU",
        )
    if isinstance(reserved_vectors, bool) or not isinstance(reserved_vectors, int) or reserved_vectors < 0:
        raise ValidationError("reserved_vectors", reserved_vectors, "an integer >= 0")
    return reserved_vectors, f"reserved vector cost {reserved_vectors} per CPU (given)"


@dataclass(frozen=True)
class _Seated:
    """One matrix seeded from the load (with or without the reservation) and its unplug answers."""

    matrix: IrqMatrix | None  # None: the reservation does not fit
    available: np.ndarray
    tomove: list[int]
    avl_cpudown: list[int]
    can_offline: list[bool]
    reserved_ok: list[bool]


def _seat(m: IrqMatrix, cpus: list[int]) -> _Seated:
    """The matrix with each CPU's available vectors and the lapic_can_unplug_cpu() answers."""
    avl = np.array([m.cpu_available(c) for c in cpus], dtype=np.int64)
    return _Seated(m, avl, *_unplug(m, cpus))


def _seat_reserved(
    load: VectorLoad, seat: VectorLayout | str | None, k: int, now: _Seated, notes: list[str]
) -> _Seated:
    """The load with ``k`` vectors taken off every CPU's device range; if it no longer fits, an estimate."""
    cpus = list(load.cpus)
    try:
        return _seat(load.to_matrix(seat, reserve_top=k), cpus)
    except MatrixError as exc:
        notes.append(f"with {k} reserved vector(s) some CPU cannot hold its vectors any more: {exc}")
        avl_down = list(np.asarray(now.avl_cpudown) - k * len(cpus))
        return _Seated(None, np.maximum(now.available - k, 0), now.tomove, avl_down, [False] * len(cpus), [])


def _per_cpu(load: VectorLoad, now: _Seated, res: _Seated) -> pd.DataFrame:
    """One row per online CPU: device vectors now and with the reservation, and the unplug check."""
    import pandas as pd  # heavy, and only this answer needs it: tdxlib.ingest loads without pandas

    m = now.matrix
    assert m is not None
    cpus = list(load.cpus)
    return pd.DataFrame(
        {
            "cpu": cpus,
            "device_range": load.alloc_size - load.systembits_inalloc,
            "allocated": [m.cpu_allocated(c) for c in cpus],
            "managed": [m.cpu_managed(c) for c in cpus],
            "managed_allocated": [m.cpu_managed_allocated(c) for c in cpus],
            "available": now.available,
            "available_reserved": res.available,
            "taken": now.available - res.available,
            "tomove": now.tomove,
            "avl_cpudown": now.avl_cpudown,
            "can_offline": now.can_offline,
            "reserved_ok": now.reserved_ok,
            "tomove_reserved": res.tomove,
            "avl_cpudown_reserved": res.avl_cpudown,
            "can_offline_reserved": res.can_offline,
        }
    )


def _summary(
    cap: Capture, load: VectorLoad, layout: VectorLayout | str | None, k: int, now: _Seated, res: _Seated
) -> dict[str, Any]:
    """The headline numbers of one capture's answer."""
    m = now.matrix
    assert m is not None
    ncpus = len(load.cpus)
    ok, ok_r = now.can_offline, res.can_offline
    avl_now, avl_res = now.available, res.available
    return {
        "capture": cap.name,
        "constructed": cap.constructed,
        "kind": load.kind,
        "layout": (
            (load.layout or f"as captured (FIRST_SYSTEM_VECTOR {load.alloc_end:#x})")
            if layout is None
            else (layout if isinstance(layout, str) else layout.name)
        ),
        "cpus_online": ncpus,
        "reserved_vectors": k,
        "available_min": int(avl_now.min()),
        "available_median": float(np.median(avl_now)),
        "available_total": int(avl_now.sum()),
        "available_reserved_min": int(avl_res.min()),
        "available_reserved_total": int(avl_res.sum()),
        "taken_total": int((avl_now - avl_res).sum()),
        "reservation_fits": res.matrix is not None,
        "global_reserved": m.reserved(),
        "cpus_cannot_offline": int(ncpus - sum(ok)),
        "cpus_cannot_offline_reserved": int(ncpus - sum(ok_r)),
        "all_can_offline": bool(all(ok)),
        "all_can_offline_reserved": bool(all(ok_r)),
        "sequential_offline_max": sequential_offline(m),
        "sequential_offline_max_reserved": sequential_offline(res.matrix) if res.matrix is not None else None,
    }


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
    k, how_k = _reservation(reserved_vectors)
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
    now = _seat(load.to_matrix(seat), list(load.cpus))
    res = _seat_reserved(load, seat, k, now, notes)
    per_cpu = _per_cpu(load, now, res)
    summary = _summary(cap, load, layout, k, now, res)
    return CaptureBudget(cap.name, load.kind, summary["layout"], k, per_cpu, summary, tuple(notes))
