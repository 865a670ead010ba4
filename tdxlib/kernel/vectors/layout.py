"""A :class:`VectorLayout`: one layout file evaluated for one switch combination, and how to load it.

The layout answers the vector-space questions (system bits, ``FIRST_SYSTEM_VECTOR``, device vectors
per CPU) and boots an allocator the way x86 does (:meth:`VectorLayout.new_matrix`). Layouts are
cached per parsed file and switch combination: the object handed out is frozen, its maps read-only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from tdxlib.cache import memo, stat_key
from tdxlib.data import data_path, is_file
from tdxlib.errors import DataError, ValidationError
from tdxlib.kernel.vectors.spec import Switch, _Entry, _Spec, read_spec

if TYPE_CHECKING:
    from tdxlib.kernel.matrix import IrqMatrix

_VECTORS_DIR = "vectors"

#: Roles of a vector in :meth:`VectorLayout.describe`, in IDT order of appearance.
ROLES: tuple[str, ...] = (
    "exception",  # 0 .. FIRST_EXTERNAL_VECTOR-1: CPU traps and exceptions (named or reserved)
    "system",  # a named vector the kernel sets in system_vectors (IPIs, APIC timer, ...)
    "pic-cascade",  # ISA_IRQ_VECTOR(PIC_CASCADE_IR): a system bit of the matrix on every CPU
    "isa-legacy",  # ISA_IRQ_VECTOR(i), pre-assigned on the boot CPU only (free on the others)
    "syscall",  # IA32_SYSCALL_VECTOR (int 0x80)
    "device",  # allocatable for device interrupts on every CPU
    "unused-system",  # >= FIRST_SYSTEM_VECTOR but not set in system_vectors: spurious entry, never allocated
)


@dataclass(frozen=True)
class NamedVector:
    """A named vector of a layout under its config: value, role, and whether the kernel sets its bit."""

    name: str
    vector: int
    role: str  # "exception" | "system" | "syscall"
    defined: bool  # the #define exists with this config
    system_bit: bool  # set in the kernel's system_vectors bitmap with this config
    how: str  # which code sets it (apic_idts, def_idts, alloc_intr_gate ...)
    sources: tuple[str, ...]


@dataclass(frozen=True)
class VectorLayout:
    """The IDT vector space of one kernel version and config (see the module docstring)."""

    name: str
    kernel: str
    config: Mapping[str, bool] = field(hash=False)
    NR_VECTORS: int
    FIRST_EXTERNAL_VECTOR: int
    FIRST_SYSTEM_VECTOR: int
    IA32_SYSCALL_VECTOR: int
    title: str = field(default="", compare=False)
    path: Path | None = field(default=None, compare=False, repr=False)
    ISA_IRQ_VECTOR_BASE: int = field(default=0x30, repr=False)
    NR_IRQS_LEGACY: int = field(default=16, repr=False)
    PIC_CASCADE_IR: int = field(default=2, repr=False)
    switches: Mapping[str, Switch] = field(default_factory=dict, compare=False, hash=False, repr=False)
    defaults_represent: str = field(default="", compare=False, repr=False)
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False, repr=False)
    named: tuple[NamedVector, ...] = field(default=(), compare=False, repr=False)
    constants: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False, repr=False)

    # -- derived constants, as irq_vectors.h defines them --------------------------------------
    @property
    def NR_EXTERNAL_VECTORS(self) -> int:
        """``FIRST_SYSTEM_VECTOR - FIRST_EXTERNAL_VECTOR``: the size of the allocation range."""
        return self.FIRST_SYSTEM_VECTOR - self.FIRST_EXTERNAL_VECTOR

    @property
    def NR_SYSTEM_VECTORS(self) -> int:
        """``NR_VECTORS - FIRST_SYSTEM_VECTOR``: vectors above the allocation range."""
        return self.NR_VECTORS - self.FIRST_SYSTEM_VECTOR

    # -- names ------------------------------------------------------------------------------------
    def vector(self, name: str) -> int:
        """Value of a named constant or vector under this config, e.g. ``"LOCAL_TIMER_VECTOR"``."""
        if not isinstance(name, str):
            raise ValidationError("vector name", name, "a string such as 'LOCAL_TIMER_VECTOR'")
        if name in self.constants:
            return self.constants[name]
        for nv in self.named:
            if nv.name == name:
                if not nv.defined:
                    raise ValidationError(
                        "vector name",
                        name,
                        f"a vector defined in {self.name} with this config ({name} exists only when its "
                        f"condition holds; config: {self._config_text()})",
                    )
                return nv.vector
        known = sorted(set(self.constants) | {nv.name for nv in self.named if nv.defined})
        raise ValidationError("vector name", name, f"one of {', '.join(known)}")

    def named_vectors(self, include_undefined: bool = False) -> list[NamedVector]:
        """Every named exception, system and syscall vector of the layout, sorted by vector."""
        return sorted((nv for nv in self.named if include_undefined or nv.defined), key=lambda nv: nv.vector)

    def system_vectors(self) -> dict[str, int]:
        """Named system vectors defined under this config (irq_vectors.h names), sorted by vector."""
        return {nv.name: nv.vector for nv in self.named_vectors() if nv.role == "system"}

    def system_bits(self) -> list[int]:
        """Vectors the kernel sets in its ``system_vectors`` bitmap: traps, int 0x80, apic_idts and gates.

        This is what ``lapic_assign_system_vectors()`` walks with ``irq_matrix_assign_system()``. It
        does not contain the PIC cascade vector, which that function assigns separately through
        ``lapic_assign_legacy_vector()``; :meth:`matrix_system_bits` includes it.
        """
        return sorted(nv.vector for nv in self.named if nv.defined and nv.system_bit)

    def pic_cascade_vector(self) -> int:
        """``ISA_IRQ_VECTOR(PIC_CASCADE_IR)`` (0x32): a system bit of the matrix when a PIC is present."""
        return self.ISA_IRQ_VECTOR_BASE + self.PIC_CASCADE_IR

    def matrix_system_bits(self, nr_legacy_irqs: int = 16) -> list[int]:
        """The matrix's system map after boot (the debugfs ``System:`` line): system_bits + PIC cascade."""
        n = self._check_legacy(nr_legacy_irqs)
        bits = set(self.system_bits())
        if n > 1:
            bits.add(self.pic_cascade_vector())
        return sorted(bits)

    def isa_irq_vector(self, irq: int) -> int:
        """``ISA_IRQ_VECTOR(irq)`` = ((FIRST_EXTERNAL_VECTOR + 16) & ~15) + irq, for legacy IRQ 0..15."""
        if isinstance(irq, bool) or not isinstance(irq, int) or not 0 <= irq < self.NR_IRQS_LEGACY:
            raise ValidationError("legacy irq", irq, f"an integer 0..{self.NR_IRQS_LEGACY - 1}")
        return self.ISA_IRQ_VECTOR_BASE + irq

    def isa_assigned_vectors(self, nr_legacy_irqs: int = 16) -> list[int]:
        """Legacy vectors ``irq_matrix_assign()``-ed on the boot CPU: ISA_IRQ_VECTOR(i), i != cascade."""
        n = self._check_legacy(nr_legacy_irqs)
        return [self.ISA_IRQ_VECTOR_BASE + i for i in range(n) if i != self.PIC_CASCADE_IR]

    # -- per-CPU arithmetic -------------------------------------------------------------------
    def external_vectors_per_cpu(self, nr_legacy_irqs: int = 16) -> int:
        """Vectors of [FIRST_EXTERNAL_VECTOR, FIRST_SYSTEM_VECTOR) that are not matrix system bits.

        The same on every CPU; in the debugfs dump it is ``avl + act`` of each CPU (201 in the 5.19
        example: 204 minus 0x20 cleanup, 0x32 PIC cascade and 0x80 syscall).
        """
        lo, hi = self.FIRST_EXTERNAL_VECTOR, self.FIRST_SYSTEM_VECTOR
        in_range = [b for b in self.matrix_system_bits(nr_legacy_irqs) if lo <= b < hi]
        return (hi - lo) - len(in_range)

    def device_vectors_per_cpu(self, cpu: int = 1, nr_legacy_irqs: int = 16) -> int:
        """Vectors left for devices on ``cpu`` right after x86 boot (the matrix's ``available`` there).

        Every CPU loses the system bits inside [FIRST_EXTERNAL_VECTOR, FIRST_SYSTEM_VECTOR)
        (IRQ_MOVE_CLEANUP_VECTOR 0x20 before 6.6, IA32_SYSCALL_VECTOR 0x80) and, when a PIC is present
        (``nr_legacy_irqs > 1``), the PIC cascade vector ISA_IRQ_VECTOR(2), which
        ``lapic_assign_legacy_vector()`` makes a *system* bit of the matrix, so it is gone on every CPU.
        The boot CPU (``cpu == 0``) additionally holds ISA_IRQ_VECTOR(i) for every other legacy IRQ
        (``irq_matrix_assign()`` in ``lapic_assign_system_vectors()``); the other CPUs do not.
        Later the IO-APIC set-up may release unused legacy vectors of the boot CPU again
        (``vector_configure_legacy()``); that is not modelled here.
        """
        if isinstance(cpu, bool) or not isinstance(cpu, int) or cpu < 0:
            raise ValidationError("cpu", cpu, "a CPU number >= 0 (0 is the boot CPU)")
        n = self.external_vectors_per_cpu(nr_legacy_irqs)
        if cpu == 0:
            lo, hi = self.FIRST_EXTERNAL_VECTOR, self.FIRST_SYSTEM_VECTOR
            n -= sum(1 for v in self.isa_assigned_vectors(nr_legacy_irqs) if lo <= v < hi)
        return n

    def new_matrix(
        self, ncpus: int, online: Iterable[int] | None = None, nr_legacy_irqs: int = 16
    ) -> IrqMatrix:
        """An IrqMatrix(NR_VECTORS, FIRST_EXTERNAL_VECTOR, FIRST_SYSTEM_VECTOR, ncpus) booted as x86 does.

        Order of ``lapic_assign_system_vectors()``: ``assign_system(bit, False)`` for each of
        :meth:`system_bits` while no CPU is online, the PIC cascade (if ``nr_legacy_irqs > 1``),
        ``online(0)``, ``assign(0, ISA_IRQ_VECTOR(i))`` for the other legacy IRQs, then ``online()``
        for every other CPU in ``online`` (default: all ``ncpus``; it must contain the boot CPU 0).
        """
        from tdxlib.kernel.matrix import IrqMatrix  # numpy: a layout alone is read without it (CLI, checks)

        if isinstance(ncpus, bool) or not isinstance(ncpus, int) or ncpus < 1:
            raise ValidationError("ncpus", ncpus, "an integer >= 1")
        n_legacy = self._check_legacy(nr_legacy_irqs)
        if online is None:
            cpus = list(range(ncpus))
        else:
            cpus = []
            for c in online:
                if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < ncpus:
                    raise ValidationError("online cpu", c, f"a CPU number 0..{ncpus - 1}")
                if c not in cpus:
                    cpus.append(c)
            if 0 not in cpus:
                raise ValidationError("online", sorted(cpus), "a set of CPUs that contains the boot CPU 0")
        m = IrqMatrix(self.NR_VECTORS, self.FIRST_EXTERNAL_VECTOR, self.FIRST_SYSTEM_VECTOR, ncpus)
        for bit in self.system_bits():
            m.assign_system(bit, False)
        if n_legacy > 1:
            m.assign_system(self.pic_cascade_vector(), False)
        m.online(0)
        for vec in self.isa_assigned_vectors(n_legacy):
            m.assign(0, vec)
        m.online_many([c for c in sorted(cpus) if c != 0])
        return m

    # -- tables ------------------------------------------------------------------------------------
    def describe(self, nr_legacy_irqs: int = 16) -> list[dict[str, Any]]:
        """Every vector as a row: vector, hex, role, name, system_bit, matrix_system, allocatable, how.

        ``role`` is one of :data:`ROLES`; ``allocatable`` means the per-CPU allocator may hand the
        vector to a device (on the boot CPU the isa-legacy ones are pre-assigned at boot).
        Plain dicts, so ``pandas.DataFrame(layout.describe())`` charts the vector space.
        """
        n_legacy = self._check_legacy(nr_legacy_irqs)
        sysbits = set(self.system_bits())
        msys = set(self.matrix_system_bits(n_legacy))
        names: dict[int, list[NamedVector]] = {}
        for nv in self.named_vectors():
            names.setdefault(nv.vector, []).append(nv)
        cascade = self.pic_cascade_vector() if n_legacy > 1 else None
        isa = set(self.isa_assigned_vectors(n_legacy))
        lo, hi = self.FIRST_EXTERNAL_VECTOR, self.FIRST_SYSTEM_VECTOR
        rows: list[dict[str, Any]] = []
        for v in range(self.NR_VECTORS):
            here = names.get(v, [])
            label = ", ".join(nv.name for nv in here)
            how = "; ".join(nv.how for nv in here if nv.how)
            if v < lo:
                role = "exception"
            elif any(nv.role == "syscall" and nv.system_bit for nv in here):
                role = "syscall"
            elif v == cascade:
                role = "pic-cascade"
                label = label or f"ISA_IRQ_VECTOR({self.PIC_CASCADE_IR}) (PIC cascade)"
                how = how or "lapic_assign_legacy_vector"
            elif v in sysbits:
                role = "system"
            elif v >= hi:
                role = "unused-system"
            elif v in isa:
                role = "isa-legacy"
                label = label or f"ISA_IRQ_VECTOR({v - self.ISA_IRQ_VECTOR_BASE})"
                how = how or "irq_matrix_assign on the boot CPU"
            else:
                role = "device"
            rows.append(
                {
                    "vector": v,
                    "hex": f"{v:#04x}",
                    "role": role,
                    "name": label,
                    "system_bit": v in sysbits,
                    "matrix_system": v in msys,
                    "allocatable": lo <= v < hi and v not in msys,
                    "how": how,
                }
            )
        return rows

    def summary(self, nr_legacy_irqs: int = 16) -> dict[str, Any]:
        """The headline numbers of the layout as one flat dict (a table row for notebooks)."""
        return {
            "layout": self.name,
            "kernel": self.kernel,
            "FIRST_SYSTEM_VECTOR": self.FIRST_SYSTEM_VECTOR,
            "NR_EXTERNAL_VECTORS": self.NR_EXTERNAL_VECTORS,
            "NR_SYSTEM_VECTORS": self.NR_SYSTEM_VECTORS,
            "system_vectors": len(self.system_vectors()),
            "system_bits": len(self.system_bits()),
            "external_per_cpu": self.external_vectors_per_cpu(nr_legacy_irqs),
            "device_per_cpu_bsp": self.device_vectors_per_cpu(0, nr_legacy_irqs),
            "device_per_cpu_ap": self.device_vectors_per_cpu(1, nr_legacy_irqs),
        }

    # -- helpers ---------------------------------------------------------------------------------
    def _check_legacy(self, nr_legacy_irqs: int) -> int:
        if (
            isinstance(nr_legacy_irqs, bool)
            or not isinstance(nr_legacy_irqs, int)
            or not 0 <= nr_legacy_irqs <= self.NR_IRQS_LEGACY
        ):
            raise ValidationError(
                "nr_legacy_irqs",
                nr_legacy_irqs,
                f"an integer 0..{self.NR_IRQS_LEGACY} (16 with a PIC, 0 without)",
            )
        return nr_legacy_irqs

    def _config_text(self) -> str:
        return ", ".join(f"{k}={'y' if v else 'n'}" for k, v in self.config.items())


# --------------------------------------------------------------------------------------------------
# Loading.
# --------------------------------------------------------------------------------------------------


def layout_names() -> list[str]:
    """Names of the shipped layouts (``data/vectors/*.yaml``), sorted.

    Listed afresh on every call (a directory listing costs less than a key for it), so a layout file
    added during a session is seen at once.
    """
    return sorted(p.stem for p in data_path(_VECTORS_DIR).glob("*.yaml"))


def layout_path(name: str) -> Path:
    """The file of a layout given by name (``"linux-6.12"``) or YAML path; ValidationError if unknown.

    Caches of values computed from a layout put :func:`layout_key` in their key, so an edited layout
    file is read again.
    """
    if not isinstance(name, str) or not name:
        raise ValidationError(
            "layout name", name, f"one of {', '.join(layout_names())} or a path to a .yaml file"
        )
    if name.endswith((".yaml", ".yml")) or "/" in name or "\\" in name:
        return Path(name).resolve()
    path = data_path(_VECTORS_DIR, f"{name}.yaml")
    if not is_file(path):
        raise ValidationError(
            "layout name", name, f"one of {', '.join(layout_names())} or a path to a .yaml file"
        )
    return path.resolve()


def layout_key(name: str) -> tuple[tuple[str, int, int], ...]:
    """:func:`tdxlib.cache.stat_key` of a layout's file (name or YAML path), for the key of a cache of
    anything computed from the layout: an edited file gives a new key. Cheaper than
    :func:`layout_path` (no path resolution); an unknown name gives a key that marks the file missing.
    """
    if not isinstance(name, str) or name.endswith((".yaml", ".yml")) or "/" in name or "\\" in name:
        return stat_key(str(name))
    return stat_key(data_path(_VECTORS_DIR, f"{name}.yaml"))


def layout_switches(name: str) -> dict[str, Switch]:
    """The switches of a layout (name or path) with their kind, default and help."""
    return dict(read_spec(layout_path(name)).switches)


def load_layout(name: str, **config: bool) -> VectorLayout:
    """Load a layout by name (or YAML path) with config switch overrides, e.g. ``INTEL_TDX_GUEST=False``.

    Layouts are cached per parsed file and config (a file edited on disk is parsed again); the object
    returned is shared between callers, which is safe because it is immutable (frozen, read-only maps).
    """
    spec = read_spec(layout_path(name))
    for key, value in config.items():
        if key not in spec.switches:
            raise ValidationError(f"config switch of {spec.name}", key, f"one of {', '.join(spec.switches)}")
        if not isinstance(value, bool):
            raise ValidationError(f"config switch {key}", value, "True or False")
    return _build_layout(spec, tuple(sorted(config.items())))


def _named_vectors(spec: _Spec, effective: Mapping[str, bool]) -> list[NamedVector]:
    """Every entry of ``spec`` under ``effective``; two defined vectors may not share a number."""
    named: list[NamedVector] = []
    by_value: dict[int, _Entry] = {}
    for e in spec.entries:
        defined = e.defined(effective)
        if defined and e.role != "exception":
            other = by_value.get(e.vector)
            if other is not None:
                raise DataError(
                    f"{e.name} and {other.name} are both defined as vector {e.vector:#x} with this config",
                    spec.path,
                    e.line,
                )
            by_value[e.vector] = e
        named.append(
            NamedVector(
                e.name, e.vector, e.role, defined, defined and e.system_bit(effective), e.how, e.sources
            )
        )
    return named


def _first_system_vector(spec: _Spec, effective: Mapping[str, bool], named: list[NamedVector]) -> int:
    """FIRST_SYSTEM_VECTOR: the value of the first case whose condition holds (the #if chain)."""
    nr_vectors = spec.constants["NR_VECTORS"]
    first_ext = spec.constants["FIRST_EXTERNAL_VECTOR"]
    for c, val, kline in spec.fsv_cases:
        if not c(effective):
            continue
        if isinstance(val, int):
            fsv = val
        elif val in spec.constants:
            fsv = spec.constants[val]
        else:
            target = next(nv for nv in named if nv.name == val)
            if not target.defined:
                raise DataError(
                    f"FIRST_SYSTEM_VECTOR = {val}, which is not defined with this config", spec.path, kline
                )
            fsv = target.vector
        if not first_ext < fsv <= nr_vectors:
            raise DataError(
                f"FIRST_SYSTEM_VECTOR = {fsv:#x} is out of range; "
                f"expected {first_ext + 1:#x}..{nr_vectors:#x}",
                spec.path,
                kline,
            )
        return fsv
    raise AssertionError("the last FIRST_SYSTEM_VECTOR case is unconditional (validated)")


@memo(maxsize=256)
def _build_layout(spec: _Spec, overrides: tuple[tuple[str, bool], ...]) -> VectorLayout:
    """The layout of ``spec`` under the (validated) switch overrides; cached, the result is immutable.

    ``spec`` is hashed by identity and re-parsed when its file changes, so the key follows the file.
    """
    config = dict(overrides)
    effective = {k: config.get(k, sw.default) for k, sw in spec.switches.items()}
    named = _named_vectors(spec, effective)
    fsv = _first_system_vector(spec, effective, named)
    nr_vectors = spec.constants["NR_VECTORS"]
    first_ext = spec.constants["FIRST_EXTERNAL_VECTOR"]
    syscall = next(nv for nv in named if nv.role == "syscall")
    constants = dict(spec.constants)
    constants["FIRST_SYSTEM_VECTOR"] = fsv
    constants["NR_EXTERNAL_VECTORS"] = fsv - first_ext
    constants["NR_SYSTEM_VECTORS"] = nr_vectors - fsv
    return VectorLayout(
        name=spec.name,
        kernel=spec.kernel,
        config=MappingProxyType(effective),
        NR_VECTORS=nr_vectors,
        FIRST_EXTERNAL_VECTOR=first_ext,
        FIRST_SYSTEM_VECTOR=fsv,
        IA32_SYSCALL_VECTOR=syscall.vector,
        title=spec.title,
        path=spec.path,
        ISA_IRQ_VECTOR_BASE=spec.constants["ISA_IRQ_VECTOR_BASE"],
        NR_IRQS_LEGACY=spec.constants["NR_IRQS_LEGACY"],
        PIC_CASCADE_IR=spec.constants["PIC_CASCADE_IR"],
        switches=spec.switches,
        defaults_represent=spec.represents,
        sources=spec.sources,
        named=tuple(named),
        constants=MappingProxyType(constants),
    )
