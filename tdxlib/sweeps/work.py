"""What a worker does with a batch: build each cell's Scenario, run it (metrics only), read the claims
off it, and hand back one Arrow table with a row per cell.

The row's columns are fixed by the spec (:func:`row_schema`), so every batch of a sweep has the same
schema and the folder reads as one dataset: the cell's key, its coordinates (the partition axis lives
in the folder name, not in the file), replicate and seed, the metrics named by the spec, one
``holds[<claim>]`` column per claim (true, false, or null where the claim says nothing about the cell),
and ``error`` — the message of a cell the model refuses (a :class:`~tdxlib.errors.TdxlibError`),
recorded rather than raised, so one impossible corner does not stop a sweep of a million cells. Any
other exception is a bug and fails the task.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from tdxlib.cache import code_key, memo
from tdxlib.errors import TdxlibError
from tdxlib.sim import Metrics, Scenario, run
from tdxlib.sweeps.cells import Batch
from tdxlib.sweeps.predicates import judge_cell
from tdxlib.sweeps.spec import PerCpu, SweepSpec, value_label

__all__ = ["BatchResult", "claim_column", "row_schema", "run_batch", "run_cell"]

#: Metrics that are floats (the others count things: integers, null where a run has none).
_FLOAT_METRICS = frozenset(
    [f.name for f in dataclasses.fields(Metrics) if "float" in str(f.type)]
    + ["latency_ms_min", "latency_ms_p50", "latency_ms_p99", "latency_ms_max"]
)


def claim_column(claim_id: str) -> str:
    """The column of a claim's per-cell reading: ``holds[<claim id>]``."""
    return f"holds[{claim_id}]"


def _axis_type(spec: SweepSpec, axis: str) -> pa.DataType:
    values = [value_label(v) for v in spec.values(axis) if v is not None]
    if isinstance(spec.axes[axis], PerCpu) or all(isinstance(v, (int, float)) for v in values):
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            return pa.int64()
        if all(isinstance(v, bool) for v in values):
            return pa.bool_()
        return pa.float64()
    return pa.string()


def axis_types(spec: SweepSpec) -> dict[str, pa.DataType]:
    """Column -> Arrow type of every axis."""
    return {spec.column(a): _axis_type(spec, a) for a in spec.axes}


def row_schema(spec: SweepSpec) -> pa.Schema:
    """The columns of a cell's row in a batch file (without the partition axis)."""
    part = spec.column(spec.partition_axis)
    fields = [pa.field("cell", pa.string())]
    fields += [pa.field(c, t) for c, t in axis_types(spec).items() if c != part]
    fields += [pa.field("replicate", pa.int64()), pa.field("seed", pa.int64())]
    fields += [pa.field(m, pa.float64() if m in _FLOAT_METRICS else pa.int64()) for m in spec.metrics]
    fields += [pa.field(claim_column(c), pa.bool_()) for c in spec.claim_ids]
    fields.append(pa.field("error", pa.string()))
    return pa.schema(fields)


def run_cell(spec: SweepSpec, coords: dict[str, Any], seed: int) -> tuple[Scenario, Metrics]:
    """One cell's scenario and its metrics (the metrics-only run: no frames are built)."""
    sc = Scenario(**spec.fields_of(coords, seed))
    return sc, run(sc, frames=False).metrics


def _row(spec: SweepSpec, coords: dict[str, Any], seed: int) -> dict[str, Any]:
    """The measured part of a row: metrics, claims, error."""
    try:
        sc, m = run_cell(spec, coords, seed)
    except TdxlibError as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    flat = m.flat()
    out: dict[str, Any] = {name: flat.get(name) for name in spec.metrics}
    for name in spec.metrics:  # NaN (no completed quote) is a missing value
        if isinstance(out[name], float) and out[name] != out[name]:
            out[name] = None
    for cid, holds in judge_cell(spec.claim_ids, sc, m).items():
        out[claim_column(cid)] = holds
    out["error"] = None
    return out


@memo(maxsize=1)
def worker_code_key() -> str:
    """This process's :func:`~tdxlib.cache.code_key` (a worker serves sweeps of one installed tdxlib)."""
    return code_key()


@dataclass(frozen=True)
class BatchResult:
    """A batch's rows and the code key of the worker that ran it (checked against the client's)."""

    key: str
    partition: Any
    table: pa.Table
    code: str


def run_batch(spec: SweepSpec, batch: Batch) -> BatchResult:
    """Run every cell of ``batch``; one Arrow table with the spec's :func:`row_schema`."""
    schema = row_schema(spec)
    part = spec.partition_axis
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    for cell in batch.cells:
        coords = dict(cell.coords)
        row: dict[str, Any] = {"cell": cell.key, "replicate": cell.replicate, "seed": cell.seed}
        row |= {spec.column(a): value_label(v) for a, v in coords.items() if a != part}
        row |= _row(spec, coords, cell.seed)
        for name in schema.names:
            columns[name].append(row.get(name))
    table = pa.Table.from_pydict(columns, schema=schema)
    return BatchResult(batch.key, batch.partition, table, worker_code_key())
