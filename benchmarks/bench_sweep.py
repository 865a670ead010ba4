"""Benchmark tdxlib.sweeps: a sweep on 1 and 2 Dask workers against the simulator called directly.

Goals (issue 18): on this 2-core machine the default sweep runs at least 1.7x faster on 2 workers than
on 1, and a cell costs less than 5 % more through the sweep (Dask, batches, predicates, Parquet files)
than the same Scenario run directly in a loop.
Run: ``.venv/bin/python benchmarks/bench_sweep.py [SPEC]`` (prints numbers; never fails on timing).

Each cluster is started once and warmed up (its workers import tdxlib and run a few cells) before
anything is timed, so the numbers measure the sweep, not process start-up; every timed sweep writes a
fresh folder (nothing is skipped). The simulator called directly runs in a process of its own that does
nothing else, as a worker does: in the process that hosts the clusters' schedulers and clients the same
loop runs 30-50 % slower (their threads, a larger heap for the garbage collector), which would flatter
the sweep. Workers tune their garbage collector (``tune_gc``: a quarter of a cell's time), so the direct
loop is timed both as it is (what a user would run) and in a process tuned the same way (the sweep's
own overhead). A control — a pure-CPU loop, serially and on the same clusters — shows how much parallelism
the machine offers right now: on a busy machine both ratios drop together. Variants are interleaved for
``ROUNDS`` rounds and the best time of each is kept.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from distributed import Client

from tdxlib.cache import code_key
from tdxlib.errors import TdxlibError
from tdxlib.sim import Scenario, run
from tdxlib.sweeps.cells import batches, enumerate_cells
from tdxlib.sweeps.engine import local_cluster, run_sweep, tune_gc
from tdxlib.sweeps.spec import SweepSpec, load_spec
from tdxlib.sweeps.work import run_batch

ROUNDS = 3
BURN = 3_000_000


def _burn(n: int) -> int:
    """Pure-Python CPU work: what two processes can do in parallel on this machine right now."""
    acc = 0
    for i in range(n):
        acc += i * i
    return acc


def _timed(fn: Callable[[], object]) -> float:
    """Seconds ``fn`` took: what it returns when it timed itself (elsewhere), else its call."""
    t0 = time.perf_counter()
    own = fn()
    return own if isinstance(own, float) else time.perf_counter() - t0


def direct(spec: SweepSpec) -> None:
    """Every cell's Scenario run in this process, metrics only: what the sweep adds to."""
    for cell in enumerate_cells(spec, code_key()):
        # the cells the model refuses cost their attempt, as in a sweep
        with contextlib.suppress(TdxlibError):
            run(Scenario(**spec.fields_of(dict(cell.coords), cell.seed)), frames=False)


def in_process(spec: SweepSpec) -> None:
    """The sweep's own work per cell without Dask: every batch through ``run_batch`` in this process
    (Scenario, run, metrics, predicates, the Arrow table) — what a worker adds to the direct loop."""
    code = code_key()
    for batch in batches(spec, list(enumerate_cells(spec, code))):
        run_batch(spec, batch)


def _lean(name: str, spec_name: str) -> tuple[float, float]:
    """In the lean process: run ``direct`` or ``in_process`` once; its wall and CPU seconds."""
    spec = load_spec(spec_name)
    fn = direct if name == "direct" else in_process
    t0, c0 = time.perf_counter(), time.process_time()
    fn(spec)
    return time.perf_counter() - t0, time.process_time() - c0


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main(name: str = "default") -> None:
    spec = load_spec(name)
    work = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    cores = os.cpu_count()
    print(f"sweep {spec.name}: {spec.cells:,} cells; {cores} cores, load average {_load()} at the start")
    spawn = multiprocessing.get_context("spawn")
    lean = ProcessPoolExecutor(1, mp_context=spawn)
    tuned = ProcessPoolExecutor(1, mp_context=spawn, initializer=tune_gc)
    try:
        for pool in (lean, tuned):  # warm: imports and caches
            pool.submit(_lean, "direct", "quick").result()
        with (
            local_cluster(1) as c1,
            Client(c1) as one,
            local_cluster(2) as c2,
            Client(c2) as two,
        ):
            for client in (one, two):  # warm: import tdxlib in every worker, fill its caches
                run_sweep("quick", work / f"warm-{len(client.scheduler_info()['workers'])}", client=client)
            counter = iter(range(1_000_000))
            cpu: dict[str, float] = {}

            def swept(client: Client, name: str) -> None:
                """One sweep; also its CPU seconds: the workers' and this process's (client, scheduler)."""
                before = sum(client.run(time.process_time).values()) + time.process_time()
                run_sweep(spec, work / f"run-{next(counter)}", client=client)
                used = sum(client.run(time.process_time).values()) + time.process_time() - before
                cpu[name] = min(cpu.get(name, float("inf")), used)

            def in_lean(what: str, pool: ProcessPoolExecutor = lean, label: str = "") -> float:
                """``what`` run in a lean process: its own wall time (the call's round trip aside)."""
                wall, used = pool.submit(_lean, what, name).result()
                label = label or what
                cpu[label] = min(cpu.get(label, float("inf")), used)
                return wall

            variants: dict[str, Callable[[], object]] = {
                "control serial": lambda: [_burn(BURN) for _ in range(8)],
                "control 1 worker": lambda: one.gather(one.map(_burn, [BURN] * 8, pure=False)),
                "control 2 workers": lambda: two.gather(two.map(_burn, [BURN] * 8, pure=False)),
                "direct": lambda: in_lean("direct"),
                "direct tuned": lambda: in_lean("direct", tuned, "direct tuned"),
                "in process": lambda: in_lean("in process"),
                "1 worker": lambda: swept(one, "1 worker"),
                "2 workers": lambda: swept(two, "2 workers"),
            }
            best = {k: float("inf") for k in variants}
            for _ in range(ROUNDS):
                for k, fn in variants.items():
                    best[k] = min(best[k], _timed(fn))
    finally:
        lean.shutdown()
        tuned.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    report(spec, best, cpu)


def report(spec: SweepSpec, best: dict[str, float], cpu: dict[str, float]) -> None:
    n = spec.cells
    speed = best["1 worker"] / best["2 workers"]
    overhead = best["1 worker"] / best["direct"] - 1.0
    own = best["in process"] / best["direct"] - 1.0
    fair = best["1 worker"] / best["direct tuned"] - 1.0
    ceiling = best["control 1 worker"] / best["control 2 workers"]
    print(f"best of {ROUNDS} interleaved rounds; load average {_load()} at the end")
    rows = [
        ("simulator called directly (a lean process)", best["direct"], ""),
        ("the same, GC tuned as on a worker", best["direct tuned"], ""),
        ("batches run in a lean process, no Dask", best["in process"], f"overhead {own:+.1%} per cell"),
        (
            "sweep on 1 worker",
            best["1 worker"],
            f"overhead {overhead:+.1%} per cell (goal < 5%); {fair:+.1%} against the tuned loop",
        ),
        ("sweep on 2 workers", best["2 workers"], f"speed-up {speed:.2f}x (goal >= 1.7x)"),
    ]
    for label, seconds, note in rows:
        print(f"  {label:<40} {seconds:6.2f} s  {n / seconds:7.1f} cells/s  {note}")
    print(
        f"  control: a pure-CPU loop gets {ceiling:.2f}x from 2 workers over 1 right now"
        f" (serial {best['control serial']:.2f} s, 1 worker {best['control 1 worker']:.2f} s,"
        f" 2 workers {best['control 2 workers']:.2f} s); sweep efficiency {speed / ceiling:.0%} of that"
    )
    per_cell = {k: 1000 * v / n for k, v in cpu.items()}
    print(
        f"  CPU per cell (robust to a busy machine): direct {per_cell['direct']:.2f} ms, sweep on 1 worker"
        f" {per_cell['1 worker']:.2f} ms ({cpu['1 worker'] / cpu['direct'] - 1:+.1%}), on 2 workers"
        f" {per_cell['2 workers']:.2f} ms ({cpu['2 workers'] / cpu['direct'] - 1:+.1%}): the workers' and the"
        " client's and scheduler's CPU together"
    )
    if ceiling < 1.7:
        print("  (the control is below 1.7x: the machine is busy, so the sweep's speed-up means little now)")


if __name__ == "__main__":
    main(*sys.argv[1:2])
