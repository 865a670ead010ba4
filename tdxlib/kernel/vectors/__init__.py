"""The x86 IDT vector space of a Linux kernel version and config, loaded from ``data/vectors/*.yaml``.

A layout answers the questions the 2022 review argued about: which vectors are exceptions, which are
named system vectors (``arch/x86/include/asm/irq_vectors.h``) and which of those the kernel really sets
in its ``system_vectors`` bitmap (``arch/x86/kernel/idt.c``), where ``FIRST_SYSTEM_VECTOR`` lies, and how
many vectors each CPU has left for devices once ``lapic_assign_system_vectors()``
(``arch/x86/kernel/apic/vector.c``) has fed the per-CPU allocator. Kernel versions are data files;
Kconfig options and run-time facts (which hypervisor allocated a callback vector) are boolean
*switches* of a layout, overridable in :func:`load_layout`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from tdxlib.data import LineDict, LineList, data_path, load_yaml
from tdxlib.errors import DataError, ValidationError

if TYPE_CHECKING:
    from tdxlib.kernel.matrix import IrqMatrix

__all__ = [
    "ROLES",
    "NamedVector",
    "Switch",
    "VectorLayout",
    "layout_names",
    "layout_switches",
    "load_layout",
]

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

_VECTORS_DIR = "vectors"
_NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")
_KINDS = ("kconfig", "runtime")
_TOP_KEYS = {
    "name",
    "kernel",
    "title",
    "sources",
    "switches",
    "defaults",
    "constants",
    "exceptions",
    "vectors",
}
_REQUIRED_CONSTANTS = (
    "NR_VECTORS",
    "FIRST_EXTERNAL_VECTOR",
    "ISA_IRQ_VECTOR_BASE",
    "NR_IRQS_LEGACY",
    "PIC_CASCADE_IR",
    "FIRST_SYSTEM_VECTOR",
)


# --------------------------------------------------------------------------------------------------
# Conditions: "always", "never", SWITCH, not/and/or, parentheses.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cond:
    """A parsed boolean condition over a layout's switches."""

    text: str
    names: frozenset[str]
    fn: Callable[[Mapping[str, bool]], bool] = field(compare=False, repr=False)

    def __call__(self, config: Mapping[str, bool]) -> bool:
        return self.fn(config)


_ALWAYS = _Cond("always", frozenset(), lambda c: True)
_NEVER = _Cond("never", frozenset(), lambda c: False)
_TOKEN_RE = re.compile(r"\s*(\(|\)|[A-Za-z_][A-Za-z0-9_]*)")


def _parse_condition(raw: object, path: Path, line: int | None) -> _Cond:
    """Parse a condition text (or a YAML bool) into a :class:`_Cond`; DataError names file and line."""
    if raw is True:
        return _ALWAYS
    if raw is False:
        return _NEVER
    if not isinstance(raw, str) or not raw.strip():
        raise DataError(f"condition must be a non-empty string or a bool, got {raw!r}", path, line)
    text = raw.strip()
    tokens: list[str] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            if text[pos:].strip() == "":
                break
            raise DataError(f"condition {text!r}: unexpected character {text[pos:].strip()[0]!r}", path, line)
        tokens.append(m.group(1))
        pos = m.end()
    names: set[str] = set()
    idx = 0

    def peek() -> str | None:
        return tokens[idx] if idx < len(tokens) else None

    def take() -> str:
        nonlocal idx
        if idx >= len(tokens):
            raise DataError(f"condition {text!r}: ends too early", path, line)
        tok = tokens[idx]
        idx += 1
        return tok

    def expr() -> Callable[[Mapping[str, bool]], bool]:
        parts = [term()]
        while peek() == "or":
            take()
            parts.append(term())
        if len(parts) == 1:
            return parts[0]
        return lambda c: any(p(c) for p in parts)

    def term() -> Callable[[Mapping[str, bool]], bool]:
        parts = [factor()]
        while peek() == "and":
            take()
            parts.append(factor())
        if len(parts) == 1:
            return parts[0]
        return lambda c: all(p(c) for p in parts)

    def factor() -> Callable[[Mapping[str, bool]], bool]:
        tok = take()
        if tok == "not":
            inner = factor()
            return lambda c: not inner(c)
        if tok == "(":
            inner = expr()
            if peek() != ")":
                raise DataError(f"condition {text!r}: missing ')'", path, line)
            if take() != ")":
                raise DataError(f"condition {text!r}: missing ')'", path, line)
            return inner
        if tok == "always":
            return lambda c: True
        if tok == "never":
            return lambda c: False
        if tok in ("and", "or", ")"):
            raise DataError(f"condition {text!r}: unexpected {tok!r}", path, line)
        if not _NAME_RE.match(tok):
            raise DataError(f"condition {text!r}: {tok!r} is not a switch name (UPPER_CASE)", path, line)
        names.add(tok)
        return lambda c: bool(c[tok])

    fn = expr()
    if idx != len(tokens):
        raise DataError(f"condition {text!r}: unexpected {tokens[idx]!r}", path, line)
    return _Cond(text, frozenset(names), fn)


# --------------------------------------------------------------------------------------------------
# The parsed file (config-independent) and its validation.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Switch:
    """A layout parameter: a Kconfig option or a run-time fact, with its default and what it changes."""

    name: str
    kind: str  # "kconfig" | "runtime"
    default: bool
    help: str


@dataclass(frozen=True)
class _Entry:
    name: str
    vector: int
    role: str  # exception | system | syscall
    defined: _Cond
    system_bit: _Cond
    how: str
    sources: tuple[str, ...]
    line: int | None


@dataclass(frozen=True, eq=False)
class _Spec:
    """One parsed layout file; hashed by identity (a re-parsed file is a new key of the layout cache)."""

    path: Path
    name: str
    kernel: str
    title: str
    sources: Mapping[str, str]
    switches: Mapping[str, Switch]
    represents: str
    constants: Mapping[str, int]
    constant_sources: Mapping[str, tuple[str, ...]]
    fsv_cases: tuple[tuple[_Cond, int | str, int | None], ...]
    fsv_line: int | None
    entries: tuple[_Entry, ...]


def _line(container: object, key: object) -> int | None:
    if isinstance(container, LineDict):
        return container.line_of(key)
    return None


def _item_line(container: object, i: int) -> int | None:
    if isinstance(container, LineList) and i < len(container.item_lines):
        return container.item_lines[i]
    return getattr(container, "line", None)


def _mapping(obj: object, what: str, path: Path, line: int | None) -> LineDict:
    if not isinstance(obj, LineDict):
        raise DataError(f"{what} must be a mapping, got {type(obj).__name__}", path, line)
    return obj


def _str(obj: object, what: str, path: Path, line: int | None) -> str:
    if not isinstance(obj, str) or not obj.strip():
        raise DataError(f"{what} must be a non-empty string, got {obj!r}", path, line)
    return obj.strip()


def _int(obj: object, what: str, path: Path, line: int | None, lo: int, hi: int) -> int:
    if isinstance(obj, bool) or not isinstance(obj, int):
        raise DataError(f"{what} must be an integer, got {obj!r}", path, line)
    if not lo <= obj <= hi:
        raise DataError(f"{what} = {obj:#x} is out of range; expected {lo:#x}..{hi:#x}", path, line)
    return obj


def _check_keys(d: LineDict, allowed: set[str], required: set[str], what: str, path: Path) -> None:
    for key in d:
        if key not in allowed:
            raise DataError(
                f"{what}: unknown key {key!r}; allowed keys: {', '.join(sorted(allowed))}",
                path,
                _line(d, key),
            )
    for key in sorted(required):
        if key not in d:
            raise DataError(f"{what}: missing key {key!r}", path, d.line)


def _sources(
    raw: object, known: Mapping[str, str], what: str, path: Path, line: int | None
) -> tuple[str, ...]:
    keys = [raw] if isinstance(raw, str) else raw
    if not isinstance(keys, list) or not keys:
        raise DataError(
            f"{what}: source must be a key of `sources:` or a list of them, got {raw!r}", path, line
        )
    for key in keys:
        if key not in known:
            raise DataError(
                f"{what}: unknown source {key!r}; known sources: {', '.join(sorted(known))}", path, line
            )
    return tuple(keys)


def _parse_spec(path: Path) -> _Spec:
    """Read and validate one layout file (everything that does not depend on the config)."""
    doc = load_yaml(path)
    top = _mapping(doc, "layout file", path, getattr(doc, "line", 1))
    _check_keys(top, _TOP_KEYS, _TOP_KEYS, "layout file", path)

    name = _str(top["name"], "name", path, _line(top, "name"))
    if name != path.stem:
        raise DataError(
            f"name {name!r} must equal the file name stem {path.stem!r}", path, _line(top, "name")
        )
    kernel = _str(top["kernel"], "kernel", path, _line(top, "kernel"))
    title = _str(top["title"], "title", path, _line(top, "title"))

    raw_sources = _mapping(top["sources"], "sources", path, _line(top, "sources"))
    sources = {str(k): _str(v, f"sources.{k}", path, _line(raw_sources, k)) for k, v in raw_sources.items()}
    if not sources:
        raise DataError("sources must not be empty", path, _line(top, "sources"))

    # switches + defaults
    raw_switches = _mapping(top["switches"], "switches", path, _line(top, "switches"))
    defaults_block = _mapping(top["defaults"], "defaults", path, _line(top, "defaults"))
    _check_keys(defaults_block, {"represents", "config"}, {"represents", "config"}, "defaults", path)
    represents = _str(
        defaults_block["represents"], "defaults.represents", path, _line(defaults_block, "represents")
    )
    raw_defaults = _mapping(
        defaults_block["config"], "defaults.config", path, _line(defaults_block, "config")
    )
    switches: dict[str, Switch] = {}
    for sname, sval in raw_switches.items():
        sline = _line(raw_switches, sname)
        if not isinstance(sname, str) or not _NAME_RE.match(sname) or sname in ("always", "never"):
            raise DataError(f"switch name {sname!r} must be UPPER_CASE like a Kconfig symbol", path, sline)
        sd = _mapping(sval, f"switches.{sname}", path, sline)
        _check_keys(sd, {"kind", "help"}, {"kind", "help"}, f"switches.{sname}", path)
        kind = sd["kind"]
        if kind not in _KINDS:
            raise DataError(
                f"switches.{sname}.kind = {kind!r}; expected one of {', '.join(_KINDS)}",
                path,
                _line(sd, "kind"),
            )
        if sname not in raw_defaults:
            raise DataError(f"switch {sname!r} has no value in defaults.config", path, raw_defaults.line)
        default = raw_defaults[sname]
        if not isinstance(default, bool):
            raise DataError(
                f"defaults.config.{sname} must be true or false, got {default!r}",
                path,
                _line(raw_defaults, sname),
            )
        switches[sname] = Switch(
            sname, str(kind), default, _str(sd["help"], f"switches.{sname}.help", path, sline)
        )
    for dname in raw_defaults:
        if dname not in switches:
            raise DataError(
                f"defaults.config.{dname} is not a declared switch; switches: {', '.join(switches)}",
                path,
                _line(raw_defaults, dname),
            )

    def cond(raw: object, what: str, line: int | None) -> _Cond:
        c = _parse_condition(raw, path, line)
        unknown = sorted(c.names - switches.keys())
        if unknown:
            raise DataError(
                f"{what}: condition {c.text!r} uses undeclared switch(es) {', '.join(unknown)}; "
                f"declared: {', '.join(switches)}",
                path,
                line,
            )
        return c

    # constants
    raw_consts = _mapping(top["constants"], "constants", path, _line(top, "constants"))
    for req in _REQUIRED_CONSTANTS:
        if req not in raw_consts:
            raise DataError(f"constants: missing {req}", path, raw_consts.line)
    constants: dict[str, int] = {}
    constant_sources: dict[str, tuple[str, ...]] = {}
    fsv_cases: list[tuple[_Cond, int | str, int | None]] = []
    fsv_line = _line(raw_consts, "FIRST_SYSTEM_VECTOR")
    for cname, cval in raw_consts.items():
        cline = _line(raw_consts, cname)
        if not isinstance(cname, str) or not _NAME_RE.match(cname):
            raise DataError(f"constant name {cname!r} must be UPPER_CASE", path, cline)
        cd = _mapping(cval, f"constants.{cname}", path, cline)
        if cname == "FIRST_SYSTEM_VECTOR":
            _check_keys(
                cd, {"cases", "source", "note"}, {"cases", "source"}, "constants.FIRST_SYSTEM_VECTOR", path
            )
            cases = cd["cases"]
            if not isinstance(cases, LineList) or not cases:
                raise DataError(
                    "FIRST_SYSTEM_VECTOR.cases must be a non-empty list", path, _line(cd, "cases")
                )
            for i, case in enumerate(cases):
                kline = _item_line(cases, i)
                kd = _mapping(case, f"FIRST_SYSTEM_VECTOR.cases[{i}]", path, kline)
                _check_keys(kd, {"config", "value"}, {"value"}, f"FIRST_SYSTEM_VECTOR.cases[{i}]", path)
                is_last = i == len(cases) - 1
                if is_last and "config" in kd:
                    raise DataError(
                        "the last FIRST_SYSTEM_VECTOR case must have no `config:` (the #else)", path, kline
                    )
                if not is_last and "config" not in kd:
                    raise DataError("only the last FIRST_SYSTEM_VECTOR case may omit `config:`", path, kline)
                c = cond(kd["config"], "FIRST_SYSTEM_VECTOR case", kline) if "config" in kd else _ALWAYS
                val = kd["value"]
                if not isinstance(val, (int, str)) or isinstance(val, bool):
                    raise DataError(
                        f"FIRST_SYSTEM_VECTOR case value must be an int or a vector name, got {val!r}",
                        path,
                        kline,
                    )
                fsv_cases.append((c, val, kline))
        else:
            _check_keys(cd, {"value", "source", "note"}, {"value", "source"}, f"constants.{cname}", path)
            constants[cname] = _int(cd["value"], f"constants.{cname}", path, cline, 0, 1 << 16)
        constant_sources[cname] = _sources(cd["source"], sources, f"constants.{cname}", path, cline)

    nr_vectors = constants["NR_VECTORS"]
    if not 64 <= nr_vectors <= 256:
        raise DataError(
            f"NR_VECTORS = {nr_vectors} is out of range; expected 64..256",
            path,
            _line(raw_consts, "NR_VECTORS"),
        )
    first_ext = constants["FIRST_EXTERNAL_VECTOR"]
    if not 1 <= first_ext < nr_vectors:
        raise DataError(
            f"FIRST_EXTERNAL_VECTOR = {first_ext:#x} must lie in 1..NR_VECTORS-1",
            path,
            _line(raw_consts, "FIRST_EXTERNAL_VECTOR"),
        )
    isa_base = constants["ISA_IRQ_VECTOR_BASE"]
    if isa_base != ((first_ext + 16) & ~15):
        raise DataError(
            f"ISA_IRQ_VECTOR_BASE = {isa_base:#x} disagrees with ((FIRST_EXTERNAL_VECTOR + 16) & ~15) = "
            f"{(first_ext + 16) & ~15:#x}",
            path,
            _line(raw_consts, "ISA_IRQ_VECTOR_BASE"),
        )
    nr_legacy = constants["NR_IRQS_LEGACY"]
    if not 0 <= nr_legacy <= 16 or isa_base + nr_legacy > nr_vectors:
        raise DataError(
            f"NR_IRQS_LEGACY = {nr_legacy} is out of range; expected 0..16",
            path,
            _line(raw_consts, "NR_IRQS_LEGACY"),
        )
    if not 0 <= constants["PIC_CASCADE_IR"] < 16:
        raise DataError("PIC_CASCADE_IR must lie in 0..15", path, _line(raw_consts, "PIC_CASCADE_IR"))

    # exceptions and named vectors
    entries: list[_Entry] = []
    seen: dict[str, int | None] = {k: _line(raw_consts, k) for k in raw_consts}
    for block, role_default in (("exceptions", "exception"), ("vectors", "system")):
        items = top[block]
        if not isinstance(items, LineList):
            raise DataError(f"{block} must be a list", path, _line(top, block))
        for i, item in enumerate(items):
            iline = _item_line(items, i)
            d = _mapping(item, f"{block}[{i}]", path, iline)
            if block == "exceptions":
                _check_keys(
                    d,
                    {"name", "vector", "system_bit", "source", "note"},
                    {"name", "vector", "source"},
                    f"{block}[{i}]",
                    path,
                )
                value_key = "vector"
            else:
                _check_keys(
                    d,
                    {"name", "value", "role", "defined", "system_bit", "how", "source", "note"},
                    {"name", "value", "source"},
                    f"{block}[{i}]",
                    path,
                )
                value_key = "value"
            ename = _str(d["name"], f"{block}[{i}].name", path, iline)
            if not _NAME_RE.match(ename):
                raise DataError(f"{block}[{i}].name {ename!r} must be UPPER_CASE", path, iline)
            if ename in seen:
                raise DataError(f"duplicate name {ename!r} (first on line {seen[ename]})", path, iline)
            seen[ename] = iline
            hi = first_ext - 1 if block == "exceptions" else nr_vectors - 1
            lo = 0 if block == "exceptions" else first_ext
            vec = _int(d[value_key], f"{ename}", path, _line(d, value_key), lo, hi)
            role = d.get("role", role_default)
            if block == "vectors" and role not in ("system", "syscall"):
                raise DataError(
                    f"{ename}: role {role!r}; expected 'system' or 'syscall'", path, _line(d, "role")
                )
            defined = (
                cond(d["defined"], f"{ename}.defined", _line(d, "defined")) if "defined" in d else _ALWAYS
            )
            sysbit = (
                cond(d["system_bit"], f"{ename}.system_bit", _line(d, "system_bit"))
                if "system_bit" in d
                else _NEVER
            )
            how = str(d.get("how", "idt tables" if block == "exceptions" else "")).strip()
            srcs = _sources(d["source"], sources, ename, path, _line(d, "source"))
            entries.append(_Entry(ename, vec, str(role), defined, sysbit, how, srcs, iline))

    syscall = [e for e in entries if e.role == "syscall"]
    if len(syscall) != 1 or syscall[0].name != "IA32_SYSCALL_VECTOR":
        raise DataError(
            "vectors must contain exactly one role: syscall entry, named IA32_SYSCALL_VECTOR",
            path,
            _line(top, "vectors"),
        )
    for _, val, kline in fsv_cases:
        if isinstance(val, str) and val not in seen:
            raise DataError(f"FIRST_SYSTEM_VECTOR case refers to unknown name {val!r}", path, kline)

    return _Spec(
        path=path,
        name=name,
        kernel=kernel,
        title=title,
        sources=MappingProxyType(sources),
        switches=MappingProxyType(switches),
        represents=represents,
        constants=MappingProxyType(constants),
        constant_sources=MappingProxyType(constant_sources),
        fsv_cases=tuple(fsv_cases),
        fsv_line=fsv_line,
        entries=tuple(entries),
    )


_SPEC_CACHE: dict[Path, tuple[int, _Spec]] = {}


def _spec(path: Path) -> _Spec:
    """Parse ``path`` once per modification time."""
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise DataError("file not found", path) from None
    hit = _SPEC_CACHE.get(path)
    if hit is not None and hit[0] == mtime:
        return hit[1]
    spec = _parse_spec(path)
    _SPEC_CACHE[path] = (mtime, spec)
    return spec


# --------------------------------------------------------------------------------------------------
# The public layout.
# --------------------------------------------------------------------------------------------------


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
        from tdxlib.kernel.matrix import IrqMatrix

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
    """Names of the shipped layouts (``data/vectors/*.yaml``), sorted."""
    return sorted(p.stem for p in data_path(_VECTORS_DIR).glob("*.yaml"))


def _resolve(name: str) -> Path:
    if not isinstance(name, str) or not name:
        raise ValidationError(
            "layout name", name, f"one of {', '.join(layout_names())} or a path to a .yaml file"
        )
    if name.endswith((".yaml", ".yml")) or "/" in name or "\\" in name:
        return Path(name).resolve()
    path = data_path(_VECTORS_DIR, f"{name}.yaml")
    if not path.is_file():
        raise ValidationError(
            "layout name", name, f"one of {', '.join(layout_names())} or a path to a .yaml file"
        )
    return path.resolve()


def layout_switches(name: str) -> dict[str, Switch]:
    """The switches of a layout (name or path) with their kind, default and help."""
    return dict(_spec(_resolve(name)).switches)


def load_layout(name: str, **config: bool) -> VectorLayout:
    """Load a layout by name (or YAML path) with config switch overrides, e.g. ``INTEL_TDX_GUEST=False``.

    Layouts are cached per parsed file and config (a file edited on disk is parsed again); the object
    returned is shared between callers, which is safe because it is immutable (frozen, read-only maps).
    """
    spec = _spec(_resolve(name))
    for key, value in config.items():
        if key not in spec.switches:
            raise ValidationError(f"config switch of {spec.name}", key, f"one of {', '.join(spec.switches)}")
        if not isinstance(value, bool):
            raise ValidationError(f"config switch {key}", value, "True or False")
    return _build_layout(spec, tuple(sorted(config.items())))


@functools.lru_cache(maxsize=256)
def _build_layout(spec: _Spec, overrides: tuple[tuple[str, bool], ...]) -> VectorLayout:
    """The layout of ``spec`` under the (validated) switch overrides; cached, the result is immutable."""
    config = dict(overrides)
    effective = {k: config.get(k, sw.default) for k, sw in spec.switches.items()}

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

    nr_vectors = spec.constants["NR_VECTORS"]
    first_ext = spec.constants["FIRST_EXTERNAL_VECTOR"]
    fsv: int | None = None
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
        break
    assert fsv is not None  # the last case is unconditional (validated)

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
