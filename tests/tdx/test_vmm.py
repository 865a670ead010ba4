"""Tests for tdxlib.tdx.vmm: profiles as data (and their errors), the Vmm's statuses and notifications."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tdxlib.data import data_path
from tdxlib.errors import DataError, ValidationError
from tdxlib.tdx import ghci
from tdxlib.tdx.vmm import LatencyModel, Vmm, VmmProfile, load_profile, profile_from_mapping, profile_names

GPA = ghci.shared_gpa(0x7_0000_0000)
APICS = list(range(8))
REQUIRED = {
    "ghci-1.0",
    "ghci-1.5-caller",
    "qemu-10.1",
    "kvm-6.16",
    "never-injects",
    "random-vcpu",
    "bsp-only",
}


def vmm(name: str, seed: int = 0, **changes: object) -> Vmm:
    profile = load_profile(name)
    if changes:
        profile = dataclasses.replace(profile, **changes)  # type: ignore[arg-type]
    return Vmm(profile, np.random.default_rng(seed), apic_ids=APICS)


def within_binomial(count: int, n: int, p: float, z: float = 5.0) -> bool:
    """``count`` successes of ``n`` draws with probability ``p`` lie within z standard deviations."""
    return abs(count - n * p) <= z * math.sqrt(n * p * (1 - p))


# --- shipped profiles ----------------------------------------------------------------------------------


def test_the_required_profiles_ship_and_load() -> None:
    assert set(profile_names()) >= REQUIRED
    for name in profile_names():
        p = load_profile(name)
        assert p.name == name  # file stem == name
        assert p.source and p.title and p.models and p.notes
        assert p.service_latency_ms.assumption  # every latency says where it comes from


def test_qemu_profile_is_what_we_read() -> None:
    q = load_profile("qemu-10.1")
    assert (q.target, q.inject, q.max_in_flight, q.service_timeout_ms) == (
        "setup-caller",
        "must",
        16,
        30000.0,
    )
    assert q.get_quote_checks == "qemu" and not q.leak_guard
    assert load_profile("ghci-1.0").target == "any" and load_profile("ghci-1.0").inject == "can"
    assert load_profile("kvm-6.16").inject == "never"


def test_load_by_path_and_unknown_names(tmp_path: Path) -> None:
    src = data_path("vmm", "bsp-only.yaml")
    dst = tmp_path / "mine.yaml"
    dst.write_text(src.read_text())
    assert load_profile(str(dst)) == load_profile("bsp-only")
    with pytest.raises(ValidationError, match=r"qemu-10\.1"):
        load_profile("qemu-9")
    with pytest.raises(DataError, match="not found"):
        load_profile(str(tmp_path / "missing.yaml"))


# --- profile errors name file, line and field ----------------------------------------------------------


def _broken(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    """qemu-10.1.yaml with ``old`` replaced by ``new``; returns the file and the line of new's last line."""
    text = data_path("vmm", "qemu-10.1.yaml").read_text()
    assert old in text
    text = text.replace(old, new, 1)
    p = tmp_path / "broken.yaml"
    p.write_text(text)
    marker = new.splitlines()[-1]
    line = next(i for i, s in enumerate(text.splitlines(), 1) if s == marker)
    return p, line


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("failure_rate: 0.0", "failure_rate: 0.0\nretries: 3", "retries"),  # unknown field
        ("validates_vector: true", 'validates_vector: "yes"', "validates_vector"),  # wrong type
        ("failure_rate: 0.0", "failure_rate: 1.5", "failure_rate"),  # out of range
        ("max_in_flight: 16", "max_in_flight: 0", "max_in_flight"),
        ("target: setup-caller", "target: any-cpu", "target"),
        ("inject_probability: 1.0", "inject_probability: 0.5", "inject_probability"),  # must => 1.0
        ("  median_ms: 300", "  median_ms: -3", "service_latency_ms.median_ms"),
        ("  sigma: 0.5", "  sigma: 0.5\n  p99_ms: 900", "service_latency_ms.p99_ms"),
    ],
)
def test_profile_errors_name_file_line_and_field(tmp_path: Path, old: str, new: str, field: str) -> None:
    p, line = _broken(tmp_path, old, new)
    with pytest.raises(DataError) as exc:
        load_profile(str(p))
    err = exc.value
    assert err.path == p and err.line == line, str(err)
    assert f"'{field}'" in str(err) and "broken.yaml" in str(err)


def test_missing_field_and_non_mapping() -> None:
    complete = dict(load_profile("bsp-only").__dict__)
    del complete["target"]
    with pytest.raises(DataError, match="'target': missing"):
        profile_from_mapping(complete, "x.yaml")
    with pytest.raises(DataError, match="mapping"):
        profile_from_mapping(["a"], "x.yaml")


def test_python_construction_is_validated_too() -> None:
    q = load_profile("qemu-10.1")
    with pytest.raises(ValidationError, match="failure_rate"):
        dataclasses.replace(q, failure_rate=1.5)
    with pytest.raises(ValidationError, match="inject_probability"):
        dataclasses.replace(q, inject="never")
    slow = q.with_service_ms(1500)
    assert slow.service_latency_ms.kind == "fixed" and slow.service_latency_ms.mean == 1500.0


# --- latency models ------------------------------------------------------------------------------------


def test_latency_models_sample_their_distribution() -> None:
    rng = np.random.default_rng(1)
    n = 20000
    logn = LatencyModel(kind="lognormal", median_ms=300, sigma=0.5)
    assert abs(np.median(logn.sample_many(rng, n)) / 300 - 1) < 0.03
    expo = LatencyModel(kind="exponential", mean_ms=200)
    assert abs(expo.sample_many(rng, n).mean() / expo.mean - 1) < 0.03
    uni = LatencyModel(kind="uniform", low_ms=100, high_ms=200).sample_many(rng, n)
    assert uni.min() >= 100 and uni.max() <= 200
    assert LatencyModel.fixed(42).sample(rng) == 42.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "gamma", "ms": 1},
        {"kind": "fixed"},
        {"kind": "fixed", "ms": 1, "sigma": 1},
        {"kind": "uniform", "low_ms": 5, "high_ms": 1},
        {"kind": "exponential", "mean_ms": 0},
        {"kind": "fixed", "ms": float("nan")},
    ],
)
def test_bad_latency_models(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        LatencyModel(**kwargs)  # type: ignore[arg-type]


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
    v.setup_event_notify_interrupt(ghci.SetupEventNotifyInterrupt(0x40), 1)
    v.reset()
    assert v.registered_vector is None and v.notification(1, APICS, 0) is None


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
