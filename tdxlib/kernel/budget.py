"""The vector budget: what each notify mechanism costs the allocator as CPUs and device load grow.

Kai Huang's objection (20 Jun 2022) is a statement about the per-CPU vector space: a system vector
is taken from every CPU, a dynamically allocated one from one CPU. This module boots a matrix
exactly as x86 does (``VectorLayout.new_matrix``), loads it with device IRQs the way
``irq_matrix_alloc`` spreads them (most available CPU first, ties to the lowest number), and asks
the question ``lapic_can_unplug_cpu()`` asks before a CPU goes offline.

Large machines are loaded by :func:`spread_load`, a closed form of repeated ``irq_matrix_alloc``
calls over all CPUs (tested equal to the allocator itself), so a 8192-CPU point costs milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from tdxlib.cache import memo
from tdxlib.errors import ValidationError
from tdxlib.kernel.limits import NR_CPUS_MAX
from tdxlib.kernel.matrix import IrqMatrix
from tdxlib.kernel.vectors.layout import VectorLayout, layout_key, load_layout

Mechanism = Literal["none", "system-vector", "dynamic"]
MECHANISMS: tuple[Mechanism, ...] = ("none", "system-vector", "dynamic")

#: which shipped layout stands for each mechanism (the kernel the thread argued about).
_LAYOUT_OF: dict[Mechanism, tuple[str, dict[str, bool]]] = {
    # v5.19 as released: no notify vector at all (what polling, merged in 6.7, costs).
    "none": ("linux-5.19", {}),
    # the v8 2/5 patch, booted as a TD: 0xec is a system vector on every CPU.
    "system-vector": ("linux-5.19-tdx-v8", {"TDX_GUEST_DETECTED": True}),
    # v5.19 plus one request_irq()-style vector on one CPU (Kai Huang's proposal).
    "dynamic": ("linux-5.19", {}),
}

#: The most CPUs a budget is computed for: the kernel's own limit.
MAX_CPUS = NR_CPUS_MAX


def layout_for(mechanism: str, **config: bool) -> VectorLayout:
    """The vector layout a mechanism runs on (config switches override the layout's defaults)."""
    if mechanism not in MECHANISMS:
        raise ValidationError("mechanism", mechanism, f"one of {', '.join(MECHANISMS)}")
    name, base = _LAYOUT_OF[mechanism]
    return load_layout(name, **{**base, **config})


def check_cpus(ncpus: int) -> int:
    """``ncpus`` as an int, or a ValidationError naming it and the allowed range."""
    if isinstance(ncpus, bool) or not isinstance(ncpus, (int, np.integer)) or not 1 <= ncpus <= MAX_CPUS:
        raise ValidationError("ncpus", ncpus, f"an integer in 1..{MAX_CPUS}")
    return int(ncpus)


def boot(mechanism: str, ncpus: int, **config: bool) -> IrqMatrix:
    """A matrix after boot with the mechanism in place (the dynamic vector allocated on CPU 0)."""
    matrix = layout_for(mechanism, **config).new_matrix(check_cpus(ncpus))
    if mechanism == "dynamic":
        # Allocated at init time on the boot CPU, as every version of the patch did.
        matrix.alloc([0], reserved=False)
    return matrix


#: (path, size, mtime) of a mechanism's layout file: part of the key of every cache computed from it.
_LayoutKey = tuple[tuple[str, int, int], ...]


@memo(maxsize=64)
def _layout_facts(
    mechanism: str, config: tuple[tuple[str, bool], ...], file_key: _LayoutKey
) -> tuple[str, int]:
    """(layout name, device vectors per application processor) of a mechanism's layout; cached."""
    del file_key  # part of the cache key only: an edited layout file is read again
    layout = layout_for(mechanism, **dict(config))
    return layout.name, layout.device_vectors_per_cpu(1)


@memo(maxsize=512)
def _boot_counts(
    mechanism: str, ncpus: int, config: tuple[tuple[str, bool], ...], file_key: _LayoutKey
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(available, irq_matrix_allocated) per CPU right after boot; cached, read-only."""
    del file_key  # part of the cache key only: an edited layout file is read again
    matrix = boot(mechanism, ncpus, **dict(config))
    avail = np.array(matrix.available_counts, dtype=np.int64)
    alloc = np.asarray(matrix.allocated_counts, dtype=np.int64) - np.asarray(
        matrix.managed_allocated_counts, dtype=np.int64
    )
    avail.setflags(write=False)
    alloc.setflags(write=False)
    return avail, alloc


def _config_key(config: dict[str, bool]) -> tuple[tuple[str, bool], ...]:
    return tuple(sorted((str(k), bool(v)) for k, v in config.items()))


def _booted(
    mechanism: str, ncpus: int, config: dict[str, bool]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], _LayoutKey]:
    """(available, allocated) per CPU after boot, and the stat key of the layout file behind them."""
    if mechanism not in MECHANISMS:
        raise ValidationError("mechanism", mechanism, f"one of {', '.join(MECHANISMS)}")
    file_key = layout_key(_LAYOUT_OF[mechanism][0])
    return (*_boot_counts(mechanism, check_cpus(ncpus), _config_key(config), file_key), file_key)


def _refusals_at(avail0: npt.NDArray[np.int64], alloc0: npt.NDArray[np.int64], load: int) -> tuple[Any, Any]:
    """Per-CPU available after ``load`` device IRQs, and which CPUs (not the boot CPU) refuse offline."""
    avail = spread_load(avail0, load)
    refused = offline_refusals(alloc0 + (avail0 - avail), avail)
    refused[0] = False  # the boot CPU is not hot-unpluggable in practice; count the others
    return avail, refused


def spread_load(available: npt.ArrayLike, count: int) -> npt.NDArray[np.int64]:
    """Per-CPU available counts after ``count`` calls of irq_matrix_alloc() over all these CPUs.

    Each call takes one vector from the CPU with the most available vectors, the lowest-numbered
    one on a tie (``matrix_find_best_cpu``). The result is water-filling: every CPU above a level
    T is brought down to T, and the remainder is taken from the lowest-numbered CPUs at T.
    """
    avail = np.asarray(available, dtype=np.int64)
    if count < 0:
        raise ValidationError("count", count, "a non-negative number of device IRQs")
    total = int(avail.sum())
    if count > total:
        raise ValidationError("count", count, f"at most {total} (the vectors available on these CPUs)")
    if count == 0:
        return avail.copy()
    # smallest level T with sum(max(0, avail - T)) <= count
    lo, hi = 0, int(avail.max())
    while lo < hi:
        mid = (lo + hi) // 2
        if int(np.maximum(avail - mid, 0).sum()) <= count:
            hi = mid
        else:
            lo = mid + 1
    level = lo
    out = np.minimum(avail, level)
    rest = count - int((avail - out).sum())
    if rest:
        at_level = np.flatnonzero(out == level)[:rest]
        out[at_level] -= 1
    return out


@dataclass(frozen=True)
class BudgetPoint:
    """One point of the budget: a mechanism on a machine with a given device load."""

    mechanism: str
    layout: str
    ncpus: int
    device_irqs: int
    notify_vectors_total: int
    notify_vectors_max_per_cpu: int
    device_vectors_per_cpu: int
    device_capacity: int
    left_min: int
    left_mean: float
    offline_refused: int
    exhausted: bool

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (a row of a budget table)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def notify_vectors(mechanism: str, ncpus: int) -> tuple[int, int]:
    """(vectors in total, most on one CPU) that the notify mechanism itself holds."""
    if mechanism == "system-vector":
        return ncpus, 1
    if mechanism == "dynamic":
        return 1, 1
    return 0, 0


def offline_refusals(allocated: npt.ArrayLike, available: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Which CPUs ``lapic_can_unplug_cpu()`` would refuse: vectors to move exceed those elsewhere.

    ``allocated`` is irq_matrix_allocated() per CPU (managed vectors excluded), ``available`` the
    per-CPU available counts of the online CPUs; irq_matrix_available(cpudown) is the global sum
    minus the CPU's own.
    """
    alloc = np.asarray(allocated, dtype=np.int64)
    avail = np.asarray(available, dtype=np.int64)
    elsewhere = int(avail.sum()) - avail
    return np.asarray(elsewhere < alloc)


def budget(mechanism: str, ncpus: int, device_irqs: int = 0, **config: bool) -> BudgetPoint:
    """Boot ``mechanism`` on ``ncpus`` CPUs, add ``device_irqs`` non-managed device IRQs, and measure.

    Device IRQs beyond the machine's capacity are not an error: the point is marked ``exhausted``
    (``irq_matrix_alloc`` would return -ENOSPC) and loaded to the brim.
    """
    if isinstance(device_irqs, bool) or not isinstance(device_irqs, (int, np.integer)) or device_irqs < 0:
        raise ValidationError("device_irqs", device_irqs, "a non-negative integer")
    avail0, alloc0, file_key = _booted(mechanism, ncpus, config)
    ncpus = len(avail0)
    layout_name, device_per_cpu = _layout_facts(mechanism, _config_key(config), file_key)
    capacity = int(avail0.sum())
    load = min(int(device_irqs), capacity)
    avail, refused = _refusals_at(avail0, alloc0, load)
    total, per_cpu = notify_vectors(mechanism, ncpus)
    return BudgetPoint(
        mechanism=mechanism,
        layout=layout_name,
        ncpus=ncpus,
        device_irqs=load,
        notify_vectors_total=total,
        notify_vectors_max_per_cpu=per_cpu,
        device_vectors_per_cpu=device_per_cpu,
        device_capacity=capacity,
        left_min=int(avail.min()),
        left_mean=float(avail.mean()),
        offline_refused=int(refused.sum()),
        exhausted=int(device_irqs) > capacity,
    )


def offline_limit(mechanism: str, ncpus: int, **config: bool) -> int:
    """The most device IRQs the machine can hold while every CPU (but the boot CPU) can still go offline."""
    avail0, alloc0, _ = _booted(mechanism, ncpus, config)
    return _offline_limit(avail0.tobytes(), alloc0.tobytes())


@memo(maxsize=512)
def _offline_limit(avail_bytes: bytes, alloc_bytes: bytes) -> int:
    avail0 = np.frombuffer(avail_bytes, dtype=np.int64)
    alloc0 = np.frombuffer(alloc_bytes, dtype=np.int64)

    def ok(load: int) -> bool:
        return not bool(_refusals_at(avail0, alloc0, load)[1].any())

    lo, hi = 0, int(avail0.sum())
    if ok(hi):
        return hi
    # refusals only grow with load: binary search the last load without one
    while lo < hi - 1:
        mid = (lo + hi) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo


def budget_table(
    cpus: list[int], loads_per_cpu: list[float], mechanisms: tuple[str, ...] = MECHANISMS
) -> list[dict[str, Any]]:
    """Budget points for every mechanism × CPU count × device load (IRQs per CPU), as rows."""
    rows = []
    for n in cpus:
        for per_cpu in loads_per_cpu:
            for mech in mechanisms:
                point = budget(mech, n, round(per_cpu * n))
                rows.append({**point.to_dict(), "load_per_cpu": per_cpu})
    return rows
