"""tdxlib.workbook.nb04_hotplug: loss windows, hotplug runs and their comparison, key numbers, the panel."""

from __future__ import annotations

import pandas as pd
import pytest
from _panels import check_panel_starts_from_the_view

from tdxlib.errors import ValidationError
from tdxlib.sim import Scenario, run
from tdxlib.tdx.strategies import STRATEGY_NAMES, make_strategy
from tdxlib.workbook import nb04_hotplug as nb
from tdxlib.workbook.params import HotplugParams


def _events(rows: list[tuple[float, str, int | None, int | None, str]]) -> pd.DataFrame:
    """A minimal event frame: (time_s, kind, apic_id, vector, detail)."""
    t, k, a, v, d = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "time_s": t,
            "kind": k,
            "apic_id": pd.array(a, dtype="Int64"),
            "vector": pd.array(v, dtype="Int64"),
            "detail": d,
        }
    )


OK = "TDVMCALL_STATUS_SUCCESS"


def test_loss_windows_pairs_migrations_with_reregistrations() -> None:
    ev = _events(
        [
            (0.0, "request_irq", 1, 0x21, "tdx_event_irq"),
            (0.0, "setup_notify", 1, 0x21, OK),
            (1.0, "notify_migrate", 2, 0x21, ""),
            (1.5, "reregister", 2, 0x21, OK),
            (3.0, "notify_migrate", 1, 0x22, ""),
            (3.2, "reregister", 1, 0x22, "TDVMCALL_STATUS_INVALID_OPERAND"),  # a failed call closes nothing
            (4.0, "end", None, None, ""),
        ]
    )
    w = nb.loss_windows(ev)
    assert w["start_s"].tolist() == [1.0, 3.0]
    assert w["end_s"].tolist() == [1.5, 4.0]
    assert w["closed"].tolist() == [True, False]
    assert w["length_ms"].tolist() == pytest.approx([500.0, 1000.0])
    assert nb.loss_windows(ev.iloc[:1]).empty


def test_loss_windows_close_when_the_irq_returns_to_its_registered_place() -> None:
    ev = _events(
        [
            (0.0, "request_irq", 1, 0x21, "tdx_event_irq"),
            (0.0, "setup_notify", 0, 0x21, OK + " apic_arg=1"),
            (1.0, "notify_migrate", 2, 0x21, ""),
            (3.0, "notify_migrate", 1, 0x21, ""),  # back where the VMM was told: closed
            (5.0, "notify_migrate", 2, 0x21, ""),
            (6.0, "end", None, None, ""),
        ]
    )
    w = nb.loss_windows(ev)
    assert list(zip(w["start_s"], w["end_s"], w["closed"], strict=True)) == [
        (1.0, 3.0, True),
        (5.0, 6.0, False),
    ]
    unregistered = ev[ev["kind"] != "setup_notify"]  # nothing registered (quote-carries-vector): no window
    assert nb.loss_windows(unregistered).empty


def test_loss_windows_sum_to_the_simulated_loss_window() -> None:
    for rereg in (True, False):
        sc = Scenario(
            cpus=4,
            strategy={
                "name": "dynamic-apic",
                "reregister": rereg,
                "reregister_delay_ms": 300.0,
                "timeout_s": 2.0,
            },
            vmm="apic-id-arg",
            workload="open",
            rate_per_s=5,
            quotes=None,
            duration_s=9.0,
            kernel="linux-6.12",
            hotplug_every_s=1.0,
            hotplug_cpus="notify",
            seed=1,
        )
        r = run(sc)
        w = nb.loss_windows(r.events)
        assert len(w) >= 2
        assert w["length_ms"].sum() / 1000.0 == pytest.approx(r.metrics.loss_window_s)
        assert w["length_ms"].max() / 1000.0 == pytest.approx(r.metrics.loss_window_max_s)


def test_hotplug_run_window_length_is_the_reregistration_delay() -> None:
    r = nb.hotplug_run(HotplugParams(reregister_delay_ms=250.0, duration_s=6.0))
    assert len(r.windows) == 1
    assert r.windows["closed"].iloc[0]
    assert r.windows["length_ms"].iloc[0] == pytest.approx(250.0)
    assert r.metrics["reregistrations"] == 1
    assert {"cpu_offline", "notify_migrate", "reregister"} <= set(r.events["kind"])


def test_hotplug_without_reregistration_loses_notifications() -> None:
    r = nb.hotplug_run(HotplugParams(reregister=False, online_at_s=0.0, duration_s=6.0))
    assert not r.windows["closed"].iloc[0]
    assert r.metrics["lost_notifications"] > 0
    assert r.metrics["reregistrations"] == 0
    assert "cpu_online" not in set(r.events["kind"])  # 0 = the CPU stays offline


def test_hotplug_params_validate_and_convert_zero_once() -> None:
    with pytest.raises(ValidationError, match="offline_at_s"):
        HotplugParams(offline_at_s=20.0, duration_s=10.0)
    with pytest.raises(ValidationError, match="online_at_s"):
        HotplugParams(offline_at_s=3.0, online_at_s=2.0)
    with pytest.raises(ValidationError, match="cpus"):
        HotplugParams(cpus=1)
    with pytest.raises(ValidationError, match="strategy"):
        HotplugParams(strategy="polling")  # nothing registered: nothing for hotplug to make stale
    p = HotplugParams(online_at_s=0.0, service_ms=0.0)
    assert (p.online_at, p.service) == (None, None)
    assert (HotplugParams().online_at, HotplugParams().service) == (6.0, 50.0)


def test_hotplug_strategies_are_those_that_register_a_place() -> None:
    assert tuple(n for n in STRATEGY_NAMES if make_strategy(n).sets_up_event_notify) == nb.HOTPLUG_STRATEGIES
    assert "polling" not in nb.HOTPLUG_STRATEGIES and "caller-vcpu" in nb.HOTPLUG_STRATEGIES


def test_hotplug_compare_system_vector_needs_no_reregistration() -> None:
    df = nb.hotplug_compare(HotplugParams(duration_s=6.0), delays_ms=(None, 1.0))
    sv = df[df["strategy"] == "system-vector"]
    assert len(sv) == 1 and sv["lost_notifications"].iloc[0] == 0
    assert sv["reregister"].iloc[0] == "n/a"
    never = df[df["reregister"] == "never"]
    assert (never["lost_notifications"] > 0).all()
    assert len(df) == 1 + 2 * 2  # the two strategies that can re-register run once per delay


def test_hotplug_metrics_name_the_run_and_the_run_that_never_reregisters() -> None:
    p = HotplugParams(duration_s=6.0)
    r, never = nb.hotplug_run(p), nb.hotplug_run(p.replace(reregister=False))
    m = nb.hotplug_metrics(r, never)
    assert m[nb.hotplug_metric_key("run", "lost_notifications")] == r.metrics["lost_notifications"]
    assert never.metrics["lost_notifications"] == m["never_lost_notifications"] > 0
    assert m["never_hung"] == never.metrics["hung"]
    assert set(m) == {f"run_{k}" for k in r.metrics} | {"never_lost_notifications", "never_hung"}


def test_hotplug_panel_reregistration_and_errors() -> None:
    params = HotplugParams(duration_s=5.0, offline_at_s=2.0, online_at_s=4.0)
    check_panel_starts_from_the_view(nb.hotplug_view(params), nb.hotplug_panel(params))
    p = nb.hotplug_panel(HotplugParams(duration_s=6.0))
    assert p.result.metrics["lost_notifications"] == 0
    p.controls["reregister"].value = False
    assert p.result.metrics["lost_notifications"] > 0
    assert p.values()["duration_s"] == 6.0  # fixed parameters reach the view
    assert p.controls["offline_at_s"].max == 6.0  # the time sliders end at duration_s
    good = p.redraws
    p.controls["online_at_s"].value = 1.0  # before the offline: the model refuses, the panel says why
    assert "online_at_s" in p.error
    assert p.redraws == good and "online_at_s" in p.caption_html.value
    p.controls["online_at_s"].value = 0.0  # 0 = stays offline: accepted again
    assert p.error == "" and p.redraws == good + 1


def test_the_caption_blames_the_offline_only_for_what_it_loses() -> None:
    from tdxlib.workbook.nb04_hotplug import hotplug_caption, hotplug_view
    from tdxlib.workbook.params import HotplugParams

    never = hotplug_view(HotplugParams(vmm="never-injects"))  # every quote hangs, hotplug or not
    assert "nothing lost to the offline" in never.caption and "loss window" not in never.caption
    assert "without any hotplug, on never-injects: 0 notifications lost, 32 quotes hung" in never.caption
    p = HotplugParams()
    m = {"offlined_cpu": 1, "lost_notifications": 7, "hung": 3, "loss_window_ms": 12.0}
    text = hotplug_caption(p, m, {"lost_notifications": 2, "hung": 0})
    assert text.startswith("CPU 1 offline at 3 s: 5 notifications lost and 3 quotes hung by the offline")
    assert "(loss window 12 ms)" in text and "2 notifications lost, 0 quotes hung" in text
