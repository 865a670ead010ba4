"""One layout file of ``data/vectors/``, read and validated: everything that does not depend on the config.

A :class:`_Spec` holds the file's switches, constants, the ``FIRST_SYSTEM_VECTOR`` cases and the
named vectors with their conditions; :mod:`~tdxlib.kernel.vectors.layout` evaluates it for one switch
combination. Every error is a DataError naming the file, the line and the field. :func:`read_spec`
parses a file once per version on disk (its key holds the file's size and modification time).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from tdxlib.cache import memo, stat_key
from tdxlib.data import LineDict, LineList, load_yaml
from tdxlib.errors import DataError
from tdxlib.kernel.vectors.kconfig import _ALWAYS, _NEVER, NAME_RE, _Cond, _parse_condition

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

#: A FIRST_SYSTEM_VECTOR case: (condition, value or vector name, line).
_FsvCase = tuple[_Cond, int | str, int | None]


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
# Field readers: each raises a DataError naming the file, the line and the field.
# --------------------------------------------------------------------------------------------------


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


def _condition(raw: object, what: str, line: int | None, path: Path, switches: Mapping[str, Switch]) -> _Cond:
    """A condition that may use only the declared switches."""
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


# --------------------------------------------------------------------------------------------------
# The file's blocks, in the order they are validated.
# --------------------------------------------------------------------------------------------------


def _header(top: LineDict, path: Path) -> tuple[str, str, str, dict[str, str]]:
    """name (the file's stem), kernel, title and the ``sources:`` map."""
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
    return name, kernel, title, sources


def _switch(sname: object, sval: object, raw_defaults: LineDict, sline: int | None, path: Path) -> Switch:
    """One entry of ``switches:`` with its value in ``defaults.config``."""
    if not isinstance(sname, str) or not NAME_RE.match(sname) or sname in ("always", "never"):
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
    return Switch(sname, str(kind), default, _str(sd["help"], f"switches.{sname}.help", path, sline))


def _switches(top: LineDict, path: Path) -> tuple[dict[str, Switch], str]:
    """``switches:`` and ``defaults:`` (what the defaults represent, a value for every switch)."""
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
        switches[sname] = _switch(sname, sval, raw_defaults, _line(raw_switches, sname), path)
    for dname in raw_defaults:
        if dname not in switches:
            raise DataError(
                f"defaults.config.{dname} is not a declared switch; switches: {', '.join(switches)}",
                path,
                _line(raw_defaults, dname),
            )
    return switches, represents


def _fsv_cases(cd: LineDict, path: Path, switches: Mapping[str, Switch]) -> list[_FsvCase]:
    """``FIRST_SYSTEM_VECTOR.cases``: an #if/#elif/#else chain, the last case unconditional."""
    _check_keys(cd, {"cases", "source", "note"}, {"cases", "source"}, "constants.FIRST_SYSTEM_VECTOR", path)
    cases = cd["cases"]
    if not isinstance(cases, LineList) or not cases:
        raise DataError("FIRST_SYSTEM_VECTOR.cases must be a non-empty list", path, _line(cd, "cases"))
    out: list[_FsvCase] = []
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
        c = (
            _condition(kd["config"], "FIRST_SYSTEM_VECTOR case", kline, path, switches)
            if "config" in kd
            else _ALWAYS
        )
        val = kd["value"]
        if not isinstance(val, (int, str)) or isinstance(val, bool):
            raise DataError(
                f"FIRST_SYSTEM_VECTOR case value must be an int or a vector name, got {val!r}",
                path,
                kline,
            )
        out.append((c, val, kline))
    return out


def _constants(
    raw_consts: LineDict, path: Path, sources: Mapping[str, str], switches: Mapping[str, Switch]
) -> tuple[dict[str, int], dict[str, tuple[str, ...]], list[_FsvCase]]:
    """``constants:``: plain values with their sources, and the FIRST_SYSTEM_VECTOR cases."""
    for req in _REQUIRED_CONSTANTS:
        if req not in raw_consts:
            raise DataError(f"constants: missing {req}", path, raw_consts.line)
    constants: dict[str, int] = {}
    constant_sources: dict[str, tuple[str, ...]] = {}
    fsv_cases: list[_FsvCase] = []
    for cname, cval in raw_consts.items():
        cline = _line(raw_consts, cname)
        if not isinstance(cname, str) or not NAME_RE.match(cname):
            raise DataError(f"constant name {cname!r} must be UPPER_CASE", path, cline)
        cd = _mapping(cval, f"constants.{cname}", path, cline)
        if cname == "FIRST_SYSTEM_VECTOR":
            fsv_cases.extend(_fsv_cases(cd, path, switches))
        else:
            _check_keys(cd, {"value", "source", "note"}, {"value", "source"}, f"constants.{cname}", path)
            constants[cname] = _int(cd["value"], f"constants.{cname}", path, cline, 0, 1 << 16)
        constant_sources[cname] = _sources(cd["source"], sources, f"constants.{cname}", path, cline)
    return constants, constant_sources, fsv_cases


def _check_constants(constants: Mapping[str, int], raw_consts: LineDict, path: Path) -> None:
    """The constants agree with each other as irq_vectors.h derives them."""
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


@dataclass(frozen=True)
class _Context:
    """What reading one named vector needs from the rest of the file."""

    path: Path
    sources: Mapping[str, str]
    switches: Mapping[str, Switch]
    first_ext: int
    nr_vectors: int


def _entry_keys(d: LineDict, block: str, i: int, path: Path) -> str:
    """Check the keys of ``exceptions[i]`` / ``vectors[i]``; returns the key holding the vector number."""
    if block == "exceptions":
        _check_keys(
            d,
            {"name", "vector", "system_bit", "source", "note"},
            {"name", "vector", "source"},
            f"{block}[{i}]",
            path,
        )
        return "vector"
    _check_keys(
        d,
        {"name", "value", "role", "defined", "system_bit", "how", "source", "note"},
        {"name", "value", "source"},
        f"{block}[{i}]",
        path,
    )
    return "value"


def _entry(
    block: str, i: int, d: LineDict, iline: int | None, seen: dict[str, int | None], ctx: _Context
) -> _Entry:
    """``exceptions[i]`` or ``vectors[i]``: a unique name, its vector in range, role and conditions."""
    path = ctx.path
    value_key = _entry_keys(d, block, i, path)
    ename = _str(d["name"], f"{block}[{i}].name", path, iline)
    if not NAME_RE.match(ename):
        raise DataError(f"{block}[{i}].name {ename!r} must be UPPER_CASE", path, iline)
    if ename in seen:
        raise DataError(f"duplicate name {ename!r} (first on line {seen[ename]})", path, iline)
    seen[ename] = iline
    hi = ctx.first_ext - 1 if block == "exceptions" else ctx.nr_vectors - 1
    lo = 0 if block == "exceptions" else ctx.first_ext
    vec = _int(d[value_key], f"{ename}", path, _line(d, value_key), lo, hi)
    role = d.get("role", "exception" if block == "exceptions" else "system")
    if block == "vectors" and role not in ("system", "syscall"):
        raise DataError(f"{ename}: role {role!r}; expected 'system' or 'syscall'", path, _line(d, "role"))
    defined = (
        _condition(d["defined"], f"{ename}.defined", _line(d, "defined"), path, ctx.switches)
        if "defined" in d
        else _ALWAYS
    )
    sysbit = (
        _condition(d["system_bit"], f"{ename}.system_bit", _line(d, "system_bit"), path, ctx.switches)
        if "system_bit" in d
        else _NEVER
    )
    how = str(d.get("how", "idt tables" if block == "exceptions" else "")).strip()
    srcs = _sources(d["source"], ctx.sources, ename, path, _line(d, "source"))
    return _Entry(ename, vec, str(role), defined, sysbit, how, srcs, iline)


def _entries(top: LineDict, seen: dict[str, int | None], ctx: _Context) -> list[_Entry]:
    """``exceptions:`` then ``vectors:``; names must be unique among them and the constants."""
    entries: list[_Entry] = []
    for block in ("exceptions", "vectors"):
        items = top[block]
        if not isinstance(items, LineList):
            raise DataError(f"{block} must be a list", ctx.path, _line(top, block))
        for i, item in enumerate(items):
            iline = _item_line(items, i)
            d = _mapping(item, f"{block}[{i}]", ctx.path, iline)
            entries.append(_entry(block, i, d, iline, seen, ctx))
    return entries


def _check_references(
    entries: list[_Entry],
    seen: Mapping[str, int | None],
    fsv_cases: list[_FsvCase],
    top: LineDict,
    path: Path,
) -> None:
    """One IA32_SYSCALL_VECTOR, and every FIRST_SYSTEM_VECTOR case names a known vector."""
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


def _parse_spec(path: Path) -> _Spec:
    """Read and validate one layout file (everything that does not depend on the config)."""
    doc = load_yaml(path)
    top = _mapping(doc, "layout file", path, getattr(doc, "line", 1))
    _check_keys(top, _TOP_KEYS, _TOP_KEYS, "layout file", path)
    name, kernel, title, sources = _header(top, path)
    switches, represents = _switches(top, path)
    raw_consts = _mapping(top["constants"], "constants", path, _line(top, "constants"))
    constants, constant_sources, fsv_cases = _constants(raw_consts, path, sources, switches)
    _check_constants(constants, raw_consts, path)
    ctx = _Context(path, sources, switches, constants["FIRST_EXTERNAL_VECTOR"], constants["NR_VECTORS"])
    seen: dict[str, int | None] = {k: _line(raw_consts, k) for k in raw_consts}
    entries = _entries(top, seen, ctx)
    _check_references(entries, seen, fsv_cases, top, path)
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
        fsv_line=_line(raw_consts, "FIRST_SYSTEM_VECTOR"),
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
    return _spec_of(path, stat_key(path))


@memo(maxsize=64)
def _spec_of(path: Path, key: tuple[tuple[str, int, int], ...]) -> _Spec:
    """Parsed once per ``key`` (the file's stat_key); the _Spec is frozen, its maps read-only."""
    del key  # part of the cache key only
    return _parse_spec(path)
