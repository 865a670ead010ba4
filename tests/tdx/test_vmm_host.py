"""tdxlib.tdx.vmm.host: the Vmm's statuses, service and notifications as its profile says."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter

import numpy as np
import pytest

from tdxlib.errors import ValidationError
from tdxlib.tdx import ghci
from tdxlib.tdx.vmm import LatencyModel, Vmm, VmmProfile, load_profile

GPA = ghci.shared_gpa(0x7_0000_0000)
APICS = list(range(8))


def vmm(name: str, seed: int = 0, **changes: object) -> Vmm:
    profile = load_profile(name)
    if changes:
        profile = dataclasses.replace(profile, **changes)  # type: ignore[arg-type]
    return Vmm(profile, np.random.default_rng(seed), apic_ids=APICS)


def within_binomial(count: int, n: int, p: float, z: float = 5.0) -> bool:
    """``count`` successes of ``n`` draws with probability ``p`` lie within z standard deviations."""
    return abs(count - n * p) <= z * math.sqrt(n * p * (1 - p))


# --- SetupEventNotifyInterrupt -------------------------------------------------------------------------


@pytest.mark.parametrize("vector", [0, 31, 256])
def test_bad_vector_is_rejected_and_nothing_is_registered(vector: int) -> None:
    v = vmm("qemu-10.1")
    assert (
        v.setup_event_notify_interrupt(ghci.SetupEventNotifyInterrupt(0x40), 2)
        == ghci.TDVMCALL_STATUS_SUCCESS
    )
    status = v.setup_event_notify_interrupt(ghci.SetupEventNotifyInterrupt(vector), 5)
    assert status == ghci.TDVMCALL_STATUS_INVALID_OPERAND
    assert (v.registered_vector, v.registered_apic_id) == (0x40, 2)


def test_setup_caller_is_frozen_at_call_time_and_overwritten_by_a_later_call() -> None:
    v = vmm("qemu-10.1")
    v.setup_event_notify_interrupt(ghci.SetupEventNotifyInterrupt(0x41), 3)
    assert v.get_quote(ghci.GetQuote(GPA, 4096), 6) == ghci.TDVMCALL_STATUS_SUCCESS
    online_without_3 = [a for a in APICS if a != 3]  # the registering CPU went offline meanwhile
    assert v.notification(6, online_without_3, 0) == (0x41, 3)
    v.setup_event_notify_interrupt(ghci.SetupEventNotifyInterrupt(0x42), 5)
    assert v.notification(6, APICS, 0) == (0x42, 5)


def test_no_vector_registered_means_no_interrupt() -> None:
    v = vmm("qemu-10.1")
    v.get_quote(ghci.GetQuote(GPA, 4096), 1)
    assert v.notification(1, APICS, 0) is None


def test_a_guest_reset_keeps_the_registration_as_qemu_does() -> None:
    """QEMU clears the vector only in tdx_guest_init(); its 11.0 reset paths leave it (qemu-10.1 notes)."""
    v = vmm("qemu-10.1")
    v.setup_event_notify_interrupt(ghci.SetupEventNotifyInterrupt(0x40), 1)
    v.get_quote(ghci.GetQuote(GPA, 4096), 1)
    v.reset()
    assert (v.registered_vector, v.registered_apic_id, v.in_flight) == (0x40, 1, 0)
    v.get_quote(ghci.GetQuote(GPA, 4096), 2)
    assert v.notification(2, APICS, 0) == (0x40, 1)  # the previous boot's vector is injected
    notes = load_profile("qemu-10.1").notes
    assert "only in tdx_guest_init()" in notes and "do not clear it" in notes
    assert "at start and guest reset" not in notes


def test_kvm_validates_the_vector_before_it_exits_to_user_space() -> None:
    """4580dbef5ce0: outside 32..255 -> INVALID_OPERAND without an exit; inside -> user space (none here)."""
    profile = load_profile("kvm-6.16")
    assert profile.validates_vector is True and "4580dbef5ce0" in profile.source
    v = vmm("kvm-6.16")
    low = v.setup_event_notify_interrupt(ghci.SetupEventNotifyInterrupt(0x10), 0)
    assert low == ghci.TDVMCALL_STATUS_INVALID_OPERAND
    ok = v.setup_event_notify_interrupt(ghci.SetupEventNotifyInterrupt(0x40), 0)
    assert ok == ghci.TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED and v.registered_vector is None


def test_a_failed_qgs_connect_injects_unlike_a_missing_socket() -> None:
    """tdx_quote_generator_connected() completes the request (status QGS_UNAVAILABLE) and so injects; only
    the no-socket case answers at once without an interrupt."""
    with_socket = " ".join(load_profile("qemu-10.1").notes.split())
    assert "connect fails" in with_socket and "DOES inject" in with_socket and "43ba160cb4bb" in with_socket
    no_socket = load_profile("qemu-10.1-no-qgs")
    assert no_socket.quote_service is False and "connect fails" in " ".join(no_socket.notes.split())


def test_kvm_without_user_space_notifier() -> None:
    v = vmm("kvm-6.16")
    status = v.setup_event_notify_interrupt(ghci.SetupEventNotifyInterrupt(0x40), 0)
    assert status == ghci.TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED and v.registered_vector is None
    # KVM checks only the shared bit; the quote service still works (a polling guest completes)
    assert v.get_quote(ghci.GetQuote(GPA + 8, 100), 0) == ghci.TDVMCALL_STATUS_SUCCESS
    assert v.get_quote(ghci.GetQuote(0x1000, 4096), 0) == ghci.TDVMCALL_STATUS_INVALID_OPERAND
    assert v.service_outcome() == ghci.GET_QUOTE_SUCCESS
    assert v.notification(0, APICS, 0) is None


def test_apic_id_argument_profile() -> None:
    v = vmm("apic-id-arg")
    bad = ghci.SetupEventNotifyInterrupt(0x40, apic_id=42)
    assert v.setup_event_notify_interrupt(bad, 1) == ghci.TDVMCALL_STATUS_INVALID_OPERAND
    assert v.setup_event_notify_interrupt(ghci.SetupEventNotifyInterrupt(0x40, apic_id=6), 1) == 0
    assert v.notification(2, APICS, 0) == (0x40, 6)
    v.setup_event_notify_interrupt(ghci.SetupEventNotifyInterrupt(0x43), 4)  # no argument: the caller
    assert v.notification(2, APICS, 0) == (0x43, 4)
    # a VMM that does not take the argument ignores it (QEMU): R13 is not looked at
    q = vmm("qemu-10.1")
    assert (
        q.setup_event_notify_interrupt(bad, 1) == ghci.TDVMCALL_STATUS_SUCCESS and q.registered_apic_id == 1
    )


# --- GetQuote ------------------------------------------------------------------------------------------


def test_get_quote_argument_statuses_follow_the_profile_checks() -> None:
    header = ghci.QuoteBuffer.request(bytes(1024)).to_bytes(4096)
    q = vmm("qemu-10.1")
    assert q.get_quote(ghci.GetQuote(GPA + 0x800, 4096), 0, header) == ghci.TDVMCALL_STATUS_ALIGN_ERROR
    assert q.get_quote(ghci.GetQuote(GPA, 0), 0, header) == ghci.TDVMCALL_STATUS_INVALID_OPERAND
    assert q.get_quote(ghci.GetQuote(GPA, 256 * 1024), 0, header) == ghci.TDVMCALL_STATUS_INVALID_OPERAND
    assert q.last_header_status is None and q.in_flight == 0
    g = vmm("ghci-1.0")  # the spec text has no 128 KiB cap
    assert g.get_quote(ghci.GetQuote(GPA, 256 * 1024), 0, header) == ghci.TDVMCALL_STATUS_SUCCESS


def test_qemu_answers_retry_beyond_16_in_flight_until_one_completes() -> None:
    v = vmm("qemu-10.1")
    call = ghci.GetQuote(GPA, 4096)
    assert [v.get_quote(call, 0) for _ in range(16)] == [ghci.TDVMCALL_STATUS_SUCCESS] * 16
    assert v.last_header_status == ghci.GET_QUOTE_IN_FLIGHT
    assert v.get_quote(call, 0) == ghci.TDVMCALL_STATUS_RETRY
    v.notification(0, APICS, 0)  # one completes
    assert v.in_flight == 15 and v.get_quote(call, 0) == ghci.TDVMCALL_STATUS_SUCCESS
    unlimited = vmm("ghci-1.0")
    assert all(unlimited.get_quote(call, 0) == 0 for _ in range(100))


def test_no_quote_service_answers_service_unavailable_at_once_without_interrupt() -> None:
    v = vmm("qemu-10.1-no-qgs")
    v.setup_event_notify_interrupt(ghci.SetupEventNotifyInterrupt(0x40), 0)
    assert v.get_quote(ghci.GetQuote(GPA, 4096), 0) == ghci.TDVMCALL_STATUS_SUCCESS
    assert v.last_header_status == ghci.GET_QUOTE_SERVICE_UNAVAILABLE and v.in_flight == 0
    assert v.serve() == (0.0, ghci.GET_QUOTE_SERVICE_UNAVAILABLE)
    assert v.notification(0, APICS, 0) is None


def test_qemu_timeout_turns_a_silent_service_into_an_error_at_30s() -> None:
    v = vmm("qemu-10.1", never_answers=True)
    assert v.service_time_ms() == 30000.0 and v.service_outcome() == ghci.GET_QUOTE_ERROR
    slow = vmm("qemu-10.1", service_latency_ms=LatencyModel.fixed(45000))
    assert slow.serve() == (30000.0, ghci.GET_QUOTE_ERROR)
    fast = vmm("qemu-10.1", service_latency_ms=LatencyModel.fixed(500))
    assert fast.serve() == (500.0, ghci.GET_QUOTE_SUCCESS)
    hung = vmm("qgs-never-answers")
    assert hung.service_time_ms() is None


def test_failure_rate_is_honoured() -> None:
    v = vmm("qemu-10.1", seed=7, failure_rate=0.2)
    outcomes = Counter(v.service_outcome() for _ in range(5000))
    assert within_binomial(outcomes[ghci.GET_QUOTE_ERROR], 5000, 0.2)


# --- notifications -------------------------------------------------------------------------------------


def test_random_online_hits_each_of_8_vcpus_about_one_in_8() -> None:
    v = vmm("random-vcpu", seed=11)
    v.setup_event_notify_interrupt(ghci.SetupEventNotifyInterrupt(0x40), 0)
    n = 8000
    hits: Counter[int] = Counter()
    for _ in range(n):
        note = v.notification(0, APICS, 0)
        assert note is not None and note[0] == 0x40
        hits[note[1]] += 1
    assert set(hits) == set(APICS)
    assert all(within_binomial(hits[a], n, 1 / 8) for a in APICS), hits


def test_random_online_never_picks_an_offline_vcpu_but_any_does() -> None:
    online = [0, 1, 2, 3]
    r = vmm("random-vcpu", seed=3)
    r.setup_event_notify_interrupt(ghci.SetupEventNotifyInterrupt(0x40), 0)
    assert {r.notification(0, online, 0)[1] for _ in range(400)} == set(online)  # type: ignore[index]
    a = vmm("ghci-1.0", seed=3)
    a.setup_event_notify_interrupt(ghci.SetupEventNotifyInterrupt(0x40), 0)
    n = 8000
    offline_hits = sum(a.notification(0, online, 0)[1] >= 4 for _ in range(n))  # type: ignore[index]
    assert within_binomial(offline_hits, n, 0.5)


def test_bsp_and_getquote_caller_targets() -> None:
    b = vmm("bsp-only")
    b.setup_event_notify_interrupt(ghci.SetupEventNotifyInterrupt(0x40), 5)
    assert {b.notification(c, APICS, 0) for c in APICS} == {(0x40, 0)}
    g = vmm("intel-qemu-2022")
    g.setup_event_notify_interrupt(ghci.SetupEventNotifyInterrupt(0x40), 5)
    assert [g.notification(c, APICS, 0) for c in (1, 7)] == [(0x40, 1), (0x40, 7)]


def test_getquote_carries_vector() -> None:
    v = vmm("getquote-carries-vector")
    assert v.get_quote(ghci.GetQuote(GPA, 4096, vector=20), 2) == ghci.TDVMCALL_STATUS_INVALID_OPERAND
    assert (
        v.get_quote(ghci.GetQuote(GPA, 4096, vector=0x50, apic_id=99), 2)
        == ghci.TDVMCALL_STATUS_INVALID_OPERAND
    )
    call = ghci.GetQuote(GPA, 4096, vector=0x50, apic_id=6)
    assert v.get_quote(call, 2) == ghci.TDVMCALL_STATUS_SUCCESS
    assert v.notification(2, APICS, 0, call) == (0x50, 6)
    own_cpu = ghci.GetQuote(GPA, 4096, vector=0x51)
    assert v.notification(3, APICS, 0, own_cpu) == (0x51, 3)
    assert v.notification(3, APICS, 0, ghci.GetQuote(GPA, 4096)) is None  # no vector anywhere


def test_never_injecting_profiles_return_none() -> None:
    for name in ("never-injects", "kvm-6.16"):
        v = vmm(name)
        v.setup_event_notify_interrupt(ghci.SetupEventNotifyInterrupt(0x40), 0)
        assert all(v.notification(0, APICS, 0) is None for _ in range(200))


def test_can_inject_with_a_probability() -> None:
    v = vmm("ghci-1.0", seed=5, inject_probability=0.3)
    v.setup_event_notify_interrupt(ghci.SetupEventNotifyInterrupt(0x40), 0)
    n = 5000
    injected = sum(v.notification(0, APICS, 0) is not None for _ in range(n))
    assert within_binomial(injected, n, 0.3)


def test_same_seed_same_notifications() -> None:
    def run(seed: int) -> list[tuple[int, int] | None]:
        v = vmm("ghci-1.0", seed=seed)
        v.setup_event_notify_interrupt(ghci.SetupEventNotifyInterrupt(0x40), 0)
        return [v.notification(0, [0, 1, 2], 0) for _ in range(50)]

    assert run(9) == run(9) and run(9) != run(10)


def test_vmm_rejects_bad_construction() -> None:
    with pytest.raises(ValidationError, match="profile"):
        Vmm("qemu-10.1", np.random.default_rng(0))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="rng"):
        Vmm(load_profile("qemu-10.1"), 0)  # type: ignore[arg-type]
    assert isinstance(load_profile("qemu-10.1"), VmmProfile)


def test_the_shared_bit_defaults_to_the_data() -> None:
    profile = load_profile("qemu-10.1")
    assert Vmm(profile, np.random.default_rng(0)).shared_bit == ghci.SHARED_BIT_DEFAULT == 51
    v47 = Vmm(profile, np.random.default_rng(0), shared_bit=47)
    assert v47.get_quote(ghci.GetQuote(GPA, 4096), 0) == ghci.TDVMCALL_STATUS_INVALID_OPERAND  # bit 51 set
    assert v47.get_quote(ghci.GetQuote(ghci.shared_gpa(0x7_0000_0000, 47), 4096), 0) == 0
