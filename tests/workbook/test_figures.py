"""tdxlib.workbook.figures: each figure builds a valid Vega-Lite spec from model output."""

from __future__ import annotations

import math
from typing import Any

import altair as alt
import pandas as pd

from tdxlib.workbook import figures, ledgers
from tdxlib.workbook import nb01_question as nb01
from tdxlib.workbook import nb02_budget as nb02
from tdxlib.workbook import nb05_polling as nb05
from tdxlib.workbook.nb04_hotplug import hotplug_run
from tdxlib.workbook.params import HotplugParams


def _spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    """The validated spec (to_dict validates against the Vega-Lite schema)."""
    return chart.to_dict()


def _datasets(spec: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return list(spec.get("datasets", {}).values())


def _marks(spec: dict[str, Any]) -> list[str]:
    out = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            mark = node.get("mark")
            if mark is not None:
                out.append(mark if isinstance(mark, str) else mark["type"])
            for key in ("layer", "hconcat", "vconcat", "concat"):
                for child in node.get(key, []):
                    walk(child)
            if "spec" in node:
                walk(node["spec"])

    walk(spec)
    return out


def test_vector_space_and_variants() -> None:
    spec = _spec(figures.vector_spaces(nb02.vector_space_frame(), "vectors"))
    assert len(spec["hconcat"]) == 2
    rows = _datasets(spec)
    roles = {r["role"] for data in rows for r in data}
    assert {"exception", "device", "system"} <= roles


def test_budget_lines_log_y_drops_zero_rows() -> None:
    g = nb02.growth_frame([1, 8, 64], 0)
    spec = _spec(figures.budget_lines(g, "taken", "taken", "t", log_y=True))
    (data,) = _datasets(spec)
    assert all(r["taken"] > 0 for r in data)
    assert spec["encoding"]["y"]["scale"]["type"] == "log"
    plain = _spec(figures.budget_lines(g, "taken", "taken", "t"))
    assert len(_datasets(plain)[0]) == len(g)


def test_load_curves_with_and_without_selection() -> None:
    full = nb02.load_frame(8, [0, 100, 200])
    band = nb02.band_frame(8, points=11)
    spec = _spec(figures.load_curves(full, band, 4, "budget"))
    assert len(spec["hconcat"]) == 2
    assert "rule" in _marks(spec)
    spec = _spec(figures.load_curves(full, None, None, "budget"))
    assert len(spec["hconcat"]) == 1 and "rule" not in _marks(spec)


def test_headroom_and_capture_bars() -> None:
    _spec(figures.headroom_bars(nb02.headroom_frame([8]), "h"))
    ans = nb02.capture_answer(nb02.capture_names()[-1])
    assert ans is not None
    spec = _spec(figures.capture_bars(ans.per_cpu, "c"))
    (data,) = _datasets(spec)
    assert {r["case"] for r in data} == {"now", "with reserved vector"}
    assert len(data) == 2 * len(ans.per_cpu)


def test_delivery_heatmap_labels_missing_cells() -> None:
    df = pd.DataFrame(
        {
            "strategy": ["a", "a", "b"],
            "vmm": ["x", "y", "x"],
            "lost_share": [0.25, math.nan, 1.0],
        }
    )
    spec = _spec(figures.delivery_heatmap(df, "lost_share", "lost"))
    assert spec["title"] == "lost"
    (data,) = _datasets(spec)
    labels = {(r["strategy"], r["vmm"]): r["label"] for r in data}
    assert labels == {("a", "x"): "25%", ("a", "y"): "n/a", ("b", "x"): "100%"}
    assert _marks(spec) == ["rect", "rect", "text"]


def test_hotplug_timeline_shades_windows() -> None:
    run = hotplug_run(HotplugParams(reregister_delay_ms=400.0, duration_s=6.0))
    spec = _spec(figures.hotplug_timeline(run.events, run.windows, "hotplug"))
    assert _marks(spec) == ["rect", "tick"]
    windows = [d for d in _datasets(spec) if d and "start_s" in d[0]]
    assert windows and windows[0][0]["label"] == "400 ms"


def test_latency_chart_and_wakeups() -> None:
    sweep = nb05.polling_sweep((1, 1000), (250,), quotes=5)
    ref = nb05.interrupt_reference(quotes=5)
    spec = _spec(figures.latency_chart(sweep, ref, "lat", "p99"))
    assert _marks(spec) == ["line", "rule"]
    assert spec["layer"][0]["encoding"]["y"]["field"] == "latency_p99_ms"
    assert _marks(_spec(figures.latency_chart(sweep, None, "lat"))) == ["line"]
    spec = _spec(figures.wakeup_lines(sweep, "w"))
    (data,) = _datasets(spec)
    assert all(r["wasted_wakeups_per_quote"] > 0 for r in data)


def test_mechanism_timeline_names_the_setup_row() -> None:
    spec = _spec(figures.mechanism_timeline(nb01.mechanism_run(quotes=2), "m"))
    (data,) = _datasets(spec)
    assert {r["quote"] for r in data} == {"setup", "quote 0", "quote 1"}


def test_verdict_table_colours_every_verdict() -> None:
    ledger = pd.DataFrame(
        {"id": ["a", "b", "c"], "author": ["x", "y", "z"], "verdict": ["holds", "fails", "depends"]}
    )
    spec = _spec(figures.verdict_table(ledger, "claims"))
    assert spec["title"] == "claims"
    colour = spec["layer"][0]["encoding"]["color"]
    assert colour["scale"]["domain"] == ["holds", "fails", "depends", "moot"]


def test_era_grid_has_a_cell_per_claim_and_kernel_coloured_by_verdict() -> None:
    from tdxlib.workbook.nb01_question import era_frame

    ledger = pd.DataFrame(
        {
            "id": ["a", "b"],
            "verdict": ["depends", "holds"],
            "eras": [{"k1": "moot", "k2": "holds"}, {"k1": "holds", "k2": "holds"}],
        }
    )
    frame = era_frame(ledger)
    assert list(frame["kernel"]) == ["k1", "k2", "overall", "k1", "k2", "overall"]
    spec = _spec(figures.era_grid(frame, "by era"))
    assert spec["title"] == "by era" and [len(d) for d in _datasets(spec)] == [6]
    assert spec["layer"][0]["encoding"]["color"]["scale"]["domain"] == ["holds", "fails", "depends", "moot"]
    assert spec["layer"][0]["encoding"]["x"]["sort"] == ["k1", "k2", "overall"]


def test_event_timeline_and_latency_lines_still_build() -> None:
    run = hotplug_run(HotplugParams(duration_s=5.0))
    _spec(figures.event_timeline(run.events, "events", kinds=["cpu_offline", "reregister"]))
    sweep = nb05.polling_sweep((1, 1000), (250,), quotes=5)
    _spec(figures.latency_lines(sweep, "lat"))


def test_a_figure_renders_to_svg_offline() -> None:
    from tdxlib.workbook.charts import to_svg

    svg = to_svg(figures.verdict_table(ledgers.claims_for("02_vector_budget")))
    assert svg.lstrip().startswith("<svg") and "config-gated" in svg


def test_capture_chart_of_a_large_machine_is_a_line_per_case() -> None:
    ans = nb02.capture_answer("constructed-8s-1024cpu", "linux-5.19-tdx-v8")
    assert ans is not None and len(ans.per_cpu) > 64
    spec = _spec(figures.capture_bars(ans.per_cpu, "c"))
    assert _marks(spec) == ["line"]
    (data,) = _datasets(spec)
    assert len(data) == 2 * len(ans.per_cpu)
    small = _spec(figures.capture_bars(ans.per_cpu.head(8), "c"))
    assert _marks(small) == ["bar"]
