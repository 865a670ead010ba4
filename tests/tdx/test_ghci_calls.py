"""tdxlib.tdx.ghci.calls: request records, status names, boundary checks and their errors."""

from __future__ import annotations

import pytest

from tdxlib.errors import GhciError, ValidationError
from tdxlib.tdx import ghci

SHARED = 1 << 51
GPA = SHARED | 0x7_0000_0000  # a page-aligned shared GPA


def _buffer(size: int = 4096, in_len: int = 1024, **header: int) -> bytes:
    """Guest bytes at the GPA: header claiming ``in_len``, as much message as fits in ``size``."""
    qb = ghci.QuoteBuffer.request(b"\xa5" * min(in_len, size - 24))
    qb.in_len = in_len
    for k, v in header.items():
        setattr(qb, k, v)
    return qb.to_bytes(size)


# --- status names and shared GPAs ----------------------------------------------------------------------


def test_status_names_are_distinct_per_table_and_round_trip() -> None:
    for table, name_of in (
        (ghci.TDVMCALL_STATUS, ghci.status_name),
        (ghci.GET_QUOTE_STATUS, ghci.get_quote_status_name),
    ):
        values = [sc.value for sc in table.values()]
        assert len(set(values)) == len(values)
        for sc in table.values():
            assert name_of(sc.value) == sc.constant
    # the tables overlap numerically; each lookup answers from its own table
    assert ghci.status_name(1 << 63) == "TDVMCALL_STATUS_INVALID_OPERAND"
    assert ghci.get_quote_status_name(1 << 63) == "GET_QUOTE_ERROR"
    assert "UNKNOWN" in ghci.status_name(0x1234)
    with pytest.raises(ValidationError):
        ghci.status_name(-1)


def test_shared_bit_by_gpa_width() -> None:
    assert ghci.shared_bit_for_gpaw(52) == 51
    assert ghci.shared_bit_for_gpaw(48) == 47
    with pytest.raises(ValidationError, match="46"):
        ghci.shared_bit_for_gpaw(46)
    assert ghci.shared_gpa(0x1000) == 0x1000 | SHARED


# --- records -------------------------------------------------------------------------------------------


def test_records_hold_register_values_only() -> None:
    assert ghci.SetupEventNotifyInterrupt(0x40).registers() == {"R10": 0, "R11": 0x10004, "R12": 0x40}
    assert ghci.SetupEventNotifyInterrupt(0x40, apic_id=3).registers()["R13"] == 3
    assert ghci.GetQuote(GPA, 8192).registers() == {"R10": 0, "R11": 0x10002, "R12": GPA, "R13": 8192}
    for bad in (-1, 1 << 64, True, "32"):
        with pytest.raises(ValidationError):
            ghci.SetupEventNotifyInterrupt(bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="size"):
        ghci.GetQuote(GPA, -4096)


# --- SetupEventNotifyInterrupt: status at the boundary, TdxlibError at the API --------------------------


@pytest.mark.parametrize("vector", [0, 31, 256, 0xFFFF])
def test_bad_vector_is_invalid_operand_and_a_clear_error(vector: int) -> None:
    call = ghci.SetupEventNotifyInterrupt(vector)
    assert ghci.check_setup_event_notify(call) == ghci.TDVMCALL_STATUS_INVALID_OPERAND
    with pytest.raises(GhciError) as exc:
        ghci.validate_setup_event_notify(call)
    assert exc.value.status == ghci.TDVMCALL_STATUS_INVALID_OPERAND
    assert f"= {vector}" in str(exc.value) and "32..255" in str(exc.value)
    with pytest.raises(ValidationError, match=r"32\.\.255"):
        ghci.validate_vector(vector)


@pytest.mark.parametrize("vector", [32, 0xEC, 255])
def test_vector_bounds_are_accepted(vector: int) -> None:
    call = ghci.SetupEventNotifyInterrupt(vector)
    assert ghci.check_setup_event_notify(call) == ghci.TDVMCALL_STATUS_SUCCESS
    assert ghci.validate_setup_event_notify(call) is call
    assert ghci.validate_vector(vector) == vector


def test_vector_check_can_be_off_for_a_non_validating_vmm() -> None:
    call = ghci.SetupEventNotifyInterrupt(3)
    assert ghci.check_setup_event_notify(call, validate_vector=False) == ghci.TDVMCALL_STATUS_SUCCESS


def test_unknown_apic_id_is_invalid_operand_and_names_the_known_ones() -> None:
    known = [0, 2, 4, 6]
    bad = ghci.SetupEventNotifyInterrupt(0x40, apic_id=5)
    assert ghci.check_setup_event_notify(bad, known_apic_ids=known) == ghci.TDVMCALL_STATUS_INVALID_OPERAND
    assert ghci.check_setup_event_notify(bad) == ghci.TDVMCALL_STATUS_SUCCESS  # nothing to check against
    ok = ghci.SetupEventNotifyInterrupt(0x40, apic_id=4)
    assert ghci.check_setup_event_notify(ok, known_apic_ids=known) == ghci.TDVMCALL_STATUS_SUCCESS
    with pytest.raises(GhciError, match=r"APIC ID = 5 .*\[0, 2, 4, 6\]"):
        ghci.validate_setup_event_notify(bad, known_apic_ids=known)
    with pytest.raises(ValidationError, match="APIC ID"):
        ghci.validate_apic_id(5, known)
    huge = ghci.SetupEventNotifyInterrupt(0x40, apic_id=1 << 32)
    assert ghci.check_setup_event_notify(huge) == ghci.TDVMCALL_STATUS_INVALID_OPERAND


# --- GetQuote -------------------------------------------------------------------------------------------


def test_a_linux_style_request_passes() -> None:
    assert ghci.check_get_quote(ghci.GetQuote(GPA, 8192), _buffer(8192)) == ghci.TDVMCALL_STATUS_SUCCESS


@pytest.mark.parametrize(
    ("call", "buf", "status", "check", "words"),
    [
        (ghci.GetQuote(GPA & ~SHARED, 4096), _buffer(), "INVALID_OPERAND", "shared_bit", "shared bit"),
        (ghci.GetQuote(GPA, 0), _buffer(), "INVALID_OPERAND", "size_zero", "size = 0"),
        (ghci.GetQuote(GPA + 0x800, 4096), _buffer(), "ALIGN_ERROR", "alignment", "0x1000"),
        (ghci.GetQuote(GPA, 4000), _buffer(4096), "ALIGN_ERROR", "alignment", "0xfa0"),
        (ghci.GetQuote(GPA, 4096), bytes(10), "INVALID_OPERAND", "header_unreadable", "10 bytes"),
        (ghci.GetQuote(GPA, 4096), _buffer(version=2), "INVALID_OPERAND", "version", "version = 2"),
        (ghci.GetQuote(GPA, 4096), _buffer(in_len=4080), "INVALID_OPERAND", "size_limits", "in_len = 4080"),
        (ghci.GetQuote(GPA, 256 * 1024), _buffer(), "INVALID_OPERAND", "size_limits", "131072"),
    ],
)
def test_bad_get_quote_arguments(
    call: ghci.GetQuote, buf: bytes, status: str, check: str, words: str
) -> None:
    want = getattr(ghci, f"TDVMCALL_STATUS_{status}")
    result = ghci.explain_get_quote(call, buf)
    assert (result.status, result.check) == (want, check)
    assert ghci.check_get_quote(call, buf) == want
    with pytest.raises(GhciError) as exc:
        ghci.validate_get_quote(call, buf)
    assert exc.value.status == want and words in str(exc.value) and status in str(exc.value)


def test_undersized_buffer_boundary_is_size_minus_24() -> None:
    call = ghci.GetQuote(GPA, 4096)
    assert ghci.check_get_quote(call, _buffer(in_len=4072)) == ghci.TDVMCALL_STATUS_SUCCESS
    assert ghci.check_get_quote(call, _buffer(in_len=4073)) == ghci.TDVMCALL_STATUS_INVALID_OPERAND


def test_kvm_shared_bit_check_comes_before_qemu_alignment() -> None:
    call = ghci.GetQuote(0x1234, 100)  # private and unaligned
    assert ghci.explain_get_quote(call).check == "shared_bit"
    assert ghci.check_get_quote(call, level="shared-bit") == ghci.TDVMCALL_STATUS_INVALID_OPERAND
    assert (
        ghci.check_get_quote(ghci.GetQuote(GPA + 1, 100), level="shared-bit") == ghci.TDVMCALL_STATUS_SUCCESS
    )
    assert ghci.check_get_quote(call, level="none") == ghci.TDVMCALL_STATUS_SUCCESS


def test_spec_level_has_no_128k_cap_and_47_bit_shared_gpa() -> None:
    big = ghci.GetQuote(GPA, 256 * 1024)
    assert ghci.check_get_quote(big, _buffer(), level="spec") == ghci.TDVMCALL_STATUS_SUCCESS
    gpa47 = ghci.shared_gpa(0x10_0000, 47)
    assert ghci.check_get_quote(ghci.GetQuote(gpa47, 4096), shared_bit=47) == ghci.TDVMCALL_STATUS_SUCCESS
    assert ghci.check_get_quote(ghci.GetQuote(gpa47, 4096)) == ghci.TDVMCALL_STATUS_INVALID_OPERAND


def test_leak_guard_is_opt_in() -> None:
    dirty = _buffer(status=ghci.GET_QUOTE_IN_FLIGHT)
    call = ghci.GetQuote(GPA, 4096)
    assert ghci.check_get_quote(call, dirty) == ghci.TDVMCALL_STATUS_SUCCESS  # QEMU as read
    assert ghci.check_get_quote(call, dirty, leak_guard=True) == ghci.TDVMCALL_STATUS_INVALID_OPERAND


def test_the_check_memo_tells_an_int_from_a_float() -> None:
    call = ghci.GetQuote(GPA, 4096)
    assert ghci.check_get_quote(call, shared_bit=51) == ghci.TDVMCALL_STATUS_SUCCESS
    with pytest.raises(ValidationError, match="shared bit"):
        ghci.check_get_quote(call, shared_bit=51.0)  # type: ignore[arg-type]  # equal key, other type
    with pytest.raises(ValidationError, match="shared bit"):
        ghci.check_get_quote(call, shared_bit=True)  # type: ignore[arg-type]


def test_bad_check_parameters_are_validation_errors() -> None:
    with pytest.raises(ValidationError, match="level"):
        ghci.check_get_quote(ghci.GetQuote(GPA, 4096), level="strict")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="shared bit"):
        ghci.check_get_quote(ghci.GetQuote(GPA, 4096), shared_bit=70)


def test_raise_for_status() -> None:
    ghci.raise_for_status(ghci.TDVMCALL_STATUS_SUCCESS)
    with pytest.raises(GhciError, match="GetQuote failed with TDVMCALL_STATUS_RETRY") as exc:
        ghci.raise_for_status(ghci.TDVMCALL_STATUS_RETRY, "GetQuote")
    assert exc.value.status == 1
