"""The TDVMCALLs SetupEventNotifyInterrupt and GetQuote: request records and the spec's argument checks.

``check_*`` return the status code the VMM boundary answers, ``explain_*`` say which check failed and
why, ``validate_*`` raise a ``TdxlibError`` naming the bad value and the allowed range (the Python
API). The checks, their order and their statuses are data (get_quote.yaml), read on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, NamedTuple

from tdxlib.cache import memo
from tdxlib.errors import DataError, GhciError, ValidationError
from tdxlib.tdx.ghci.buffer import header_struct
from tdxlib.tdx.ghci.factfiles import U32_MAX
from tdxlib.tdx.ghci.facts import check_register, constants, current_facts

#: R10 of a standard TDVMCALL (the GHCI's, not a vendor-specific one).
TDX_HYPERCALL_STANDARD = 0

GetQuoteChecks = Literal["qemu", "spec", "shared-bit", "none"]
_CHECK_LEVELS: tuple[str, ...] = ("qemu", "spec", "shared-bit", "none")


# --------------------------------------------------------------------------------------------------
# Status names and shared GPAs
# --------------------------------------------------------------------------------------------------


def status_name(code: int) -> str:
    """Kernel name of a TDVMCALL status (R10), e.g. ``TDVMCALL_STATUS_ALIGN_ERROR``."""
    check_register("TDVMCALL status", code)
    for sc in current_facts().tdvmcall_status.values():
        if sc.value == code:
            return sc.constant
    return f"TDVMCALL_STATUS_UNKNOWN({code:#x})"


def get_quote_status_name(code: int) -> str:
    """Name of a GetQuote header status, e.g. ``GET_QUOTE_IN_FLIGHT`` (a different table from R10's)."""
    check_register("GetQuote header status", code)
    for sc in current_facts().get_quote_status.values():
        if sc.value == code:
            return sc.constant
    return f"GET_QUOTE_UNKNOWN({code:#x})"


def shared_bit_for_gpaw(gpaw: int) -> int:
    """The shared bit for a guest physical-address width (52 -> 51, 48 -> 47)."""
    by_gpaw = current_facts().shared_bit_by_gpaw
    if gpaw not in by_gpaw:
        raise ValidationError("guest physical address width", gpaw, f"one of {sorted(by_gpaw)}")
    return by_gpaw[gpaw]


def shared_gpa(gpa: int, shared_bit: int | None = None) -> int:
    """``gpa`` with the shared bit set (default: data/ghci's), as the guest's ``cc_mkdec()`` makes it."""
    check_register("GPA", gpa)
    if shared_bit is None:
        shared_bit = constants().SHARED_BIT_DEFAULT
    _check_shared_bit(shared_bit)
    return gpa | (1 << shared_bit)


def _check_shared_bit(shared_bit: int) -> None:
    if not isinstance(shared_bit, int) or isinstance(shared_bit, bool) or not 12 <= shared_bit <= 63:
        raise ValidationError("shared bit", shared_bit, "an address bit 12..63 (47 or 51 on TDX)")


# --------------------------------------------------------------------------------------------------
# Request records
# --------------------------------------------------------------------------------------------------


class _LeafNumber:
    """A record's R11 leaf, looked up in the facts on first use (on the class and its instances)."""

    def __init__(self, constant: str) -> None:
        self.constant = constant

    def __get__(self, obj: object, owner: type | None = None) -> int:
        value: int = getattr(constants(), self.constant)
        return value


@dataclass(frozen=True)
class SetupEventNotifyInterrupt:
    """TDG.VP.VMCALL<SetupEventNotifyInterrupt>: R12 = vector. ``apic_id`` (R13) only for proposals."""

    vector: int
    apic_id: int | None = None
    leaf = _LeafNumber("TDVMCALL_SETUP_EVENT_NOTIFY_INTERRUPT")

    def __post_init__(self) -> None:
        check_register("SetupEventNotifyInterrupt vector (R12)", self.vector)
        if self.apic_id is not None:
            check_register("SetupEventNotifyInterrupt APIC ID (R13, proposal)", self.apic_id)

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
    leaf = _LeafNumber("TDVMCALL_GET_QUOTE")

    def __post_init__(self) -> None:
        check_register("GetQuote GPA (R12)", self.gpa)
        check_register("GetQuote size (R13)", self.size)
        if self.vector is not None:
            check_register("GetQuote vector (R14, proposal)", self.vector)
        if self.apic_id is not None:
            check_register("GetQuote APIC ID (R15, proposal)", self.apic_id)

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


class _Rules(NamedTuple):
    """What the checks take from the facts, worked out once."""

    ok: CheckResult
    vector_range: str
    get_quote_checks: tuple[tuple[str, int], ...]


@memo(maxsize=1)
def _rules() -> _Rules:
    k = constants()
    status = current_facts().tdvmcall_status
    return _Rules(
        ok=CheckResult(k.TDVMCALL_STATUS_SUCCESS),
        vector_range=f"{k.EVENT_NOTIFY_VECTOR_MIN}..{k.EVENT_NOTIFY_VECTOR_MAX} (0..31 are exceptions)",
        get_quote_checks=tuple((check, status[c].value) for check, c in current_facts().get_quote_checks),
    )


def _vector_problem(what: str, vector: int) -> CheckResult | None:
    k = constants()
    if k.EVENT_NOTIFY_VECTOR_MIN <= vector <= k.EVENT_NOTIFY_VECTOR_MAX:
        return None
    return CheckResult(
        k.TDVMCALL_STATUS_INVALID_OPERAND,
        "vector",
        f"{what} = {vector} is not allowed; expected {_rules().vector_range}",
    )


def _apic_problem(what: str, apic_id: int, known: Iterable[int] | None) -> CheckResult | None:
    invalid = constants().TDVMCALL_STATUS_INVALID_OPERAND
    if apic_id > U32_MAX:
        return CheckResult(invalid, "apic_id", f"{what} = {apic_id:#x} is not an x2APIC ID (32 bits)")
    if known is None:
        return None
    ids = sorted(set(known))
    if apic_id in ids:
        return None
    return CheckResult(
        invalid,
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
    return _rules().ok


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


# --- GetQuote: one function per check of get_quote.yaml; each returns the reason it fails, or "" ----

#: The guest header as the checks read it: version, status, in_len, out_len.
_Header = tuple[int, int, int, int]


def _shared_bit_reason(call: GetQuote, shared_bit: int) -> str:
    if call.gpa >> shared_bit & 1:
        return ""
    return (
        f"GetQuote GPA {call.gpa:#x} lacks the shared bit (bit {shared_bit}); expected a GPA of shared memory"
    )


def _size_zero_reason(call: GetQuote, shared_bit: int) -> str:
    if call.size != 0:
        return ""
    return f"GetQuote size = 0 is not allowed; expected a positive multiple of {constants().GET_QUOTE_ALIGN}"


def _alignment_reason(call: GetQuote, shared_bit: int) -> str:
    align = constants().GET_QUOTE_ALIGN
    gpa = call.gpa & ~(1 << shared_bit)
    if not (gpa % align or call.size % align):
        return ""
    return (
        f"GetQuote GPA {gpa:#x} / size {call.size:#x} not allowed; "
        f"expected both multiples of {align:#x} (4 KiB)"
    )


def _read_header(buffer: bytes | bytearray | memoryview) -> tuple[_Header | None, str]:
    """(the header, "") or (None, why it cannot be read) for the guest bytes at the GPA."""
    if not isinstance(buffer, (bytes, bytearray, memoryview)):
        raise ValidationError("GetQuote buffer", type(buffer).__name__, "bytes")
    size = constants().GET_QUOTE_HDR_SIZE
    if len(buffer) < size:
        return None, f"GetQuote buffer holds {len(buffer)} bytes; expected at least the {size}-byte header"
    return header_struct().unpack_from(buffer, 0), ""


def _version_reason(call: GetQuote, header: _Header, level: str, leak_guard: bool) -> str:
    version = constants().GET_QUOTE_STRUCTURE_VERSION
    if header[0] == version:
        return ""
    return f"GetQuote header version = {header[0]} is not allowed; expected {version}"


def _leak_guard_reason(call: GetQuote, header: _Header, level: str, leak_guard: bool) -> str:
    if not (leak_guard and (header[1] != 0 or header[3] != 0)):
        return ""
    return f"GetQuote header status = {header[1]:#x}, out_len = {header[3]} on entry; expected both 0"


def _size_limits_reason(call: GetQuote, header: _Header, level: str, leak_guard: bool) -> str:
    k = constants()
    if level == "qemu" and call.size > k.GET_QUOTE_MAX_BUF_LEN:
        return f"GetQuote size = {call.size} is not allowed; expected <= {k.GET_QUOTE_MAX_BUF_LEN} (128 KiB)"
    if header[2] > call.size - k.GET_QUOTE_HDR_SIZE:
        return (
            f"GetQuote in_len = {header[2]} is not allowed; expected <= size - "
            f"{k.GET_QUOTE_HDR_SIZE} = {call.size - k.GET_QUOTE_HDR_SIZE}"
        )
    return ""


#: Checks of the call's registers (run at every level but ``shared-bit`` and ``none``).
_ARGUMENT_CHECKS: dict[str, Callable[[GetQuote, int], str]] = {
    "size_zero": _size_zero_reason,
    "alignment": _alignment_reason,
}
#: Checks of the header the guest wrote (run only when the buffer is given and readable).
_HEADER_CHECKS: dict[str, Callable[[GetQuote, _Header, str, bool], str]] = {
    "version": _version_reason,
    "leak_guard": _leak_guard_reason,
    "size_limits": _size_limits_reason,
}


def explain_get_quote(
    call: GetQuote,
    buffer: bytes | bytearray | memoryview | None = None,
    *,
    shared_bit: int | None = None,
    level: GetQuoteChecks = "qemu",
    leak_guard: bool = False,
) -> CheckResult:
    """Run the GetQuote checks in the order the real stack applies them (data/ghci/get_quote.yaml).

    ``level``: ``qemu`` = KVM's shared-bit check then QEMU's (size 0, 4 KiB alignment, header
    version, size <= 128 KiB and in_len <= size - 24); ``spec`` = the same without QEMU's 128 KiB cap;
    ``shared-bit`` = KVM alone; ``none``. ``buffer`` holds the guest bytes at the GPA (at least the
    header); when None the header is taken as well formed. ``shared_bit`` defaults to data/ghci's.
    ``leak_guard`` adds the check that status and out_len are 0 on entry, which the reference notes
    list but the QEMU code we read lacks.
    """
    if shared_bit is None:
        shared_bit = constants().SHARED_BIT_DEFAULT
    try:  # memoised: a simulation asks the same a thousand times (errors are not cached)
        return _explain_get_quote_cached(call, buffer, shared_bit, level, leak_guard)
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
    rules = _rules()
    if level == "none":
        return rules.ok
    header: _Header | None = None
    for check, status in rules.get_quote_checks:
        if check == "shared_bit":
            reason = _shared_bit_reason(call, shared_bit)
        elif level == "shared-bit":
            continue
        elif check in _ARGUMENT_CHECKS:
            reason = _ARGUMENT_CHECKS[check](call, shared_bit)
        elif buffer is None:
            continue
        elif check == "header_unreadable":
            header, reason = _read_header(buffer)
        elif header is None:
            continue
        elif check in _HEADER_CHECKS:
            reason = _HEADER_CHECKS[check](call, header, level, leak_guard)
        else:  # pragma: no cover - a check named in the YAML that the code does not know
            raise DataError(f"unknown GetQuote check {check!r}", current_facts().paths.get("get_quote"))
        if reason:
            return CheckResult(status, check, reason)
    return rules.ok


#: :func:`_explain_get_quote` remembered per call (the result is a frozen record); typed, so that
#: ``shared_bit=True`` is still refused after ``shared_bit=1`` was accepted.
_explain_get_quote_cached = memo(maxsize=256, typed=True)(_explain_get_quote)


def check_get_quote(
    call: GetQuote,
    buffer: bytes | bytearray | memoryview | None = None,
    *,
    shared_bit: int | None = None,
    level: GetQuoteChecks = "qemu",
    leak_guard: bool = False,
) -> int:
    """The status the VMM boundary returns for a GetQuote's arguments (SUCCESS if all checks pass)."""
    return explain_get_quote(call, buffer, shared_bit=shared_bit, level=level, leak_guard=leak_guard).status


def validate_get_quote(
    call: GetQuote,
    buffer: bytes | bytearray | memoryview | None = None,
    *,
    shared_bit: int | None = None,
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
    vector_range = _rules().vector_range
    if not isinstance(vector, int) or isinstance(vector, bool):
        raise ValidationError("event-notify vector", vector, f"an integer {vector_range}")
    k = constants()
    if not k.EVENT_NOTIFY_VECTOR_MIN <= vector <= k.EVENT_NOTIFY_VECTOR_MAX:
        raise ValidationError("event-notify vector", vector, vector_range)
    return vector


def validate_apic_id(apic_id: int, known_apic_ids: Iterable[int]) -> int:
    """An APIC ID that must name one of the TD's vCPUs, else ValidationError listing them."""
    ids = sorted(set(known_apic_ids))
    if not isinstance(apic_id, int) or isinstance(apic_id, bool) or apic_id not in ids:
        raise ValidationError("APIC ID", apic_id, f"one of the TD's APIC IDs {_brief(ids)}")
    return apic_id


def raise_for_status(status: int, what: str = "TDVMCALL") -> None:
    """Raise GhciError unless ``status`` is TDVMCALL_STATUS_SUCCESS (names the call and the status)."""
    if status != constants().TDVMCALL_STATUS_SUCCESS:
        raise GhciError(f"{what} failed with {status_name(status)}; expected TDVMCALL_STATUS_SUCCESS", status)
