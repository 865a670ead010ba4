"""A machine's vector load, exactly from the kernel's VECTOR matrix dump: :func:`load_from_dump`.

The debugfs dump (:mod:`~tdxlib.ingest.vectordump`) gives the kernel's own per-CPU counters and
allocation bitmaps; only the allocation range is not printed, so it is taken from a layout or
inferred from the counters. (The estimate from ``/proc/interrupts`` alone is :mod:`~tdxlib.ingest.estimate`.)
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from tdxlib.errors import DataError, ValidationError
from tdxlib.ingest.kernel_layout import as_layout
from tdxlib.ingest.vectordump import VectorDump
from tdxlib.ingest.vectorload import VectorLoad
from tdxlib.kernel.vectors.layout import VectorLayout

__all__ = ["load_from_dump"]


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


def _alloc_range(
    dump: VectorDump,
    lay: VectorLayout | None,
    matrix_bits: int,
    alloc_start: int,
    alloc_end: int | None,
    notes: list[str],
) -> tuple[int, int, int]:
    """(matrix_bits, alloc_start, alloc_end): from the layout (checked), as given, or inferred."""
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
    return matrix_bits, alloc_start, end


def _drift_notes(dump: VectorDump, cpus: list[int], alloc_start: int, end: int) -> list[str]:
    """A note for every CPU whose ``avl`` is off what its other counters imply."""
    size = end - alloc_start
    sys_in = sum(1 for b in dump.system_bits if alloc_start <= b < end)
    drift = dump.available - (size - sys_in - dump.managed - (dump.allocated - dump.managed_allocated))
    return [
        f"CPU {c}: available is {d:+d} off what its counters imply (managed vectors reserved or "
        "removed "
        "while it was offline: the kernel leaves available alone then)"
        for c, d in zip(cpus, drift.tolist(), strict=True)
        if d
    ]


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
    lay = as_layout(layout) if layout is not None else None
    matrix_bits, alloc_start, end = _alloc_range(dump, lay, matrix_bits, alloc_start, alloc_end, notes)
    cpus = [int(c) for c in dump.cpus]
    notes.extend(_drift_notes(dump, cpus, alloc_start, end))
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
