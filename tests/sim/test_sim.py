"""tdxlib.sim: determinism, the tidy frames, accounting invariants, hotplug, sweeps, scenario records."""

from __future__ import annotations

import json
import math
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pandas as pd
import pandas.testing as pdt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tdxlib.errors import DataError, ValidationError
from tdxlib.sim import EVENT_KINDS, OUTCOMES, Scenario, load_scenario, metrics_frame, run, sweep
from tdxlib.tdx.strategies import DynamicIrq, Polling, SystemVector, make_strategy

HOTPLUG = Scenario(
    cpus=16,
    device_irqs=64,
    strategy=DynamicIrq(apic_targeting=True, reregister_delay_ms=50),
    vmm="apic-id-arg",
    workload="open",
    rate_per_s=8,
    requesters=3,
    quotes=120,
    hotplug_every_s=1.0,
    hotplug_cpus="notify",
    seed=7,
)


def test_same_scenario_same_frames():
    a, b = run(HOTPLUG), run(HOTPLUG)
    pdt.assert_frame_equal(a.events, b.events)
    pdt.assert_frame_equal(a.quotes, b.quotes)
    assert a.metrics.to_dict() == b.metrics.to_dict()
    c = run(HOTPLUG.replace(seed=8))
    assert not a.events.equals(c.events)


def test_event_frame_is_tidy():
    ev = run(HOTPLUG).events
    assert list(ev.columns) == ["time_s", "kind", "quote_id", "cpu", "apic_id", "vector", "detail"]
    assert isinstance(ev["kind"].dtype, pd.CategoricalDtype)
    assert list(ev["kind"].cat.categories) == list(EVENT_KINDS)
    assert str(ev["quote_id"].dtype) == "Int64" and str(ev["vector"].dtype) == "Int64"
    assert ev["time_s"].is_monotonic_increasing
    issued = ev[ev["kind"] == "quote_issue"]
    assert issued["quote_id"].tolist() == list(range(len(issued)))


def test_hotplug_every_second_migrates_the_notify_irq():
    r = run(HOTPLUG)
    m = r.metrics
    assert m.offline_ok >= 5 and m.online_events >= 5
    assert m.notify_migrations == m.offline_ok  # "notify": always the notify IRQ's CPU
    assert m.reregistrations == m.notify_migrations
    assert m.loss_window_s == pytest.approx(0.05 * m.reregistrations)
    assert m.irq_migrations >= m.notify_migrations
    offl = r.events[r.events["kind"] == "cpu_offline"]
    assert set(offl["cpu"]).isdisjoint({0})


@settings(max_examples=12, deadline=None)
@given(
    name=st.sampled_from(
        ["system-vector", "dynamic", "dynamic-apic", "caller-vcpu", "polling", "quote-carries-vector"]
    ),
    vmm=st.sampled_from(
        ["ghci-1.0", "qemu-10.1", "random-vcpu", "never-injects", "apic-id-arg", "qgs-never-answers"]
    ),
    workload=st.sampled_from(["open", "closed"]),
    seed=st.integers(0, 1000),
)
def test_accounting_invariants(name, vmm, workload, seed):
    strat = make_strategy(name) if name == "polling" else make_strategy(name, timeout_s=40)
    sc = Scenario(
        cpus=6,
        device_irqs=12,
        strategy=strat,
        vmm=vmm,
        workload=workload,
        rate_per_s=3,
        quotes=30,
        hotplug=((2.0, 3, "offline"), (6.0, 3, "online"), (7.0, 1, "offline")),
        seed=seed,
    )
    r = run(sc)
    m = r.metrics
    counts = r.quotes["outcome"].value_counts()
    assert m.quotes_issued == len(r.quotes) == sum(int(counts.get(o, 0)) for o in OUTCOMES)
    assert m.completed == m.completed_by_interrupt + m.completed_by_poll
    assert m.lost_notifications <= m.notifications_injected
    assert m.lost_notifications == (
        m.spurious_interrupts
        + m.misdirected_interrupts
        + m.dropped_offline
        + m.pending_at_end
        + m.displaced_callbacks
    )
    assert m.vectors_total == sum(m.vectors_per_cpu)
    assert m.wakeups == m.poll_wakeups + m.interrupts_handled
    done = r.quotes[r.quotes["outcome"] == "completed"]
    assert (done["latency_ms"] >= 0).all()
    if m.completed:
        assert m.latency_ms["min"] <= m.latency_ms["p50"] <= m.latency_ms["p99"] <= m.latency_ms["max"]
    assert m.quotes_per_s == pytest.approx(m.completed / m.duration_s)
    json.dumps(m.to_dict())  # JSON-able (NaN -> None)


def test_offline_refused_for_lack_of_vectors():
    sc = Scenario(
        cpus=2, device_irqs=330, strategy=Polling(), vmm="qemu-10.1", quotes=3, hotplug=((0.5, 1, "offline"),)
    )
    m = run(sc).metrics
    assert m.offline_refused == 1 and m.offline_ok == 0
    # each CPU holds ~165 device vectors, the other has ~20 free: CPU 1's vectors cannot move
    assert m.device_vectors_free_min < 165


def test_duration_cuts_an_open_workload():
    sc = Scenario(
        cpus=4,
        strategy=SystemVector(),
        vmm="random-vcpu",
        workload="open",
        rate_per_s=20,
        quotes=None,
        duration_s=3.0,
        seed=2,
    )
    r = run(sc)
    assert r.metrics.duration_s == pytest.approx(3.0)
    assert r.quotes["issued_s"].max() < 3.0
    assert r.metrics.unfinished == (r.quotes["outcome"] == "unfinished").sum() > 0


def test_metrics_record_shape():
    m = run(Scenario(cpus=4, strategy=Polling(), vmm="qemu-10.1", quotes=5)).metrics
    d = m.to_dict()
    assert set(d["latency_ms"]) == {"min", "p50", "p99", "max"}
    for key in (
        "quotes_issued",
        "completed_by_interrupt",
        "completed_by_poll",
        "timed_out",
        "failed",
        "lost_notifications",
        "spurious_interrupts",
        "vectors_per_cpu",
        "vectors_total",
        "offline_refused",
        "quotes_per_s",
        "wakeups",
        "fanout_callbacks",
        "reregistrations",
        "loss_window_s",
    ):
        assert key in d
    assert d["vectors_total"] == 0 and d["vectors_per_cpu"] == [0, 0, 0, 0]
    none = run(Scenario(cpus=2, strategy=SystemVector(), vmm="never-injects", quotes=1)).metrics.to_dict()
    assert none["latency_ms"]["p50"] is None and none["latency_mean_ms"] is None
    flat = m.flat()
    assert "latency_ms_p99" in flat and "vectors_per_cpu" not in flat


def _small(n: int) -> list[Scenario]:
    names = ["system-vector", "dynamic", "polling", "caller-vcpu"]
    return [
        Scenario(
            cpus=4,
            strategy=make_strategy(names[i % 4], **({} if i % 4 == 2 else {"timeout_s": 5})),
            vmm="qemu-10.1",
            quotes=15,
            hotplug=((0.5, 1 + i % 3, "offline"), (2.0, 1 + i % 3, "online")),
            seed=i,
        )
        for i in range(n)
    ]


def test_sweep_process_pool_in_input_order():
    scs = _small(6)
    serial = sweep(scs)
    with ProcessPoolExecutor(max_workers=2) as pool:
        par = sweep(scs, executor=pool)
    assert isinstance(serial, list) and isinstance(par, list)
    for a, b in zip(serial, par, strict=True):
        assert a.scenario == b.scenario
        pdt.assert_frame_equal(a.events, b.events)
        assert a.metrics.to_dict() == b.metrics.to_dict()
    with ThreadPoolExecutor(max_workers=2) as pool:
        table = sweep(scs, executor=pool, metrics_only=True)
    assert isinstance(table, pd.DataFrame)
    pdt.assert_frame_equal(table, metrics_frame(serial))
    assert list(table["seed"]) == list(range(6))


def test_scenario_validation():
    for bad in (
        dict(cpus=0),
        dict(hz=0),
        dict(vmm="nope"),
        dict(strategy="nope"),
        dict(quotes=-1),
        dict(hotplug=((1.0, 0, "offline"),)),
        dict(hotplug=((1.0, 9, "offline"),)),
        dict(hotplug=((1.0, 1, "sideways"),)),
        dict(workload="bursty"),
        dict(rate_per_s=0),
        dict(hotplug_cpus=(0,)),
        dict(seed=-1),
        dict(apic_ids="mesh"),
        dict(service_ms=-1.0),
    ):
        with pytest.raises(ValidationError):
            Scenario(**bad)
    with pytest.raises(ValidationError):
        run("not a scenario")  # type: ignore[arg-type]
    assert Scenario().quotes == 100 and Scenario(duration_s=5.0).quotes is None


def test_scenario_from_mapping_and_yaml(tmp_path):
    sc = Scenario.from_dict(
        {"cpus": 4, "strategy": {"name": "polling", "interval_ms": 5}, "hotplug": [[1, 2, "offline"]]}
    )
    assert sc.strategy == Polling(interval_ms=5) and sc.hotplug[0].cpu == 2
    assert Scenario.from_dict(sc.to_dict()) == sc
    f = tmp_path / "s.yaml"
    f.write_text("cpus: 4\nvmm: random-vcpu\nstrategy:\n  name: dynamic\n  apic_targeting: true\nquotes: 7\n")
    loaded = load_scenario(f)
    assert loaded.strategy == DynamicIrq(apic_targeting=True) and loaded.quotes == 7
    assert load_scenario(f, cpus=8).cpus == 8
    bad = tmp_path / "bad.yaml"
    bad.write_text("cpus: 4\nquotes: 3\ncolour: blue\n")
    with pytest.raises(DataError, match=r"bad.yaml:3.*colour"):
        load_scenario(bad)
    worse = tmp_path / "worse.yaml"
    worse.write_text("cpus: 4\nhz: 7777\n")
    with pytest.raises(DataError, match=r"worse.yaml:2"):
        load_scenario(worse)
    with pytest.raises(DataError, match="not found"):
        load_scenario(tmp_path / "missing.yaml")


def test_nan_free_latency_when_completed():
    m = run(Scenario(cpus=2, strategy=SystemVector(), vmm="bsp-only", quotes=10)).metrics
    assert not any(math.isnan(v) for v in m.latency_ms.values())


# -- the metrics-only fast path --------------------------------------------------------------------


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


def test_sweep_without_frames_returns_metrics_only_results():
    scs = [HOTPLUG, HOTPLUG.replace(seed=HOTPLUG.seed + 1)]
    fast = sweep(scs, frames=False)
    assert isinstance(fast, list) and not any(r.has_frames for r in fast)
    assert [r.metrics for r in fast] == [r.metrics for r in sweep(scs)]


def test_metrics_only_result_refuses_frames_and_pickles():
    import pickle

    from tdxlib.errors import TdxlibError

    r = run(HOTPLUG, frames=False)
    with pytest.raises(TdxlibError, match="frames=True"):
        _ = r.events
    with pytest.raises(TdxlibError, match="quotes frame"):
        _ = r.quotes
    back = pickle.loads(pickle.dumps(r))
    assert back.metrics == r.metrics and back.scenario == r.scenario and not back.has_frames
    full = pickle.loads(pickle.dumps(run(HOTPLUG)))
    pdt.assert_frame_equal(full.events, run(HOTPLUG).events)
    assert "no frames" in repr(r) and "events" in repr(full)


def test_runs_start_from_independent_copies_of_a_cached_guest():
    from tdxlib.sim import _booted_guest
    from tdxlib.tdx.guest import TdGuest

    sc = HOTPLUG.replace(seed=3)
    first = run(sc, frames=False).metrics.to_dict()
    template = _booted_guest(sc.cpus, sc.layout, sc.apic_ids, False, sc.device_irqs, sc.managed_queues)
    fresh = TdGuest(sc.cpus, layout=sc.layout, device_irqs=sc.device_irqs)
    assert template.describe() == fresh.describe()  # never touched by the runs that copied it
    assert template.matrix == fresh.matrix
    assert [(i.name, i.cpu, i.vector) for i in template.irqs] == [
        (i.name, i.cpu, i.vector) for i in fresh.irqs
    ]
    twin = template.copy()
    twin.cpu_offline(twin.irqs[0].cpu)
    assert template.matrix == fresh.matrix and template.is_online(twin.irqs[0].cpu or 1)
    assert all(a is not b for a, b in zip(template.irqs, twin.irqs, strict=True))
    assert run(sc, frames=False).metrics.to_dict() == first


# -- the loss window -------------------------------------------------------------------------------


def test_loss_window_closes_when_the_irq_bounces_back_to_its_registered_place():
    """Without re-registration, periodic hotplug of the notify CPU moves the IRQ away and back again:
    notifications are lost only while it is away, and the window counts only that time."""
    sc = Scenario(
        cpus=4,
        strategy=make_strategy("caller-vcpu", reregister=False, timeout_s=2),
        vmm="qemu-10.1",
        workload="open",
        rate_per_s=10,
        quotes=None,
        duration_s=12.0,
        hotplug_every_s=1.0,
        hotplug_cpus="notify",
        seed=4,
    )
    r = run(sc)
    m, ev = r.metrics, r.events
    setup = ev[ev["kind"] == "request_irq"].iloc[0]
    home = (int(setup["apic_id"]), int(setup["vector"]))
    migs = ev[ev["kind"] == "notify_migrate"]
    places = [(int(a), int(v)) for a, v in zip(migs["apic_id"], migs["vector"], strict=True)]
    assert len(places) >= 4 and home in places  # it does come back to where it was registered
    # the mismatched intervals, straight from the migrations: away until the next return home
    away, start = [], None
    for t, place in zip(migs["time_s"], places, strict=True):
        if place != home and start is None:
            start = float(t)
        elif place == home and start is not None:
            away.append((start, float(t)))
            start = None
    if start is not None:
        away.append((start, m.duration_s))
    mismatched = sum(b - a for a, b in away)
    assert m.loss_window_s == pytest.approx(mismatched)
    assert m.loss_window_max_s == pytest.approx(max(b - a for a, b in away))
    first = float(migs["time_s"].iloc[0])
    assert m.loss_window_s < 0.75 * (m.duration_s - first)  # not "from the first migration to the end"
    lost = ev[ev["kind"].isin(["spurious", "misdirected", "dropped_offline", "pending"])]
    assert len(lost) > 0 and m.lost_notifications > 0
    for t in lost["time_s"]:
        assert any(a <= t <= b for a, b in away), f"a notification lost at {t} s outside {away}"
    delivered = ev[ev["kind"] == "irq_handled"]
    assert any(not any(a <= t <= b for a, b in away) for t in delivered["time_s"])
