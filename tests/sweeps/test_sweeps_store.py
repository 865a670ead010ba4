"""tdxlib.sweeps.store (and the worker's rows): a result folder is a Hive-partitioned Parquet dataset
of whole files, read back typed and in the grid's order; opening it keeps the cells of the same
inputs, drops the others, and refuses a second writer."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from sweep_helpers import cut, results, run_here, small_spec

from tdxlib.errors import DataError, TdxlibError
from tdxlib.sweeps.paths import MANIFEST, read_manifest
from tdxlib.sweeps.store import Store, read_result
from tdxlib.sweeps.work import BatchResult, claim_column, row_schema, run_batch


def test_a_folder_reads_back_every_cell_in_grid_order(tmp_path: Path) -> None:
    spec = small_spec()
    run_here(spec, tmp_path)
    result = read_result(tmp_path)
    cells = result.cells
    assert result.complete and len(cells) == spec.cells == 24
    assert cells["cell"].is_unique
    assert list(cells["vmm"].unique()) == ["qemu-10.1", "never-injects", "random-vcpu"]  # the spec's order
    assert list(cells["replicate"][:2]) == [0, 1]
    assert str(cells["cpus"].dtype) == "Int64" and str(cells[claim_column("notify-works")].dtype) == "boolean"
    assert cells["error"].isna().all()
    assert list(cells.columns[:5]) == ["cell", "vmm", "strategy", "cpus", "device_irqs_per_cpu"]


def test_the_folder_is_a_plain_hive_dataset(tmp_path: Path) -> None:
    spec = small_spec()
    run_here(spec, tmp_path)
    parts = sorted(p.name for p in (tmp_path / "cells").iterdir())
    assert parts == ["vmm=never-injects", "vmm=qemu-10.1", "vmm=random-vcpu"]
    table = ds.dataset(tmp_path / "cells", format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 24 and "vmm" in table.column_names
    manifest = read_manifest(tmp_path)
    assert manifest["cells"] == 24 and manifest["partition"] == "vmm"
    assert list(manifest["spec"]["axes"]) == list(spec.axes)  # the grid's order survives


def test_a_batch_has_the_spec_schema_and_the_worker_code(tmp_path: Path) -> None:
    spec = small_spec()
    code, todo = cut(spec)
    result = run_batch(spec, todo[0])
    assert result.table.schema.equals(row_schema(spec))
    assert result.code == code and result.table.num_rows == len(todo[0].cells)
    assert "vmm" not in result.table.column_names  # the partition lives in the folder name


def test_a_refused_cell_is_a_row_with_its_error(tmp_path: Path) -> None:
    spec = small_spec(axes={"strategy": ["dynamic"], "cpus": [2], "device_irqs": {"per_cpu": [0, 199]}})
    run_here(spec, tmp_path)
    cells = read_result(tmp_path).cells
    refused = cells[cells["error"].notna()]
    assert len(refused) == 2 and refused["error"].str.contains("ENOSPC").all()
    assert refused["completed"].isna().all()


def test_reopening_keeps_the_cells_and_runs_none_twice(tmp_path: Path) -> None:
    spec = small_spec()
    run_here(spec, tmp_path, limit=3)
    code, todo = cut(spec)
    with Store(tmp_path, spec, code, {c.key for b in todo for c in b.cells}) as store:
        assert len(store.done) == 8 and store.pruned == 0  # batches of 3, 3 and 2 (one VMM's 8 cells)
        assert store.write(run_batch(spec, todo[0])) == 0  # already there: not written again
    run_here(spec, tmp_path)
    assert len(read_result(tmp_path).cells) == 24


def test_cells_of_other_inputs_are_dropped(tmp_path: Path) -> None:
    spec = small_spec()
    run_here(spec, tmp_path)
    narrower = small_spec(axes={**spec.axes, "vmm": ["qemu-10.1"]})  # same cells for one VMM
    code, todo = cut(narrower)
    with Store(tmp_path, narrower, code, {c.key for b in todo for c in b.cells}) as store:
        assert len(store.done) == 8
    assert len(read_result(tmp_path).cells) == 8
    other = small_spec(base={**spec.base, "quotes": 9})  # every key changes
    code, todo = cut(other)
    with Store(tmp_path, other, code, {c.key for b in todo for c in b.cells}) as store:
        assert not store.done and store.pruned == 3
    assert read_result(tmp_path).cells.empty


def test_a_file_with_some_cells_of_other_inputs_is_rewritten_with_the_others(tmp_path: Path) -> None:
    spec = small_spec()
    run_here(spec, tmp_path)
    files = sorted((tmp_path / "cells").glob("*/*.parquet"))
    one = small_spec(axes={**spec.axes, "strategy": ["system-vector"]})  # half of each batch file
    code, todo = cut(one)
    with Store(tmp_path, one, code, {c.key for b in todo for c in b.cells}) as store:
        assert len(store.done) == 12 and 0 < store.pruned <= len(files)
    cells = read_result(tmp_path).cells
    assert len(cells) == 12 and set(cells["strategy"]) == {"system-vector"}
    left = sorted((tmp_path / "cells").glob("*/*.parquet"))
    assert set(left) < set(files)  # mixed files rewritten in place (same names), caller-vcpu-only ones gone


def test_a_damaged_file_is_dropped(tmp_path: Path) -> None:
    spec = small_spec()
    run_here(spec, tmp_path, limit=1)
    junk = tmp_path / "cells" / "vmm=qemu-10.1" / "junk.parquet"
    junk.write_bytes(b"not parquet")
    code, todo = cut(spec)
    with Store(tmp_path, spec, code, {c.key for b in todo for c in b.cells}) as store:
        assert store.pruned == 1 and len(store.done) == 3
    assert not junk.exists()


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    spec = small_spec()
    code, _ = cut(spec)
    with Store(tmp_path, spec, code, set()), pytest.raises(TdxlibError, match="another sweep"):
        Store(tmp_path, spec, code, set()).__enter__()


def test_overlapping_batches_are_refused(tmp_path: Path) -> None:
    spec = small_spec()
    a, b = results(spec)[:2]
    code, todo = cut(spec)
    with Store(tmp_path, spec, code, {c.key for t in todo for c in t.cells}) as store:
        store.write(a)
        mixed = BatchResult(b.key, b.partition, pa.concat_tables([a.table.slice(0, 1), b.table]), code)
        with pytest.raises(TdxlibError, match="overlaps"):
            store.write(mixed)


def test_a_folder_without_a_manifest_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a sweep result") as err:
        read_result(tmp_path)
    assert err.value.path == tmp_path / MANIFEST
    (tmp_path / MANIFEST).write_text(json.dumps({"x": 1}), encoding="utf-8")
    with pytest.raises(DataError, match="no 'spec'"):
        read_result(tmp_path)


def test_a_folder_that_is_not_this_sweeps_result_is_refused_and_left_alone(tmp_path: Path) -> None:
    spec = small_spec()
    code, _ = cut(spec)
    mine = tmp_path / "mine"
    (mine / "cells" / "x=1").mkdir(parents=True)
    (mine / "cells" / "x=1" / "data.parquet").write_bytes(b"a user's file")
    with pytest.raises(TdxlibError, match="not a sweep result") as err:
        Store(mine, spec, code, set()).__enter__()
    assert str(mine) in str(err.value)
    assert (mine / "cells" / "x=1" / "data.parquet").read_bytes() == b"a user's file"
    assert not (mine / MANIFEST).exists()
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me")
    with pytest.raises(TdxlibError, match="a file is there"):
        Store(a_file, spec, code, set()).__enter__()
    assert a_file.read_text() == "keep me"
    other = tmp_path / "other"
    run_here(spec, other)
    before = sorted(p.read_bytes() for p in other.rglob("*.parquet"))
    renamed = small_spec(name="renamed")
    with pytest.raises(TdxlibError, match="holds the result of sweep"):
        Store(other, renamed, code, set()).__enter__()
    assert sorted(p.read_bytes() for p in other.rglob("*.parquet")) == before
    with Store(tmp_path / "empty", spec, code, set()) as store:  # new folders and empty ones are fine
        assert not store.done
