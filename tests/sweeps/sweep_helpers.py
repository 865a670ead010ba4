"""What the sweep tests share: a small spec, and its batches run in this process (no cluster)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tdxlib.cache import code_key
from tdxlib.sweeps.cells import Batch, batches, enumerate_cells
from tdxlib.sweeps.spec import SweepSpec
from tdxlib.sweeps.store import Store
from tdxlib.sweeps.work import BatchResult, run_batch

#: A guest that can offline CPUs (6.11+) in the v8 IDT (the system vector): what the shipped sweeps use.
GUEST = {"kernel": "linux-6.12", "layout": "linux-5.19-tdx-v8"}
#: 24 cells, a few ms each: two designs, two VMMs, two sizes, a device load given per CPU.
SMALL: dict[str, Any] = {
    "name": "small",
    "seed": 7,
    "seeds": 2,
    "base": {**GUEST, "workload": "open", "rate_per_s": 5.0, "quotes": 8, "hotplug_every_s": 1.0},
    "axes": {
        "vmm": ["qemu-10.1", "never-injects", "random-vcpu"],
        "strategy": ["system-vector", "caller-vcpu"],
        "cpus": [2],
        "device_irqs": {"per_cpu": [0, 120]},
    },
    "batch": 3,
}


def small_spec(**changes: Any) -> SweepSpec:
    return SweepSpec.model_validate({**SMALL, **changes})


def cut(spec: SweepSpec) -> tuple[str, list[Batch]]:
    """The code key and every batch of ``spec``."""
    code = code_key()
    cells = list(enumerate_cells(spec, code))
    return code, batches(spec, cells)


def run_here(spec: SweepSpec, out: Path, limit: int | None = None) -> Store:
    """Run (the first ``limit``) batches of ``spec`` in this process into ``out``; the closed store."""
    code, todo = cut(spec)
    wanted = {c.key for b in todo for c in b.cells}
    with Store(out, spec, code, wanted) as store:
        for b in [b for b in todo if not all(c.key in store.done for c in b.cells)][:limit]:
            store.write(run_batch(spec, b))
    return store


def results(spec: SweepSpec) -> list[BatchResult]:
    return [run_batch(spec, b) for b in cut(spec)[1]]
