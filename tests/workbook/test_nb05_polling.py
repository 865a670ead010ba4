"""tdxlib.workbook.nb05_polling: msleep() per HZ, polling against interrupts, stuck guests, the panel."""

from __future__ import annotations

import pytest
from _panels import check_panel_starts_from_the_view, title

from tdxlib.errors import ValidationError
from tdxlib.kernel.jiffies import max_sleep_ms, min_sleep_ms
from tdxlib.workbook import nb05_polling as nb
from tdxlib.workbook.params import PollingParams


def test_sleep_table_matches_jiffies() -> None:
    df = nb.sleep_table((1, 1000), (100, 1000)).set_index(["poll_ms", "hz"])
    assert df.loc[(1, 100), "sleep_min_ms"] == min_sleep_ms(1, 100)
    assert df.loc[(1000, 1000), "sleep_max_ms"] == max_sleep_ms(1000, 1000)
    assert (df["sleep_min_ms_6_12"] < df["sleep_min_ms"]).all()


def test_polling_sweep_trades_latency_for_wakeups() -> None:
    s = nb.polling_sweep((1, 100, 1000), (250,), quotes=15)
    s = s.sort_values("poll_ms")
    assert s["wasted_wakeups_per_quote"].is_monotonic_decreasing
    assert s["latency_mean_ms"].is_monotonic_increasing
    assert s[s["poll_ms"] == 1000]["latency_p50_ms"].iloc[0] >= 1000.0
    ref = nb.interrupt_reference(quotes=15)
    assert (ref["wakeups_per_quote"] == 1.0).all()
    cost = nb.polling_cost(s, ref)
    assert (cost["extra_mean_ms"] >= 0).all()
    assert cost.attrs["reference"].startswith("interrupt (")
    m = nb.polling_metrics(s, ref)
    assert nb.poll_metric_key(1, 250, "latency_mean_ms") in m and "interrupt_latency_mean_ms" in m
    assert m[nb.poll_metric_key(1000, 250, "wasted_wakeups_per_quote")] == pytest.approx(
        float(s[s["poll_ms"] == 1000]["wasted_wakeups_per_quote"].iloc[0])
    )
    assert not any(k.startswith("poll_100ms") for k in m)  # only the 1, 5 and 1000 ms intervals


def test_poll_metric_key_is_the_recorded_name() -> None:
    assert nb.poll_metric_key(5, 1000, "latency_mean_ms") == "poll_5ms_hz1000_latency_mean_ms"


def test_polling_cost_needs_an_injecting_vmm() -> None:
    s = nb.polling_sweep((1000,), (250,), vmm="never-injects", quotes=5)
    ref = nb.interrupt_reference(vmm="never-injects", quotes=5)
    assert (ref["completed"] == 0).all()
    with pytest.raises(ValidationError, match="reference"):
        nb.polling_cost(s, ref)
    assert "interrupt_latency_mean_ms" not in nb.polling_metrics(s, ref)


def test_stuck_frame_only_timeouts_and_polling_return() -> None:
    df = nb.stuck_frame(("never-injects",)).set_index("guest")
    assert df.loc["interrupt only (v8)", "hung"] > 0
    assert df.loc["interrupt + 30 s timeout", "timed_out"] > 0
    assert df.loc["polling 1 s × 30 (6.7)", "completed"] == df.loc["polling 1 s × 30 (6.7)", "quotes"]


def test_polling_params_validate_hz_and_percentile() -> None:
    with pytest.raises(ValidationError, match="percentile"):
        PollingParams(percentile="p90")
    with pytest.raises(ValidationError, match="hz_values"):
        PollingParams(hz_values=[250, 123])
    assert PollingParams(service_ms=0.0).service is None and PollingParams(service_ms=5.0).service == 5.0


def test_polling_panel_hz_and_vmm() -> None:
    params = PollingParams(quotes=5, hz_values=[250], poll_intervals_ms=[1, 1000])
    p = nb.polling_panel(params)
    check_panel_starts_from_the_view(nb.polling_view(params), p)
    assert set(p.result["sweep"]["hz"]) == {250}
    p.controls["hz_values"].value = (100, 1000)
    assert set(p.result["sweep"]["hz"]) == {100, 1000}
    p.controls["vmm"].value = "never-injects"
    assert "injects no interrupt" in p.caption
    p.controls["percentile"].value = "p99"
    assert "p99" in title(p.chart)


def test_sweep_rows_are_memoised_frozen_and_equal_fresh_runs() -> None:
    from tdxlib.sim import Metrics
    from tdxlib.workbook.simruns import metrics_of, scenario_key, strategy_spec

    s = nb.polling_sweep((5,), (250,), quotes=5, seed=4)
    s.loc[0, "wakeups"] = -1
    again = nb.polling_sweep((5,), (250,), quotes=5, seed=4)
    spec = strategy_spec("polling", interval_ms=5, timeout_s=30.0)
    key = scenario_key(
        cpus=2, strategy=spec, vmm="qemu-10.1", hz=250, extra_jiffy=True, quotes=5, seed=4, service_ms=None
    )
    fresh: Metrics = metrics_of(key)
    assert again.loc[0, "wakeups"] == fresh.wakeups >= 0
    assert again.loc[0, "completed"] == fresh.completed


def test_the_header_states_the_kernel_profile_and_how_sure_its_facts_are():
    text = nb.kernel_header(PollingParams())
    assert text.startswith("**Guest kernel profile: `linux-6.6`**")
    assert "HZ 250 (verified)" in text and "extra jiffy" in text and "100, 250, 1000" in text
    text = nb.kernel_header(PollingParams(kernel="ubuntu-24.04", hz_values=(250,)))
    assert "HZ 250 (unverified)" in text and "8 KiB buffer, 1000 ms polls, 30 s timeout" in text


def test_hz_250_and_1000_side_by_side():
    p = PollingParams(quotes=10, poll_intervals_ms=(1, 1000))
    wide = nb.hz_side_by_side(p)
    assert list(wide.index) == [1, 1000]
    assert [c[0] for c in wide.columns] == ["HZ 250"] * 3 + ["HZ 1000"] * 3
    # a 1 ms poll wakes about four times as often at HZ 1000 as at HZ 250 (jiffies of 1 vs 4 ms)
    w250, w1000 = (
        wide.loc[1, ("HZ 250", "wasted wake-ups/quote")],
        wide.loc[1, ("HZ 1000", "wasted wake-ups/quote")],
    )
    assert 2.5 < w1000 / w250 < 5
    sweep = nb.polling_sweep([1, 1000], [250, 1000], quotes=10)
    assert (
        wide.loc[1000, ("HZ 1000", "mean ms")]
        == sweep.set_index(["poll_ms", "hz"]).loc[(1000, 1000), "latency_mean_ms"]
    )


def test_the_kernels_msleep_reaches_the_sweep():
    old = nb.polling_sweep([5], [250], quotes=10).iloc[0]
    new = nb.polling_sweep([5], [250], quotes=10, kernel="linux-6.12").iloc[0]
    assert new["latency_mean_ms"] < old["latency_mean_ms"]  # one jiffy less per sleep
    assert (
        nb.polling_sweep([5], [250], quotes=10, extra_jiffy=False).iloc[0]["latency_mean_ms"]
        == new["latency_mean_ms"]
    )
