"""Sweeps across the design space on dask.distributed: how far does each verdict hold?

A sweep spec (``data/sweeps/*.yaml``, :mod:`.spec`) names axes — any Scenario field, a per-CPU device
load, a spec proposal — and seeds; every cell of the grid is one simulator run, judged by what each
claim says about one run (:mod:`.predicates`). ``tdxlib sweep SPEC --out DIR`` (:func:`run_sweep`) runs
the cells on a Dask cluster in batches and writes a partitioned Parquet dataset as results arrive,
deterministic (each cell's seed derives from the spec and the cell) and resumable (a cell already in
DIR for the same inputs and tdxlib source is not run again). :mod:`.regions` turns a result into
verdicts with confidence: the share of cells where a claim holds with a Wilson interval, bootstrap
intervals for latency percentiles, and the boundary where a claim flips.

=========================  =========================================================================
:mod:`.spec`               ``SweepSpec``, ``load_spec``: the file kind
:mod:`.predicates`         each claim's reading of one cell (``PREDICATES``)
:mod:`.cells`              the cells: keys, seeds, batches
:mod:`.work`               what a worker does with a batch (an Arrow table of rows)
:mod:`.paths`              where specs and result manifests are (light)
:mod:`.store`              the result folder: Parquet files, ``read_result``
:mod:`.engine`             ``run_sweep`` on dask.distributed
:mod:`.confidence`         Wilson and bootstrap intervals
:mod:`.regions`            shares by claim and region, flip boundaries, latency intervals
:mod:`.holds`              the "holds in" numbers as recorded metrics (light: the report index reads them)
=========================  =========================================================================

This package imports nothing at import time (dask, pyarrow and the simulator load with the module that
needs them): ``from tdxlib.sweeps import run_sweep`` loads the engine on first use.
"""

from __future__ import annotations

from tdxlib.lazy import lazy_exports

#: Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "SweepSpec": "tdxlib.sweeps.spec",
    "load_spec": "tdxlib.sweeps.spec",
    "spec_names": "tdxlib.sweeps.paths",
    "PREDICATES": "tdxlib.sweeps.predicates",
    "SweepResult": "tdxlib.sweeps.store",
    "read_result": "tdxlib.sweeps.store",
    "SweepRun": "tdxlib.sweeps.engine",
    "SweepInterrupted": "tdxlib.sweeps.engine",
    "run_sweep": "tdxlib.sweeps.engine",
    "wilson_interval": "tdxlib.sweeps.confidence",
    "bootstrap_interval": "tdxlib.sweeps.confidence",
    "claim_shares": "tdxlib.sweeps.regions",
    "region_shares": "tdxlib.sweeps.regions",
    "flip_boundary": "tdxlib.sweeps.regions",
    "latency_intervals": "tdxlib.sweeps.regions",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
