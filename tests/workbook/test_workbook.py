"""tdxlib.workbook: the per-notebook models agree with the modules they wrap and answer the thread."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from tdxlib import workbook as wb
from tdxlib.argument import claims
from tdxlib.errors import TdxlibError, ValidationError
from tdxlib.kernel import budget
from tdxlib.kernel.jiffies import max_sleep_ms, min_sleep_ms

# -- claims ------------------------------------------------------------------------------------------


def test_every_claim_is_argued_in_exactly_one_notebook() -> None:
    ids = [c.id for c in claims.claims()]
    argued = [i for group in wb.NOTEBOOK_CLAIMS.values() for i in group]
    assert sorted(argued) == sorted(ids)


def test_claims_for_matches_the_ledger_rows() -> None:
    full = claims.ledger()
    mine = wb.claims_for("02_vector_budget")
    expected = full[full["id"].isin(wb.NOTEBOOK_CLAIMS["02_vector_budget"])]
    assert list(mine["id"]) == list(expected["id"])
    assert list(mine["verdict"]) == list(expected["verdict"])
    assert len(wb.claims_for(None)) == len(full)
    with pytest.raises(ValidationError, match="notebook"):
        wb.claims_for("99_nothing")


def test_claims_view_adds_columns_only_when_parameters_change_a_check() -> None:
    ledger, table = wb.claims_view("05_polling", seed=0)  # 0 is every 05 check's default seed
    assert "verdict here" not in table
    assert list(table["verdict"]) == list(ledger["verdict"])
    ledger, table = wb.claims_view("04_hotplug", reregister_delay_ms=1.0)
    assert "verdict here" in table and "evidence here" in table
    # the recorded ledger never depends on the notebook's parameters
    assert list(ledger["verdict"]) == list(wb.claims_for("04_hotplug")["verdict"])


def test_claims_view_routes_vmm_only_to_the_polling_check() -> None:
    _, table = wb.claims_view("05_polling", vmm="never-injects")
    row = table.set_index("id")
    # may-inject-needs-polling keeps its own VMM; polling-sufficient is re-run on never-injects
    assert row.loc["may-inject-needs-polling", "evidence here"].startswith("(as above")
    assert (
        row.loc["may-inject-needs-polling", "verdict here"] == row.loc["may-inject-needs-polling", "verdict"]
    )
    assert "never-injects" in row.loc["polling-sufficient", "evidence here"]


# -- 01 ------------------------------------------------------------------------------------------------


def test_mechanism_run_follows_one_round_trip_per_quote() -> None:
    ev = wb.mechanism_run("system-vector", "qemu-10.1", quotes=3)
    assert set(ev["kind"]) <= set(wb.MECHANISM_KINDS)
    assert (ev["kind"] == "quote_done").sum() == 3
    polled = wb.mechanism_run("polling", "qemu-10.1", quotes=2)
    assert "inject" not in set(polled["kind"])
    assert (polled["kind"] == "quote_done").sum() == 2


def test_setup_checks_reject_exceptions_and_out_of_range_vectors() -> None:
    df = wb.setup_checks((0x1F, 0x20, 0xFF, 0x100)).set_index("vector")
    assert df.loc["0x1f", "status"] == "TDVMCALL_STATUS_INVALID_OPERAND"
    assert df.loc["0x20", "status"] == "TDVMCALL_STATUS_SUCCESS"
    assert df.loc["0xff", "status"] == "TDVMCALL_STATUS_SUCCESS"
    assert df.loc["0x100", "status"] == "TDVMCALL_STATUS_INVALID_OPERAND"


def test_thread_frame_is_sorted_by_date_with_every_claim() -> None:
    df = wb.thread_frame()
    assert list(df["date"]) == sorted(df["date"])
    assert set(df["id"]) == {c.id for c in claims.claims()}


# -- 02 ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mechanism", "ncpus", "load", "config"),
    [
        ("none", 1, 0, {}),
        ("system-vector", 8, 300, {}),
        ("dynamic", 64, 12_647, {}),
        ("system-vector", 64, 12_586, {}),
        ("system-vector", 16, 10_000, {"INTEL_TDX_GUEST": False}),
        ("none", 4, 99_999, {}),
    ],
)
def test_budget_point_equals_the_budget_module(mechanism: str, ncpus: int, load: int, config: dict) -> None:
    assert (
        wb.budget_point(mechanism, ncpus, load, **config)
        == budget.budget(mechanism, ncpus, load, **config).to_dict()
    )


@pytest.mark.parametrize("ncpus", [2, 8, 64])
def test_offline_limit_equals_the_budget_module(ncpus: int) -> None:
    for mech in budget.MECHANISMS:
        assert wb.offline_limit(mech, ncpus) == budget.offline_limit(mech, ncpus)


def test_budget_point_validates() -> None:
    with pytest.raises(ValidationError, match="mechanism"):
        wb.budget_point("irq-storm", 8)
    with pytest.raises(ValidationError, match="ncpus"):
        wb.budget_point("none", 0)
    with pytest.raises(ValidationError, match="device_irqs"):
        wb.budget_point("none", 8, -1)


def test_growth_frame_system_vector_costs_one_per_cpu_dynamic_one() -> None:
    g = wb.growth_frame([1, 4, 32, 256], 2)
    for n, grp in g.groupby("ncpus"):
        taken = grp.set_index("mechanism")["taken"]
        assert taken["none"] == 0
        assert taken["system-vector"] == n
        assert taken["dynamic"] == 1
    share = g[g["mechanism"] == "system-vector"]["taken_share"]
    assert share.between(0.004, 0.006).all()  # one vector of ~200 per CPU


def test_when_it_matters_brackets_the_band_where_only_the_system_vector_refuses() -> None:
    w = wb.when_it_matters(16)
    assert w["band_start"] == w["limit_system_vector"] + 1 <= w["band_end"] == w["limit_none"]
    inside = w["band_start"]
    assert wb.budget_point("system-vector", 16, inside)["offline_refused"] > 0
    assert wb.budget_point("none", 16, inside)["offline_refused"] == 0
    assert wb.budget_point("none", 16, w["band_end"] + 16)["offline_refused"] > 0


def test_band_frame_resolves_the_band() -> None:
    band = wb.band_frame(8, points=21)
    sv = band[band["mechanism"] == "system-vector"].set_index("device_irqs")["offline_refused"]
    none = band[band["mechanism"] == "none"].set_index("device_irqs")["offline_refused"]
    only_sv = (sv > 0) & (none == 0)
    assert only_sv.any()  # at least one sampled load lies inside the band
    assert (sv >= none).all()


def test_load_frame_rows_and_monotone_refusals() -> None:
    df = wb.load_frame(8, [0, 50, 100, 180, 200])
    assert len(df) == 5 * len(budget.MECHANISMS)
    for _, grp in df.groupby("mechanism"):
        assert grp["left_min"].is_monotonic_decreasing
        assert grp["offline_refused"].is_monotonic_increasing


def test_headroom_frame_system_vector_holds_about_one_irq_per_cpu_less() -> None:
    h = wb.headroom_frame([8, 64]).set_index(["ncpus", "mechanism"])["limit"]
    for n in (8, 64):
        diff = h[(n, "none")] - h[(n, "system-vector")]
        assert n - 1 <= diff <= n + 1


def test_layouts_frame_shows_the_unconditional_timer_move() -> None:
    df = wb.layouts_frame().set_index("variant")
    base = df.loc["5.19", "device_vectors_per_cpu"]
    for v in ("5.19 + v8, TDX guest", "5.19 + v8, not a TD", "5.19 + v8, INTEL_TDX_GUEST=n"):
        assert df.loc[v, "device_vectors_per_cpu"] == base - 1
        assert df.loc[v, "FIRST_SYSTEM_VECTOR"] == "0xeb"
    assert list(df["notify_vector_set"]) == [False, True, False, False, False]


def test_vector_space_frame_has_256_vectors_per_variant() -> None:
    df = wb.vector_space_frame()
    assert df.groupby("variant").size().tolist() == [256, 256]


def test_capture_answer() -> None:
    assert wb.capture_answer("") is None
    with pytest.raises(ValidationError):
        wb.capture_answer(3)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        wb.capture_answer("no-such-capture")
    names = wb.capture_names()
    assert names
    ans = wb.capture_answer(names[-1])
    assert ans is not None
    assert len(ans.answers) == 4
    assert len(ans.per_cpu) == ans.summary["cpus_online"]
    m = ans.metrics()
    assert m["capture_available_reserved_min"] <= m["capture_available_min"]


def test_budget_metrics() -> None:
    g = wb.growth_frame([8, 64], 1)
    m = wb.budget_metrics(g, wb.when_it_matters(64))
    assert m["sweep_max_cpus"] == 64 and m["system_vector_taken_at_max"] == 64
    assert m["band_start_per_cpu"] <= m["band_end_per_cpu"]


# -- 03 ------------------------------------------------------------------------------------------------


def test_delivery_matrix_answers_who_gets_the_interrupt() -> None:
    m = wb.delivery_matrix(
        ["system-vector", "dynamic", "caller-vcpu", "polling"],
        ["random-vcpu", "qemu-10.1", "never-injects"],
        cpus=4,
        quotes=10,
    ).set_index(["strategy", "vmm"])
    assert m.loc[("system-vector", "random-vcpu"), "lost"] == 0
    assert m.loc[("dynamic", "random-vcpu"), "lost"] > 0
    assert m.loc[("caller-vcpu", "qemu-10.1"), "completed_share"] == 1.0
    assert math.isnan(m.loc[("polling", "qemu-10.1"), "lost_share"])
    assert m.loc[("polling", "never-injects"), "completed_share"] == 1.0
    assert m.loc[("system-vector", "never-injects"), "completed_share"] == 0.0


def test_delivery_matrix_is_deterministic_and_validates() -> None:
    a = wb.delivery_matrix(["dynamic"], ["random-vcpu"], cpus=4, quotes=10, seed=3)
    b = wb.delivery_matrix(["dynamic"], ["random-vcpu"], cpus=4, quotes=10, seed=3)
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(ValidationError, match="vmm"):
        wb.delivery_matrix(["dynamic"], ["no-such-vmm"])
    with pytest.raises(ValidationError, match="strategy"):
        wb.delivery_matrix(["no-such-strategy"], ["ghci-1.0"])


def test_delivery_metrics() -> None:
    m = wb.delivery_matrix(["system-vector", "dynamic"], ["ghci-1.0", "bsp-only"], cpus=4, quotes=5)
    out = wb.delivery_metrics(m)
    assert out["cells"] == 4
    assert out["system-vector_profiles_all_completed"] == 2
    assert out["cells_losing_notifications"] >= 1


def test_irq_placement_early_init_lands_on_cpu0() -> None:
    df = wb.irq_placement(8, (0, 20))
    early = df[df["allocated in"] == "early initcall"]
    late = df[df["allocated in"] == "late initcall"]
    assert (early["notify_cpu"] == 0).all()
    assert (late["notify_cpu"] != 0).all()


# -- 04 ------------------------------------------------------------------------------------------------


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
    w = wb.loss_windows(ev)
    assert w["start_s"].tolist() == [1.0, 3.0]
    assert w["end_s"].tolist() == [1.5, 4.0]
    assert w["closed"].tolist() == [True, False]
    assert w["length_ms"].tolist() == pytest.approx([500.0, 1000.0])
    assert wb.loss_windows(ev.iloc[:1]).empty


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
    w = wb.loss_windows(ev)
    assert list(zip(w["start_s"], w["end_s"], w["closed"], strict=True)) == [
        (1.0, 3.0, True),
        (5.0, 6.0, False),
    ]
    unregistered = ev[ev["kind"] != "setup_notify"]  # nothing registered (quote-carries-vector): no window
    assert wb.loss_windows(unregistered).empty


def test_loss_windows_sum_to_the_simulated_loss_window() -> None:
    from tdxlib.sim import Scenario, run

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
            hotplug_every_s=1.0,
            hotplug_cpus="notify",
            seed=1,
        )
        r = run(sc)
        w = wb.loss_windows(r.events)
        assert len(w) >= 2
        assert w["length_ms"].sum() / 1000.0 == pytest.approx(r.metrics.loss_window_s)
        assert w["length_ms"].max() / 1000.0 == pytest.approx(r.metrics.loss_window_max_s)


def test_metrics_cache_matches_full_runs() -> None:
    key = wb._scenario_key(cpus=4, strategy={"name": "dynamic"}, vmm="random-vcpu", quotes=6, seed=9)
    assert wb._metrics_cached(key).to_dict() == wb._run_cached(key).metrics.to_dict()
    assert wb._metrics_cached(key) is wb._metrics_cached(key)


def test_hotplug_run_window_length_is_the_reregistration_delay() -> None:
    run = wb.hotplug_run("caller-vcpu", "qemu-10.1", reregister_delay_ms=250.0, duration_s=6.0)
    assert len(run.windows) == 1
    assert run.windows["closed"].iloc[0]
    assert run.windows["length_ms"].iloc[0] == pytest.approx(250.0)
    assert run.metrics["reregistrations"] == 1
    assert {"cpu_offline", "notify_migrate", "reregister"} <= set(run.events["kind"])


def test_hotplug_without_reregistration_loses_notifications() -> None:
    run = wb.hotplug_run("caller-vcpu", "qemu-10.1", reregister=False, online_at_s=0.0, duration_s=6.0)
    assert not run.windows["closed"].iloc[0]
    assert run.metrics["lost_notifications"] > 0
    assert run.metrics["reregistrations"] == 0


def test_hotplug_run_validates() -> None:
    with pytest.raises(ValidationError, match="offline_at_s"):
        wb.hotplug_run(offline_at_s=20.0, duration_s=10.0)
    with pytest.raises(ValidationError, match="online_at_s"):
        wb.hotplug_run(offline_at_s=3.0, online_at_s=2.0)
    with pytest.raises(ValidationError, match="cpus"):
        wb.hotplug_run(cpus=1)


def test_hotplug_compare_system_vector_needs_no_reregistration() -> None:
    df = wb.hotplug_compare(delays_ms=(None, 1.0), duration_s=6.0)
    sv = df[df["strategy"] == "system-vector"]
    assert len(sv) == 1 and sv["lost_notifications"].iloc[0] == 0
    never = df[df["reregister"] == "never"]
    assert (never["lost_notifications"] > 0).all()


# -- 05 ------------------------------------------------------------------------------------------------


def test_sleep_table_matches_jiffies() -> None:
    df = wb.sleep_table((1, 1000), (100, 1000)).set_index(["poll_ms", "hz"])
    assert df.loc[(1, 100), "sleep_min_ms"] == min_sleep_ms(1, 100)
    assert df.loc[(1000, 1000), "sleep_max_ms"] == max_sleep_ms(1000, 1000)
    assert (df["sleep_min_ms_6_13"] < df["sleep_min_ms"]).all()


def test_polling_sweep_trades_latency_for_wakeups() -> None:
    s = wb.polling_sweep((1, 100, 1000), (250,), quotes=15)
    s = s.sort_values("poll_ms")
    assert s["wasted_wakeups_per_quote"].is_monotonic_decreasing
    assert s["latency_mean_ms"].is_monotonic_increasing
    assert s[s["poll_ms"] == 1000]["latency_p50_ms"].iloc[0] >= 1000.0
    ref = wb.interrupt_reference(quotes=15)
    assert (ref["wakeups_per_quote"] == 1.0).all()
    cost = wb.polling_cost(s, ref)
    assert (cost["extra_mean_ms"] >= 0).all()
    assert cost.attrs["reference"].startswith("interrupt (")
    m = wb.polling_metrics(s, ref)
    assert "poll_1ms_hz250_latency_mean_ms" in m and "interrupt_latency_mean_ms" in m


def test_polling_cost_needs_an_injecting_vmm() -> None:
    s = wb.polling_sweep((1000,), (250,), vmm="never-injects", quotes=5)
    ref = wb.interrupt_reference(vmm="never-injects", quotes=5)
    assert (ref["completed"] == 0).all()
    with pytest.raises(ValidationError, match="reference"):
        wb.polling_cost(s, ref)
    assert "interrupt_latency_mean_ms" not in wb.polling_metrics(s, ref)


def test_stuck_frame_only_timeouts_and_polling_return() -> None:
    df = wb.stuck_frame(("never-injects",)).set_index("guest")
    assert df.loc["interrupt only (v8)", "hung"] > 0
    assert df.loc["interrupt + 30 s timeout", "timed_out"] > 0
    assert df.loc["polling 1 s × 30 (6.7)", "completed"] == df.loc["polling 1 s × 30 (6.7)", "quotes"]


def test_start_switches_charts_to_static() -> None:
    from tdxlib.workbook import charts

    try:
        wb.start(False)
        assert not charts.is_interactive()
    finally:
        charts.set_interactive(None)


@pytest.mark.parametrize(
    ("interactive", "in_build", "frozen"), [(False, True, True), (False, False, False), (True, True, False)]
)
def test_start_freezes_the_heap_only_in_a_report_kernel(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object, interactive: bool, in_build: bool, frozen: bool
) -> None:
    """Report-build kernels (headless, build cache set) freeze what they imported; other sessions do not."""
    import gc

    from tdxlib.cache import BUILD_CACHE_ENV
    from tdxlib.workbook import charts

    if in_build:
        monkeypatch.setenv(BUILD_CACHE_ENV, str(tmp_path))
    else:
        monkeypatch.delenv(BUILD_CACHE_ENV, raising=False)
    gc.unfreeze()
    try:
        wb.start(interactive)
        assert (gc.get_freeze_count() > 0) is frozen
    finally:
        gc.unfreeze()
        charts.set_interactive(None)


def test_claims_module_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    real = importlib.import_module

    def fake(name: str, *a: object) -> object:
        if name == "tdxlib.argument.claims":
            raise ImportError(name)
        return real(name, *a)  # type: ignore[arg-type]

    monkeypatch.setattr(wb.importlib, "import_module", fake)
    with pytest.raises(TdxlibError, match=r"tdxlib\.argument\.claims"):
        wb.claims_for()
