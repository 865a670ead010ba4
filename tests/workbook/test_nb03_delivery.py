"""tdxlib.workbook.nb03_delivery: the matrix answers who gets the interrupt; key numbers; the panel."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from _panels import check_panel_starts_from_the_view, datasets

from tdxlib.errors import ValidationError
from tdxlib.workbook import nb03_delivery as nb
from tdxlib.workbook.params import DELIVERY_STRATEGIES, DELIVERY_VMMS, DeliveryParams


def test_delivery_matrix_answers_who_gets_the_interrupt() -> None:
    m = nb.delivery_matrix(
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
    a = nb.delivery_matrix(["dynamic"], ["random-vcpu"], cpus=4, quotes=10, seed=3)
    b = nb.delivery_matrix(["dynamic"], ["random-vcpu"], cpus=4, quotes=10, seed=3)
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(ValidationError, match="vmm"):
        nb.delivery_matrix(["dynamic"], ["no-such-vmm"])
    with pytest.raises(ValidationError, match="strategy"):
        nb.delivery_matrix(["no-such-strategy"], ["ghci-1.0"])


def test_delivery_metrics() -> None:
    m = nb.delivery_matrix(["system-vector", "dynamic"], ["ghci-1.0", "bsp-only"], cpus=4, quotes=5)
    out = nb.delivery_metrics(m)
    assert out["cells"] == 4
    assert out[nb.profiles_all_completed_key("system-vector")] == 2
    assert out["cells_losing_notifications"] >= 1
    per_strategy = {k for k in out if k not in ("cells", "cells_all_completed", "cells_losing_notifications")}
    assert per_strategy == {nb.profiles_all_completed_key(s) for s in ("system-vector", "dynamic")}


def test_profiles_all_completed_key_is_the_recorded_name() -> None:
    assert nb.profiles_all_completed_key("caller-vcpu") == "caller-vcpu_profiles_all_completed"


def test_irq_placement_early_init_lands_on_cpu0() -> None:
    df = nb.irq_placement(8, (0, 20))
    early = df[df["allocated in"] == "early initcall"]
    late = df[df["allocated in"] == "late initcall"]
    assert (early["notify_cpu"] == 0).all()
    assert (late["notify_cpu"] != 0).all()


def test_delivery_params_resolve_empty_rows_and_columns() -> None:
    p = DeliveryParams()
    assert p.columns == list(DELIVERY_VMMS) and p.rows == list(DELIVERY_STRATEGIES)
    p = DeliveryParams(vmms=["bsp-only"], strategies=["polling"])
    assert p.columns == ["bsp-only"] and p.rows == ["polling"]
    with pytest.raises(ValidationError, match="metric"):
        DeliveryParams(metric="latency")


def test_delivery_panel_metric_and_selection() -> None:
    params = DeliveryParams(cpus=4, quotes=5, strategies=["system-vector", "dynamic"], vmms=["ghci-1.0"])
    p = nb.delivery_panel(params)
    check_panel_starts_from_the_view(nb.delivery_view(params), p)
    assert len(p.result) == 2
    p.controls["metric"].value = "completed_share"
    spec = p.chart.to_dict(validate=False)
    assert spec["layer"][1]["encoding"]["color"]["field"] == "completed_share"
    p.controls["vmms"].value = ("ghci-1.0", "bsp-only")
    assert set(p.result["vmm"]) == {"ghci-1.0", "bsp-only"}
    p.controls["seed"].value = 7
    assert p.values()["seed"] == 7 and p.redraws == 4


def test_delivery_panel_selects_the_default_rows_and_columns() -> None:
    p = nb.delivery_panel(DeliveryParams(cpus=4, quotes=2))
    assert p.controls["vmms"].value == DELIVERY_VMMS
    assert p.controls["strategies"].value == DELIVERY_STRATEGIES
    assert len(p.result) == len(DELIVERY_VMMS) * len(DELIVERY_STRATEGIES)


def test_delivery_view_data_carries_only_the_shown_columns() -> None:
    v = nb.delivery_view(DeliveryParams(cpus=4, quotes=5, strategies=["dynamic"], vmms=["ghci-1.0"]))
    (data,) = datasets(v.chart)
    assert set(data[0]) == {
        "strategy",
        "vmm",
        "lost_share",
        "quotes",
        "completed",
        "injected",
        "lost",
        "label",
    }
    assert list(v.result.columns) == list(
        nb.delivery_matrix(["dynamic"], ["ghci-1.0"], cpus=4, quotes=5).columns
    )


def test_cells_are_memoised_as_frozen_rows_no_caller_can_change() -> None:
    args = (["dynamic"], ["random-vcpu"])
    first = nb.delivery_matrix(*args, cpus=4, quotes=5, seed=2)
    first.loc[0, "lost"] = -1
    again = nb.delivery_matrix(*args, cpus=4, quotes=5, seed=2)
    assert again.loc[0, "lost"] >= 0
    assert nb._cell.cache_info().hits > 0  # type: ignore[attr-defined]
