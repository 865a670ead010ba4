"""Many runs: ``sweep(scenarios, executor=None)`` through any ``concurrent.futures.Executor`` (a process
pool, or a Dask ``client.get_executor()``), results in input order; metrics only when asked.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any

import pandas as pd

from tdxlib.errors import ValidationError
from tdxlib.sim.engine import run
from tdxlib.sim.result import Result
from tdxlib.sim.scenario import Scenario

__all__ = ["sweep"]


def _run_metrics(scenario: Scenario) -> dict[str, Any]:
    """One row of a metrics-only sweep (what a worker sends back)."""
    return run(scenario, frames=False).summary()


def sweep(
    scenarios: Iterable[Scenario],
    executor: Executor | None = None,
    *,
    metrics_only: bool = False,
    frames: bool = True,
) -> list[Result] | pd.DataFrame:
    """Run many scenarios, serially or through ``executor``; results (or a metrics frame) in input order.

    With a ``ProcessPoolExecutor`` the scenarios are sent in chunks; any other Executor (threads, a Dask
    ``client.get_executor()``) gets one ``submit`` per scenario. ``metrics_only`` runs the metrics-only
    fast path (``run(..., frames=False)``: no frames are built) and returns :func:`metrics_frame`-style
    rows, the only thing shipped back from the workers; ``frames=False`` takes the same fast path but
    returns the Results (scenario and metrics, no frames).
    """
    items = list(scenarios)
    for sc in items:
        if not isinstance(sc, Scenario):
            raise ValidationError("scenario", type(sc).__name__, "a tdxlib.sim.Scenario")
    fn: Callable[[Scenario], Any] = (
        _run_metrics if metrics_only else run if frames else functools.partial(run, frames=False)
    )
    out: list[Any]
    if executor is None:
        out = [fn(sc) for sc in items]
    elif isinstance(executor, ProcessPoolExecutor):
        workers = max(1, getattr(executor, "_max_workers", 1))
        # ~16 chunks per worker: pickling a chunk of scenarios is cheap, and small chunks keep every
        # worker busy until the end (scenario costs vary: polling, hotplug, hung requests)
        chunk = max(1, math.ceil(len(items) / (workers * 16)))
        out = list(executor.map(fn, items, chunksize=chunk))
    else:
        futures = [executor.submit(fn, sc) for sc in items]
        out = [f.result() for f in futures]
    if metrics_only:
        return pd.DataFrame(out)
    return out
