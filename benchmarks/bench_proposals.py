"""Benchmark tdxlib.argument.proposals: evaluating one proposal across the default suite, and the comparison.

Goal (issue 5): one proposal across the default suite in under 5 s. Also timed: every built-in
compared (serial, and through a 2-process pool), validation of every built-in file, and rendering.
Run: ``.venv/bin/python benchmarks/bench_proposals.py`` (prints numbers; never fails on timing).
"""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from tdxlib.argument import proposals as P
from tdxlib.argument.proposals.catalog import builtin_paths
from tdxlib.argument.proposals.suites import load_suites


def timed(label: str, fn, goal_s: float | None = None):  # type: ignore[no-untyped-def]
    """Run ``fn`` once, print its wall time (and the goal), return its result."""
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    goal = "" if goal_s is None else f"  (goal < {goal_s:g} s: {'OK' if dt < goal_s else 'SLOW'})"
    print(f"  {label:<58} {dt:7.3f} s{goal}")
    return out


def main() -> None:
    """Print the timings."""
    suite = load_suites()["default"]
    runs = len(suite.scenarios) * len(suite.vmms) * len(suite.seeds)
    shape = f"{len(suite.scenarios)} scenarios x {len(suite.vmms)} VMMs x {len(suite.seeds)} seed(s)"
    print(f"default suite: {shape} = {runs} runs")
    cold = "from tdxlib.argument import proposals as P; P.evaluate('caller-vcpu', 'default')"
    timed(
        "cold: new Python, import, evaluate('caller-vcpu', 'default')",
        lambda: subprocess.run([sys.executable, "-c", cold], check=True),
        goal_s=5.0,
    )
    timed("validate every built-in file", lambda: [P.load_proposal(p) for p in builtin_paths().values()])
    P.evaluate("caller-vcpu", "quick")  # warm imports and caches
    for pid in P.builtin_ids():
        timed(f"evaluate({pid!r}, 'default')", lambda pid=pid: P.evaluate(pid, "default"), goal_s=5.0)
    ev = timed("evaluate_all(all built-ins, 'default'), serial", lambda: P.evaluate_all(None, "default"))
    with ProcessPoolExecutor(2) as pool:
        pool.submit(int).result()  # start the workers outside the timing
        timed(
            "evaluate_all(all built-ins, 'default'), 2 processes",
            lambda: P.evaluate_all(None, "default", executor=pool),
        )
    table = timed("verdict_table", lambda: P.verdict_table(ev))
    one = ev[ev["proposal"] == "caller-vcpu"]
    html = timed(
        "render_html('caller-vcpu', evaluation)", lambda: P.render_html(P.resolve("caller-vcpu"), one)
    )
    print(f"  ({len(ev)} runs, verdict table {table.shape[0]} x {table.shape[1]}, HTML {len(html):,} chars)")


if __name__ == "__main__":
    main()
