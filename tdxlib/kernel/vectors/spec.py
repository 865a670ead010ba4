"""One layout file of ``data/vectors/``, read and validated: everything that does not depend on the config.

The file's shape is :class:`LayoutFile` (a pydantic model: ``tdxlib schema vector-layout``); what no
shape can say — switches declared before use, constants that agree as ``irq_vectors.h`` derives them,
vectors in their range, names unique, sources cited — is checked after it. A :class:`_Spec` holds the
file's switches, constants, the ``FIRST_SYSTEM_VECTOR`` cases and the named vectors with their
conditions; :mod:`~tdxlib.kernel.vectors.layout` evaluates it for one switch combination. Every error
is a DataError naming the file, the line and the field. :func:`read_spec` parses a file once per
version on disk (its key holds the file's size and modification time).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from tdxlib.cache import memo, stat_key
from tdxlib.data import load_yaml
from tdxlib.errors import DataError, ValidationError
from tdxlib.kernel.vectors.kconfig import _ALWAYS, NAME_RE, _Cond, _parse_condition
from tdxlib.models import Model, line_for, validate
from tdxlib.values import AnyOf, Bool, Int, Str, Text

__all__ = ["LayoutFile", "Switch", "read_spec"]

_REQUIRED_CONSTANTS = (
    "NR_VECTORS",
    "FIRST_EXTERNAL_VECTOR",
    "ISA_IRQ_VECTOR_BASE",
    "NR_IRQS_LEGACY",
    "PIC_CASCADE_IR",
    "FIRST_SYSTEM_VECTOR",
)

#: A FIRST_SYSTEM_VECTOR case: (condition, value or vector name, line).
_FsvCase = tuple[_Cond, int | str, int | None]

# --------------------------------------------------------------------------------------------------
# The file's shape
# --------------------------------------------------------------------------------------------------

Sources = Annotated[
    Str | Annotated[list[Str], Field(min_length=1)], AnyOf("a key of `sources:` or a non-empty list of them")
]
Condition = Annotated[
    Str | Bool, AnyOf("a condition: always, never, a switch, or not/and/or of them with parentheses")
]
Value = Annotated[Int, Field(ge=0, le=1 << 16)]


class SwitchEntry(Model):
    """``switches.NAME``: a Kconfig option or a run-time fact, and what it changes."""

    kind: Literal["kconfig", "runtime"]
    help: Text


class Defaults(Model):
    """``defaults``: which machine the default config stands for, and a value for every switch."""

    represents: Text
    config: dict[Str, Bool]


class FsvCaseEntry(Model):
    """One case of ``FIRST_SYSTEM_VECTOR`` (an ``#if``/``#elif``/``#else`` chain)."""

    config: Condition | None = None
    value: Annotated[Value | Str, AnyOf("an integer or the name of a vector")]


class Constant(Model):
    """``constants.NAME``: a value with its source; ``FIRST_SYSTEM_VECTOR`` has ``cases`` instead."""

    value: Value | None = None
    cases: Annotated[list[FsvCaseEntry], Field(min_length=1)] | None = None
    source: Sources
    note: Str = ""

    @model_validator(mode="after")
    def _value_or_cases(self) -> Constant:
        if (self.value is None) == (self.cases is None):
            raise ValidationError("value", self.value, "a value, or `cases:` for FIRST_SYSTEM_VECTOR")
        return self


class ExceptionVector(Model):
    """``exceptions[i]``: a trap vector below FIRST_EXTERNAL_VECTOR."""

    name: Str
    vector: Int
    system_bit: Condition = "never"
    source: Sources
    note: Str = ""


class NamedVectorEntry(Model):
    """``vectors[i]``: a vector of ``irq_vectors.h``, when it is defined and when its bit is set."""

    name: Str
    value: Int
    role: Literal["system", "syscall"] = "system"
    defined: Condition = "always"
    system_bit: Condition = "never"
    how: Str = ""
    source: Sources
    note: Str = ""


class LayoutFile(Model):
    """A file of ``data/vectors/`` (format: data/vectors/README.md)."""

    name: Text
    kernel: Text
    title: Text
    sources: Annotated[dict[Str, Text], Field(min_length=1)]
    switches: dict[Str, SwitchEntry]
    defaults: Defaults
    constants: dict[Str, Constant]
    exceptions: list[ExceptionVector]
    vectors: list[NamedVectorEntry]


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
    fsv_cases: tuple[_FsvCase, ...]
    fsv_line: int | None
    entries: tuple[_Entry, ...]


# --------------------------------------------------------------------------------------------------
# What the shape cannot say, checked in the order the file reads
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    """The file being checked: its path, the raw mapping (for lines), sources, switches, constants."""

    path: Path
    raw: Any
    sources: Mapping[str, str]
    switches: Mapping[str, Switch]
    constants: Mapping[str, int]

    def line(self, *loc: str | int) -> int | None:
        return line_for(self.raw, loc)

    def error(self, message: str, *loc: str | int) -> DataError:
        return DataError(message, self.path, self.line(*loc))


def _int(obj: int, what: str, ctx: _Context, line: int | None, lo: int, hi: int) -> int:
    if not lo <= obj <= hi:
        raise DataError(f"{what} = {obj:#x} is out of range; expected {lo:#x}..{hi:#x}", ctx.path, line)
    return obj


def _sources(raw: str | Sequence[str], what: str, ctx: _Context, line: int | None) -> tuple[str, ...]:
    keys = [raw] if isinstance(raw, str) else list(raw)
    for key in keys:
        if key not in ctx.sources:
            raise DataError(
                f"{what}: unknown source {key!r}; known sources: {', '.join(sorted(ctx.sources))}",
                ctx.path,
                line,
            )
    return tuple(keys)


def _condition(raw: str | bool, what: str, line: int | None, ctx: _Context) -> _Cond:
    """A condition that may use only the declared switches."""
    c = _parse_condition(raw, ctx.path, line)
    unknown = sorted(c.names - ctx.switches.keys())
    if unknown:
        raise DataError(
            f"{what}: condition {c.text!r} uses undeclared switch(es) {', '.join(unknown)}; "
            f"declared: {', '.join(ctx.switches)}",
            ctx.path,
            line,
        )
    return c


def _switches(doc: LayoutFile, path: Path, raw: Any) -> dict[str, Switch]:
    """``switches:`` with their values in ``defaults.config`` (one for every switch, no others)."""
    switches: dict[str, Switch] = {}
    config = doc.defaults.config
    for sname, sw in doc.switches.items():
        sline = line_for(raw, ("switches", sname))
        if not NAME_RE.match(sname) or sname in ("always", "never"):
            raise DataError(f"switch name {sname!r} must be UPPER_CASE like a Kconfig symbol", path, sline)
        if sname not in config:
            raise DataError(
                f"switch {sname!r} has no value in defaults.config",
                path,
                line_for(raw, ("defaults", "config")),
            )
        switches[sname] = Switch(sname, sw.kind, config[sname], sw.help)
    for dname in config:
        if dname not in switches:
            raise DataError(
                f"defaults.config.{dname} is not a declared switch; switches: {', '.join(switches)}",
                path,
                line_for(raw, ("defaults", "config", dname)),
            )
    return switches


def _fsv_cases(const: Constant, ctx: _Context) -> list[_FsvCase]:
    """``FIRST_SYSTEM_VECTOR.cases``: an #if/#elif/#else chain, the last case unconditional."""
    cases = const.cases
    if cases is None:
        raise ctx.error("FIRST_SYSTEM_VECTOR must give `cases:`", "constants", "FIRST_SYSTEM_VECTOR")
    out: list[_FsvCase] = []
    for i, case in enumerate(cases):
        kline = ctx.line("constants", "FIRST_SYSTEM_VECTOR", "cases", i)
        is_last = i == len(cases) - 1
        if is_last and case.config is not None:
            raise DataError(
                "the last FIRST_SYSTEM_VECTOR case must have no `config:` (the #else)", ctx.path, kline
            )
        if not is_last and case.config is None:
            raise DataError("only the last FIRST_SYSTEM_VECTOR case may omit `config:`", ctx.path, kline)
        c = (
            _condition(case.config, "FIRST_SYSTEM_VECTOR case", kline, ctx)
            if case.config is not None
            else _ALWAYS
        )
        out.append((c, case.value, kline))
    return out


def _constants(
    doc: LayoutFile, ctx: _Context
) -> tuple[dict[str, int], dict[str, tuple[str, ...]], list[_FsvCase]]:
    """``constants:``: plain values with their sources, and the FIRST_SYSTEM_VECTOR cases."""
    for req in _REQUIRED_CONSTANTS:
        if req not in doc.constants:
            raise ctx.error(f"constants: missing {req}", "constants")
    constants: dict[str, int] = {}
    constant_sources: dict[str, tuple[str, ...]] = {}
    fsv_cases: list[_FsvCase] = []
    for cname, const in doc.constants.items():
        cline = ctx.line("constants", cname)
        if not NAME_RE.match(cname):
            raise DataError(f"constant name {cname!r} must be UPPER_CASE", ctx.path, cline)
        if cname == "FIRST_SYSTEM_VECTOR":
            fsv_cases.extend(_fsv_cases(const, ctx))
        elif const.value is None:
            raise DataError(f"constants.{cname}: `cases:` are for FIRST_SYSTEM_VECTOR only", ctx.path, cline)
        else:
            constants[cname] = const.value
        constant_sources[cname] = _sources(const.source, f"constants.{cname}", ctx, cline)
    return constants, constant_sources, fsv_cases


def _check_constants(constants: Mapping[str, int], ctx: _Context) -> None:
    """The constants agree with each other as irq_vectors.h derives them."""
    nr_vectors = constants["NR_VECTORS"]
    if not 64 <= nr_vectors <= 256:
        raise ctx.error(
            f"NR_VECTORS = {nr_vectors} is out of range; expected 64..256", "constants", "NR_VECTORS"
        )
    first_ext = constants["FIRST_EXTERNAL_VECTOR"]
    if not 1 <= first_ext < nr_vectors:
        raise ctx.error(
            f"FIRST_EXTERNAL_VECTOR = {first_ext:#x} must lie in 1..NR_VECTORS-1",
            "constants",
            "FIRST_EXTERNAL_VECTOR",
        )
    isa_base = constants["ISA_IRQ_VECTOR_BASE"]
    if isa_base != ((first_ext + 16) & ~15):
        raise ctx.error(
            f"ISA_IRQ_VECTOR_BASE = {isa_base:#x} disagrees with ((FIRST_EXTERNAL_VECTOR + 16) & ~15) = "
            f"{(first_ext + 16) & ~15:#x}",
            "constants",
            "ISA_IRQ_VECTOR_BASE",
        )
    nr_legacy = constants["NR_IRQS_LEGACY"]
    if not 0 <= nr_legacy <= 16 or isa_base + nr_legacy > nr_vectors:
        raise ctx.error(
            f"NR_IRQS_LEGACY = {nr_legacy} is out of range; expected 0..16", "constants", "NR_IRQS_LEGACY"
        )
    if not 0 <= constants["PIC_CASCADE_IR"] < 16:
        raise ctx.error("PIC_CASCADE_IR must lie in 0..15", "constants", "PIC_CASCADE_IR")


def _entry(
    block: str, i: int, e: ExceptionVector | NamedVectorEntry, seen: dict[str, int | None], ctx: _Context
) -> _Entry:
    """``exceptions[i]`` or ``vectors[i]``: a unique name, its vector in range, its conditions."""
    iline = ctx.line(block, i)
    if not NAME_RE.match(e.name):
        raise DataError(f"{block}[{i}].name {e.name!r} must be UPPER_CASE", ctx.path, iline)
    if e.name in seen:
        raise DataError(f"duplicate name {e.name!r} (first on line {seen[e.name]})", ctx.path, iline)
    seen[e.name] = iline
    first_ext, nr_vectors = ctx.constants["FIRST_EXTERNAL_VECTOR"], ctx.constants["NR_VECTORS"]
    if isinstance(e, ExceptionVector):
        vec = _int(e.vector, e.name, ctx, ctx.line(block, i, "vector"), 0, first_ext - 1)
        role, defined, how = "exception", _ALWAYS, "idt tables"
    else:
        vec = _int(e.value, e.name, ctx, ctx.line(block, i, "value"), first_ext, nr_vectors - 1)
        role, how = e.role, e.how.strip()
        defined = _condition(e.defined, f"{e.name}.defined", ctx.line(block, i, "defined"), ctx)
    sysbit = _condition(e.system_bit, f"{e.name}.system_bit", ctx.line(block, i, "system_bit"), ctx)
    srcs = _sources(e.source, e.name, ctx, ctx.line(block, i, "source"))
    return _Entry(e.name, vec, role, defined, sysbit, how, srcs, iline)


def _check_references(
    entries: list[_Entry], seen: Mapping[str, int | None], fsv_cases: list[_FsvCase], ctx: _Context
) -> None:
    """One IA32_SYSCALL_VECTOR, and every FIRST_SYSTEM_VECTOR case names a known vector."""
    syscall = [e for e in entries if e.role == "syscall"]
    if len(syscall) != 1 or syscall[0].name != "IA32_SYSCALL_VECTOR":
        raise ctx.error(
            "vectors must contain exactly one role: syscall entry, named IA32_SYSCALL_VECTOR", "vectors"
        )
    for _, val, kline in fsv_cases:
        if isinstance(val, str) and val not in seen:
            raise DataError(f"FIRST_SYSTEM_VECTOR case refers to unknown name {val!r}", ctx.path, kline)


def _parse_spec(path: Path) -> _Spec:
    """Read and validate one layout file (everything that does not depend on the config)."""
    raw = load_yaml(path)
    doc = validate(LayoutFile, raw, path, what="a layout file")
    if doc.name != path.stem:
        raise DataError(
            f"name {doc.name!r} must equal the file name stem {path.stem!r}", path, line_for(raw, ("name",))
        )
    switches = _switches(doc, path, raw)
    ctx = _Context(path, raw, dict(doc.sources), switches, {})
    constants, constant_sources, fsv_cases = _constants(doc, ctx)
    _check_constants(constants, ctx)
    ctx = _Context(path, raw, dict(doc.sources), switches, constants)
    seen: dict[str, int | None] = {k: ctx.line("constants", k) for k in doc.constants}
    entries = [_entry("exceptions", i, e, seen, ctx) for i, e in enumerate(doc.exceptions)]
    entries += [_entry("vectors", i, e, seen, ctx) for i, e in enumerate(doc.vectors)]
    _check_references(entries, seen, fsv_cases, ctx)
    return _Spec(
        path=path,
        name=doc.name,
        kernel=doc.kernel,
        title=doc.title,
        sources=MappingProxyType(dict(doc.sources)),
        switches=MappingProxyType(switches),
        represents=doc.defaults.represents,
        constants=MappingProxyType(constants),
        constant_sources=MappingProxyType(constant_sources),
        fsv_cases=tuple(fsv_cases),
        fsv_line=ctx.line("constants", "FIRST_SYSTEM_VECTOR"),
        entries=tuple(entries),
    )


# --------------------------------------------------------------------------------------------------
# Reading a file once per version on disk.
# --------------------------------------------------------------------------------------------------


def read_spec(path: Path) -> _Spec:
    """The parsed layout file at ``path``, parsed again when its size or modification time changes."""
    try:
        path.stat()
    except FileNotFoundError:
        raise DataError("file not found", path) from None
    except (OSError, ValueError) as exc:  # a name no file can have (too long, a NUL)
        raise DataError(f"cannot read the file: {getattr(exc, 'strerror', None) or exc}", path) from None
    return _spec_of(path, stat_key(path))


@memo(maxsize=64)
def _spec_of(path: Path, key: tuple[tuple[str, int, int], ...]) -> _Spec:
    """Parsed once per ``key`` (the file's stat_key); the _Spec is frozen, its maps read-only."""
    del key  # part of the cache key only
    return _parse_spec(path)
