"""tdxlib.sim.hotplug: the schedule, migrating the notify IRQ, re-registering, the loss window."""

from __future__ import annotations

import pytest
import simpy
from kernels import V8_OFFLINING

from tdxlib.errors import CpuOfflineUnsupported
from tdxlib.sim import Scenario, run
from tdxlib.sim.hotplug import LossWindow
from tdxlib.tdx.strategies import Polling, make_strategy


def test_hotplug_every_second_migrates_the_notify_irq(hotplug_scenario):
    r = run(hotplug_scenario)
    m = r.metrics
    assert m.offline_ok >= 5 and m.online_events >= 5
    assert m.notify_migrations == m.offline_ok  # "notify": always the notify IRQ's CPU
    assert m.reregistrations == m.notify_migrations
    assert m.loss_window_s == pytest.approx(0.05 * m.reregistrations)
    assert m.irq_migrations >= m.notify_migrations
    offl = r.events[r.events["kind"] == "cpu_offline"]
    assert set(offl["cpu"]).isdisjoint({0})


def test_offline_refused_for_lack_of_vectors():
    sc = Scenario(
        cpus=2,
        device_irqs=330,
        strategy=Polling(),
        vmm="qemu-10.1",
        quotes=3,
        hotplug=((0.5, 1, "offline"),),
        **V8_OFFLINING,
    )
    m = run(sc).metrics
    assert m.offline_refused == 1 and m.offline_ok == 0
    # each CPU holds ~165 device vectors, the other has ~20 free: CPU 1's vectors cannot move
    assert m.device_vectors_free_min < 165


def test_a_cpu_list_is_cycled_and_explicit_events_are_kept():
    sc = Scenario(
        cpus=8,
        strategy=Polling(),
        vmm="qemu-10.1",
        workload="open",
        rate_per_s=2,
        quotes=None,
        duration_s=10.0,
        **V8_OFFLINING,
        hotplug=((0.5, 6, "offline"), (0.7, 6, "offline"), (1.5, 6, "online")),
        hotplug_every_s=1.0,
        hotplug_cpus=(2, 5),
        seed=1,
    )
    ev = run(sc).events
    offl = ev[ev["kind"] == "cpu_offline"]
    assert offl["cpu"].tolist() == [6, 2, 5, 2, 5, 2]
    skipped = ev[ev["kind"] == "hotplug_skipped"]
    assert skipped["detail"].tolist() == ["already offline"]
    onl = ev[ev["kind"] == "cpu_online"]
    assert onl["cpu"].tolist()[0] == 6 and set(onl["cpu"].tolist()[1:]) == {2, 5}


# -- the loss window -------------------------------------------------------------------------------


def test_the_loss_window_is_open_while_the_irq_is_away_from_its_registration():
    env = simpy.Environment()
    w = LossWindow(env)
    home, away, other = (2, 0x22), (4, 0x23), (6, 0x24)

    def at(t: float) -> None:
        env.run(until=t)

    w.registered(home)
    at(1.0)
    w.moved(away)  # open at 1
    at(1.5)
    w.moved(other)  # still away: the window stays open from 1
    at(3.0)
    w.moved(home)  # back where the VMM injects: closed, 2 s
    at(4.0)
    w.moved(away)  # open at 4
    at(4.5)
    w.registered(away)  # re-registered: closed, 0.5 s; away is now home
    at(5.0)
    w.moved(away)  # at the registered place: nothing opens
    w.close()
    assert w.total_s == pytest.approx(2.5) and w.longest_s == pytest.approx(2.0)
    assert w.open_at is None and w.place == away


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
        **V8_OFFLINING,
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


def test_a_hotplug_scenario_on_a_kernel_that_cannot_offline_says_so_instead_of_running():
    sc = Scenario(cpus=4, strategy="caller-vcpu", vmm="qemu-10.1", duration_s=5.0, hotplug_every_s=1.0)
    assert sc.kernel == "linux-5.19-tdx-v8"
    with pytest.raises(CpuOfflineUnsupported) as exc:
        run(sc)
    assert "linux-5.19-tdx-v8 cannot offline CPUs" in str(exc.value) and "EOPNOTSUPP" in str(exc.value)
    assert "linux-6.12" in str(exc.value)  # what to run it on instead
    explicit = sc.replace(hotplug_every_s=None, hotplug=((1.0, 2, "offline"),))
    with pytest.raises(CpuOfflineUnsupported):
        run(explicit, frames=False)
    m = run(sc.replace(kernel="linux-6.12"), frames=False).metrics  # the same experiment where it exists
    assert m.offline_ok >= 2 and m.online_events >= 2
