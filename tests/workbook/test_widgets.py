"""tdxlib.workbook.widgets: views; panels start from the view's figure, re-run the model on .value changes."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from paths import ROOT

from tdxlib import workbook as wb
from tdxlib.workbook import widgets


def _title(chart: Any) -> str:
    title = chart.to_dict(validate=False)["title"]
    return str(title["text"] if isinstance(title, dict) else title)


def _data(chart: Any) -> list[list[dict[str, Any]]]:
    return list(chart.to_dict(validate=False).get("datasets", {}).values())


@pytest.mark.parametrize(
    ("view", "panel", "params"),
    [
        (
            widgets.question_view,
            widgets.question_panel,
            {"strategy": "dynamic", "vmm": "ghci-1.0", "quotes": 2},
        ),
        (widgets.budget_view, widgets.budget_panel, {"cpus": 16, "device_irqs_per_cpu": 10}),
        (
            widgets.delivery_view,
            widgets.delivery_panel,
            {"cpus": 4, "quotes": 5, "vmms": ["ghci-1.0", "bsp-only"]},
        ),
        (
            widgets.hotplug_view,
            widgets.hotplug_panel,
            {"duration_s": 5.0, "offline_at_s": 2.0, "online_at_s": 4.0},
        ),
        (
            widgets.polling_view,
            widgets.polling_panel,
            {"quotes": 5, "hz_values": [250], "intervals_ms": [1, 1000]},
        ),
    ],
)
def test_panel_starts_from_the_parameterised_figure(view: Any, panel: Any, params: dict[str, Any]) -> None:
    v = view(**params)
    p = panel(**params)
    assert p.error == ""
    assert p.redraws == 1
    assert p.chart.to_dict(validate=False) == v.chart.to_dict(validate=False)
    assert p.caption == v.caption
    v.chart.to_dict()  # the static figure validates against the Vega-Lite schema
    assert set(p.timings) == {"model", "chart", "total"}
    assert isinstance(widgets.frame_of(v), pd.DataFrame)


def test_question_panel_strategy_change_reruns_the_model() -> None:
    p = widgets.question_panel(quotes=2)
    before = p.result
    assert "inject" in set(before["kind"])
    p.controls["strategy"].value = "polling"
    assert p.redraws == 2
    assert "inject" not in set(p.result["kind"])
    assert "polling" in _title(p.chart)


def test_budget_panel_load_and_config() -> None:
    p = widgets.budget_panel(cpus=8, device_irqs_per_cpu=4)
    assert set(p.result["points"]["device_irqs"]) == {32}
    p.controls["device_irqs_per_cpu"].value = 100
    assert set(p.result["points"]["device_irqs"]) == {800}
    left = p.result["points"].set_index("mechanism")["left_min"]
    assert left["system-vector"] == left["none"] - 1  # the reserved vector: one fewer on every CPU
    p.controls["cpus"].value = 64
    assert set(p.result["points"]["ncpus"]) == {64}
    p.controls["intel_tdx_guest"].value = False
    assert "CONFIG_INTEL_TDX_GUEST=n" in _title(p.chart)
    assert p.redraws == 4


def test_delivery_panel_metric_and_selection() -> None:
    p = widgets.delivery_panel(cpus=4, quotes=5, strategies=["system-vector", "dynamic"], vmms=["ghci-1.0"])
    assert len(p.result) == 2
    p.controls["metric"].value = "completed_share"
    spec = p.chart.to_dict(validate=False)
    assert spec["layer"][1]["encoding"]["color"]["field"] == "completed_share"
    p.controls["vmms"].value = ("ghci-1.0", "bsp-only")
    assert set(p.result["vmm"]) == {"ghci-1.0", "bsp-only"}
    p.controls["seed"].value = 7
    assert p.values()["seed"] == 7 and p.redraws == 4


def test_hotplug_panel_reregistration_and_errors() -> None:
    p = widgets.hotplug_panel(duration_s=6.0)
    assert p.result.metrics["lost_notifications"] == 0
    p.controls["reregister"].value = False
    assert p.result.metrics["lost_notifications"] > 0
    assert p.values()["duration_s"] == 6.0  # fixed parameters reach the view
    good = p.redraws
    p.controls["online_at_s"].value = 1.0  # before the offline: the model refuses, the panel says why
    assert "online_at_s" in p.error
    assert p.redraws == good and "online_at_s" in p.caption_html.value
    p.controls["online_at_s"].value = 0.0  # 0 = stays offline: accepted again
    assert p.error == "" and p.redraws == good + 1


def test_polling_panel_hz_and_vmm() -> None:
    p = widgets.polling_panel(quotes=5, hz_values=[250], intervals_ms=[1, 1000])
    assert set(p.result["sweep"]["hz"]) == {250}
    p.controls["hz_values"].value = (100, 1000)
    assert set(p.result["sweep"]["hz"]) == {100, 1000}
    p.controls["vmm"].value = "never-injects"
    assert "injects no interrupt" in p.caption
    p.controls["percentile"].value = "p99"
    assert "p99" in _title(p.chart)


def test_views_validate_their_choices() -> None:
    from tdxlib.errors import ValidationError

    with pytest.raises(ValidationError, match="metric"):
        widgets.delivery_view(metric="latency")
    with pytest.raises(ValidationError, match="percentile"):
        widgets.polling_view(percentile="p90")


def test_delivery_view_data_carries_only_the_shown_columns() -> None:
    v = widgets.delivery_view(cpus=4, quotes=5, strategies=["dynamic"], vmms=["ghci-1.0"])
    (data,) = _data(v.chart)
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
        wb.delivery_matrix(["dynamic"], ["ghci-1.0"], cpus=4, quotes=5).columns
    )


@pytest.mark.parametrize(
    ("notebook", "panel"),
    [
        ("01_the_question", widgets.question_panel),
        ("02_vector_budget", widgets.budget_panel),
        ("03_who_gets_the_interrupt", widgets.delivery_panel),
        ("04_hotplug", widgets.hotplug_panel),
        ("05_polling", widgets.polling_panel),
    ],
)
def test_panel_defaults_are_the_notebook_defaults(notebook: str, panel: Any) -> None:
    """bench_widgets.py times each panel at its defaults: they must be the notebook's default size."""
    import inspect
    import json

    from tdxlib.report.params import find_parameters_cell

    path = ROOT / "notebooks" / f"{notebook}.ipynb"
    declared = find_parameters_cell(json.loads(path.read_text(encoding="utf-8")), path).parameters
    shared = [p for p in inspect.signature(panel).parameters.values() if p.name in declared]
    assert shared, f"{notebook} shares no parameter with its panel"
    for p in shared:
        default = declared[p.name].default
        if isinstance(default, list) and not default:
            continue  # [] = "the notebook's own choice" (e.g. every VMM profile that matters)
        mine = list(p.default) if isinstance(p.default, tuple) else p.default
        assert mine == default, (
            f"{notebook}: {p.name} = {default!r} in the notebook, {p.default!r} in the panel"
        )
