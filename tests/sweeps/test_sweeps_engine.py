"""tdxlib.sweeps.engine on real dask.distributed clusters: the same cells, bit for bit, whoever runs
them; a worker killed mid-sweep loses and doubles nothing; an interrupted sweep resumes with only the
missing cells; a worker of another tdxlib is refused. One 2-worker LocalCluster is shared by the
module; the tests marked ``cluster`` start their own (separate scheduler and worker processes)."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask
import pandas as pd
import pytest
from distributed import Client
from sweep_helpers import SMALL, run_here, small_spec

from tdxlib.errors import TdxlibError
from tdxlib.sweeps import engine, work
from tdxlib.sweeps.engine import SweepInterrupted, local_cluster, run_sweep
from tdxlib.sweeps.store import read_result
from tdxlib.sweeps.work import BatchResult

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with local_cluster(2) as cluster, Client(cluster) as c:
        yield c


def _files(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes() for p in sorted((out / "cells").glob("*/*.parquet"))
    }


def _same_cells(a: Path, b: Path) -> None:
    pd.testing.assert_frame_equal(read_result(a).cells, read_result(b).cells)


def test_a_sweep_writes_every_cell_and_a_rerun_runs_none(client: Client, tmp_path: Path) -> None:
    done = run_sweep(small_spec(), tmp_path, client=client)
    assert (done.cells, done.ran, done.skipped, done.workers) == (24, 24, 0, 2) and done.complete
    again = run_sweep(small_spec(), tmp_path, client=client)
    assert (again.ran, again.skipped, again.workers) == (0, 24, 0)


def test_the_workers_of_a_sweep_run_tuned_and_the_caller_is_left_alone(
    client: Client, tmp_path: Path
) -> None:
    before = gc.get_threshold()
    run_sweep(small_spec(), tmp_path, client=client)
    assert set(client.run(gc.get_threshold).values()) == {engine.WORKER_GC_THRESHOLDS}
    assert all(n > 0 for n in client.run(gc.get_freeze_count).values())
    assert gc.get_threshold() == before != engine.WORKER_GC_THRESHOLDS  # the client's process untouched
    profiling = client.run(lambda: dask.config.get("distributed.worker.profile.enabled"))
    assert set(profiling.values()) == {False}  # a local cluster's workers do not sample their stacks


def test_the_cluster_gives_the_cells_of_a_serial_run(client: Client, tmp_path: Path) -> None:
    run_sweep(small_spec(), tmp_path / "dask", client=client)
    run_here(small_spec(), tmp_path / "here")
    assert _files(tmp_path / "dask") == _files(tmp_path / "here")  # the same files, byte for byte
    _same_cells(tmp_path / "dask", tmp_path / "here")


def test_an_interrupted_sweep_resumes_with_only_the_missing_cells(client: Client, tmp_path: Path) -> None:
    def stop_after_two(result: BatchResult, written: int) -> None:
        if written >= 6:
            raise KeyboardInterrupt

    with pytest.raises(SweepInterrupted) as stop:
        run_sweep(small_spec(), tmp_path, client=client, on_batch=stop_after_two)
    written = stop.value.written
    assert 6 <= written < 24 and stop.value.cells == 24
    assert len(read_result(tmp_path).cells) == written  # whole files only, nothing half-written
    again = run_sweep(small_spec(), tmp_path, client=client)
    assert (again.ran, again.skipped) == (24 - written, written)  # only the missing cells ran
    run_here(small_spec(), tmp_path / "reference")
    _same_cells(tmp_path, tmp_path / "reference")


def test_a_grown_axis_runs_only_the_new_cells(client: Client, tmp_path: Path) -> None:
    run_sweep(small_spec(), tmp_path, client=client)
    wider = small_spec(axes={**SMALL["axes"], "cpus": [2, 4]})
    done = run_sweep(wider, tmp_path, client=client)
    assert (done.ran, done.skipped, done.cells) == (24, 24, 48)
    assert read_result(tmp_path).complete


def test_a_worker_of_another_tdxlib_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(work, "worker_code_key", lambda: "someone-else")
    with (
        local_cluster(1, processes=False) as cluster,
        Client(cluster) as threads,
        pytest.raises(TdxlibError, match="another tdxlib"),
    ):
        run_sweep(small_spec(), tmp_path, client=threads)
    assert read_result(tmp_path).cells.empty


def test_an_unreachable_scheduler_is_one_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "CONNECT_S", 1.0)
    with pytest.raises(TdxlibError, match="cannot reach the Dask scheduler"):
        run_sweep(small_spec(), tmp_path, scheduler="tcp://127.0.0.1:9")


# --------------------------------------------------------------------------------------------------
# Whole sweeps on clusters of their own
# --------------------------------------------------------------------------------------------------


def _slow_spec(tmp_path: Path) -> Path:
    """About 60 cells of tens of ms each, one per task: a sweep that is still running when we act."""
    spec = {**SMALL, "name": "slow", "batch": 1, "base": {**SMALL["base"], "quotes": 60, "cpus": 8}}
    spec["axes"] = {**SMALL["axes"], "device_irqs": {"per_cpu": [0, 100, 160, 180, 190]}}
    del spec["axes"]["cpus"]
    path = tmp_path / "slow.yaml"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


@pytest.mark.cluster
def test_killing_a_worker_mid_sweep_loses_and_doubles_nothing(tmp_path: Path) -> None:
    spec = _slow_spec(tmp_path)
    killed: list[int] = []
    with local_cluster(2) as cluster, Client(cluster) as c:
        pids = c.run(os.getpid)

        def kill_one(result: BatchResult, written: int) -> None:
            if not killed:
                pid = pids[sorted(pids)[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        done = run_sweep(spec, tmp_path / "killed", client=c, on_batch=kill_one)
        assert killed and killed[0] not in c.run(os.getpid).values()  # that worker is gone
    assert done.complete and done.ran == done.cells == 60
    cells = read_result(tmp_path / "killed").cells
    assert len(cells) == 60 and cells["cell"].is_unique  # every cell exactly once
    run_here(engine.load_spec(spec), tmp_path / "reference")
    _same_cells(tmp_path / "killed", tmp_path / "reference")


def _start(args: list[str], log: Path) -> subprocess.Popen[Any]:
    return subprocess.Popen(args, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def _scheduler_address(scheduler_file: Path, deadline: float) -> str:
    while time.monotonic() < deadline:
        try:
            return str(json.loads(scheduler_file.read_text())["address"])
        except (OSError, ValueError, KeyError):
            time.sleep(0.2)
    raise AssertionError("the dask scheduler did not start")


@pytest.mark.cluster
def test_the_default_sweep_is_the_same_on_2_workers_on_separate_processes_and_on_1_worker(
    client: Client, tmp_path: Path
) -> None:
    two = run_sweep("default", tmp_path / "two", client=client)
    assert two.workers == 2 and two.complete
    one = run_sweep("default", tmp_path / "one", workers=1)
    assert one.workers == 1 and one.complete
    sched_file = tmp_path / "scheduler.json"
    scheduler = _start(
        [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
         "--scheduler-file", str(sched_file)],
        tmp_path / "scheduler.log",
    )  # fmt: skip
    worker = None
    try:
        address = _scheduler_address(sched_file, time.monotonic() + 60)
        worker = _start(
            [str(BIN / "dask"), "worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard"],
            tmp_path / "worker.log",
        )
        cli = subprocess.run(
            [
                str(BIN / "tdxlib"),
                "sweep",
                "default",
                "--out",
                str(tmp_path / "apart"),
                "--scheduler",
                address,
                "-q",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert cli.returncode == 0, cli.stderr
        assert f"{two.cells} cells run, 0 already" in cli.stdout and "1 workers" in cli.stdout
    finally:
        for proc in (worker, scheduler):
            if proc is not None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
    files = _files(tmp_path / "two")
    assert len(files) >= 10
    assert _files(tmp_path / "one") == files and _files(tmp_path / "apart") == files  # byte for byte
    _same_cells(tmp_path / "two", tmp_path / "apart")
