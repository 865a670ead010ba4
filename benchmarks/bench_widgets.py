"""Benchmark the notebooks' widget panels: redraw time of each panel at its default (notebook) size.

Goal (issue 4): a redraw — re-running the model, converting the chart to its Vega-Lite spec and splitting
it for the live chart (``tdxlib.workbook.livechart``) — under 100 ms. This is the kernel's half only:
``bench_live.py`` times the whole redraw in a browser. For every panel this prints the first draw with
empty caches, a redraw per control moved to a new value (the model runs again for that value), and the
same control moved back (served from the panel's memory). Each panel's whole sequence is repeated
``ROUNDS`` times from empty caches and the best time of every step is kept, so a burst of load from other
processes does not decide a number; the load average and a fixed pure-Python control loop are printed so
a busy machine is recognisable. The 03 panel's default is 10 quotes per strategy × VMM cell
(``tdxlib.workbook.params.DELIVERY_QUOTES``; 20 took ~105 ms per redraw on an idle 2-core machine even
with the simulator's metrics-only fast path). Run: ``.venv/bin/python benchmarks/bench_widgets.py``
(prints; never fails on time).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from tdxlib.workbook import nb01_question, nb02_budget, nb03_delivery, nb04_hotplug, nb05_polling
from tdxlib.workbook.panel import Panel

GOAL_MS = 100.0
ROUNDS = 3

#: The modules whose caches a redraw runs through: booted matrices and offline limits (kernel.budget),
#: simulation runs and the rows made of them (the workbook). Data files stay loaded, as in a session.
MODEL_CACHES: tuple[str, ...] = ("tdxlib.kernel.budget", "tdxlib.workbook")


#: Kept warm: the live chart's front-end bundle is built once per kernel, not per redraw.
KEEP: tuple[str, ...] = ("tdxlib.workbook.livechart",)


def clear_caches() -> None:
    """Empty the model caches: every memo or lru_cache defined in a module under :data:`MODEL_CACHES`
    (but :data:`KEEP`)."""
    for name, module in list(sys.modules.items()):
        if name.startswith(MODEL_CACHES) and name not in KEEP:
            for value in vars(module).values():
                mine = getattr(value, "__module__", None) == name
                if mine and callable(getattr(value, "cache_clear", None)):
                    value.cache_clear()


#: (panel factory, [(control, new value), ...]) at the notebooks' default parameters.
CASES: dict[str, tuple[Callable[[], Panel], list[tuple[str, Any]]]] = {
    "01 question": (
        nb01_question.question_panel,
        [("strategy", "dynamic"), ("vmm", "ghci-1.0"), ("quotes", 5), ("seed", 1)],
    ),
    "02 budget": (
        nb02_budget.budget_panel,
        [("device_irqs_per_cpu", 100), ("cpus", 1024), ("intel_tdx_guest", False)],
    ),
    "03 delivery": (
        nb03_delivery.delivery_panel,
        [("metric", "completed_share"), ("vmms", ("ghci-1.0", "qemu-10.1")), ("seed", 1), ("cpus", 4)],
    ),
    "04 hotplug": (
        nb04_hotplug.hotplug_panel,
        [("reregister", False), ("reregister_delay_ms", 500.0), ("rate_per_s", 10.0), ("seed", 1)],
    ),
    "05 polling": (
        nb05_polling.polling_panel,
        [("hz_values", (250,)), ("kernel", "linux-6.12"), ("percentile", "p99"), ("seed", 1)],
    ),
}


def control_ms(n: int = 300_000) -> float:
    """A fixed pure-Python loop (best of 3): compare between runs to see how busy the machine is."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        acc = 0
        for i in range(n):
            acc += i * i
        best = min(best, time.perf_counter() - t0)
    return best * 1000.0


def fmt(t: dict[str, float]) -> str:
    flag = "" if t["total"] < GOAL_MS else "  (over goal)"
    return f"{t['total']:7.1f} ms  (model {t['model']:6.1f}, chart {t['chart']:5.1f}){flag}"


def _best(a: dict[str, float] | None, b: dict[str, float]) -> dict[str, float]:
    return dict(b) if a is None or b["total"] < a["total"] else a


def measure(
    factory: Callable[[], Panel], moves: list[tuple[str, Any]]
) -> tuple[dict[str, float], float, list[tuple[dict[str, float], dict[str, float]]], str]:
    """One panel: best-of-ROUNDS first draw, build time, and (new, back) timings per move."""
    first: dict[str, float] | None = None
    build = float("inf")
    steps: list[list[dict[str, float] | None]] = [[None, None] for _ in moves]
    error = ""
    for _ in range(ROUNDS):
        clear_caches()
        t0 = time.perf_counter()
        panel = factory()
        build = min(build, (time.perf_counter() - t0) * 1000.0)
        first = _best(first, panel.timings)
        for i, (control, value) in enumerate(moves):
            widget = panel.controls[control]
            before = widget.value
            widget.value = value
            steps[i][0] = _best(steps[i][0], panel.timings)
            widget.value = before
            steps[i][1] = _best(steps[i][1], panel.timings)
        error = error or panel.error
    assert first is not None
    pairs = [(s[0], s[1]) for s in steps if s[0] is not None and s[1] is not None]
    return first, build, pairs, error


def main() -> None:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    ctl = control_ms()
    print(
        f"tdxlib.workbook panels: redraw at default sizes (goal < {GOAL_MS:.0f} ms; model + Vega-Lite spec)"
    )
    print(f"best of {ROUNDS} rounds from empty caches; load average {load}; control loop {ctl:.1f} ms")
    warm_all: list[float] = []
    worst_new: dict[str, float] = {}
    for name, (factory, moves) in CASES.items():
        first, build, pairs, error = measure(factory, moves)
        print(f"\n{name}: first draw, empty caches {fmt(first)}; panel built in {build:.0f} ms")
        for (control, value), (cold, warm) in zip(moves, pairs, strict=True):
            warm_all.append(warm["total"])
            worst_new[name] = max(worst_new.get(name, 0.0), cold["total"])
            print(f"  {control:>20} -> {value!s:<28} new {fmt(cold)}")
            print(f"  {control:>20} <- back{'':<24} cached {fmt(warm)}")
        if error:
            print(f"  panel error: {error}")
    print(
        f"\ncached redraws: median {statistics.median(warm_all):.1f} ms, max {max(warm_all):.1f} ms "
        f"over {len(warm_all)} moves"
    )
    print(
        "slowest redraw with a new value, per panel: "
        + ", ".join(f"{k} {v:.0f} ms" for k, v in worst_new.items())
    )
    print(f"control loop after the run: {control_ms():.1f} ms (before: {ctl:.1f} ms)")


if __name__ == "__main__":
    main()
