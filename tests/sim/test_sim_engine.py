"""tdxlib.sim.engine: determinism, the metrics-only fast path, cached booted guests, cached set-up."""

from __future__ import annotations

import math

import pandas.testing as pdt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kernels import V8_OFFLINING

from tdxlib import cache
from tdxlib.errors import ValidationError
from tdxlib.sim import Scenario, run
from tdxlib.sim.engine import GUEST_TEMPLATE_VCPUS, booted_guest
from tdxlib.tdx.guest import TdGuest
from tdxlib.tdx.strategies import make_strategy


def test_same_scenario_same_frames(hotplug_scenario):
    a, b = run(hotplug_scenario), run(hotplug_scenario)
    pdt.assert_frame_equal(a.events, b.events)
    pdt.assert_frame_equal(a.quotes, b.quotes)
    assert a.metrics.to_dict() == b.metrics.to_dict()
    c = run(hotplug_scenario.replace(seed=8))
    assert not a.events.equals(c.events)


def test_run_takes_a_scenario():
    with pytest.raises(ValidationError):
        run("not a scenario")  # type: ignore[arg-type]


@settings(max_examples=15, deadline=None)
@given(
    name=st.sampled_from(
        ["system-vector", "dynamic", "dynamic-apic", "caller-vcpu", "polling", "quote-carries-vector"]
    ),
    vmm=st.sampled_from(["ghci-1.0", "qemu-10.1", "random-vcpu", "apic-id-arg", "never-injects"]),
    workload=st.sampled_from(["open", "closed"]),
    hotplug=st.sampled_from([None, "notify", "random"]),
    seed=st.integers(0, 10_000),
)
def test_metrics_only_run_has_the_same_metrics(name, vmm, workload, hotplug, seed):
    strat = make_strategy(name) if name == "polling" else make_strategy(name, timeout_s=5)
    sc = Scenario(
        cpus=5,
        device_irqs=8,
        strategy=strat,
        vmm=vmm,
        workload=workload,
        rate_per_s=6,
        quotes=25,
        **V8_OFFLINING,
        hotplug_every_s=0.7 if hotplug else None,
        hotplug_cpus=hotplug or "random",
        seed=seed,
    )
    full, fast = run(sc), run(sc, frames=False)
    assert full.has_frames and not fast.has_frames
    assert fast.metrics.to_dict() == full.metrics.to_dict()  # bit for bit (NaN -> None in to_dict)
    served = full.quotes["service_ms"].dropna()
    if len(served):
        assert fast.metrics.service_p50_ms == pytest.approx(served.median())
    else:
        assert math.isnan(fast.metrics.service_p50_ms)


def test_runs_start_from_independent_copies_of_a_cached_guest(hotplug_scenario):
    sc = hotplug_scenario.replace(seed=3)
    first = run(sc, frames=False).metrics.to_dict()
    kernel = sc.guest_kernel()
    key = (sc.cpus, kernel, sc.apic_ids, False, sc.device_irqs, sc.managed_queues)
    template = booted_guest(*key)  # a copy of the cached guest the run copied too
    fresh = TdGuest(sc.cpus, kernel=kernel, device_irqs=sc.device_irqs)
    assert template.describe() == fresh.describe()  # never touched by the runs that copied it
    assert template.matrix == fresh.matrix
    assert [(i.name, i.cpu, i.vector) for i in template.irqs] == [
        (i.name, i.cpu, i.vector) for i in fresh.irqs
    ]
    twin = booted_guest(*key)
    assert twin is not template  # every caller its own copy
    twin.cpu_offline(twin.irqs[0].cpu)
    assert template.matrix == fresh.matrix and template.is_online(twin.irqs[0].cpu or 1)
    assert all(a is not b for a, b in zip(template.irqs, twin.irqs, strict=True))
    assert booted_guest(*key).matrix == fresh.matrix  # what the next run starts from
    assert run(sc, frames=False).metrics.to_dict() == first


def test_guest_templates_are_bounded_by_vcpus_not_by_count() -> None:
    """A sweep cycles through dozens of small guests (the default sweep: 24); a count of 16 templates
    evicted each before its next use, so every cell booted its guest again. Bounded by vCPUs, all stay."""
    kernel = Scenario(**V8_OFFLINING).guest_kernel()
    keys = [(cpus, kernel, "identity", False, load * cpus, 0) for cpus in (2, 4, 8, 16) for load in range(6)]
    booted_guest.cache_clear()  # type: ignore[attr-defined]
    for _ in range(2):
        for key in keys:
            booted_guest(*key)
    info = booted_guest.cache_info()  # type: ignore[attr-defined]
    assert (info.misses, info.hits) == (24, 24)
    assert info.currsize == 6 * (2 + 4 + 8 + 16) <= GUEST_TEMPLATE_VCPUS == info.maxsize
    booted_guest.cache_clear()  # type: ignore[attr-defined]


def test_the_simulators_caches_are_registered_and_clearing_them_changes_nothing(hotplug_scenario):
    sc = hotplug_scenario.replace(seed=5, service_ms=20.0)
    first = run(sc, frames=False).metrics
    names = {m.__wrapped__.__qualname__: m for m in cache.memos() if m.__module__.startswith("tdxlib.sim")}
    expected = {
        "_seed_streams",
        "booted_guest",
        "_get_quote_status_name",
        "_request_buffer",
        "_with_service_ms",
    }
    assert expected <= set(names)
    assert all(names[n].cache_info().currsize > 0 for n in expected)
    cache.clear_all()
    assert all(names[n].cache_info().currsize == 0 for n in expected)
    assert run(sc, frames=False).metrics == first
