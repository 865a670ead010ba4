"""A sweep's result folder: a Hive-partitioned Parquet dataset written batch by batch, and its manifest.

::

    DIR/sweep.json                          the spec, tdxlib's code key, the cell count, the columns
    DIR/cells/<axis>=<value>/<batch>.parquet one file per batch, written as its result arrives
    DIR/.lock                               held by the sweep writing into DIR

Every file is written beside its place and renamed into it (:mod:`tdxlib.files`), so a file is whole
or absent whatever stops the sweep; the cells of every file are the ones done. When a sweep opens a
folder it reads the keys there: cells whose key the spec still has are kept (and not run again);
files with none of them (an older tdxlib, another spec) are removed, files with some are rewritten
with those only, so a folder never holds a cell twice nor a cell of other inputs. Any Parquet reader
opens ``DIR/cells`` (pyarrow, pandas, DuckDB, Spark: Hive partitioning); :func:`read_result` adds the
types of the partition column and the grid's order.
"""

from __future__ import annotations

import contextlib
import json
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from tdxlib.errors import TdxlibError
from tdxlib.files import atomic_write_bytes, atomic_write_text, lock
from tdxlib.sweeps.paths import MANIFEST, read_manifest
from tdxlib.sweeps.spec import SweepSpec, value_label
from tdxlib.sweeps.work import BatchResult, axis_types, row_schema

__all__ = ["Store", "SweepResult", "read_result", "result_spec"]

_NULL = "__HIVE_DEFAULT_PARTITION__"  # pyarrow's (and Hive's) name of a null partition


class Store:
    """An open result folder (hold it with ``with``): the keys done, and a writer for batches."""

    def __init__(self, out: Path, spec: SweepSpec, code: str, wanted: set[str]) -> None:
        self.out = Path(out)
        self.spec = spec
        self.code = code
        self.wanted = wanted
        self.done: set[str] = set()
        self.pruned = 0
        self._held: contextlib.ExitStack | None = None

    def __enter__(self) -> Store:
        _check_folder(self.out, self.spec)
        self.out.mkdir(parents=True, exist_ok=True)
        stack = contextlib.ExitStack()
        if not stack.enter_context(lock(self.out / ".lock", wait=False)):
            stack.close()
            raise TdxlibError(f"{self.out}: another sweep is writing into this folder")
        self._held = stack
        try:
            self._write_manifest()
            self._scan()
        except BaseException:
            stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._held is not None:
            self._held.close()
            self._held = None

    # ------------------------------------------------------------------ opening

    def _write_manifest(self) -> None:
        manifest = {
            "spec": self.spec.plain(),
            "code": self.code,
            "cells": self.spec.cells,
            "partition": self.spec.column(self.spec.partition_axis),
            "columns": [f.name for f in row_schema(self.spec)],
        }
        # not sort_keys: the order of the axes is the grid's (and the first is the partition by default)
        atomic_write_text(self.out / MANIFEST, json.dumps(manifest, indent=1) + "\n")

    def _scan(self) -> None:
        """Keep the wanted cells already here; drop or rewrite files holding others (only the keys and
        the schema of a file are read, unless it has to be rewritten)."""
        schema = row_schema(self.spec)
        for path in sorted((self.out / "cells").glob("*/*.parquet")):
            try:
                same = pq.read_schema(path).remove_metadata().equals(schema)
                keys = pq.read_table(path, columns=["cell"]).column("cell").to_pylist()
            except (OSError, KeyError, pa.ArrowException):  # not ours, or damaged outside a sweep
                keys, same = [], False
            keep = [k in self.wanted and k not in self.done for k in keys]
            if same and keys and all(keep):
                self.done.update(keys)
                continue
            self.pruned += 1
            if not same or not any(keep):
                path.unlink()
                continue
            kept = pq.read_table(path).filter(pa.array(keep))
            _write_table(path, kept)
            self.done.update(kept.column("cell").to_pylist())

    # ------------------------------------------------------------------ writing

    def path_of(self, result: BatchResult) -> Path:
        """Where a batch's file goes: its partition folder, its key."""
        column = self.spec.column(self.spec.partition_axis)
        label = value_label(result.partition)
        segment = _NULL if label is None else urllib.parse.quote(str(label), safe="")
        return self.out / "cells" / f"{column}={segment}" / f"{result.key}.parquet"

    def write(self, result: BatchResult) -> int:
        """Write a batch (atomically) unless its cells are here already; the number of cells added."""
        keys = result.table.column("cell").to_pylist()
        if all(k in self.done for k in keys):
            return 0
        if any(k in self.done for k in keys):  # never: batches are cut from cells not done
            raise TdxlibError(f"batch {result.key} overlaps cells already written")
        _write_table(self.path_of(result), result.table)
        self.done.update(keys)
        return len(keys)


def _check_folder(out: Path, spec: SweepSpec) -> None:
    """Refuse a DIR that would lose what is in it: a file, a folder of other things, another sweep's
    result (a sweep drops the cells its spec no longer has, which is right for the same sweep only)."""
    if out.exists() and not out.is_dir():
        raise TdxlibError(
            f"--out {out}: a file is there; expected a folder (new, empty, or a result of this sweep)"
        )
    if not out.is_dir() or not any(p.name != ".lock" for p in out.iterdir()):
        return
    if not (out / MANIFEST).is_file():
        raise TdxlibError(
            f"--out {out}: a folder that is not a sweep result (no {MANIFEST}); nothing there is touched:"
            " expected a new or empty folder, or a result of this sweep"
        )
    held = read_manifest(out)["spec"]
    name = held.get("name") if isinstance(held, dict) else None
    if name != spec.name:
        raise TdxlibError(
            f"--out {out}: holds the result of sweep {name!r}, not {spec.name!r}; nothing there is touched:"
            " use another folder, or remove it to start over"
        )


def _write_table(path: Path, table: pa.Table) -> None:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    atomic_write_bytes(path, sink.getvalue().to_pybytes())


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------


def result_spec(out: str | Path) -> SweepSpec:
    """The spec a result folder was written for."""
    return SweepSpec.model_validate(read_manifest(out)["spec"])


def _order(frame: pd.DataFrame, spec: SweepSpec) -> pd.DataFrame:
    """Rows in the grid's order: each axis by the order of its values in the spec, then replicate."""
    keys = []
    for axis in spec.axes:
        column = spec.column(axis)
        rank = {value_label(v): i for i, v in enumerate(spec.values(axis))}
        keys.append(frame[column].map(lambda v, r=rank: r.get(None if pd.isna(v) else v, len(r))))
    order = pd.DataFrame({f"k{i}": k for i, k in enumerate(keys)} | {"r": frame["replicate"]})
    return frame.iloc[order.sort_values(list(order.columns), kind="stable").index].reset_index(drop=True)


_PANDAS_TYPES = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}


@dataclass(frozen=True, eq=False)
class SweepResult:
    """A result folder read: its spec and one row per cell done (in the grid's order)."""

    out: Path
    spec: SweepSpec
    cells: pd.DataFrame

    @property
    def complete(self) -> bool:
        """Whether every cell of the spec is there."""
        return len(self.cells) == self.spec.cells


def read_result(out: str | Path) -> SweepResult:
    """Every cell of a result folder (nullable integers and booleans), in the grid's order."""
    spec = result_spec(out)
    column = spec.column(spec.partition_axis)
    schema = row_schema(spec)
    part = pa.schema([(column, axis_types(spec)[column])])
    cells = Path(out) / "cells"
    if not cells.is_dir() or not any(cells.glob("*/*.parquet")):
        frame = pd.DataFrame({name: pd.Series(dtype=object) for name in [column, *schema.names]})
    else:
        dataset = ds.dataset(
            cells,
            format="parquet",
            schema=schema.append(part[0]),
            partitioning=ds.partitioning(part, flavor="hive"),
        )
        frame = dataset.to_table().to_pandas(types_mapper=_PANDAS_TYPES.get)
        frame = _order(frame, spec)
    axes = [spec.column(a) for a in spec.axes]
    frame = frame[["cell", *axes, *(c for c in schema.names if c != "cell" and c not in axes)]]
    return SweepResult(Path(out), spec, frame)
