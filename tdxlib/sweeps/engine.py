"""Running a sweep on dask.distributed: :func:`run_sweep` (``tdxlib sweep SPEC --out DIR``).

The client (this process) enumerates the cells, opens the result folder (which says which cells are
done), cuts the others into batches and submits one task per batch to the cluster: a
``LocalCluster`` of one single-threaded worker process per core by default, or the scheduler at
``scheduler`` (``tcp://HOST:8786``: ``dask scheduler`` and ``dask worker`` on other hosts, a SLURM job
through dask-jobqueue, a Kubernetes cluster through dask-kubernetes). Results come back as they
finish (``as_completed``) and each is written as its own Parquet file before the next is taken:

- a worker that dies takes its running task with it; the scheduler runs the task again elsewhere,
  and since the client alone writes, and writes each batch once, no cell is lost or doubled;
- Ctrl-C cancels what is left and raises :class:`SweepInterrupted`; the files written are whole, and
  the same call again runs only the cells that are missing;
- a worker whose tdxlib source or data differ from the client's is refused (its cells would not be
  what their keys say).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
from distributed import Client, LocalCluster, WorkerPlugin, as_completed
from distributed.scheduler import KilledWorker
from tqdm import tqdm

from tdxlib.cache import code_key
from tdxlib.errors import TdxlibError
from tdxlib.sweeps.cells import Batch, batches, enumerate_cells
from tdxlib.sweeps.spec import SweepSpec, load_spec
from tdxlib.sweeps.store import Store
from tdxlib.sweeps.work import BatchResult, run_batch

__all__ = [
    "WORKER_CONFIG",
    "WORKER_GC_THRESHOLDS",
    "SweepInterrupted",
    "SweepRun",
    "TuneWorkerGc",
    "local_cluster",
    "run_sweep",
    "tune_gc",
]

#: How long to try to reach a scheduler given by address, and to wait for its first worker.
CONNECT_S = 30.0
WORKER_WAIT_S = 120.0


@dataclass(frozen=True)
class SweepRun:
    """What one call of :func:`run_sweep` did."""

    out: Path
    spec: SweepSpec
    cells: int  # cells of the spec
    ran: int  # cells run by this call
    skipped: int  # cells already in the folder
    pruned: int  # files of other inputs removed or rewritten
    errors: int  # cells the model refused (their ``error`` column)
    workers: int
    seconds: float

    @property
    def complete(self) -> bool:
        """Every cell of the spec is in the folder."""
        return self.ran + self.skipped == self.cells


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep: ``written`` of ``cells`` cells are in the folder (whole files only)."""

    def __init__(self, out: Path, written: int, cells: int) -> None:
        super().__init__(f"{out}: {written} of {cells} cells written")
        self.out, self.written, self.cells = out, written, cells


#: Dask settings for the workers of a sweep's LocalCluster. The worker's statistical profiler (for the
#: dashboard) samples the task's stack every 10 ms and took 10-15 % of a cell's time (bench_sweep); a
#: cluster started by hand gets the same with DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False (README).
WORKER_CONFIG: dict[str, Any] = {"distributed.worker.profile.enabled": False}


def local_cluster(workers: int | None = None, *, processes: bool = True) -> LocalCluster:
    """A LocalCluster of ``workers`` single-threaded worker processes (default: one per core), with
    :data:`WORKER_CONFIG` (the nannies hand the configuration to the worker processes)."""
    n = workers or os.cpu_count() or 1
    with dask.config.set(WORKER_CONFIG):
        return LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=processes,
            dashboard_address=":0",  # any free port: never a clash with another cluster's 8787
            silence_logs=logging.ERROR,
        )


#: The garbage collector's thresholds on a sweep's workers. A cell allocates a great deal that dies
#: young; at Python's defaults (700, 10, 10) a worker ran ~40 full collections a batch, each walking
#: every object of Dask, pandas and tdxlib: a quarter of a cell's time (bench_sweep).
WORKER_GC_THRESHOLDS = (20_000, 20, 20)


def tune_gc() -> None:
    """What a sweep's worker does once: collect, freeze the objects alive then (imported modules, out
    of every later collection's sight) and raise the thresholds (:data:`WORKER_GC_THRESHOLDS`)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*WORKER_GC_THRESHOLDS)


class TuneWorkerGc(WorkerPlugin):
    """:func:`tune_gc` on every worker of a sweep, once (unpickling this plugin imported this module,
    so the simulator too). A worker serves sweeps only; a notebook's or a user's process is never
    tuned."""

    name = "tdxlib-tune-gc"
    idempotent = True  # registered by every sweep: set up once per worker

    def setup(self, worker: Any) -> None:
        """Tune the worker's garbage collector."""
        tune_gc()


@contextlib.contextmanager
def _connected(client: Client | None, scheduler: str | None, workers: int | None) -> Iterator[Client]:
    """The client to run on: the one given, one connected to ``scheduler``, or a new LocalCluster's."""
    if client is not None:
        yield client
        return
    if scheduler is not None:
        try:
            remote = Client(scheduler, timeout=CONNECT_S)
        except OSError as exc:
            raise TdxlibError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        with remote:
            try:
                remote.wait_for_workers(1, timeout=WORKER_WAIT_S)
            except TimeoutError:
                raise TdxlibError(
                    f"no worker joined the scheduler at {scheduler} in {WORKER_WAIT_S:g} s"
                ) from None
            yield remote
        return
    with local_cluster(workers) as cluster, Client(cluster) as own:
        yield own


def _workers(client: Client) -> int:
    return len(client.scheduler_info().get("workers", {}))


def _drive(
    client: Client,
    spec: SweepSpec,
    todo: list[Batch],
    store: Store,
    code: str,
    on_batch: Callable[[BatchResult, int], None] | None,
    bar: Any,
) -> tuple[int, int]:
    """Submit every batch, write each result as it comes; (cells written, cells with an error)."""
    client.register_plugin(TuneWorkerGc())
    futures = [client.submit(run_batch, spec, b, pure=False) for b in todo]
    written = errors = 0
    try:
        for future in as_completed(futures):
            try:
                result: BatchResult = future.result()
            except KilledWorker as exc:
                raise TdxlibError(f"a batch of the sweep killed every worker that ran it: {exc}") from None
            future.release()
            if result.code != code:
                raise TdxlibError(
                    f"a worker runs another tdxlib (code key {result.code}, this client {code}): "
                    "install the same tdxlib source and data on every worker"
                )
            added = store.write(result)
            written += added
            errors += result.table.column("error").length() - result.table.column("error").null_count
            bar.update(added)
            if on_batch is not None:
                on_batch(result, written)
    except BaseException:
        client.cancel(futures)
        raise
    return written, errors


def run_sweep(
    spec: SweepSpec | str | Path,
    out: str | Path,
    *,
    client: Client | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = False,
    on_batch: Callable[[BatchResult, int], None] | None = None,
) -> SweepRun:
    """Run the cells of ``spec`` not yet in ``out`` (see the module doc) and return what was done.

    ``client``: an existing dask.distributed Client; else ``scheduler`` (an address); else a
    LocalCluster of ``workers`` processes (default one per core), closed at the end. ``on_batch`` is
    called after each batch is written, with the batch and the cells written so far.
    """
    started = time.perf_counter()
    spec = load_spec(spec)
    code = code_key()
    cells = list(enumerate_cells(spec, code))
    out = Path(out)
    with Store(out, spec, code, {c.key for c in cells}) as store:
        todo = batches(spec, [c for c in cells if c.key not in store.done])
        skipped = len(store.done)
        ran = errors = n_workers = 0
        bar = tqdm(
            total=len(cells),
            initial=skipped,
            unit="cell",
            desc=spec.name,
            disable=not progress,
            file=sys.stderr,
        )
        try:
            if todo:
                with _connected(client, scheduler, workers) as cl:
                    n_workers = _workers(cl)
                    try:
                        ran, errors = _drive(cl, spec, todo, store, code, on_batch, bar)
                    except KeyboardInterrupt:
                        raise SweepInterrupted(out, len(store.done), len(cells)) from None
        finally:
            bar.close()
        pruned = store.pruned
    return SweepRun(
        out, spec, len(cells), ran, skipped, pruned, errors, n_workers, time.perf_counter() - started
    )
