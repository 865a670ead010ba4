"""The facts of data/ghci/*.yaml (leaves, status codes, the GetQuote header, limits), read on first use.

Nothing is read at import: :func:`load_facts` reads and cross-checks the files when asked (each file's
shape is its model in :mod:`~tdxlib.tdx.ghci.factfiles`; a broken file is a ``DataError`` naming file,
line and field, raised at that first use) and is remembered under the
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
from tdxlib.models import line_for, validate
from tdxlib.tdx.ghci.factfiles import (
    GetQuoteFile,
    LeavesFile,
    SourcesFile,
    StatusFile,
)

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
# Reading data/ghci/*.yaml: each file's shape is its model (factfiles), then what spans the files
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _File:
    """One file read and validated: its path, the raw mapping (for lines) and the model."""

    path: Path
    raw: Any
    doc: Any

    def error(self, message: str, *loc: str | int) -> DataError:
        return DataError(message, self.path, line_for(self.raw, loc))


def _read(path: Path, model: type[Any]) -> _File:
    raw = load_yaml(path)
    return _File(path, raw, validate(model, raw, path, what=path.name))


def _cited(refs: list[str], f: _File, known: Mapping[str, Any], *loc: str | int) -> tuple[str, ...]:
    """``refs`` (the ``sources`` at ``loc``), every one a key of sources.yaml."""
    for i, ref in enumerate(refs):
        if ref not in known:
            raise f.error(f"sources: {ref!r} is not defined in sources.yaml", *loc, "sources", i)
    return tuple(refs)


def _frozen(value: Any) -> Any:
    """``value`` with every mapping made read-only and every list a tuple (facts are shared)."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def _load_leaves(f: _File, known: Mapping[str, Any]) -> dict[str, Leaf]:
    """leaves.yaml: every TDVMCALL leaf by its GHCI name."""
    return {
        name: Leaf(
            name=name,
            constant=m.constant,
            leaf=m.leaf,
            section=m.section,
            inputs=MappingProxyType(dict(m.inputs)),
            outputs=MappingProxyType(dict(m.outputs)),
            sources=_cited(m.sources, f, known, "leaves", name),
            note=m.note,
        )
        for name, m in f.doc.leaves.items()
    }


def _load_status(f: _File, known: Mapping[str, Any], what: str) -> dict[str, StatusCode]:
    """One table of status.yaml (``tdvmcall`` or ``get_quote``) by kernel constant name."""
    out: dict[str, StatusCode] = {}
    for i, item in enumerate(getattr(f.doc, what)):
        code = StatusCode(item.constant, item.value, item.meaning, _cited(item.sources, f, known, what, i))
        if code.constant in out:
            raise f.error(f"{what}: {code.constant} defined twice", what, i)
        out[code.constant] = code
    return out


def _load_header(f: _File) -> tuple[tuple[HeaderField, ...], int]:
    """The ``header`` list of get_quote.yaml (contiguous u64/u32 fields) and its ``header_size``."""
    header: list[HeaderField] = []
    offset = 0
    for i, item in enumerate(f.doc.header):
        if item.offset != offset:
            raise f.error(f"{item.field}: offset {item.offset} leaves a gap; expected {offset}", "header", i)
        offset += _HEADER_TYPE_SIZES[item.type]
        header.append(HeaderField(item.field, item.offset, item.type, item.filled_by, item.note))
    if offset != f.doc.header_size:
        raise f.error(
            f"header fields add up to {offset} bytes, header_size says {f.doc.header_size}", "header_size"
        )
    return tuple(header), f.doc.header_size


def _load_get_quote(f: _File, known: Mapping[str, Any], tdvmcall: Mapping[str, StatusCode]) -> dict[str, Any]:
    """get_quote.yaml: the GhciFacts fields it defines (header, limits, shared bit, vectors, checks)."""
    gq = f.doc
    header, header_size = _load_header(f)
    _cited(gq.sources, f, known)
    for key, limit in gq.limits.items():
        _cited(limit.sources, f, known, "limits", key)
    _cited(gq.shared_bit.sources, f, known, "shared_bit")
    _cited(gq.event_notify.sources, f, known, "event_notify")
    checks: list[tuple[str, str]] = []
    for i, item in enumerate(gq.get_quote_checks):
        if item.status not in tdvmcall:
            raise f.error(f"status {item.status!r} is not a TDVMCALL status", "get_quote_checks", i, "status")
        _cited(item.sources, f, known, "get_quote_checks", i)
        checks.append((item.check, item.status))
    return {
        "header": header,
        "header_size": header_size,
        "data_offset": gq.data_offset,
        "structure_version": gq.structure_version,
        "limits": MappingProxyType({k: v.value for k, v in gq.limits.items()}),
        "shared_bit_default": gq.shared_bit.default,
        "shared_bit_by_gpaw": MappingProxyType(dict(gq.shared_bit.by_gpaw)),
        "vector_min": gq.event_notify.vector_min,
        "vector_max": gq.event_notify.vector_max,
        "get_quote_checks": tuple(checks),
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
    sources = _read(paths["sources"], SourcesFile)
    known = sources.raw["sources"]
    leaves = _load_leaves(_read(paths["leaves"], LeavesFile), known)
    status = _read(paths["status"], StatusFile)
    tdvmcall = _load_status(status, known, "tdvmcall")
    get_quote = _load_status(status, known, "get_quote")
    return GhciFacts(
        sources=_frozen(known),
        leaves=MappingProxyType(leaves),
        tdvmcall_status=MappingProxyType(tdvmcall),
        get_quote_status=MappingProxyType(get_quote),
        paths=MappingProxyType(paths),
        **_load_get_quote(_read(paths["get_quote"], GetQuoteFile), known, tdvmcall),
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
