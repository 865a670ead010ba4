"""tdxlib.ingest.vectorload: the per-CPU table of a load, and why pandas is imported only for it."""

from __future__ import annotations

import subprocess
import sys

from ingest_samples import VECTOR_5X

from tdxlib.ingest import load_from_dump, parse_vector_dump


def test_to_frame_is_the_per_cpu_counters() -> None:
    load = load_from_dump(parse_vector_dump(VECTOR_5X))
    frame = load.to_frame()
    assert frame.cpu.tolist() == list(load.cpus)
    assert frame.available.tolist() == load.available[list(load.cpus)].tolist()
    assert (frame.system == load.systembits_inalloc).all()
    assert not load.check()


def test_the_ingest_package_loads_without_pandas() -> None:
    """The function-level pandas imports (VectorLoad.to_frame, budget_from_capture) are for this."""
    code = "import sys, tdxlib.ingest; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
