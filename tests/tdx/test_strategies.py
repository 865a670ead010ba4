"""The notify strategies × VMM profiles: each test shows the mechanism (where interrupts land, why they are
lost, how long the poller sleeps), with expected values derived in the test, not read back from the code."""

from __future__ import annotations

import errno
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kernels import V8_OFFLINING

from tdxlib.errors import ValidationError
from tdxlib.kernel.jiffies import JiffyClock, max_sleep_ms, min_sleep_ms
from tdxlib.sim import Scenario, run
from tdxlib.tdx.strategies import (
    CallerVcpu,
    DynamicIrq,
    Polling,
    QuoteCarriesVector,
    SystemVector,
    make_strategy,
)

GW = 0.1  # guest_work_ms used below


def sim(**kw):
    kw.setdefault("guest_work_ms", GW)
    return run(Scenario(**kw))


def kinds(result, kind):
    ev = result.events
    return ev[ev["kind"] == kind]


# ---------------------------------------------------------------------------------------------- random vCPU


def test_random_vcpu_dynamic_irq_loses_seven_of_eight():
    n, cpus = 1000, 8
    r = sim(
        cpus=cpus, strategy=DynamicIrq(), vmm="random-vcpu", quotes=n, workload="open", rate_per_s=5, seed=11
    )
    m = r.metrics
    assert m.notifications_injected == n
    # each injection lands on the IRQ's CPU with probability 1/8: lost ~ Binomial(1000, 7/8)
    p = (cpus - 1) / cpus
    mean, sigma = n * p, math.sqrt(n * p * (1 - p))
    assert abs(m.lost_notifications - mean) <= 4 * sigma
    assert m.spurious_interrupts == m.lost_notifications  # "No irq handler for vector" on the other CPUs
    handled = kinds(r, "irq_handled")
    assert set(handled["cpu"]) == {m.notify_setup_cpu}
    assert m.notify_setup_cpu not in set(kinds(r, "spurious")["cpu"])
    assert m.vectors_total == 1 and m.vectors_per_cpu[m.notify_setup_cpu] == 1


def test_random_vcpu_system_vector_loses_none():
    n = 1000
    r = sim(
        cpus=8, strategy=SystemVector(), vmm="random-vcpu", quotes=n, workload="open", rate_per_s=5, seed=11
    )
    m = r.metrics
    assert m.lost_notifications == 0 and m.spurious_interrupts == 0
    assert m.completed_by_interrupt == n
    assert len(set(kinds(r, "irq_handled")["cpu"])) == 8  # it lands everywhere and is handled everywhere
    assert m.vectors_per_cpu == [1] * 8 and m.vectors_total == 8
    assert m.fanout_callbacks == m.interrupts_handled == n


def test_fallback_poll_rescues_lost_interrupts():
    r = sim(cpus=8, strategy=DynamicIrq(fallback=Polling()), vmm="random-vcpu", quotes=200, seed=3)
    m = r.metrics
    assert m.completed == 200 and m.hung == 0
    assert m.completed_by_interrupt + m.completed_by_poll == 200
    assert 0 < m.completed_by_interrupt < 80  # ~1/8 by interrupt
    assert m.completed_by_poll > 120


# ---------------------------------------------------------------------------------------------- polling


@pytest.mark.parametrize("hz", [100, 250, 300, 1000])
def test_polling_latency_within_service_plus_one_real_sleep(hz):
    service = 2345.0
    r = sim(cpus=4, strategy=Polling(), vmm="qemu-10.1", service_ms=service, hz=hz, quotes=40, seed=hz)
    lat = r.quotes["latency_ms"].to_numpy()
    assert r.metrics.completed_by_poll == 40
    upper = GW + service + max_sleep_ms(1000, hz)
    assert np.all(lat >= GW + service) and np.all(lat <= upper + 1e-6)
    # three sleeps each: the 2.345 s answer is seen after the third real ~1 s sleep
    assert set(r.quotes["wakeups"]) == {3}
    assert np.all(lat > 3 * min_sleep_ms(1000, hz))


def test_polling_latency_with_random_service_times():
    r = sim(cpus=4, strategy=Polling(), vmm="random-vcpu", hz=250, quotes=300, seed=5)
    q = r.quotes
    extra = q["latency_ms"] - q["service_ms"] - GW
    assert (extra >= 0).all() and (extra <= max_sleep_ms(1000, 250) + 1e-6).all()


def test_one_second_poller_never_below_one_second():
    r = sim(cpus=2, strategy=Polling(), vmm="qemu-10.1", service_ms=0.5, quotes=100, seed=1)
    lat = r.quotes["latency_ms"]
    assert lat.min() >= 1000.0
    assert lat.min() > min_sleep_ms(1000, 250)  # and above 1004 ms at HZ=250
    assert r.metrics.poll_wakeups == 100


@pytest.mark.parametrize(("interval", "hz"), [(1, 250), (5, 250), (1, 1000), (5, 100)])
def test_short_poll_intervals_modelled_like_the_kernel(interval, hz):
    service = 37.0
    r = sim(
        cpus=2, strategy=Polling(interval_ms=interval), vmm="qemu-10.1", service_ms=service, hz=hz, quotes=50
    )
    extra = r.quotes["latency_ms"] - service - GW
    assert (extra >= 0).all() and (extra <= max_sleep_ms(interval, hz) + 1e-6).all()
    # a 1 ms poll at HZ=250 really sleeps 8-12 ms: far fewer wake-ups than 37 per request
    expected_max_wakeups = math.ceil((service + GW) / min_sleep_ms(interval, hz)) + 1
    assert r.quotes["wakeups"].max() <= expected_max_wakeups


def _clock():
    return JiffyClock(1000, offset=0, phase=0.0)


def test_poll_loop_boundary_exactly_as_merged_driver():
    # HZ=1000, 1000 ms: 1001 jiffies, level 2 (gran 64): wake-ups at jiffies 1024, 2048, 3072 from t=0.
    p = Polling(interval_ms=1000, timeout_s=3)
    assert p.loops == 3
    ok = p.wait(0.0, 0.5, _clock())
    assert ok.ret == 0 and ok.completed and ok.wakeups == 1 and ok.end_s == pytest.approx(1.024)
    # completes between the 2nd and 3rd wake-up: seen after the 3rd sleep, i == timeout -> -ETIMEDOUT
    edge = p.wait(0.0, 2.5, _clock())
    assert edge.ret == -errno.ETIMEDOUT and edge.boundary and edge.status == "success"
    assert edge.end_s == pytest.approx(3.072)
    # still in flight after the 3rd sleep: i becomes 4, the loop returns 0; the status check makes it -EIO
    late = p.wait(0.0, 3.5, _clock())
    assert late.ret == -errno.EIO and late.status == "in-flight" and late.wakeups == 3
    old = Polling(interval_ms=1000, timeout_s=3, status_check=False).wait(0.0, 3.5, _clock())
    assert old.ret == 0 and old.empty_quote  # pre-0f409eaea53e: an empty quote "succeeds"
    never = p.wait(0.0, None, _clock())
    assert never.ret == -errno.EIO and never.end_s == pytest.approx(3.072)
    # already answered at the first check: no sleep at all
    now = p.wait(1.0, 0.5, _clock())
    assert now.ret == 0 and now.wakeups == 0 and now.end_s == 1.0
    # an error status is reported as -EIO by the status check
    err = p.wait(0.0, 0.5, _clock(), success=False)
    assert err.ret == -errno.EIO and err.status == "error"


def test_poll_default_is_merged_driver():
    p = Polling()
    assert (p.interval_ms, p.loops, p.serialized) == (1000, 30, True)
    assert Polling(interval_ms=5, timeout_s=30).loops == 6000


@settings(max_examples=60, deadline=None)
@given(
    interval=st.sampled_from([1, 2, 5, 10, 20]),
    hz=st.sampled_from([100, 250, 300, 1000]),
    t0=st.floats(0, 100),
    after=st.floats(0, 3),
    phase=st.floats(0, 0.99),
)
def test_level0_fast_path_matches_step_by_step_sleeps(interval, hz, t0, after, phase):
    clock = JiffyClock(hz, offset=123, phase=phase)
    p = Polling(interval_ms=interval, timeout_s=None)
    stop = t0 + after
    n, t = p._sleeps_until(t0, clock, stop, None)
    m, u = 0, t0
    while u < stop:
        u = clock.msleep_end(u, interval)
        m += 1
    assert n == m and t == pytest.approx(u, abs=1e-9)


def test_polling_timeout_then_ebusy_on_never_answering_service():
    r = sim(cpus=2, strategy=Polling(), vmm="qgs-never-answers", quotes=4, seed=2)
    q = r.quotes
    assert list(q["outcome"]) == ["timed_out", "busy", "busy", "busy"]
    assert q["ret"].iloc[0] == "EIO"  # i == timeout + 1 -> 0, then status != SUCCESS -> -EIO
    assert q["wakeups"].iloc[0] == 30
    assert q["latency_ms"].iloc[0] > 30 * min_sleep_ms(1000, 250)  # 30 real sleeps, not 30 s
    assert list(q["ret"].iloc[1:]) == ["EBUSY"] * 3
    r2 = sim(cpus=2, strategy=Polling(status_check=False), vmm="qgs-never-answers", quotes=1)
    assert r2.metrics.empty_quotes == 1


# ---------------------------------------------------------------------------------------------- never injects


def test_never_injecting_vmm_hangs_interrupt_only_guest():
    r = sim(cpus=4, strategy=SystemVector(), vmm="never-injects", quotes=10)
    m = r.metrics
    assert m.quotes_issued == 1 and m.hung == 1 and m.completed == 0  # the closed loop is stuck for good
    assert m.not_injected == 1
    t = sim(cpus=4, strategy=SystemVector(timeout_s=5), vmm="never-injects", quotes=10)
    assert t.metrics.timed_out == 10 and t.metrics.completed == 0
    assert (t.quotes["latency_ms"] >= 5000).all()
    p = sim(cpus=4, strategy=Polling(), vmm="never-injects", quotes=10)
    assert p.metrics.completed == 10 and p.metrics.completed_by_poll == 10


def test_timeout_required_when_service_never_answers():
    hang = sim(cpus=4, strategy=SystemVector(), vmm="qgs-never-answers", quotes=3)
    assert hang.metrics.hung == 1 and hang.metrics.notifications_injected == 0
    bounded = sim(cpus=4, strategy=SystemVector(timeout_s=30), vmm="qgs-never-answers", quotes=3)
    assert bounded.metrics.timed_out == 3 and bounded.metrics.hung == 0


# ---------------------------------------------------------------------------------------------- targeting


def test_apic_targeted_dynamic_irq_without_hotplug_loses_none():
    r = sim(cpus=8, strategy=DynamicIrq(apic_targeting=True), vmm="apic-id-arg", quotes=300, seed=4)
    assert r.metrics.lost_notifications == 0 and r.metrics.completed_by_interrupt == 300
    setup = kinds(r, "setup_notify").iloc[0]
    assert f"apic_arg={r.metrics.notify_setup_cpu}" in setup["detail"]  # the IRQ's CPU, identity APIC IDs
    assert set(kinds(r, "irq_handled")["cpu"]) == {r.metrics.notify_setup_cpu}


def _hotplug_run(reregister: bool, delay_ms: float = 2000.0):
    return sim(
        cpus=8,
        strategy=DynamicIrq(
            apic_targeting=True, target_cpu=3, reregister=reregister, reregister_delay_ms=delay_ms
        ),
        vmm="apic-id-arg",
        service_ms=100.0,
        workload="open",
        rate_per_s=5,
        quotes=150,
        **V8_OFFLINING,
        hotplug=((10.0, 3, "offline"), (40.0, 3, "online")),
        seed=9,
    )


def test_hotplug_loses_notifications_until_reregistration():
    r = _hotplug_run(True)
    m = r.metrics
    assert m.notify_setup_cpu == 3 and m.notify_cpu != 3 and m.notify_migrations == 1
    assert m.reregistrations == 1
    assert m.loss_window_s == pytest.approx(2.0)
    done = kinds(r, "service_done")["time_s"]
    in_window = int(((done >= 10.0) & (done < 12.0)).sum())
    assert in_window > 0
    assert m.lost_notifications == in_window  # exactly the completions inside the window
    # they were held for the offline CPU and, once it came back, hit a vector it no longer has
    assert m.spurious_interrupts == in_window
    assert (kinds(r, "spurious")["time_s"] == 40.0).all()
    rereg = kinds(r, "reregister").iloc[0]
    assert rereg["time_s"] == pytest.approx(12.0)
    assert rereg["vector"] == m.notify_vector
    assert f"apic_arg={m.notify_cpu}" in rereg["detail"]  # identity APIC IDs: the new CPU's


def test_hotplug_without_reregistration_loses_everything_after():
    r = _hotplug_run(False)
    m = r.metrics
    done = kinds(r, "service_done")["time_s"]
    after = int((done >= 10.0).sum())
    assert m.reregistrations == 0
    assert m.lost_notifications == after
    assert m.loss_window_s == pytest.approx(m.duration_s - 10.0)


def test_qemu_records_caller_so_apic_arg_alone_is_not_enough():
    # QEMU stores the *caller's* APIC ID: registering from the BSP for an IRQ on CPU 3 misses every time
    bsp_call = sim(
        cpus=8,
        strategy=DynamicIrq(apic_targeting=True, target_cpu=3),
        vmm="qemu-10.1",
        quotes=50,
        workload="open",
        rate_per_s=5,
    )
    assert bsp_call.metrics.lost_notifications == 50
    assert set(kinds(bsp_call, "spurious")["cpu"]) == {0}
    caller = sim(cpus=8, strategy=CallerVcpu(target_cpu=3), vmm="qemu-10.1", quotes=50)
    assert caller.metrics.lost_notifications == 0 and caller.metrics.completed_by_interrupt == 50
    assert kinds(caller, "setup_notify").iloc[0]["cpu"] == 3


def test_caller_vcpu_reregisters_from_new_cpu_after_hotplug():
    r = sim(
        cpus=8,
        strategy=CallerVcpu(target_cpu=5, reregister_delay_ms=500),
        vmm="ghci-1.5-caller",
        service_ms=100.0,
        workload="open",
        rate_per_s=10,
        quotes=200,
        **V8_OFFLINING,
        hotplug=((5.0, 5, "offline"),),
        seed=1,
    )
    m = r.metrics
    rereg = kinds(r, "reregister").iloc[0]
    assert rereg["cpu"] == m.notify_cpu != 5  # executed on the IRQ's new CPU
    assert m.loss_window_s == pytest.approx(0.5)
    done = kinds(r, "service_done")["time_s"]
    assert m.lost_notifications == int(((done >= 5.0) & (done < 5.5)).sum())


def test_quote_carries_vector_exposes_only_in_flight_requests():
    kw = dict(
        cpus=8,
        strategy=QuoteCarriesVector(),
        vmm="getquote-carries-vector",
        quotes=200,
        workload="open",
        rate_per_s=20,
        service_ms=300.0,
    )
    base = sim(**kw)
    assert base.metrics.lost_notifications == 0
    cpu = base.metrics.notify_setup_cpu
    r = sim(**kw, hotplug=((5.0, cpu, "offline"),), **V8_OFFLINING)
    m = r.metrics
    called = r.quotes["issued_s"] + GW / 1000  # GetQuote time: the vector is read then
    in_flight_at_5s = int(((called < 5.0) & (called + 0.3 > 5.0)).sum())
    assert m.exposed_requests == in_flight_at_5s > 0
    assert m.lost_notifications == m.exposed_requests  # only those already in flight at the migration
    assert m.setup_calls == 0 and m.loss_window_s == 0.0


def test_early_allocation_lands_on_cpu0():
    early = sim(cpus=8, device_irqs=16, strategy=DynamicIrq(early=True), vmm="ghci-1.5-caller", quotes=5)
    late = sim(cpus=8, device_irqs=16, strategy=DynamicIrq(), vmm="ghci-1.5-caller", quotes=5)
    assert early.metrics.notify_setup_cpu == 0
    assert late.metrics.notify_setup_cpu != 0


# ---------------------------------------------------------------------------------------------- fan-out


def test_fanout_and_v8_single_callback_pointer():
    many = sim(cpus=4, strategy=SystemVector(drivers=3), vmm="bsp-only", quotes=20)
    assert many.metrics.fanout_callbacks == 3 * many.metrics.interrupts_handled == 60
    assert many.metrics.lost_notifications == 0
    v8 = sim(
        cpus=4, strategy=SystemVector(drivers=3, callback_list=False, timeout_s=2), vmm="bsp-only", quotes=5
    )
    # v8 kept one pointer: the last driver to register displaced the quote driver's callback
    assert v8.metrics.fanout_callbacks == v8.metrics.interrupts_handled == 5
    assert v8.metrics.lost_notifications == 5 and v8.metrics.timed_out == 5


# ---------------------------------------------------------------------------------------------- records


def test_strategy_validation_and_round_trip():
    with pytest.raises(ValidationError, match="strategy"):
        make_strategy("interrupts-please")
    with pytest.raises(ValidationError, match="interval_ms"):
        Polling(interval_ms=0)
    with pytest.raises(ValidationError, match="reregister_delay_ms"):
        DynamicIrq(reregister_delay_ms=-1)
    with pytest.raises(ValidationError, match="vector"):
        SystemVector(vector=300)
    with pytest.raises(ValidationError, match="timeout_s"):
        DynamicIrq(timeout_s=5, fallback=Polling())
    with pytest.raises(ValidationError, match="parameters"):
        make_strategy("polling", colour="blue")
    for s in (
        DynamicIrq(apic_targeting=True, reregister=False),
        CallerVcpu(),
        Polling(interval_ms=5),
        SystemVector(drivers=2),
        QuoteCarriesVector(with_apic=False),
        DynamicIrq(fallback=Polling()),
    ):
        assert make_strategy(**s.to_dict()) == s
    assert make_strategy("dynamic-apic") == DynamicIrq(apic_targeting=True)
    assert "apic_targeting=True" in DynamicIrq(apic_targeting=True).label()


def test_system_vector_needs_a_layout_that_defines_it():
    with pytest.raises(ValidationError, match="TDX_GUEST_EVENT_NOTIFY_VECTOR"):
        sim(cpus=2, layout="linux-6.12", strategy=SystemVector(), quotes=1)


# ---------------------------------------------------------------------------------------------- the matrix


def _expected(strategy: str, prof) -> str:
    """What must happen, from the profile's rules and where each strategy puts its handler (no simulation):
    'none' lost, 'all' lost, 'binomial' (~7/8 lost on 8 vCPUs), 'no-interrupt', or 'no-completion'."""
    if not prof.quote_service or prof.never_answers:
        return "no-completion"
    if strategy == "polling" or prof.inject == "never":
        return "no-interrupt"  # Linux 6.7 never registers a vector; a "never" VMM never injects
    if strategy == "quote-carries-vector":
        return "none" if prof.target == "getquote-arg" else "no-interrupt"  # nothing registered otherwise
    if not prof.supports_setup_event_notify:
        return "no-interrupt"
    everywhere = strategy == "system-vector"  # the handler is on every CPU
    if everywhere:
        return "none"
    t = prof.target
    if t in ("any", "random-online", "getquote-caller", "getquote-arg"):
        return "binomial"  # a random CPU (or the random requester's CPU) vs. one CPU with the handler
    if t == "bsp":
        return "all"  # the dynamic IRQ is never on CPU 0 (CPU 0 has the fewest free vectors)
    if t == "setup-caller":
        return "none" if strategy == "caller-vcpu" else "all"  # others call from the BSP
    if t == "apic-id-arg":
        return "none" if strategy in ("dynamic-apic", "caller-vcpu") else "all"
    raise AssertionError(t)


PROFILES = (
    "apic-id-arg",
    "bsp-only",
    "getquote-carries-vector",
    "ghci-1.0",
    "ghci-1.5-caller",
    "intel-qemu-2022",
    "kvm-6.16",
    "never-injects",
    "qemu-10.1",
    "qemu-10.1-no-qgs",
    "qgs-never-answers",
    "random-vcpu",
)
STRATS = ("system-vector", "dynamic", "dynamic-apic", "caller-vcpu", "polling", "quote-carries-vector")


@pytest.mark.parametrize("vmm", PROFILES)
@pytest.mark.parametrize("name", STRATS)
def test_strategy_by_vmm_matrix(name, vmm):
    from tdxlib.tdx.vmm import load_profile

    prof = load_profile(vmm)
    expect = _expected(name, prof)
    strat = make_strategy(name) if name == "polling" else make_strategy(name, timeout_s=2)
    r = sim(
        cpus=8, strategy=strat, vmm=vmm, service_ms=50.0, workload="open", rate_per_s=20, quotes=120, seed=5
    )
    m = r.metrics
    if expect == "no-completion":
        assert m.completed == 0 and m.notifications_injected == 0
        return
    if expect == "no-interrupt":
        assert m.notifications_injected == 0 and m.interrupts_handled == 0
        assert m.completed == (120 if name == "polling" else 0)
        return
    n = m.notifications_injected
    assert n == 120
    if expect == "none":
        assert m.lost_notifications == 0 and m.completed_by_interrupt == 120
    elif expect == "all":
        assert m.lost_notifications == n and m.completed == 0
    else:
        p = 7 / 8
        assert abs(m.lost_notifications - n * p) <= 4 * math.sqrt(n * p * (1 - p))


def test_native_strategy_follows_the_kernels_getquote_driver():
    from tdxlib.tdx.strategies import native_strategy

    assert native_strategy("linux-5.19-tdx-v8") == {"name": "system-vector"}
    assert native_strategy("linux-6.12") == {
        "name": "polling",
        "interval_ms": 1000,
        "timeout_s": 30.0,
        "status_check": False,
    }
    assert native_strategy("linux-7.1")["status_check"] is True  # -EIO on a failed quote since 7.1
    assert native_strategy("linux-6.6") == {"name": "polling", "status_check": False}  # no driver: 6.7's
    assert make_strategy(**native_strategy("linux-7.1")) == Polling()


@pytest.mark.parametrize(
    ("params", "what"),
    [
        ({"callback_list": "no"}, "callback_list"),  # a true string was taken for True
        ({"timeout_s": float("nan")}, "timeout_s"),
        ({"drivers": True}, "drivers"),
        ({"reregister_delay_ms": "1"}, "reregister_delay_ms"),
        ({"fallback": {"name": {"k": 1}}}, "strategy"),  # was: TypeError, unhashable (found by fuzzing)
        ({"fallback": {"name": "polling", 1: 2}}, "fallback"),
    ],
)
def test_parameters_from_a_file_are_typed_not_coerced(params: dict[object, object], what: str) -> None:
    with pytest.raises(ValidationError) as exc:
        make_strategy("dynamic", **params)  # type: ignore[arg-type]
    assert exc.value.what == what
