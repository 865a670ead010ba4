"""The facts of data/ghci/*.yaml (leaves, status codes, the GetQuote header, limits), read on first use.

Nothing is read at import: :func:`load_facts` reads and cross-checks the files when asked (a broken
file is a ``DataError`` naming file and line, raised at that first use) and is remembered under the
files' :func:`~tdxlib.cache.glob_key`, so an edited file is read again. :func:`current_facts` and
:func:`constants` are what the rest of :mod:`tdxlib.tdx.ghci` uses: the facts (and the kernel's
named constants built from them) as read at first use, read again after
:func:`tdxlib.cache.clear_all`. Everything returned is immutable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from tdxlib.cache import glob_key, memo
from tdxlib.data import data_path, load_yaml
from tdxlib.errors import DataError, ValidationError

U64_MAX = (1 << 64) - 1
U32_MAX = (1 << 32) - 1

#: The files of data/ghci/, in the order they are read (sources first: the others cite it).
FILES = ("sources", "leaves", "status", "get_quote")

_HEADER_TYPE_SIZES = {"u64": 8, "u32": 4}


@dataclass(frozen=True)
class Leaf:
    """One TDVMCALL leaf (R11) with the registers it uses, as the spec and kernel name them."""

    name: str
    constant: str
    leaf: int
    section: str
    inputs: Mapping[str, str]
    outputs: Mapping[str, str]
    sources: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class StatusCode:
    """A status value (TDVMCALL R10 status, or GetQuote header status) with its meaning and sources."""

    constant: str
    value: int
    meaning: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class HeaderField:
    """One field of the GetQuote buffer header (``struct tdx_quote_buf``)."""

    field: str
    offset: int
    type: Literal["u64", "u32"]
    filled_by: str
    note: str


@dataclass(frozen=True)
class GhciFacts:
    """Everything read from data/ghci/: leaves, status codes, buffer layout and limits."""

    sources: Mapping[str, Mapping[str, Any]]
    leaves: Mapping[str, Leaf]
    tdvmcall_status: Mapping[str, StatusCode]
    get_quote_status: Mapping[str, StatusCode]
    header: tuple[HeaderField, ...]
    header_size: int
    data_offset: int
    structure_version: int
    limits: Mapping[str, int]
    shared_bit_default: int
    shared_bit_by_gpaw: Mapping[int, int]
    vector_min: int
    vector_max: int
    get_quote_checks: tuple[tuple[str, str], ...]
    paths: Mapping[str, Path] = field(default_factory=dict)


def check_register(what: str, value: object, bits: int = 64) -> int:
    """A value that must fit a register (u64) or a narrower field; ValidationError otherwise."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(what, value, f"an integer 0..{(1 << bits) - 1:#x}")
    if not 0 <= value < (1 << bits):
        raise ValidationError(what, value, f"0..{(1 << bits) - 1:#x} (a u{bits})")
    return value


# --------------------------------------------------------------------------------------------------
# Reading data/ghci/*.yaml
# --------------------------------------------------------------------------------------------------


def _need(m: Any, key: str, kinds: type | tuple[type, ...], path: Path) -> Any:
    """``m[key]`` checked for presence and type; DataError naming the file and line otherwise."""
    if not isinstance(m, dict):
        raise DataError(f"expected a mapping holding {key!r}, got {type(m).__name__}", path)
    line = getattr(m, "line", None)
    if key not in m:
        raise DataError(f"missing key {key!r}", path, line)
    value = m[key]
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in _as_tuple(kinds))
    if not ok:
        names = "/".join(k.__name__ for k in _as_tuple(kinds))
        raise DataError(f"{key}: expected {names}, got {value!r}", path, _line(m, key))
    return value


def _line(m: Any, key: Any = None) -> int | None:
    """1-based line of ``key`` in a LineDict (of the mapping when key is None); None for plain dicts."""
    if key is not None and hasattr(m, "line_of"):
        return int(m.line_of(key)) if m.line_of(key) is not None else None
    return getattr(m, "line", None)


def _as_tuple(kinds: type | tuple[type, ...]) -> tuple[type, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def _sources(m: Any, path: Path, known: Mapping[str, Any]) -> tuple[str, ...]:
    """The ``sources`` list of ``m``; every key must be defined in sources.yaml."""
    refs = _need(m, "sources", list, path)
    lines = getattr(refs, "item_lines", [])
    for i, ref in enumerate(refs):
        if ref not in known:
            line = lines[i] if i < len(lines) else _line(m, "sources")
            raise DataError(f"sources: {ref!r} is not defined in sources.yaml", path, line)
    return tuple(refs)


def _frozen(value: Any) -> Any:
    """``value`` with every mapping made read-only and every list a tuple (facts are shared)."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def _load_leaves(p: Path, known: Mapping[str, Any]) -> dict[str, Leaf]:
    """leaves.yaml: every TDVMCALL leaf by its GHCI name."""
    leaves: dict[str, Leaf] = {}
    for name, m in _need(load_yaml(p), "leaves", dict, p).items():
        leaves[name] = Leaf(
            name=name,
            constant=_need(m, "constant", str, p),
            leaf=_need(m, "leaf", int, p),
            section=_need(m, "section", str, p),
            inputs=_frozen(_need(m, "inputs", dict, p)),
            outputs=_frozen(_need(m, "outputs", dict, p)),
            sources=_sources(m, p, known),
            note=str(m.get("note", "")),
        )
    return leaves


def _load_status(items: Any, path: Path, known: Mapping[str, Any], what: str) -> dict[str, StatusCode]:
    """One table of status.yaml (``tdvmcall`` or ``get_quote``) by kernel constant name."""
    if not isinstance(items, list):
        raise DataError(f"{what}: expected a list of status codes", path)
    out: dict[str, StatusCode] = {}
    for item in items:
        code = StatusCode(
            constant=_need(item, "constant", str, path),
            value=_need(item, "value", int, path),
            meaning=_need(item, "meaning", str, path),
            sources=_sources(item, path, known),
        )
        if not 0 <= code.value <= U64_MAX:
            raise DataError(
                f"{code.constant}: value {code.value:#x} is not a u64", path, _line(item, "value")
            )
        if code.constant in out:
            raise DataError(f"{what}: {code.constant} defined twice", path, _line(item))
        out[code.constant] = code
    return out


def _load_header(gq: Any, p: Path) -> tuple[tuple[HeaderField, ...], int]:
    """The ``header`` list of get_quote.yaml (contiguous u64/u32 fields) and its ``header_size``."""
    header: list[HeaderField] = []
    offset = 0
    for item in _need(gq, "header", list, p):
        f = HeaderField(
            field=_need(item, "field", str, p),
            offset=_need(item, "offset", int, p),
            type=_need(item, "type", str, p),
            filled_by=_need(item, "filled_by", str, p),
            note=_need(item, "note", str, p),
        )
        if f.type not in _HEADER_TYPE_SIZES:
            raise DataError(f"{f.field}: type {f.type!r} is not u64 or u32", p, _line(item, "type"))
        if f.offset != offset:
            raise DataError(f"{f.field}: offset {f.offset} leaves a gap; expected {offset}", p, _line(item))
        offset += _HEADER_TYPE_SIZES[f.type]
        header.append(f)
    header_size = _need(gq, "header_size", int, p)
    if offset != header_size:
        raise DataError(f"header fields add up to {offset} bytes, header_size says {header_size}", p)
    return tuple(header), header_size


def _load_checks(
    gq: Any, p: Path, known: Mapping[str, Any], tdvmcall: Mapping[str, StatusCode]
) -> tuple[tuple[str, str], ...]:
    """``get_quote_checks``: (check, TDVMCALL status constant) in the order the stack applies them."""
    checks: list[tuple[str, str]] = []
    for item in _need(gq, "get_quote_checks", list, p):
        status = _need(item, "status", str, p)
        if status not in tdvmcall:
            raise DataError(f"status {status!r} is not a TDVMCALL status", p, _line(item, "status"))
        checks.append((_need(item, "check", str, p), status))
        _sources(item, p, known)
    return tuple(checks)


def _load_get_quote(p: Path, known: Mapping[str, Any], tdvmcall: Mapping[str, StatusCode]) -> dict[str, Any]:
    """get_quote.yaml: the GhciFacts fields it defines (header, limits, shared bit, vectors, checks)."""
    gq = load_yaml(p)
    header, header_size = _load_header(gq, p)
    _sources(gq, p, known)
    limits: dict[str, int] = {}
    for key, m in _need(gq, "limits", dict, p).items():
        limits[key] = _need(m, "value", int, p)
        _sources(m, p, known)
    sb = _need(gq, "shared_bit", dict, p)
    en = _need(gq, "event_notify", dict, p)
    _sources(sb, p, known)
    _sources(en, p, known)
    checks = _load_checks(gq, p, known, tdvmcall)
    return {
        "header": header,
        "header_size": header_size,
        "data_offset": _need(gq, "data_offset", int, p),
        "structure_version": _need(gq, "structure_version", int, p),
        "limits": MappingProxyType(limits),
        "shared_bit_default": _need(sb, "default", int, p),
        "shared_bit_by_gpaw": _frozen(_need(sb, "by_gpaw", dict, p)),
        "vector_min": _need(en, "vector_min", int, p),
        "vector_max": _need(en, "vector_max", int, p),
        "get_quote_checks": checks,
    }


def load_facts(directory: Path | None = None) -> GhciFacts:
    """Read and cross-check data/ghci/*.yaml (or another directory of the same files).

    Remembered until a file of the directory is added, removed or edited (its ``glob_key``).
    """
    d = Path(directory) if directory is not None else data_path("ghci")
    return _read_facts(str(d), glob_key(d))


@memo(maxsize=8)
def _read_facts(directory: str, stamp: tuple[tuple[str, int, int], ...]) -> GhciFacts:
    """:func:`load_facts` for ``directory`` as it is on disk (``stamp``: its glob_key, the memo key)."""
    d = Path(directory)
    paths = {n: d / f"{n}.yaml" for n in FILES}
    known = _need(load_yaml(paths["sources"]), "sources", dict, paths["sources"])
    leaves = _load_leaves(paths["leaves"], known)
    p = paths["status"]
    status_doc = load_yaml(p)
    tdvmcall = _load_status(_need(status_doc, "tdvmcall", list, p), p, known, "tdvmcall")
    get_quote = _load_status(_need(status_doc, "get_quote", list, p), p, known, "get_quote")
    return GhciFacts(
        sources=_frozen(known),
        leaves=MappingProxyType(leaves),
        tdvmcall_status=MappingProxyType(tdvmcall),
        get_quote_status=MappingProxyType(get_quote),
        paths=MappingProxyType(paths),
        **_load_get_quote(paths["get_quote"], known, tdvmcall),
    )


# --------------------------------------------------------------------------------------------------
# The facts in effect, and the kernel's constants built from them
# --------------------------------------------------------------------------------------------------


@memo(maxsize=1)
def current_facts() -> GhciFacts:
    """The facts the module's constants and checks use: data/ghci as read at first use.

    Looked up on every TDVMCALL a simulation makes, so not checked against the files each time:
    :func:`tdxlib.cache.clear_all` makes the next use read them again (:func:`load_facts` always does).
    """
    return load_facts()


@dataclass(frozen=True)
class GhciConstants:
    """The named constants of the kernel (arch/x86/include/asm/shared/tdx.h) and QEMU, from the facts."""

    TDVMCALL_GET_TD_VM_CALL_INFO: int
    TDVMCALL_MAP_GPA: int
    TDVMCALL_GET_QUOTE: int
    TDVMCALL_REPORT_FATAL_ERROR: int
    TDVMCALL_SETUP_EVENT_NOTIFY_INTERRUPT: int
    TDVMCALL_SERVICE: int
    TDVMCALL_STATUS_SUCCESS: int
    TDVMCALL_STATUS_RETRY: int
    TDVMCALL_STATUS_INVALID_OPERAND: int
    TDVMCALL_STATUS_GPA_INUSE: int
    TDVMCALL_STATUS_ALIGN_ERROR: int
    TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED: int
    GET_QUOTE_SUCCESS: int
    GET_QUOTE_IN_FLIGHT: int
    GET_QUOTE_ERROR: int
    GET_QUOTE_SERVICE_UNAVAILABLE: int
    GET_QUOTE_HDR_SIZE: int
    GET_QUOTE_DATA_OFFSET: int
    GET_QUOTE_STRUCTURE_VERSION: int
    GET_QUOTE_ALIGN: int
    GET_QUOTE_MAX_BUF_LEN: int
    GET_QUOTE_MAX_IN_FLIGHT: int
    GET_QUOTE_VMM_TIMEOUT_MS: int
    TDX_REPORT_LEN: int
    GET_QUOTE_BUF_SIZE: int
    GET_QUOTE_TIMEOUT_S: int
    SHARED_BIT_DEFAULT: int
    EVENT_NOTIFY_VECTOR_MIN: int
    EVENT_NOTIFY_VECTOR_MAX: int


#: Names of the :class:`GhciConstants` (the module attributes resolved from the facts).
CONSTANT_NAMES: frozenset[str] = frozenset(f.name for f in fields(GhciConstants))

#: The constants that name a leaf (leaves.yaml) or a status (status.yaml), in the order checked.
_LEAF_CONSTANTS = (
    "TDVMCALL_GET_TD_VM_CALL_INFO",
    "TDVMCALL_MAP_GPA",
    "TDVMCALL_GET_QUOTE",
    "TDVMCALL_REPORT_FATAL_ERROR",
    "TDVMCALL_SETUP_EVENT_NOTIFY_INTERRUPT",
    "TDVMCALL_SERVICE",
)
_TDVMCALL_STATUS_CONSTANTS = (
    "TDVMCALL_STATUS_SUCCESS",
    "TDVMCALL_STATUS_RETRY",
    "TDVMCALL_STATUS_INVALID_OPERAND",
    "TDVMCALL_STATUS_GPA_INUSE",
    "TDVMCALL_STATUS_ALIGN_ERROR",
    "TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED",
)
_GET_QUOTE_STATUS_CONSTANTS = (
    "GET_QUOTE_SUCCESS",
    "GET_QUOTE_IN_FLIGHT",
    "GET_QUOTE_ERROR",
    "GET_QUOTE_SERVICE_UNAVAILABLE",
)

#: The constants that name a ``limits`` entry of get_quote.yaml.
_LIMIT_CONSTANTS = {
    "GET_QUOTE_ALIGN": "alignment",
    "GET_QUOTE_MAX_BUF_LEN": "max_buf_len",
    "GET_QUOTE_MAX_IN_FLIGHT": "max_in_flight",
    "GET_QUOTE_VMM_TIMEOUT_MS": "vmm_timeout_ms",
    "TDX_REPORT_LEN": "tdx_report_len",
    "GET_QUOTE_BUF_SIZE": "linux_buf_size",
    "GET_QUOTE_TIMEOUT_S": "linux_timeout_s",
}


def _leaf_numbers(f: GhciFacts) -> dict[str, int]:
    by_constant = {leaf.constant: leaf.leaf for leaf in f.leaves.values()}
    for name in _LEAF_CONSTANTS:
        if name not in by_constant:
            raise DataError(f"leaf {name} is missing", f.paths.get("leaves"))
    return {name: by_constant[name] for name in _LEAF_CONSTANTS}


def _status_values(f: GhciFacts, table: Mapping[str, StatusCode], names: Iterable[str]) -> dict[str, int]:
    out = {}
    for name in names:
        if name not in table:
            raise DataError(f"status {name} is missing", f.paths.get("status"))
        out[name] = table[name].value
    return out


def _limit_values(f: GhciFacts) -> dict[str, int]:
    for name, key in _LIMIT_CONSTANTS.items():
        if key not in f.limits:
            raise DataError(f"limits: {key} ({name}) is missing", f.paths.get("get_quote"))
    return {name: f.limits[key] for name, key in _LIMIT_CONSTANTS.items()}


@memo(maxsize=1)
def constants() -> GhciConstants:
    """The named constants of :func:`current_facts`; a leaf, status or limit the code needs and the
    data lacks is a DataError naming the file."""
    f = current_facts()
    return GhciConstants(
        **_leaf_numbers(f),
        **_status_values(f, f.tdvmcall_status, _TDVMCALL_STATUS_CONSTANTS),
        **_status_values(f, f.get_quote_status, _GET_QUOTE_STATUS_CONSTANTS),
        GET_QUOTE_HDR_SIZE=f.header_size,
        GET_QUOTE_DATA_OFFSET=f.data_offset,
        GET_QUOTE_STRUCTURE_VERSION=f.structure_version,
        **_limit_values(f),
        SHARED_BIT_DEFAULT=f.shared_bit_default,
        EVENT_NOTIFY_VECTOR_MIN=f.vector_min,
        EVENT_NOTIFY_VECTOR_MAX=f.vector_max,
    )


def named_constant(name: str) -> int | None:
    """The value of a leaf or status constant of the facts in effect by its kernel name, or None
    (covers leaves and statuses added to data/ghci that :class:`GhciConstants` does not name)."""
    f = current_facts()
    for leaf in f.leaves.values():
        if leaf.constant == name:
            return leaf.leaf
    for table in (f.tdvmcall_status, f.get_quote_status):
        if name in table:
            return table[name].value
    return None
