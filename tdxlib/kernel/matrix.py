"""A faithful model of Linux ``kernel/irq/matrix.c``, the per-CPU interrupt vector allocator.

Modelled on mainline ``kernel/irq/matrix.c`` as of Linux 6.17/6.18, read at Kingxukai/linux@0291023e
(a mainline mirror) and cross-checked against Aarav90-cpu/linux-kotlin@a663adb6 (6.18-based) and
torvalds/linux@1adb4d7a (pre-6.7). It includes Chen Yu's fix a0b0bad10587 "genirq/matrix: Exclude
managed interrupts in irq_matrix_allocated()" (v6.7) and the dynamic-bitmap rework (no semantic change).
Function names follow the kernel (``irq_matrix_alloc`` -> :meth:`IrqMatrix.alloc`, ...), and so do the
choice rules: the CPU with the most available vectors wins (ties: lowest CPU), the lowest free bit at or
above ``alloc_start`` is handed out, managed allocations go to the CPU with the fewest managed
allocations (ties: highest CPU). Per-CPU counters are numpy arrays so that best-CPU selection over
8192 CPUs is one vectorised ``argmax``; each CPU's bitmaps are Python integers (bit n = vector n), so
the lowest free bit is two integer operations.

Deviations from the kernel, one per line:

- The kernel acts on "this CPU" for online/offline/assign/allocated/available(cpudown); we take the CPU
  as an argument (``assign_system`` takes an optional keyword ``cpu``: default the only online CPU, else 0).
- BUG_ON / WARN_ON-and-return cases raise :class:`~tdxlib.errors.MatrixMisuse` and leave the matrix
  unchanged (the kernel would crash, or warn and return).
- ``remove_managed``: the kernel WARNs and skips a CPU without an unallocated managed bit, carrying on with
  the others; we refuse the whole call (MatrixMisuse) before changing anything.
- ``assign_system`` refuses ``bit == matrix_bits`` (the kernel's ``BUG_ON(bit > matrix_bits)`` is off by
  one and would write past the bitmap), a bit that is already a system bit (the kernel would count it twice
  in ``systembits_inalloc``) and, with ``replace``, a managed bit (its ``managed_allocated`` would go stale).
- Calls the kernel does not check but that would corrupt its accounting are refused with MatrixMisuse:
  ``offline`` of an offline CPU, ``assign`` on an offline CPU or on a system or managed bit, ``free`` whose
  ``managed`` flag disagrees with the bit, ``remove_reserved`` / ``alloc(reserved=True)`` with nothing
  reserved, ``available(cpudown_cpu)`` for an offline CPU.
- Counters keep the kernel's unsigned 32-bit arithmetic: where a per-CPU ``available`` wraps below zero
  (reachable through the kernel's own offline-reservation drift) it wraps as in C and a
  :class:`MatrixWarning` is issued; the kernel wraps silently.
- ``pr_warn`` (reservation exceeding what is available) becomes a :class:`MatrixWarning`.
- An empty CPU mask to ``alloc``/``alloc_managed`` raises MatrixError(EINVAL) as the kernel returns
  -EINVAL; CPU numbers outside ``0..ncpus-1`` (impossible in a cpumask) raise ValidationError.
"""

from __future__ import annotations

import errno
import warnings
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, NoReturn, TypeAlias

import numpy as np
import numpy.typing as npt
from pydantic import Field, model_validator

from tdxlib.errors import MatrixError, MatrixMisuse, ValidationError
from tdxlib.kernel.limits import NR_CPUS_MAX, NR_VECTORS
from tdxlib.models import ApiModel
from tdxlib.values import Int

__all__ = [
    "UINT_MAX",
    "CpuMask",
    "IrqMatrix",
    "MatrixSize",
    "MatrixWarning",
    "bitmap_list_string",
    "bitmap_parselist",
]

UINT_MAX = 0xFFFFFFFF
"""The kernel's ``unsigned int`` counters wrap modulo 2**32; we keep that arithmetic."""

_BIG = 1 << 40  # larger than any unsigned int counter: "no candidate" in vectorised selections

CpuMask: TypeAlias = "Iterable[int] | npt.NDArray[Any]"
"""CPU numbers (any iterable, ``range`` is fastest) or a numpy bool mask of length ``ncpus``."""

# Internal selection: None = every CPU, int = one CPU, ndarray = sorted unique CPU numbers (maybe empty).
_Sel: TypeAlias = "int | npt.NDArray[np.intp] | None"


class MatrixWarning(UserWarning):
    """A kernel ``pr_warn`` (or silent unsigned wrap) in matrix.c: the operation carried on."""


def bitmap_list_string(bitmap: int, nbits: int) -> str:
    """Format bits ``0..nbits-1`` of ``bitmap`` like the kernel's ``%*pbl`` ("0-19,32,50"; empty -> "")."""
    x = bitmap & ((1 << nbits) - 1) if nbits > 0 else 0
    parts: list[str] = []
    while x:
        lo = (x & -x).bit_length() - 1
        y = x >> lo
        run = (~y & (y + 1)).bit_length() - 1
        parts.append(str(lo) if run == 1 else f"{lo}-{lo + run - 1}")
        x &= ~(((1 << run) - 1) << lo)
    return ",".join(parts)


def _decimal(s: str) -> bool:
    return 0 < len(s) <= 12 and s.isascii() and s.isdigit()


def bitmap_parselist(text: str, nbits: int = NR_CPUS_MAX) -> list[int]:
    """Parse a ``%*pbl`` range list ("0-19,32,50") back into sorted bit numbers below ``nbits``; "" -> [].

    Like the kernel's ``bitmap_parselist(buf, maskp, nmaskbits)``, a bit at or above ``nbits`` is an
    error (-ERANGE there); the default is the widest bitmap printed this way, a cpumask of NR_CPUS_MAX.
    """
    if not isinstance(text, str):
        raise ValidationError("bitmap list", text, "a string like '0-19,32,50'")
    text = text.strip()
    bits: set[int] = set()
    if not text:
        return []
    for part in text.split(","):
        lo_s, sep, hi_s = part.strip().partition("-")
        if not _decimal(lo_s) or (sep and not _decimal(hi_s)):
            raise ValidationError("bitmap list item", part, "N or N-M with decimal N <= M")
        lo = int(lo_s)
        hi = int(hi_s) if sep else lo
        if hi < lo:
            raise ValidationError("bitmap list item", part, "N or N-M with 0 <= N <= M")
        if hi >= nbits:
            raise ValidationError("bitmap list item", part, f"bits in 0..{nbits - 1} (a {nbits}-bit bitmap)")
        bits.update(range(lo, hi + 1))
    return sorted(bits)


def _bits_of(x: int) -> list[int]:
    out: list[int] = []
    while x:
        low = x & -x
        out.append(low.bit_length() - 1)
        x ^= low
    return out


def _is_bool(v: object) -> bool:
    return type(v) is bool or isinstance(v, np.bool_)


class MatrixSize(ApiModel):
    """The geometry ``irq_alloc_matrix()`` takes, bounded by the kernel's own limits: at most NR_VECTORS
    bits (the IDT) and NR_CPUS_MAX possible CPUs, so no size can ask for more memory than a real kernel."""

    matrix_bits: Annotated[Int, Field(ge=1, le=NR_VECTORS)]
    alloc_start: Annotated[Int, Field(ge=0)]
    alloc_end: Annotated[Int, Field(ge=0)]
    ncpus: Annotated[Int, Field(ge=1, le=NR_CPUS_MAX)]

    @model_validator(mode="after")
    def _allocation_range(self) -> MatrixSize:
        if self.alloc_start > self.matrix_bits:
            raise ValidationError("alloc_start", self.alloc_start, f"0..{self.matrix_bits} (matrix_bits)")
        if not self.alloc_start <= self.alloc_end <= self.matrix_bits:
            raise ValidationError(
                "alloc_end",
                self.alloc_end,
                f"{self.alloc_start}..{self.matrix_bits} (alloc_start..matrix_bits)",
            )
        return self


class IrqMatrix:
    """The per-CPU vector matrix of ``kernel/irq/matrix.c`` (``struct irq_matrix``), all CPUs offline.

    ``IrqMatrix(matrix_bits, alloc_start, alloc_end, ncpus)`` is ``irq_alloc_matrix()`` for ``ncpus``
    possible CPUs; x86 uses ``IrqMatrix(NR_VECTORS, FIRST_EXTERNAL_VECTOR, FIRST_SYSTEM_VECTOR, ncpus)``.
    """

    matrix_bits: int
    alloc_start: int
    alloc_end: int
    alloc_size: int
    ncpus: int
    global_available: int
    global_reserved: int
    systembits_inalloc: int
    total_allocated: int
    online_maps: int

    __hash__ = None  # type: ignore[assignment]  # mutable; equality compares the whole state

    def __init__(self, matrix_bits: int, alloc_start: int, alloc_end: int, ncpus: int) -> None:
        size = MatrixSize(matrix_bits=matrix_bits, alloc_start=alloc_start, alloc_end=alloc_end, ncpus=ncpus)
        matrix_bits, alloc_start, alloc_end = size.matrix_bits, size.alloc_start, size.alloc_end
        ncpus = size.ncpus
        self.matrix_bits = matrix_bits
        self.alloc_start = alloc_start
        self.alloc_end = alloc_end
        self.alloc_size = alloc_end - alloc_start
        self.ncpus = ncpus
        self.global_available = 0
        self.global_reserved = 0
        self.systembits_inalloc = 0
        self.total_allocated = 0
        self.online_maps = 0
        # struct cpumap, one entry per possible CPU
        self._available = np.zeros(ncpus, dtype=np.int64)
        self._allocated = np.zeros(ncpus, dtype=np.int64)
        self._managed = np.zeros(ncpus, dtype=np.int64)
        self._managed_allocated = np.zeros(ncpus, dtype=np.int64)
        self._initialized = np.zeros(ncpus, dtype=np.bool_)
        self._online = np.zeros(ncpus, dtype=np.bool_)
        # available where online, 0 where offline: what matrix_find_best_cpu() looks at
        self._avl_online = np.zeros(ncpus, dtype=np.int64)
        self._alloc_map: list[int] = [0] * ncpus
        self._managed_map: list[int] = [0] * ncpus
        self._system_map = 0
        # system_map plus every bit below alloc_start: the part of the scratch map common to all CPUs
        self._occupied_low = (1 << alloc_start) - 1
        # last list/tuple mask converted, compared by value: lists of CPUs reused across calls stay cheap
        self._mask_cache: tuple[list[int] | tuple[int, ...], _Sel] | None = None

    # ------------------------------------------------------------------ validation helpers

    def _cpu(self, cpu: object, what: str = "cpu") -> int:
        if type(cpu) is int:
            if 0 <= cpu < self.ncpus:
                return cpu
        elif isinstance(cpu, np.integer):
            c = int(cpu)
            if 0 <= c < self.ncpus:
                return c
        raise ValidationError(what, cpu, f"a CPU number in 0..{self.ncpus - 1}")

    @staticmethod
    def _int(value: object, what: str) -> int:
        if type(value) is int:
            return value
        if isinstance(value, np.integer):
            return int(value)
        raise ValidationError(what, value, "an integer")

    @staticmethod
    def _flag(value: object, what: str) -> bool:
        if type(value) is bool:
            return value
        if isinstance(value, np.bool_):
            return bool(value)
        raise ValidationError(what, value, "True or False")

    def _select(self, cpus: CpuMask) -> _Sel:
        """Turn a CPU mask into None (all CPUs), an int (one CPU) or sorted unique CPU numbers."""
        n = self.ncpus
        if type(cpus) is list and len(cpus) == 1 and type(cpus[0]) is int and 0 <= cpus[0] < n:
            return cpus[0]  # the common [cpu] of per-CPU work (the checks below would say the same)
        if isinstance(cpus, range):
            if len(cpus) == 0:
                return np.empty(0, dtype=np.intp)
            lo, hi = (cpus[0], cpus[-1]) if cpus.step > 0 else (cpus[-1], cpus[0])
            if lo < 0 or hi >= n:
                bad = lo if lo < 0 else hi
                raise ValidationError("cpu", bad, f"a CPU number in 0..{n - 1}")
            if abs(cpus.step) == 1 and len(cpus) == n:
                return None
            if len(cpus) == 1:
                return lo
            return np.arange(lo, hi + 1, abs(cpus.step), dtype=np.intp)
        if isinstance(cpus, np.ndarray):
            if cpus.dtype == np.bool_:
                if cpus.shape != (n,):
                    raise ValidationError("cpu mask shape", cpus.shape, f"({n},) for a bool mask")
                idx = cpus.nonzero()[0]  # np.flatnonzero without its wrappers (hot: every alloc)
                return None if idx.size == n else idx
            arr = cpus.ravel()
        elif isinstance(cpus, (int, np.integer)) or not isinstance(cpus, Iterable):
            raise ValidationError("cpus", cpus, "an iterable of CPU numbers or a numpy bool mask")
        else:
            items = cpus if isinstance(cpus, (list, tuple)) else list(cpus)
            if len(items) == 1:
                item = items[0]
                if _is_bool(item):
                    raise ValidationError("cpu", item, f"a CPU number in 0..{n - 1}")
                return self._cpu(item)
            if len(items) == 0:
                return np.empty(0, dtype=np.intp)
            cached = self._mask_cache
            if cached is not None and type(items) is type(cached[0]) and items == cached[0]:
                return cached[1]
            arr = np.asarray(items)
            if arr.dtype.kind not in "iu":
                first_bad: object = next(
                    (x for x in items if _is_bool(x) or not isinstance(x, (int, np.integer))), items
                )
                raise ValidationError("cpu", first_bad, f"a CPU number in 0..{n - 1}")
            sel = self._sorted_unique(arr)
            self._mask_cache = (type(items)(items), sel)
            return sel
        if arr.size == 0:
            return np.empty(0, dtype=np.intp)
        if arr.dtype.kind not in "iu":
            raise ValidationError("cpus", cpus, "integer CPU numbers or a numpy bool mask")
        return self._sorted_unique(arr)

    def _sorted_unique(self, arr: npt.NDArray[Any]) -> _Sel:
        n = self.ncpus
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= n:
            raise ValidationError("cpu", lo if lo < 0 else hi, f"a CPU number in 0..{n - 1}")
        if arr.size > 1 and bool((arr[1:] > arr[:-1]).all()):
            idx = arr.astype(np.intp, copy=True)  # already strictly ascending
        else:
            idx = np.unique(arr).astype(np.intp, copy=False)
        if idx.size == n:
            return None
        idx.flags.writeable = False
        return idx

    def _sel_list(self, sel: _Sel) -> list[int]:
        if sel is None:
            return list(range(self.ncpus))
        if isinstance(sel, int):
            return [sel]
        return [int(c) for c in sel.tolist()]

    def _describe(self, sel: _Sel) -> str:
        if sel is None:
            return f"all {self.ncpus} CPUs" if self.ncpus > 1 else "the only CPU (0)"
        if isinstance(sel, int):
            return f"CPU {sel}"
        mask = 0
        for c in sel.tolist():
            mask |= 1 << int(c)
        return f"CPUs {bitmap_list_string(mask, self.ncpus) or '(none)'}"

    @staticmethod
    def _wrap_warning(what: str) -> None:
        warnings.warn(
            f"{what} wraps below zero (unsigned int arithmetic, as in kernel/irq/matrix.c)",
            MatrixWarning,
            stacklevel=4,
        )

    def _set_available(self, cpu: int, value: int) -> None:
        if value < 0:
            self._wrap_warning(f"available of CPU {cpu}")
        value &= UINT_MAX
        self._available[cpu] = value
        if self._online[cpu]:
            self._avl_online[cpu] = value

    def _add_global_available(self, delta: int) -> None:
        self.global_available = (self.global_available + delta) & UINT_MAX

    # ------------------------------------------------------------------ CPU hotplug

    def online(self, cpu: int) -> None:
        """irq_matrix_online on ``cpu``; first time: available = alloc_size - managed - systembits_inalloc."""
        cpu = self._cpu(cpu)
        if self._online[cpu]:
            raise MatrixMisuse(f"online(cpu={cpu}): CPU {cpu} is already online (BUG_ON(cm->online))")
        if not self._initialized[cpu]:
            value = self.alloc_size - (int(self._managed[cpu]) + self.systembits_inalloc)
            if value < 0:
                self._wrap_warning(f"initial available of CPU {cpu}")
            self._available[cpu] = value & UINT_MAX
            self._initialized[cpu] = True
        avl = int(self._available[cpu])
        self._add_global_available(avl)
        self._online[cpu] = True
        self._avl_online[cpu] = avl
        self.online_maps += 1

    def online_many(self, cpus: Iterable[int]) -> None:
        """:meth:`online` on each of ``cpus`` in turn (SMP bring-up), in one step for fresh CPUs.

        Booting a 1024-CPU matrix onlines every CPU once; one call each was most of the boot. The
        whole list is checked first: a CPU out of range, already online or listed twice raises as
        :meth:`online` would, with nothing changed. CPUs onlined before, or whose first ``available``
        wraps (it warns), take the one-by-one path.
        """
        todo = list(cpus)
        if not todo:
            return
        try:
            idx = np.asarray(todo)
        except (TypeError, ValueError):  # ragged nesting
            self._online_many_refused(todo)
        if (
            idx.dtype.kind not in "iu"
            or idx.ndim != 1
            or not {bool, np.bool_}.isdisjoint(map(type, todo))
            or bool((idx < 0).any() or (idx >= self.ncpus).any())
            or len(np.unique(idx)) != len(todo)
            or self._online[idx].any()
        ):
            self._online_many_refused(todo)  # raises, naming the first bad CPU
        first = self.alloc_size - (self._managed[idx] + self.systembits_inalloc)
        if self._initialized[idx].any() or bool((first < 0).any()):
            for cpu in todo:
                self.online(cpu)
            return
        self._available[idx] = first
        self._initialized[idx] = True
        self._online[idx] = True
        self._avl_online[idx] = first
        self._add_global_available(int(first.sum()))
        self.online_maps += len(todo)

    def _online_many_refused(self, cpus: Sequence[object]) -> NoReturn:
        """Raise for :meth:`online_many`: the first CPU out of range, else the first online or repeated."""
        seen: set[int] = set()
        for cpu in [self._cpu(c) for c in cpus]:
            if self._online[cpu]:
                raise MatrixMisuse(f"online(cpu={cpu}): CPU {cpu} is already online (BUG_ON(cm->online))")
            if cpu in seen:
                raise MatrixMisuse(f"online_many: CPU {cpu} is listed twice (a second online() is a BUG_ON)")
            seen.add(cpu)
        raise AssertionError(f"online_many refused {cpus!r} but every CPU is valid")  # pragma: no cover

    def offline(self, cpu: int) -> None:
        """irq_matrix_offline on ``cpu``: its available count leaves the global pool; its maps stay."""
        cpu = self._cpu(cpu)
        if not self._online[cpu]:
            raise MatrixMisuse(
                f"offline(cpu={cpu}): CPU {cpu} is not online; the kernel only offlines an online CPU "
                "(doing it twice would corrupt global_available and online_maps)"
            )
        self._add_global_available(-int(self._available[cpu]))
        self._online[cpu] = False
        self._avl_online[cpu] = 0
        self.online_maps -= 1

    # ------------------------------------------------------------------ system vectors

    def assign_system(self, bit: int, replace: bool, *, cpu: int | None = None) -> None:
        """irq_matrix_assign_system: make ``bit`` a system vector on every CPU (only while <= 1 CPU online).

        With ``replace`` the bit must be allocated on "this CPU" (``cpu``; default the only online CPU,
        else CPU 0) and is released there without returning to ``available``.
        """
        bit = self._int(bit, "bit")
        replace = self._flag(replace, "replace")
        if bit < 0:
            raise ValidationError("bit", bit, f"a vector number in 0..{self.matrix_bits - 1}")
        if bit >= self.matrix_bits:
            raise MatrixMisuse(
                f"assign_system(bit={bit}): bit beyond the matrix (0..{self.matrix_bits - 1}); "
                "the kernel BUG()s (BUG_ON(bit > matrix_bits))"
            )
        if self.online_maps > 1:
            raise MatrixMisuse(
                f"assign_system(bit={bit}): {self.online_maps} CPUs are online; system vectors can only be "
                "assigned while at most the boot CPU is up (BUG_ON(online_maps > 1))"
            )
        if self.online_maps == 1 and not replace:
            raise MatrixMisuse(
                f"assign_system(bit={bit}, replace=False): a CPU is already online; only replace=True is "
                "allowed then (BUG_ON(online_maps && !replace))"
            )
        online = self.online_cpus()
        this = online[0] if online else 0
        if cpu is not None:
            cpu = self._cpu(cpu)
            if online and cpu != this:
                raise MatrixMisuse(
                    f"assign_system(cpu={cpu}): only CPU {this} is online, so the call runs on CPU {this}"
                )
            this = cpu
        b = 1 << bit
        if self._system_map & b:
            raise MatrixMisuse(
                f"assign_system(bit={bit}): bit {bit} is already a system vector "
                "(the kernel would count it twice in systembits_inalloc)"
            )
        if replace:
            if not self._alloc_map[this] & b:
                raise MatrixMisuse(
                    f"assign_system(bit={bit}, replace=True): bit {bit} is not allocated on CPU {this} "
                    "(BUG_ON(!test_and_clear_bit(bit, cm->alloc_map)))"
                )
            if self._managed_map[this] & b:
                raise MatrixMisuse(
                    f"assign_system(bit={bit}, replace=True): bit {bit} is a managed vector on CPU {this}; "
                    "replacing it would leave managed_allocated stale"
                )
        self._system_map |= b
        self._occupied_low |= b
        if replace:
            self._alloc_map[this] &= ~b
            self._allocated[this] -= 1
            self.total_allocated = (self.total_allocated - 1) & UINT_MAX
        if self.alloc_start <= bit < self.alloc_end:
            self.systembits_inalloc += 1

    # ------------------------------------------------------------------ managed interrupts

    def _alloc_area(self, cpu: int) -> int:
        """matrix_alloc_area for one bit: lowest bit >= alloc_start not managed, system or allocated."""
        occ = self._occupied_low | self._managed_map[cpu] | self._alloc_map[cpu]
        return (~occ & (occ + 1)).bit_length() - 1

    def _remove_managed_one(self, cpu: int) -> None:
        unalloc = self._managed_map[cpu] & ~self._alloc_map[cpu]
        low = unalloc & -unalloc
        self._managed_map[cpu] ^= low
        self._managed[cpu] -= 1
        if self._online[cpu]:
            self._set_available(cpu, int(self._available[cpu]) + 1)
            self._add_global_available(1)

    def reserve_managed(self, cpus: CpuMask) -> None:
        """irq_matrix_reserve_managed: reserve one managed bit on every CPU in ``cpus`` (offline ones too).

        On failure (-ENOSPC) the CPUs already done each release their *lowest unallocated* managed bit,
        exactly as the kernel's cleanup path does (not necessarily the bit just taken).
        """
        sel = self._select(cpus)
        todo = self._sel_list(sel)
        end = self.alloc_end
        done: list[int] = []
        for c in todo:
            bit = self._alloc_area(c)
            if bit >= end:
                for d in done:
                    self._remove_managed_one(d)
                raise MatrixError(
                    f"reserve_managed on {self._describe(sel)}: CPU {c} has no free vector in "
                    f"[{self.alloc_start:#x}, {end:#x}); released the lowest unallocated managed vector on "
                    f"the {len(done)} CPU(s) already reserved",
                    errno.ENOSPC,
                )
            self._managed_map[c] |= 1 << bit
            self._managed[c] += 1
            if self._online[c]:
                self._set_available(c, int(self._available[c]) - 1)
                self._add_global_available(-1)
            done.append(c)

    def remove_managed(self, cpus: CpuMask) -> None:
        """irq_matrix_remove_managed: release, on each CPU in ``cpus``, its lowest unallocated managed bit."""
        sel = self._select(cpus)
        todo = self._sel_list(sel)
        for c in todo:
            if not self._managed[c]:
                raise MatrixMisuse(
                    f"remove_managed on {self._describe(sel)}: CPU {c} has no managed reservation "
                    "(WARN_ON_ONCE(!cm->managed))"
                )
            if not self._managed_map[c] & ~self._alloc_map[c]:
                raise MatrixMisuse(
                    f"remove_managed on {self._describe(sel)}: every managed vector of CPU {c} is allocated "
                    "(WARN_ON_ONCE(bit >= end))"
                )
        for c in todo:
            self._remove_managed_one(c)

    def alloc_managed(self, cpus: CpuMask) -> tuple[int, int]:
        """irq_matrix_alloc_managed: on the online CPU with the fewest managed allocations (ties: highest
        CPU), hand out its lowest reserved-but-unallocated managed bit. Returns ``(bit, cpu)``."""
        sel = self._select(cpus)
        if isinstance(sel, np.ndarray) and sel.size == 0:
            raise MatrixError("alloc_managed on an empty CPU mask", errno.EINVAL)
        if isinstance(sel, int):
            if not self._online[sel]:
                raise MatrixError(f"alloc_managed on CPU {sel}: CPU {sel} is offline", errno.ENOSPC)
            cpu = sel
        else:
            online = self._online if sel is None else self._online[sel]
            mac = self._managed_allocated if sel is None else self._managed_allocated[sel]
            vals = np.where(online, mac, _BIG)
            rev = vals[::-1]
            j = vals.size - 1 - int(rev.argmin())
            if vals[j] == _BIG:
                raise MatrixError(
                    f"alloc_managed on {self._describe(sel)}: no CPU in the mask is online", errno.ENOSPC
                )
            cpu = j if sel is None else int(sel[j])
        unalloc = self._managed_map[cpu] & ~self._alloc_map[cpu]
        if not unalloc:
            raise MatrixError(
                f"alloc_managed on {self._describe(sel)}: best CPU {cpu} (fewest managed allocations, "
                f"{int(self._managed_allocated[cpu])}) has no reserved unallocated managed vector",
                errno.ENOSPC,
            )
        low = unalloc & -unalloc
        self._alloc_map[cpu] |= low
        self._allocated[cpu] += 1
        self._managed_allocated[cpu] += 1
        self.total_allocated = (self.total_allocated + 1) & UINT_MAX
        return low.bit_length() - 1, cpu

    # ------------------------------------------------------------------ regular interrupts

    def assign(self, cpu: int, bit: int) -> None:
        """irq_matrix_assign on ``cpu``: mark a preallocated vector (x86: the legacy ISA vectors)."""
        cpu = self._cpu(cpu)
        bit = self._int(bit, "bit")
        if not self.alloc_start <= bit < self.alloc_end:
            raise MatrixMisuse(
                f"assign(cpu={cpu}, bit={bit}): bit outside the allocation range "
                f"[{self.alloc_start}, {self.alloc_end}) (WARN_ON_ONCE, ignored by the kernel)"
            )
        b = 1 << bit
        if self._alloc_map[cpu] & b:
            raise MatrixMisuse(
                f"assign(cpu={cpu}, bit={bit}): bit already allocated on CPU {cpu} (WARN_ON_ONCE, ignored)"
            )
        if not self._online[cpu]:
            raise MatrixMisuse(
                f"assign(cpu={cpu}, bit={bit}): CPU {cpu} is offline; the kernel assigns on the running CPU"
            )
        if (self._system_map | self._managed_map[cpu]) & b:
            kind = "system" if self._system_map & b else "managed"
            raise MatrixMisuse(f"assign(cpu={cpu}, bit={bit}): bit {bit} is a {kind} vector on CPU {cpu}")
        self._alloc_map[cpu] |= b
        self._allocated[cpu] += 1
        self.total_allocated = (self.total_allocated + 1) & UINT_MAX
        self._set_available(cpu, int(self._available[cpu]) - 1)
        self._add_global_available(-1)

    def reserve(self) -> None:
        """irq_matrix_reserve: book one global reservation (warns when reserved reaches available)."""
        if self.global_reserved == self.global_available:
            warnings.warn(
                "Interrupt reservation exceeds available resources "
                f"(reserved {self.global_reserved} == available {self.global_available})",
                MatrixWarning,
                stacklevel=2,
            )
        self.global_reserved = (self.global_reserved + 1) & UINT_MAX

    def remove_reserved(self) -> None:
        """irq_matrix_remove_reserved: drop one global reservation."""
        if self.global_reserved == 0:
            raise MatrixMisuse("remove_reserved(): nothing is reserved (global_reserved would wrap)")
        self.global_reserved -= 1

    def alloc(self, cpus: CpuMask, reserved: bool) -> tuple[int, int]:
        """irq_matrix_alloc: on the online CPU in ``cpus`` with the most available vectors (ties: lowest
        CPU), hand out the lowest free bit. ``reserved`` consumes a reservation. Returns ``(bit, cpu)``."""
        if type(reserved) is not bool:
            reserved = self._flag(reserved, "reserved")
        sel = self._select(cpus)
        avl = self._avl_online
        if sel is None:
            cpu = int(avl.argmax())
            best = int(avl[cpu])
        elif isinstance(sel, int):
            cpu = sel
            best = int(avl[cpu])
        else:
            if sel.size == 0:
                raise MatrixError("alloc on an empty CPU mask", errno.EINVAL)
            vals = avl[sel]
            j = int(vals.argmax())
            cpu = int(sel[j])
            best = int(vals[j])
        if best == 0:
            raise MatrixError(
                f"alloc on {self._describe(sel)}: no online CPU in the mask has an available vector",
                errno.ENOSPC,
            )
        occ = self._occupied_low | self._managed_map[cpu] | self._alloc_map[cpu]
        low = ~occ & (occ + 1)
        bit = low.bit_length() - 1
        if bit >= self.alloc_end:
            raise MatrixError(
                f"alloc on {self._describe(sel)}: best CPU {cpu} (available {best}) has no free bit in "
                f"[{self.alloc_start:#x}, {self.alloc_end:#x})",
                errno.ENOSPC,
            )
        if reserved and self.global_reserved == 0:
            raise MatrixMisuse("alloc(reserved=True): nothing is reserved (global_reserved would wrap)")
        self._alloc_map[cpu] |= low
        self._allocated[cpu] += 1
        best -= 1
        self._available[cpu] = best
        avl[cpu] = best
        self.total_allocated = (self.total_allocated + 1) & UINT_MAX
        self.global_available = (self.global_available - 1) & UINT_MAX
        if reserved:
            self.global_reserved -= 1
        return bit, cpu

    def free(self, cpu: int, bit: int, managed: bool) -> None:
        """irq_matrix_free: release ``bit`` on ``cpu``; total_allocated only moves if ``cpu`` is online."""
        if type(cpu) is not int or not 0 <= cpu < self.ncpus:
            cpu = self._cpu(cpu)
        if type(bit) is not int:
            bit = self._int(bit, "bit")
        if type(managed) is not bool:
            managed = self._flag(managed, "managed")
        if not self.alloc_start <= bit < self.alloc_end:
            raise MatrixMisuse(
                f"free(cpu={cpu}, bit={bit}): bit outside the allocation range "
                f"[{self.alloc_start}, {self.alloc_end}) (WARN_ON_ONCE, ignored by the kernel)"
            )
        b = 1 << bit
        amap = self._alloc_map[cpu]
        if not amap & b:
            raise MatrixMisuse(
                f"free(cpu={cpu}, bit={bit}): bit not allocated on CPU {cpu} (WARN_ON_ONCE, ignored)"
            )
        if bool(self._managed_map[cpu] & b) != managed:
            raise MatrixMisuse(
                f"free(cpu={cpu}, bit={bit}, managed={managed}): the bit is "
                f"{'a managed' if not managed else 'not a managed'} vector; a wrong flag would corrupt the "
                "kernel's accounting"
            )
        self._alloc_map[cpu] = amap ^ b
        self._allocated[cpu] -= 1
        online = bool(self._online[cpu])
        if managed:
            self._managed_allocated[cpu] -= 1
        if online:
            self.total_allocated = (self.total_allocated - 1) & UINT_MAX
        if not managed:
            value = (int(self._available[cpu]) + 1) & UINT_MAX
            self._available[cpu] = value
            if online:
                self._avl_online[cpu] = value
                self.global_available = (self.global_available + 1) & UINT_MAX

    # ------------------------------------------------------------------ queries (kernel API)

    def available(self, cpudown_cpu: int | None = None) -> int:
        """irq_matrix_available: global available, or (cpudown) without the available vectors of that CPU."""
        if cpudown_cpu is None:
            return self.global_available
        cpu = self._cpu(cpudown_cpu, "cpudown_cpu")
        if not self._online[cpu]:
            raise MatrixMisuse(
                f"available(cpudown_cpu={cpu}): CPU {cpu} is offline; the kernel asks this on the online CPU "
                "about to go down"
            )
        return (self.global_available - int(self._available[cpu])) & UINT_MAX

    def reserved(self) -> int:
        """irq_matrix_reserved: the global reservation count."""
        return self.global_reserved

    def allocated(self, cpu: int) -> int:
        """irq_matrix_allocated on ``cpu``: allocated non-managed vectors (allocated - managed_allocated)."""
        cpu = self._cpu(cpu)
        return int(self._allocated[cpu] - self._managed_allocated[cpu])

    def debug_show(self, ind: int = 0) -> str:
        """irq_matrix_debug_show: the debugfs ``VECTOR`` matrix text, byte for byte (``ind`` = indent)."""
        ind = self._int(ind, "ind")
        pad = " " * max(1, abs(ind))  # printf("%*s", ind, " ")
        nbits = self.matrix_bits
        sysmap = self._system_map & ((1 << nbits) - 1)
        lines = [
            f"Online bitmaps:   {self.online_maps:6d}",
            f"Global available: {self.global_available:6d}",
            f"Global reserved:  {self.global_reserved:6d}",
            f"Total allocated:  {self.total_allocated:6d}",
            f"System: {sysmap.bit_count()}: {bitmap_list_string(sysmap, nbits)}",
            f"{pad}| CPU | avl | man | mac | act | vectors",
        ]
        avl, man, mac, act = (
            self._available.tolist(),
            self._managed.tolist(),
            self._managed_allocated.tolist(),
            self._allocated.tolist(),
        )
        for cpu in self.online_cpus():
            lines.append(
                f"{pad} {cpu:4d}  {avl[cpu]:4d}  {man[cpu]:4d}  {mac[cpu]:4d} {act[cpu]:4d}  "
                f"{bitmap_list_string(self._alloc_map[cpu], nbits)}"
            )
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------------ helper views

    def cpu_available(self, cpu: int) -> int:
        """The per-CPU ``available`` counter of ``cpu`` (kept while offline)."""
        return int(self._available[self._cpu(cpu)])

    def cpu_managed(self, cpu: int) -> int:
        """The per-CPU ``managed`` counter: managed bits reserved on ``cpu``."""
        return int(self._managed[self._cpu(cpu)])

    def cpu_managed_allocated(self, cpu: int) -> int:
        """The per-CPU ``managed_allocated`` counter: managed bits handed out on ``cpu``."""
        return int(self._managed_allocated[self._cpu(cpu)])

    def cpu_allocated(self, cpu: int) -> int:
        """The raw per-CPU ``allocated`` counter (including managed allocations)."""
        return int(self._allocated[self._cpu(cpu)])

    def is_online(self, cpu: int) -> bool:
        """Whether ``cpu``'s map is online."""
        return bool(self._online[self._cpu(cpu)])

    def is_initialized(self, cpu: int) -> bool:
        """Whether ``cpu`` has been online at least once (its ``available`` was computed)."""
        return bool(self._initialized[self._cpu(cpu)])

    def online_cpus(self) -> list[int]:
        """The online CPUs, ascending."""
        return [int(c) for c in np.flatnonzero(self._online).tolist()]

    def system_bits(self) -> list[int]:
        """The bits set in the global ``system_map``, ascending."""
        return _bits_of(self._system_map)

    def alloc_bits(self, cpu: int) -> list[int]:
        """The bits set in ``cpu``'s ``alloc_map`` (regular and managed allocations), ascending."""
        return _bits_of(self._alloc_map[self._cpu(cpu)])

    def managed_bits(self, cpu: int) -> list[int]:
        """The bits set in ``cpu``'s ``managed_map`` (reserved managed vectors), ascending."""
        return _bits_of(self._managed_map[self._cpu(cpu)])

    def alloc_map(self, cpu: int) -> int:
        """``cpu``'s ``alloc_map`` as an integer bitmap (bit n = vector n)."""
        return self._alloc_map[self._cpu(cpu)]

    def managed_map(self, cpu: int) -> int:
        """``cpu``'s ``managed_map`` as an integer bitmap (bit n = vector n)."""
        return self._managed_map[self._cpu(cpu)]

    @property
    def system_map(self) -> int:
        """The global ``system_map`` as an integer bitmap."""
        return self._system_map

    @staticmethod
    def _ro(arr: npt.NDArray[Any]) -> npt.NDArray[Any]:
        view = arr.view()
        view.flags.writeable = False
        return view

    @property
    def available_counts(self) -> npt.NDArray[np.int64]:
        """Read-only per-CPU ``available`` counters, indexed by CPU."""
        return self._ro(self._available)

    @property
    def allocated_counts(self) -> npt.NDArray[np.int64]:
        """Read-only per-CPU raw ``allocated`` counters, indexed by CPU."""
        return self._ro(self._allocated)

    @property
    def managed_counts(self) -> npt.NDArray[np.int64]:
        """Read-only per-CPU ``managed`` counters, indexed by CPU."""
        return self._ro(self._managed)

    @property
    def managed_allocated_counts(self) -> npt.NDArray[np.int64]:
        """Read-only per-CPU ``managed_allocated`` counters, indexed by CPU."""
        return self._ro(self._managed_allocated)

    @property
    def online_mask(self) -> npt.NDArray[np.bool_]:
        """Read-only per-CPU online flags, indexed by CPU."""
        return self._ro(self._online)

    def alloc_matrix(self) -> npt.NDArray[np.bool_]:
        """A fresh bool array (ncpus, matrix_bits): True where the bit is set in that CPU's alloc_map."""
        nbytes = (self.matrix_bits + 7) // 8
        raw = b"".join(m.to_bytes(nbytes, "little") for m in self._alloc_map)
        packed = np.frombuffer(raw, dtype=np.uint8).reshape(self.ncpus, nbytes)
        return np.unpackbits(packed, axis=1, bitorder="little")[:, : self.matrix_bits].astype(np.bool_)

    def copy(self) -> IrqMatrix:
        """An independent deep copy (e.g. to try an operation without touching the original)."""
        new = object.__new__(IrqMatrix)
        new.__dict__.update(self.__dict__)
        for name in (
            "_available",
            "_allocated",
            "_managed",
            "_managed_allocated",
            "_initialized",
            "_online",
            "_avl_online",
        ):
            setattr(new, name, getattr(self, name).copy())
        new._alloc_map = list(self._alloc_map)
        new._managed_map = list(self._managed_map)
        return new

    def _state(self) -> tuple[object, ...]:
        return (
            self.matrix_bits,
            self.alloc_start,
            self.alloc_end,
            self.ncpus,
            self.global_available,
            self.global_reserved,
            self.systembits_inalloc,
            self.total_allocated,
            self.online_maps,
            self._system_map,
            tuple(self._alloc_map),
            tuple(self._managed_map),
            self._available.tobytes(),
            self._allocated.tobytes(),
            self._managed.tobytes(),
            self._managed_allocated.tobytes(),
            self._initialized.tobytes(),
            self._online.tobytes(),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IrqMatrix):
            return NotImplemented
        return self._state() == other._state()

    def __repr__(self) -> str:
        return (
            f"IrqMatrix(matrix_bits={self.matrix_bits}, alloc_start={self.alloc_start:#x}, "
            f"alloc_end={self.alloc_end:#x}, ncpus={self.ncpus}; online={self.online_maps}, "
            f"available={self.global_available}, reserved={self.global_reserved}, "
            f"allocated={self.total_allocated})"
        )
