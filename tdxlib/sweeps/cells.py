"""The cells of a sweep: every point of the grid × each replicate, with its key, its seed and its batch.

A cell is identified by its coordinates (axis column -> value as given) and its replicate number, and
nothing else about the spec: adding a value to an axis leaves every other cell as it was.

- Its **seed** is a hash of the spec's root ``seed``, the coordinates and the replicate: the same for a
  cell whoever runs it, in whatever order, on however many workers; independent between cells, so a
  region's cells are independent trials (what a Wilson interval assumes).
- Its **key** adds what the cell's row depends on besides: the fixed ``base`` fields, the metrics and
  claims recorded, and tdxlib's source and data (:func:`tdxlib.cache.code_key`). A result folder keeps
  the keys of its cells, so a cell whose key is there is not run again, and a cell computed by an
  older tdxlib is not trusted.
- **Batches** are consecutive cells of one partition (one value of the partition axis), a task each;
  their size depends on the number of cells only, never on the workers.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tdxlib.sweeps.spec import SweepSpec, value_label

__all__ = ["Batch", "Cell", "batch_size", "batches", "cell_seed", "enumerate_cells"]

#: Largest automatic batch (cells per task) and about how many tasks a sweep is cut into. A task costs
#: Dask ~3-4 ms on this 2-core machine (bench_sweep): the default sweep in 128 tasks of 16 cells paid
#: ~6 % for it, in 32 of 63 ~1.5 %, and two workers still share them evenly.
MAX_BATCH = 64
TASKS = 32


@dataclass(frozen=True)
class Cell:
    """One cell: ``coords`` ((axis, value as given), in axis order), ``replicate``, ``seed``, ``key``."""

    key: str
    coords: tuple[tuple[str, Any], ...]
    replicate: int
    seed: int


@dataclass(frozen=True)
class Batch:
    """Consecutive cells of one partition: one task, one Parquet file."""

    key: str
    partition: Any
    cells: tuple[Cell, ...]


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _digest(h: Any, text: str) -> bytes:
    h = h.copy()
    h.update(text.encode())
    return h.digest()


def cell_seed(spec: SweepSpec, coords: Sequence[tuple[str, Any]], replicate: int) -> int:
    """The seed of one cell (see the module doc); < 2**62."""
    prefix = hashlib.sha256(f"seed\0{spec.seed}\0".encode())
    return _seed_of(prefix, _coords_text(spec, coords), replicate)


def _coords_text(spec: SweepSpec, coords: Sequence[tuple[str, Any]]) -> str:
    return "\0".join(f"{spec.column(a)}={_canon(v)}" for a, v in coords)


def _seed_of(prefix: Any, coords_text: str, replicate: int) -> int:
    return int.from_bytes(_digest(prefix, f"{coords_text}\0#{replicate}")[:8], "big") >> 2


def _key_prefix(spec: SweepSpec, code: str) -> Any:
    """The part of every key that is the same for all cells of a spec."""
    recorded = {
        "base": spec.base,
        "metrics": list(spec.metrics),
        "claims": list(spec.claim_ids),
        "seed": spec.seed,
        "code": code,
    }
    return hashlib.sha256(f"key\0{_canon(recorded)}\0".encode())


def enumerate_cells(spec: SweepSpec, code: str) -> Iterator[Cell]:
    """Every cell, the grid in axis order (the last axis fastest), replicates innermost."""
    axes = list(spec.axes)
    seed_prefix = hashlib.sha256(f"seed\0{spec.seed}\0".encode())
    key_prefix = _key_prefix(spec, code)
    for values in itertools.product(*(spec.values(a) for a in axes)):
        coords = tuple(zip(axes, values, strict=True))
        text = _coords_text(spec, coords)
        for r in range(spec.seeds):
            key = _digest(key_prefix, f"{text}\0#{r}").hex()[:20]
            yield Cell(key, coords, r, _seed_of(seed_prefix, text, r))


def batch_size(spec: SweepSpec) -> int:
    """Cells per task: the spec's ``batch``, else about :data:`TASKS` tasks of at most :data:`MAX_BATCH`."""
    return spec.batch or max(1, min(MAX_BATCH, math.ceil(spec.cells / TASKS)))


def batches(spec: SweepSpec, cells: Sequence[Cell]) -> list[Batch]:
    """``cells`` grouped by partition (in order of first appearance) and cut into batches."""
    axis = spec.partition_axis
    groups: dict[str, list[Cell]] = {}
    labels: dict[str, Any] = {}
    for cell in cells:
        value = value_label(dict(cell.coords)[axis])
        groups.setdefault(_canon(value), []).append(cell)
        labels[_canon(value)] = value
    size = batch_size(spec)
    out = []
    for group, members in groups.items():
        for i in range(0, len(members), size):
            chunk = tuple(members[i : i + size])
            key = hashlib.sha256("\0".join(c.key for c in chunk).encode()).hexdigest()[:20]
            out.append(Batch(key, labels[group], chunk))
    return out
