"""tdxlib.workbook.nb02_budget: the numbers agree with tdxlib.kernel.budget; layouts, captures, panel."""

from __future__ import annotations

import pytest
from _panels import check_panel_starts_from_the_view, title

from tdxlib.errors import ValidationError
from tdxlib.kernel import budget
from tdxlib.workbook import nb02_budget as nb
from tdxlib.workbook.params import BudgetParams


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
        nb.budget_point(mechanism, ncpus, load, **config)
        == budget.budget(mechanism, ncpus, load, **config).to_dict()
    )


@pytest.mark.parametrize("ncpus", [2, 8, 64])
def test_offline_limit_equals_the_budget_module(ncpus: int) -> None:
    for mech in budget.MECHANISMS:
        assert nb.offline_limit(mech, ncpus) == budget.offline_limit(mech, ncpus)


def test_budget_point_validates() -> None:
    with pytest.raises(ValidationError, match="mechanism"):
        nb.budget_point("irq-storm", 8)
    with pytest.raises(ValidationError, match="ncpus"):
        nb.budget_point("none", 0)
    with pytest.raises(ValidationError, match="device_irqs"):
        nb.budget_point("none", 8, -1)


def test_growth_frame_system_vector_costs_one_per_cpu_dynamic_one() -> None:
    g = nb.growth_frame([1, 4, 32, 256], 2)
    for n, grp in g.groupby("ncpus"):
        taken = grp.set_index("mechanism")["taken"]
        assert taken["none"] == 0
        assert taken["system-vector"] == n
        assert taken["dynamic"] == 1
    share = g[g["mechanism"] == "system-vector"]["taken_share"]
    assert share.between(0.004, 0.006).all()  # one vector of ~200 per CPU


def test_when_it_matters_brackets_the_band_where_only_the_system_vector_refuses() -> None:
    w = nb.when_it_matters(16)
    assert w["band_start"] == w["limit_system_vector"] + 1 <= w["band_end"] == w["limit_none"]
    inside = w["band_start"]
    assert nb.budget_point("system-vector", 16, inside)["offline_refused"] > 0
    assert nb.budget_point("none", 16, inside)["offline_refused"] == 0
    assert nb.budget_point("none", 16, w["band_end"] + 16)["offline_refused"] > 0


def test_band_frame_resolves_the_band() -> None:
    band = nb.band_frame(8, points=21)
    sv = band[band["mechanism"] == "system-vector"].set_index("device_irqs")["offline_refused"]
    none = band[band["mechanism"] == "none"].set_index("device_irqs")["offline_refused"]
    only_sv = (sv > 0) & (none == 0)
    assert only_sv.any()  # at least one sampled load lies inside the band
    assert (sv >= none).all()


def test_load_frame_rows_and_monotone_refusals() -> None:
    df = nb.load_frame(8, [0, 50, 100, 180, 200])
    assert len(df) == 5 * len(budget.MECHANISMS)
    for _, grp in df.groupby("mechanism"):
        assert grp["left_min"].is_monotonic_decreasing
        assert grp["offline_refused"].is_monotonic_increasing


def test_headroom_frame_system_vector_holds_about_one_irq_per_cpu_less() -> None:
    h = nb.headroom_frame([8, 64]).set_index(["ncpus", "mechanism"])["limit"]
    for n in (8, 64):
        diff = h[(n, "none")] - h[(n, "system-vector")]
        assert n - 1 <= diff <= n + 1


def test_layouts_frame_shows_the_unconditional_timer_move() -> None:
    df = nb.layouts_frame().set_index("variant")
    base = df.loc["5.19", "device_vectors_per_cpu"]
    for v in ("5.19 + v8, TDX guest", "5.19 + v8, not a TD", "5.19 + v8, INTEL_TDX_GUEST=n"):
        assert df.loc[v, "device_vectors_per_cpu"] == base - 1
        assert df.loc[v, "FIRST_SYSTEM_VECTOR"] == "0xeb"
    assert list(df["notify_vector_set"]) == [False, True, False, False, False]


def test_vector_space_frame_has_256_vectors_per_variant() -> None:
    df = nb.vector_space_frame()
    assert df.groupby("variant").size().tolist() == [256, 256]


def test_capture_answer() -> None:
    assert nb.capture_answer("") is None
    with pytest.raises(ValidationError):
        nb.capture_answer(3)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        nb.capture_answer("no-such-capture")
    names = nb.capture_names()
    assert names
    ans = nb.capture_answer(names[-1])
    assert ans is not None
    assert len(ans.answers) == 4
    assert len(ans.per_cpu) == ans.summary["cpus_online"]
    m = ans.metrics()
    assert m["capture_available_reserved_min"] <= m["capture_available_min"]


def test_budget_metrics() -> None:
    g = nb.growth_frame([8, 64], 1)
    m = nb.budget_metrics(g, nb.when_it_matters(64))
    assert m["sweep_max_cpus"] == 64 and m["system_vector_taken_at_max"] == 64
    assert m["band_start_per_cpu"] <= m["band_end_per_cpu"]
    assert not any(k.startswith("capture_") for k in m)
    ans = nb.capture_answer(nb.capture_names()[-1])
    assert ans is not None
    with_capture = nb.budget_metrics(g, nb.when_it_matters(64), ans)
    assert with_capture == {**m, **ans.metrics()}


def test_budget_params_derive_the_sweep_and_the_config() -> None:
    p = BudgetParams(max_cpus=300, intel_tdx_guest=False)
    assert p.sweep_cpus == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    assert p.config == {"INTEL_TDX_GUEST": False}


def test_budget_panel_load_and_config() -> None:
    params = BudgetParams(cpus=8, device_irqs_per_cpu=4)
    p = nb.budget_panel(params)
    check_panel_starts_from_the_view(nb.budget_view(params), p)
    assert set(p.result["points"]["device_irqs"]) == {32}
    p.controls["device_irqs_per_cpu"].value = 100
    assert set(p.result["points"]["device_irqs"]) == {800}
    left = p.result["points"].set_index("mechanism")["left_min"]
    assert left["system-vector"] == left["none"] - 1  # the reserved vector: one fewer on every CPU
    p.controls["cpus"].value = 64
    assert set(p.result["points"]["ncpus"]) == {64}
    p.controls["intel_tdx_guest"].value = False
    assert "CONFIG_INTEL_TDX_GUEST=n" in title(p.chart)
    assert p.redraws == 4


def test_budget_claims_rerun_the_wasteful_check_on_the_notebook_sizes() -> None:
    ledger, table = nb.budget_claims(BudgetParams(cpus=16, max_cpus=256))
    assert list(ledger["id"]) == ["system-vector-wasteful", "config-gated"]
    assert "verdict here" in table  # (8, 16, 256) differs from the check's default sizes
