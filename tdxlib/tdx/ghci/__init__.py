"""The GHCI TDVMCALLs of the event-notify debate, as data and real bytes.

Leaf numbers, status codes, the GetQuote buffer layout and the argument limits are read from
``data/ghci/*.yaml`` (each with its source). The module gives request records for GetQuote and
SetupEventNotifyInterrupt, the GetQuote shared buffer encoded to and decoded from bytes, and the
argument checks the real stack applies: ``check_*`` return the spec's status code (the VMM boundary),
``validate_*`` raise a ``TdxlibError`` naming the bad value and the allowed range (the Python API).
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from tdxlib.data import data_path, load_yaml
from tdxlib.errors import DataError, GhciError, ValidationError

U64_MAX = (1 << 64) - 1
U32_MAX = (1 << 32) - 1

# --------------------------------------------------------------------------------------------------
# Loading data/ghci/*.yaml
# --------------------------------------------------------------------------------------------------


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


def _load_status(items: Any, path: Path, known: Mapping[str, Any], what: str) -> dict[str, StatusCode]:
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


def load_facts(directory: Path | None = None) -> GhciFacts:
    """Read and cross-check data/ghci/*.yaml (or another directory of the same files)."""
    d = Path(directory) if directory is not None else data_path("ghci")
    paths = {n: d / f"{n}.yaml" for n in ("sources", "leaves", "status", "get_quote")}
    src_doc = load_yaml(paths["sources"])
    known = _need(src_doc, "sources", dict, paths["sources"])

    p = paths["leaves"]
    leaves: dict[str, Leaf] = {}
    for name, m in _need(load_yaml(p), "leaves", dict, p).items():
        leaf = Leaf(
            name=name,
            constant=_need(m, "constant", str, p),
            leaf=_need(m, "leaf", int, p),
            section=_need(m, "section", str, p),
            inputs=dict(_need(m, "inputs", dict, p)),
            outputs=dict(_need(m, "outputs", dict, p)),
            sources=_sources(m, p, known),
            note=str(m.get("note", "")),
        )
        leaves[name] = leaf

    p = paths["status"]
    status_doc = load_yaml(p)
    tdvmcall = _load_status(_need(status_doc, "tdvmcall", list, p), p, known, "tdvmcall")
    get_quote = _load_status(_need(status_doc, "get_quote", list, p), p, known, "get_quote")

    p = paths["get_quote"]
    gq = load_yaml(p)
    header: list[HeaderField] = []
    offset = 0
    sizes = {"u64": 8, "u32": 4}
    for item in _need(gq, "header", list, p):
        f = HeaderField(
            field=_need(item, "field", str, p),
            offset=_need(item, "offset", int, p),
            type=_need(item, "type", str, p),
            filled_by=_need(item, "filled_by", str, p),
            note=_need(item, "note", str, p),
        )
        if f.type not in sizes:
            raise DataError(f"{f.field}: type {f.type!r} is not u64 or u32", p, _line(item, "type"))
        if f.offset != offset:
            raise DataError(f"{f.field}: offset {f.offset} leaves a gap; expected {offset}", p, _line(item))
        offset += sizes[f.type]
        header.append(f)
    header_size = _need(gq, "header_size", int, p)
    if offset != header_size:
        raise DataError(f"header fields add up to {offset} bytes, header_size says {header_size}", p)
    _sources(gq, p, known)

    limits: dict[str, int] = {}
    for key, m in _need(gq, "limits", dict, p).items():
        limits[key] = _need(m, "value", int, p)
        _sources(m, p, known)
    sb = _need(gq, "shared_bit", dict, p)
    en = _need(gq, "event_notify", dict, p)
    _sources(sb, p, known)
    _sources(en, p, known)
    checks: list[tuple[str, str]] = []
    for item in _need(gq, "get_quote_checks", list, p):
        status = _need(item, "status", str, p)
        if status not in tdvmcall:
            raise DataError(f"status {status!r} is not a TDVMCALL status", p, _line(item, "status"))
        checks.append((_need(item, "check", str, p), status))
        _sources(item, p, known)

    return GhciFacts(
        sources={k: dict(v) for k, v in known.items()},
        leaves=leaves,
        tdvmcall_status=tdvmcall,
        get_quote_status=get_quote,
        header=tuple(header),
        header_size=header_size,
        data_offset=_need(gq, "data_offset", int, p),
        structure_version=_need(gq, "structure_version", int, p),
        limits=limits,
        shared_bit_default=_need(sb, "default", int, p),
        shared_bit_by_gpaw=dict(_need(sb, "by_gpaw", dict, p)),
        vector_min=_need(en, "vector_min", int, p),
        vector_max=_need(en, "vector_max", int, p),
        get_quote_checks=tuple(checks),
        paths=paths,
    )


FACTS: GhciFacts = load_facts()

#: Leaves by their GHCI name (``"GetQuote"``) and status codes by kernel constant name.
LEAVES: Mapping[str, Leaf] = FACTS.leaves
TDVMCALL_STATUS: Mapping[str, StatusCode] = FACTS.tdvmcall_status
GET_QUOTE_STATUS: Mapping[str, StatusCode] = FACTS.get_quote_status


def _leaf(constant: str) -> int:
    for leaf in FACTS.leaves.values():
        if leaf.constant == constant:
            return leaf.leaf
    raise DataError(f"leaf {constant} is missing", FACTS.paths.get("leaves"))


def _status(table: Mapping[str, StatusCode], constant: str) -> int:
    if constant not in table:
        raise DataError(f"status {constant} is missing", FACTS.paths.get("status"))
    return table[constant].value


TDX_HYPERCALL_STANDARD = 0
TDVMCALL_GET_TD_VM_CALL_INFO: int = _leaf("TDVMCALL_GET_TD_VM_CALL_INFO")
TDVMCALL_MAP_GPA: int = _leaf("TDVMCALL_MAP_GPA")
TDVMCALL_GET_QUOTE: int = _leaf("TDVMCALL_GET_QUOTE")
TDVMCALL_REPORT_FATAL_ERROR: int = _leaf("TDVMCALL_REPORT_FATAL_ERROR")
TDVMCALL_SETUP_EVENT_NOTIFY_INTERRUPT: int = _leaf("TDVMCALL_SETUP_EVENT_NOTIFY_INTERRUPT")
TDVMCALL_SERVICE: int = _leaf("TDVMCALL_SERVICE")

TDVMCALL_STATUS_SUCCESS: int = _status(TDVMCALL_STATUS, "TDVMCALL_STATUS_SUCCESS")
TDVMCALL_STATUS_RETRY: int = _status(TDVMCALL_STATUS, "TDVMCALL_STATUS_RETRY")
TDVMCALL_STATUS_INVALID_OPERAND: int = _status(TDVMCALL_STATUS, "TDVMCALL_STATUS_INVALID_OPERAND")
TDVMCALL_STATUS_GPA_INUSE: int = _status(TDVMCALL_STATUS, "TDVMCALL_STATUS_GPA_INUSE")
TDVMCALL_STATUS_ALIGN_ERROR: int = _status(TDVMCALL_STATUS, "TDVMCALL_STATUS_ALIGN_ERROR")
TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED: int = _status(TDVMCALL_STATUS, "TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED")

GET_QUOTE_SUCCESS: int = _status(GET_QUOTE_STATUS, "GET_QUOTE_SUCCESS")
GET_QUOTE_IN_FLIGHT: int = _status(GET_QUOTE_STATUS, "GET_QUOTE_IN_FLIGHT")
GET_QUOTE_ERROR: int = _status(GET_QUOTE_STATUS, "GET_QUOTE_ERROR")
GET_QUOTE_SERVICE_UNAVAILABLE: int = _status(GET_QUOTE_STATUS, "GET_QUOTE_SERVICE_UNAVAILABLE")

GET_QUOTE_HDR_SIZE: int = FACTS.header_size
GET_QUOTE_DATA_OFFSET: int = FACTS.data_offset
GET_QUOTE_STRUCTURE_VERSION: int = FACTS.structure_version
GET_QUOTE_ALIGN: int = FACTS.limits["alignment"]
GET_QUOTE_MAX_BUF_LEN: int = FACTS.limits["max_buf_len"]
GET_QUOTE_MAX_IN_FLIGHT: int = FACTS.limits["max_in_flight"]
GET_QUOTE_VMM_TIMEOUT_MS: int = FACTS.limits["vmm_timeout_ms"]
TDX_REPORT_LEN: int = FACTS.limits["tdx_report_len"]
GET_QUOTE_BUF_SIZE: int = FACTS.limits["linux_buf_size"]
GET_QUOTE_TIMEOUT_S: int = FACTS.limits["linux_timeout_s"]
SHARED_BIT_DEFAULT: int = FACTS.shared_bit_default
EVENT_NOTIFY_VECTOR_MIN: int = FACTS.vector_min
EVENT_NOTIFY_VECTOR_MAX: int = FACTS.vector_max

_HEADER_FORMAT = "<" + "".join({"u64": "Q", "u32": "I"}[f.type] for f in FACTS.header)
_HEADER = struct.Struct(_HEADER_FORMAT)
if _HEADER.size != GET_QUOTE_HDR_SIZE or [f.field for f in FACTS.header] != [
    "version",
    "status",
    "in_len",
    "out_len",
]:
    raise DataError("header must be version, status, in_len, out_len", FACTS.paths.get("get_quote"))


def status_name(code: int) -> str:
    """Kernel name of a TDVMCALL status (R10), e.g. ``TDVMCALL_STATUS_ALIGN_ERROR``."""
    _register("TDVMCALL status", code)
    for sc in TDVMCALL_STATUS.values():
        if sc.value == code:
            return sc.constant
    return f"TDVMCALL_STATUS_UNKNOWN({code:#x})"


def get_quote_status_name(code: int) -> str:
    """Name of a GetQuote header status, e.g. ``GET_QUOTE_IN_FLIGHT`` (a different table from R10's)."""
    _register("GetQuote header status", code)
    for sc in GET_QUOTE_STATUS.values():
        if sc.value == code:
            return sc.constant
    return f"GET_QUOTE_UNKNOWN({code:#x})"


def shared_bit_for_gpaw(gpaw: int) -> int:
    """The shared bit for a guest physical-address width (52 -> 51, 48 -> 47)."""
    if gpaw not in FACTS.shared_bit_by_gpaw:
        raise ValidationError(
            "guest physical address width", gpaw, f"one of {sorted(FACTS.shared_bit_by_gpaw)}"
        )
    return FACTS.shared_bit_by_gpaw[gpaw]


def shared_gpa(gpa: int, shared_bit: int = SHARED_BIT_DEFAULT) -> int:
    """``gpa`` with the shared bit set, as the guest's ``cc_mkdec()`` makes it."""
    _register("GPA", gpa)
    _check_shared_bit(shared_bit)
    return gpa | (1 << shared_bit)


def _check_shared_bit(shared_bit: int) -> None:
    if not isinstance(shared_bit, int) or isinstance(shared_bit, bool) or not 12 <= shared_bit <= 63:
        raise ValidationError("shared bit", shared_bit, "an address bit 12..63 (47 or 51 on TDX)")


def _register(what: str, value: object, bits: int = 64) -> int:
    """A value that must fit a register (u64) or a narrower field; ValidationError otherwise."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(what, value, f"an integer 0..{(1 << bits) - 1:#x}")
    if not 0 <= value < (1 << bits):
        raise ValidationError(what, value, f"0..{(1 << bits) - 1:#x} (a u{bits})")
    return value


# --------------------------------------------------------------------------------------------------
# The GetQuote shared buffer
# --------------------------------------------------------------------------------------------------


@dataclass
class QuoteBuffer:
    """The GetQuote shared buffer: a 24-byte little-endian header, then ``data`` at offset 24.

    ``status`` defaults to 0: the guest zeroes status and out_len on entry (QEMU's header asks so,
    to avoid leaks); the VMM writes ``GET_QUOTE_IN_FLIGHT`` when it queues the request.
    """

    version: int = GET_QUOTE_STRUCTURE_VERSION
    status: int = GET_QUOTE_SUCCESS
    in_len: int = 0
    out_len: int = 0
    data: bytes = b""

    def __post_init__(self) -> None:
        self._check()

    def _check(self) -> None:
        _register("QuoteBuffer.version", self.version)
        _register("QuoteBuffer.status", self.status)
        _register("QuoteBuffer.in_len", self.in_len, 32)
        _register("QuoteBuffer.out_len", self.out_len, 32)
        if not isinstance(self.data, (bytes, bytearray, memoryview)):
            raise ValidationError("QuoteBuffer.data", type(self.data).__name__, "bytes")
        self.data = bytes(self.data)

    @classmethod
    def request(cls, message: bytes, *, version: int = GET_QUOTE_STRUCTURE_VERSION) -> QuoteBuffer:
        """What a guest writes before GetQuote: version, status 0, in_len = len(message), out_len 0."""
        if not isinstance(message, (bytes, bytearray, memoryview)):
            raise ValidationError("GetQuote message", type(message).__name__, "bytes (e.g. a TDREPORT)")
        return cls(
            version=version, status=GET_QUOTE_SUCCESS, in_len=len(message), out_len=0, data=bytes(message)
        )

    @property
    def size(self) -> int:
        """Bytes needed for header plus data."""
        return GET_QUOTE_DATA_OFFSET + len(self.data)

    def to_bytes(self, size: int | None = None) -> bytes:
        """Encode to ``size`` bytes (zero padded; default: exactly header + data)."""
        self._check()
        need = self.size
        if size is None:
            size = need
        if not isinstance(size, int) or isinstance(size, bool) or size < need:
            raise ValidationError(
                "GetQuote buffer size", size, f">= {need} (24-byte header + {len(self.data)} data bytes)"
            )
        head = _HEADER.pack(self.version, self.status, self.in_len, self.out_len)
        return head + self.data + bytes(size - need)

    @classmethod
    def from_bytes(cls, b: bytes | bytearray | memoryview) -> QuoteBuffer:
        """Decode a buffer; everything after the header is ``data``. Short input -> ValidationError."""
        if not isinstance(b, (bytes, bytearray, memoryview)):
            raise ValidationError("GetQuote buffer", type(b).__name__, "bytes")
        raw = bytes(b)
        if len(raw) < GET_QUOTE_HDR_SIZE:
            raise ValidationError(
                "GetQuote buffer length", len(raw), f">= {GET_QUOTE_HDR_SIZE} bytes (the header)"
            )
        version, status, in_len, out_len = _HEADER.unpack_from(raw, 0)
        return cls(
            version=version, status=status, in_len=in_len, out_len=out_len, data=raw[GET_QUOTE_DATA_OFFSET:]
        )

    def message(self) -> bytes:
        """The in-message (``in_len`` bytes after the header)."""
        if self.in_len > len(self.data):
            raise ValidationError("QuoteBuffer.in_len", self.in_len, f"<= {len(self.data)} (the data held)")
        return self.data[: self.in_len]

    def quote(self) -> bytes:
        """The quote the VMM wrote (``out_len`` bytes after the header)."""
        if self.out_len > len(self.data):
            raise ValidationError("QuoteBuffer.out_len", self.out_len, f"<= {len(self.data)} (the data held)")
        return self.data[: self.out_len]

    def completed(self, status: int, quote: bytes = b"") -> QuoteBuffer:
        """The buffer as the VMM leaves it on completion: quote over the data (on success), then status."""
        _register("GetQuote header status", status)
        if status == GET_QUOTE_SUCCESS:
            q = bytes(quote)
            data = q + self.data[len(q) :]
            return QuoteBuffer(self.version, status, self.in_len, len(q), data)
        return QuoteBuffer(self.version, status, self.in_len, self.out_len, self.data)

    @property
    def in_flight(self) -> bool:
        """True while the VMM has not answered (status is GET_QUOTE_IN_FLIGHT)."""
        return self.status == GET_QUOTE_IN_FLIGHT


# --------------------------------------------------------------------------------------------------
# Request records
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetupEventNotifyInterrupt:
    """TDG.VP.VMCALL<SetupEventNotifyInterrupt>: R12 = vector. ``apic_id`` (R13) only for proposals."""

    vector: int
    apic_id: int | None = None
    leaf: ClassVar[int] = TDVMCALL_SETUP_EVENT_NOTIFY_INTERRUPT

    def __post_init__(self) -> None:
        _register("SetupEventNotifyInterrupt vector (R12)", self.vector)
        if self.apic_id is not None:
            _register("SetupEventNotifyInterrupt APIC ID (R13, proposal)", self.apic_id)

    def registers(self) -> dict[str, int]:
        """The registers the guest loads (R13 only when a proposal's APIC ID is given)."""
        regs = {"R10": TDX_HYPERCALL_STANDARD, "R11": self.leaf, "R12": self.vector}
        if self.apic_id is not None:
            regs["R13"] = self.apic_id
        return regs


@dataclass(frozen=True)
class GetQuote:
    """TDG.VP.VMCALL<GetQuote>: R12 = shared GPA, R13 = size; vector/apic_id only for proposals.

    The "GetQuote carries the vector" alternative (Sathyanarayanan, June 2022) is modelled with the
    vector in R14 and the APIC ID in R15; no spec defines those registers for GetQuote.
    """

    gpa: int
    size: int
    vector: int | None = None
    apic_id: int | None = None
    leaf: ClassVar[int] = TDVMCALL_GET_QUOTE

    def __post_init__(self) -> None:
        _register("GetQuote GPA (R12)", self.gpa)
        _register("GetQuote size (R13)", self.size)
        if self.vector is not None:
            _register("GetQuote vector (R14, proposal)", self.vector)
        if self.apic_id is not None:
            _register("GetQuote APIC ID (R15, proposal)", self.apic_id)

    def registers(self) -> dict[str, int]:
        """The registers the guest loads."""
        regs = {"R10": TDX_HYPERCALL_STANDARD, "R11": self.leaf, "R12": self.gpa, "R13": self.size}
        if self.vector is not None:
            regs["R14"] = self.vector
        if self.apic_id is not None:
            regs["R15"] = self.apic_id
        return regs


# --------------------------------------------------------------------------------------------------
# Checks: status at the VMM boundary, errors at the Python API
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    """Outcome of a boundary check: the status, which check failed (or None) and why."""

    status: int
    check: str | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return self.check is None

    def raise_if_failed(self) -> None:
        """Raise GhciError (status + reason) when a check failed."""
        if not self.ok:
            raise GhciError(f"{self.reason} -> {status_name(self.status)}", self.status)


_OK = CheckResult(TDVMCALL_STATUS_SUCCESS)
_VECTOR_RANGE = f"{EVENT_NOTIFY_VECTOR_MIN}..{EVENT_NOTIFY_VECTOR_MAX} (0..31 are exceptions)"


def _vector_problem(what: str, vector: int) -> CheckResult | None:
    if EVENT_NOTIFY_VECTOR_MIN <= vector <= EVENT_NOTIFY_VECTOR_MAX:
        return None
    return CheckResult(
        TDVMCALL_STATUS_INVALID_OPERAND,
        "vector",
        f"{what} = {vector} is not allowed; expected {_VECTOR_RANGE}",
    )


def _apic_problem(what: str, apic_id: int, known: Iterable[int] | None) -> CheckResult | None:
    if apic_id > U32_MAX:
        return CheckResult(
            TDVMCALL_STATUS_INVALID_OPERAND, "apic_id", f"{what} = {apic_id:#x} is not an x2APIC ID (32 bits)"
        )
    if known is None:
        return None
    ids = sorted(set(known))
    if apic_id in ids:
        return None
    return CheckResult(
        TDVMCALL_STATUS_INVALID_OPERAND,
        "apic_id",
        f"{what} = {apic_id} is not allowed; expected one of the TD's APIC IDs {_brief(ids)}",
    )


def _brief(ids: list[int]) -> str:
    return (
        str(ids) if len(ids) <= 12 else f"[{', '.join(map(str, ids[:6]))}, ..., {ids[-1]}] ({len(ids)} IDs)"
    )


def explain_setup_event_notify(
    call: SetupEventNotifyInterrupt,
    *,
    known_apic_ids: Iterable[int] | None = None,
    validate_vector: bool = True,
) -> CheckResult:
    """Which check (if any) a SetupEventNotifyInterrupt fails, with the status and the reason."""
    if not isinstance(call, SetupEventNotifyInterrupt):
        raise ValidationError("call", type(call).__name__, "a SetupEventNotifyInterrupt record")
    if validate_vector:
        bad = _vector_problem("SetupEventNotifyInterrupt vector", call.vector)
        if bad:
            return bad
    if call.apic_id is not None:
        bad = _apic_problem("SetupEventNotifyInterrupt APIC ID", call.apic_id, known_apic_ids)
        if bad:
            return bad
    return _OK


def check_setup_event_notify(
    call: SetupEventNotifyInterrupt,
    *,
    known_apic_ids: Iterable[int] | None = None,
    validate_vector: bool = True,
) -> int:
    """The status a VMM returns: INVALID_OPERAND for a vector outside 32..255 or an unknown APIC ID."""
    return explain_setup_event_notify(
        call, known_apic_ids=known_apic_ids, validate_vector=validate_vector
    ).status


def validate_setup_event_notify(
    call: SetupEventNotifyInterrupt, *, known_apic_ids: Iterable[int] | None = None
) -> SetupEventNotifyInterrupt:
    """Python-API side: return ``call`` or raise GhciError naming the value, the range and the status."""
    explain_setup_event_notify(call, known_apic_ids=known_apic_ids).raise_if_failed()
    return call


GetQuoteChecks = Literal["qemu", "spec", "shared-bit", "none"]
_GET_QUOTE_CHECKS: tuple[tuple[str, int], ...] = tuple(
    (check, TDVMCALL_STATUS[const].value) for check, const in FACTS.get_quote_checks
)
_CHECK_LEVELS: tuple[str, ...] = ("qemu", "spec", "shared-bit", "none")


def explain_get_quote(
    call: GetQuote,
    buffer: bytes | bytearray | memoryview | None = None,
    *,
    shared_bit: int = SHARED_BIT_DEFAULT,
    level: GetQuoteChecks = "qemu",
    leak_guard: bool = False,
) -> CheckResult:
    """Run the GetQuote checks in the order the real stack applies them (data/ghci/get_quote.yaml).

    ``level``: ``qemu`` = KVM's shared-bit check then QEMU's (size 0, 4 KiB alignment, header
    version, size <= 128 KiB and in_len <= size - 24); ``spec`` = the same without QEMU's 128 KiB cap;
    ``shared-bit`` = KVM alone; ``none``. ``buffer`` holds the guest bytes at the GPA (at least the
    header); when None the header is taken as well formed. ``leak_guard`` adds the check that status
    and out_len are 0 on entry, which the reference notes list but the QEMU code we read lacks.
    """
    try:  # memoised: a simulation asks the same a thousand times (errors are not cached)
        return _explain_get_quote_cached(call, buffer, shared_bit, level, leak_guard)  # type: ignore[arg-type]
    except TypeError:  # an unhashable argument (a bytearray buffer ...): checked uncached
        return _explain_get_quote(call, buffer, shared_bit, level, leak_guard)


def _explain_get_quote(
    call: GetQuote,
    buffer: bytes | bytearray | memoryview | None,
    shared_bit: int,
    level: GetQuoteChecks,
    leak_guard: bool,
) -> CheckResult:
    if not isinstance(call, GetQuote):
        raise ValidationError("call", type(call).__name__, "a GetQuote record")
    if level not in _CHECK_LEVELS:
        raise ValidationError("GetQuote check level", level, f"one of {list(_CHECK_LEVELS)}")
    _check_shared_bit(shared_bit)
    if level == "none":
        return _OK
    header: tuple[int, int, int, int] | None = None  # version, status, in_len, out_len
    for check, status in _GET_QUOTE_CHECKS:
        reason = ""
        if check == "shared_bit":
            if not call.gpa >> shared_bit & 1:
                reason = (
                    f"GetQuote GPA {call.gpa:#x} lacks the shared bit (bit {shared_bit}); "
                    "expected a GPA of shared memory"
                )
        elif level == "shared-bit":
            continue
        elif check == "size_zero":
            if call.size == 0:
                reason = (
                    f"GetQuote size = 0 is not allowed; expected a positive multiple of {GET_QUOTE_ALIGN}"
                )
        elif check == "alignment":
            gpa = call.gpa & ~(1 << shared_bit)
            if gpa % GET_QUOTE_ALIGN or call.size % GET_QUOTE_ALIGN:
                reason = (
                    f"GetQuote GPA {gpa:#x} / size {call.size:#x} not allowed; "
                    f"expected both multiples of {GET_QUOTE_ALIGN:#x} (4 KiB)"
                )
        elif buffer is None:
            continue
        elif check == "header_unreadable":
            if not isinstance(buffer, (bytes, bytearray, memoryview)):
                raise ValidationError("GetQuote buffer", type(buffer).__name__, "bytes")
            if len(buffer) < GET_QUOTE_HDR_SIZE:
                reason = (
                    f"GetQuote buffer holds {len(buffer)} bytes; expected at least the "
                    f"{GET_QUOTE_HDR_SIZE}-byte header"
                )
            else:
                header = _HEADER.unpack_from(buffer, 0)
        elif header is None:
            continue
        elif check == "version":
            if header[0] != GET_QUOTE_STRUCTURE_VERSION:
                reason = (
                    f"GetQuote header version = {header[0]} is not allowed; "
                    f"expected {GET_QUOTE_STRUCTURE_VERSION}"
                )
        elif check == "leak_guard":
            if leak_guard and (header[1] != 0 or header[3] != 0):
                reason = (
                    f"GetQuote header status = {header[1]:#x}, out_len = {header[3]} on entry; "
                    "expected both 0"
                )
        elif check == "size_limits":
            if level == "qemu" and call.size > GET_QUOTE_MAX_BUF_LEN:
                reason = (
                    f"GetQuote size = {call.size} is not allowed; "
                    f"expected <= {GET_QUOTE_MAX_BUF_LEN} (128 KiB)"
                )
            elif header[2] > call.size - GET_QUOTE_HDR_SIZE:
                reason = (
                    f"GetQuote in_len = {header[2]} is not allowed; expected <= size - "
                    f"{GET_QUOTE_HDR_SIZE} = {call.size - GET_QUOTE_HDR_SIZE}"
                )
        else:  # pragma: no cover - a check named in the YAML that the code does not know
            raise DataError(f"unknown GetQuote check {check!r}", FACTS.paths.get("get_quote"))
        if reason:
            return CheckResult(status, check, reason)
    return _OK


#: :func:`_explain_get_quote` remembered per call (the result is a frozen record); typed, so that
#: ``shared_bit=True`` is still refused after ``shared_bit=1`` was accepted.
_explain_get_quote_cached = functools.lru_cache(maxsize=256, typed=True)(_explain_get_quote)


def check_get_quote(
    call: GetQuote,
    buffer: bytes | bytearray | memoryview | None = None,
    *,
    shared_bit: int = SHARED_BIT_DEFAULT,
    level: GetQuoteChecks = "qemu",
    leak_guard: bool = False,
) -> int:
    """The status the VMM boundary returns for a GetQuote's arguments (SUCCESS if all checks pass)."""
    return explain_get_quote(call, buffer, shared_bit=shared_bit, level=level, leak_guard=leak_guard).status


def validate_get_quote(
    call: GetQuote,
    buffer: bytes | bytearray | memoryview | None = None,
    *,
    shared_bit: int = SHARED_BIT_DEFAULT,
    level: GetQuoteChecks = "qemu",
    leak_guard: bool = False,
) -> GetQuote:
    """Python-API side: return ``call`` or raise GhciError naming the bad value, the rule and the status."""
    explain_get_quote(
        call, buffer, shared_bit=shared_bit, level=level, leak_guard=leak_guard
    ).raise_if_failed()
    return call


def validate_vector(vector: int) -> int:
    """An event-notify vector for the Python API: 32..255, else ValidationError."""
    if not isinstance(vector, int) or isinstance(vector, bool):
        raise ValidationError("event-notify vector", vector, f"an integer {_VECTOR_RANGE}")
    if not EVENT_NOTIFY_VECTOR_MIN <= vector <= EVENT_NOTIFY_VECTOR_MAX:
        raise ValidationError("event-notify vector", vector, _VECTOR_RANGE)
    return vector


def validate_apic_id(apic_id: int, known_apic_ids: Iterable[int]) -> int:
    """An APIC ID that must name one of the TD's vCPUs, else ValidationError listing them."""
    ids = sorted(set(known_apic_ids))
    if not isinstance(apic_id, int) or isinstance(apic_id, bool) or apic_id not in ids:
        raise ValidationError("APIC ID", apic_id, f"one of the TD's APIC IDs {_brief(ids)}")
    return apic_id


def raise_for_status(status: int, what: str = "TDVMCALL") -> None:
    """Raise GhciError unless ``status`` is TDVMCALL_STATUS_SUCCESS (names the call and the status)."""
    if status != TDVMCALL_STATUS_SUCCESS:
        raise GhciError(f"{what} failed with {status_name(status)}; expected TDVMCALL_STATUS_SUCCESS", status)


__all__ = [
    "EVENT_NOTIFY_VECTOR_MAX",
    "EVENT_NOTIFY_VECTOR_MIN",
    "FACTS",
    "GET_QUOTE_ALIGN",
    "GET_QUOTE_BUF_SIZE",
    "GET_QUOTE_DATA_OFFSET",
    "GET_QUOTE_ERROR",
    "GET_QUOTE_HDR_SIZE",
    "GET_QUOTE_IN_FLIGHT",
    "GET_QUOTE_MAX_BUF_LEN",
    "GET_QUOTE_MAX_IN_FLIGHT",
    "GET_QUOTE_SERVICE_UNAVAILABLE",
    "GET_QUOTE_STATUS",
    "GET_QUOTE_STRUCTURE_VERSION",
    "GET_QUOTE_SUCCESS",
    "GET_QUOTE_TIMEOUT_S",
    "GET_QUOTE_VMM_TIMEOUT_MS",
    "LEAVES",
    "SHARED_BIT_DEFAULT",
    "TDVMCALL_GET_QUOTE",
    "TDVMCALL_GET_TD_VM_CALL_INFO",
    "TDVMCALL_MAP_GPA",
    "TDVMCALL_REPORT_FATAL_ERROR",
    "TDVMCALL_SERVICE",
    "TDVMCALL_SETUP_EVENT_NOTIFY_INTERRUPT",
    "TDVMCALL_STATUS",
    "TDVMCALL_STATUS_ALIGN_ERROR",
    "TDVMCALL_STATUS_GPA_INUSE",
    "TDVMCALL_STATUS_INVALID_OPERAND",
    "TDVMCALL_STATUS_RETRY",
    "TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED",
    "TDVMCALL_STATUS_SUCCESS",
    "TDX_HYPERCALL_STANDARD",
    "TDX_REPORT_LEN",
    "CheckResult",
    "GetQuote",
    "GetQuoteChecks",
    "GhciFacts",
    "HeaderField",
    "Leaf",
    "QuoteBuffer",
    "SetupEventNotifyInterrupt",
    "StatusCode",
    "check_get_quote",
    "check_setup_event_notify",
    "explain_get_quote",
    "explain_setup_event_notify",
    "get_quote_status_name",
    "load_facts",
    "raise_for_status",
    "shared_bit_for_gpaw",
    "shared_gpa",
    "status_name",
    "validate_apic_id",
    "validate_get_quote",
    "validate_setup_event_notify",
    "validate_vector",
]
