"""Benchmark tdxlib.widgets: redraw time of each notebook's panel at its default (notebook) size.

Goal (issue 4): a redraw — re-running the model and converting the chart to its Vega-Lite spec — under
100 ms. For every panel this prints the first draw with empty caches, a redraw per control moved to a
new value (the model runs again for that value), and the same control moved back (served from the
workbook's caches). Run: ``.venv/bin/python benchmarks/bench_widgets.py`` (prints; never fails on time).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from tdxlib import widgets
from tdxlib import workbook as wb

GOAL_MS = 100.0


def clear_caches() -> None:
    """Empty the workbook's caches (booted matrices, offline limits, simulation runs)."""
    wb._booted.cache_clear()
    wb._offline_limit.cache_clear()
    wb._run_cached.cache_clear()


#: (panel factory, [(control, new value), ...]) at the notebooks' default parameters.
CASES: dict[str, tuple[Callable[[], widgets.Panel], list[tuple[str, Any]]]] = {
    "01 question": (
        widgets.question_panel,
        [("strategy", "dynamic"), ("vmm", "ghci-1.0"), ("quotes", 5), ("seed", 1)],
    ),
    "02 budget": (
        widgets.budget_panel,
        [("device_irqs_per_cpu", 100), ("cpus", 1024), ("intel_tdx_guest", False)],
    ),
    "03 delivery": (
        widgets.delivery_panel,
        [("metric", "completed_share"), ("vmms", ("ghci-1.0", "qemu-10.1")), ("seed", 1), ("cpus", 4)],
    ),
    "04 hotplug": (
        widgets.hotplug_panel,
        [("reregister", False), ("reregister_delay_ms", 500.0), ("rate_per_s", 10.0), ("seed", 1)],
    ),
    "05 polling": (
        widgets.polling_panel,
        [("hz_values", (250,)), ("extra_jiffy", False), ("percentile", "p99"), ("seed", 1)],
    ),
}


def fmt(t: dict[str, float]) -> str:
    flag = "" if t["total"] < GOAL_MS else "  (over goal)"
    return f"{t['total']:7.1f} ms  (model {t['model']:6.1f}, chart {t['chart']:5.1f}){flag}"


def main() -> None:
    print(f"tdxlib.widgets redraw at default sizes (goal < {GOAL_MS:.0f} ms; model + Vega-Lite spec)")
    warm_all: list[float] = []
    for name, (factory, moves) in CASES.items():
        clear_caches()
        t0 = time.perf_counter()
        panel = factory()
        build = (time.perf_counter() - t0) * 1000.0
        print(f"\n{name}: first draw, empty caches {fmt(panel.timings)}; panel built in {build:.0f} ms")
        for control, value in moves:
            widget = panel.controls[control]
            before = widget.value
            widget.value = value
            cold = dict(panel.timings)
            widget.value = before
            warm = dict(panel.timings)
            warm_all.append(warm["total"])
            print(f"  {control:>20} -> {value!s:<28} new {fmt(cold)}")
            print(f"  {control:>20} <- back{'':<24} cached {fmt(warm)}")
        if panel.error:
            print(f"  panel error: {panel.error}")
    print(
        f"\ncached redraws: median {statistics.median(warm_all):.1f} ms, max {max(warm_all):.1f} ms "
        f"over {len(warm_all)} moves"
    )


if __name__ == "__main__":
    main()
