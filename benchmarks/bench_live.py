"""Benchmark the live review end to end, in a real browser: input event to the new chart drawn.

Starts JupyterLab on 127.0.0.1 (a fresh port and token, autosave off, the notebooks copied to a
temporary folder), drives headless Debian chromium with Playwright, network off (only 127.0.0.1;
anything else requested is listed and fails the run), and for every notebook: opens it, runs all
cells, waits for every chart to draw and ``--read`` seconds more (a reviewer reads before moving a
slider; 06's explorer evaluates the other proposals in the background meanwhile: with ``--read 0``
its first moves pay 0.1-0.6 s of model time), then moves each control of each panel ``--moves`` times — odd
moves to a value not shown yet (1, 2, 3 steps away), even moves back to the start — and times each
move in the page, from the DOM event the control receives (``performance.now()`` just before it is
dispatched) to the first animation frame after the panel's chart announced it drew
(``tdxlib.workbook.livecheck``, ``js/livecheck.js``). That is what a reviewer meets: the kernel's
model and spec (``bench_widgets.py``), the messages both ways and the browser's drawing.

Goal (issue 16): p50 < 100 ms and p95 < 200 ms for every panel at its defaults.
Run: ``.venv/bin/python benchmarks/bench_live.py [--moves 6] [--only 02_vector_budget] [--json out.json]``
(prints; exits 1 only when something failed to run or draw, never on time).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tdxlib.workbook import livecheck
from tdxlib.workbook.launch import KERNEL, serve

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
P50_GOAL, P95_GOAL = 100.0, 200.0
#: JupyterLab user settings of the run: nothing written back into the copied notebooks by autosave.
USER_SETTINGS = {"@jupyterlab/docmanager-extension:plugin": {"autosave": False}}


def copy_notebooks(dest: Path, names: list[Path]) -> None:
    """The notebooks, on the tdxlib kernel (as the notebooks name it, also for older commits)."""
    for path in names:
        nb = json.loads(path.read_text(encoding="utf-8"))
        nb["metadata"]["kernelspec"] = {
            "name": KERNEL,
            "display_name": "tdxlib (.venv)",
            "language": "python",
        }
        (dest / path.name).write_text(json.dumps(nb), encoding="utf-8")


def run_notebook(br: livecheck.Browser, server: Any, path: Path, moves: int, read: float) -> dict[str, Any]:
    page = br.new_page()
    t0 = time.perf_counter()
    livecheck.lab_open(page, server, path.name)
    errors = livecheck.lab_run_all(page)
    charts = livecheck.wait_charts(page) if not errors else 0
    ran = time.perf_counter() - t0
    time.sleep(read)
    results = []
    if not errors:
        for i in range(len(livecheck.panels(page))):
            results.append(livecheck.measure_panel(page, i, moves))
    livecheck.lab_shutdown(page)
    page.close()
    return {"notebook": path.stem, "errors": errors, "charts": charts, "run_s": ran, "panels": results}


def fmt_row(nb: str, p: dict[str, Any]) -> str:
    ok = p["p50"] < P50_GOAL and p["p95"] < P95_GOAL
    flag = "" if ok else "  over goal"
    times = p["times"]
    lo, hi = (min(times), max(times)) if times else (float("nan"), float("nan"))
    return (
        f"{nb:<28} {p['title'][:30]:<30} {len(times):>5} {p['p50']:7.0f} {p['p95']:7.0f} "
        f"{lo:6.0f}-{hi:<6.0f}{flag}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moves", type=int, default=6, help="moves per control (default 6)")
    ap.add_argument("--only", action="append", default=[], help="notebook stem (repeatable)")
    ap.add_argument("--read", type=float, default=5.0, help="seconds between Run All and the first move")
    ap.add_argument("--json", type=Path, help="write the raw times here")
    args = ap.parse_args(argv)
    if livecheck.chromium_path() is None:
        print("bench_live: no chromium (apt-get install chromium)")
        return 1
    chosen = [p for p in NOTEBOOKS if not args.only or p.stem in args.only]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"tdxlib live review in headless chromium: input event -> chart drawn (goal p50 < {P50_GOAL:.0f} ms, "
    )
    print(f"p95 < {P95_GOAL:.0f} ms); {args.moves} moves per control, {args.read:g} s read after Run All; ")
    print(f"load average {load}")
    out: list[dict[str, Any]] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        root = Path(tmp)
        copy_notebooks(root, chosen)
        with serve("lab", root, user_settings=USER_SETTINGS) as server, livecheck.browser() as br:
            for path in chosen:
                res = run_notebook(br, server, path, args.moves, args.read)
                out.append(res)
                print(f"\n{path.stem}: ran in {res['run_s']:.1f} s, {res['charts']} charts drawn")
                if res["errors"]:
                    failed = True
                    print("  errors: " + "; ".join(res["errors"]))
                print(f"{'notebook':<28} {'panel':<30} {'moves':>5} {'p50':>7} {'p95':>7} {'min-max':>13}")
                for p in res["panels"]:
                    print(fmt_row(path.stem, p))
                    print(f"    redrawn by {', '.join(f'{k} {v}' for k, v in sorted(p['how'].items()))}")
                    for label, ts in p["per_control"].items():
                        ts_s = " ".join(f"{t:.0f}" for t in ts)
                        print(f"    {label[:24]:<24} {ts_s}")
                    if p["missed"]:
                        failed = True
                        print("    no redraw: " + "; ".join(p["missed"]))
            if br.offhost:
                failed = True
                print("\nrequested off this machine: " + ", ".join(sorted(set(br.offhost))[:10]))
            if br.errors:
                print("\npage errors: " + "; ".join(br.errors[:5]))
    print(f"\nload average after the run: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1), encoding="utf-8")
    shutil.rmtree(root, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
