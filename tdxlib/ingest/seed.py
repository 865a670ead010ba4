"""Seed an IrqMatrix from a VectorLoad using only the matrix's public, kernel-named operations.

Per CPU the load gives regular allocations, managed allocations and managed reservations (exact
loads: the allocated bits too). ``assign`` places regular bits; managed bits are steered with
``reserve_managed`` (lowest free bit: other free bits below are occupied by temporary ``assign``s),
``alloc_managed`` and ``free(managed=True)``; a drift of ``available`` is reproduced the way the kernel
gets one (managed vectors reserved or removed while the CPU is offline).
"""

from __future__ import annotations

import errno
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tdxlib.errors import DataError, MatrixError, ValidationError
from tdxlib.ingest.kernel_layout import as_layout
from tdxlib.kernel.matrix import IrqMatrix, MatrixWarning
from tdxlib.kernel.vectors.layout import VectorLayout

if TYPE_CHECKING:
    from tdxlib.ingest.vectorload import VectorLoad  # it imports this module: a type, not a run-time need


@dataclass
class _Plan:
    """Bits of one CPU: regular allocations A, managed allocated Mac, managed reserved-only R."""

    regular: list[int]
    mac: list[int]
    reserved: list[int]


def _plan_exact(load: VectorLoad, cpu: int, system: set[int]) -> _Plan:
    assert load.alloc_maps is not None
    d = sorted(load.alloc_maps.get(cpu, ()))
    k = int(load.managed_allocated[cpu])
    mac = d[len(d) - k :] if k else []
    regular = d[: len(d) - k]
    taken = set(d) | system
    need = int(load.managed[cpu]) - k
    free = [b for b in range(load.alloc_start, load.alloc_end) if b not in taken]
    return _Plan(regular, mac, free[:need])


def _plan_counts(load: VectorLoad, cpu: int, system: set[int]) -> _Plan:
    free = [b for b in range(load.alloc_start, load.alloc_end) if b not in system]
    a = int(load.allocated[cpu] - load.managed_allocated[cpu])
    k = int(load.managed_allocated[cpu])
    r = int(load.managed[cpu]) - k
    if a + k + r > len(free):
        raise MatrixError(
            f"CPU {cpu} needs {a + k + r} vectors but the allocation range has {len(free)} free", errno.ENOSPC
        )
    return _Plan(free[:a], free[a : a + k], free[a + k : a + k + r])


def _reseat(plan: _Plan, start: int, end: int, system: set[int], cpu: int) -> tuple[_Plan, int]:
    """Move the plan's bits that fall outside [start, end) or on system bits to the lowest free bits."""

    def ok(b: int) -> bool:
        return start <= b < end and b not in system

    keep = {b for b in plan.regular + plan.mac + plan.reserved if ok(b)}
    free = [b for b in range(start, end) if b not in system and b not in keep]
    moved = 0
    lists = []
    for bits in (plan.regular, plan.mac, plan.reserved):
        out = []
        for b in bits:
            if ok(b):
                out.append(b)
            else:
                if not free:
                    raise MatrixError(
                        f"CPU {cpu}: no free vector left in [{start:#x}, {end:#x}) for a vector at {b:#x}",
                        errno.ENOSPC,
                    )
                out.append(free.pop(0))
                moved += 1
        lists.append(sorted(out))
    return _Plan(*lists), moved


def seed_matrix(load: VectorLoad, layout: VectorLayout | str | None, reserve_top: int) -> IrqMatrix:
    """The IrqMatrix of ``load`` (see VectorLoad.to_matrix for ``layout`` and ``reserve_top``)."""
    if isinstance(reserve_top, bool) or not isinstance(reserve_top, int) or reserve_top < 0:
        raise ValidationError("reserve_top", reserve_top, "an integer >= 0")
    problems = load.check()
    if problems:
        raise DataError(
            "cannot seed a matrix from inconsistent counters: " + "; ".join(problems[:3]), load.source
        )
    bits, start, end = load.matrix_bits, load.alloc_start, load.alloc_end
    system = set(load.system_bits)
    if layout is not None:
        lay = as_layout(layout)
        bits, start, end = lay.NR_VECTORS, lay.FIRST_EXTERNAL_VECTOR, lay.FIRST_SYSTEM_VECTOR
        legacy = 16 if any(b == lay.pic_cascade_vector() for b in load.system_bits) else 0
        system = set(lay.matrix_system_bits(legacy))
    if reserve_top:
        free_top = [b for b in range(end - 1, start - 1, -1) if b not in system]
        if reserve_top > len(free_top):
            raise ValidationError("reserve_top", reserve_top, f"at most {len(free_top)}")
        end = min(end, free_top[reserve_top - 1])
    drift = load.drift
    m = IrqMatrix(bits, start, end, load.ncpus)
    for b in sorted(system):
        m.assign_system(b, False)
    orig_system = set(load.system_bits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MatrixWarning)
        for c in load.cpus:
            plan = (
                _plan_exact(load, c, orig_system)
                if load.alloc_maps is not None
                else _plan_counts(load, c, orig_system)
            )
            plan, _moved = _reseat(plan, start, end, system, c)
            m.online(c)
            _drift(m, c, int(drift[c]))
            _realize(m, c, plan, system)
        for _ in range(load.global_reserved):
            m.reserve()
    if load.total_allocated is not None and layout is None and not reserve_top:
        # the kernel leaves total_allocated alone when a CPU goes offline; keep the dump's figure
        m.total_allocated = load.total_allocated
    return m


def _drift(m: IrqMatrix, cpu: int, d: int) -> None:
    """Reproduce a drift of ``available`` as the kernel gets one, one managed vector cycle per unit.

    +1: reserve a managed vector while the CPU is offline (available untouched), remove it online
    (available + 1); -1: reserve online (available - 1), remove offline (untouched).
    """
    for _ in range(abs(d)):
        if d > 0:
            m.offline(cpu)
            m.reserve_managed([cpu])
            m.online(cpu)
            m.remove_managed([cpu])
        else:
            m.reserve_managed([cpu])
            m.offline(cpu)
            m.remove_managed([cpu])
            m.online(cpu)


def _realize(m: IrqMatrix, cpu: int, plan: _Plan, system: set[int]) -> None:
    """Put ``plan`` on ``cpu`` (online) with public IrqMatrix operations only."""
    for b in plan.regular:
        m.assign(cpu, b)
    managed = sorted(plan.mac + plan.reserved)
    if not managed:
        return
    # reserve_managed takes the lowest free bit: occupy every other free bit below the highest target
    taken = set(plan.regular) | set(managed) | system
    temps = [b for b in range(m.alloc_start, managed[-1]) if b not in taken]
    for b in temps:
        m.assign(cpu, b)
    for _ in managed:
        m.reserve_managed([cpu])
    for b in temps:
        m.free(cpu, b, False)
    # alloc_managed hands out the lowest reserved bits: allocate all, then free the reserved-only ones
    for _ in managed:
        m.alloc_managed([cpu])
    for b in plan.reserved:
        m.free(cpu, b, True)
    got = m.managed_bits(cpu)
    if got != managed:
        raise MatrixError(f"seeding CPU {cpu}: managed bits {got} instead of {managed}", errno.EINVAL)
