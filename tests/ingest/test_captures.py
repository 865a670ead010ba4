"""tdxlib.ingest.captures: the shipped captures load, exact and estimated agree."""

from __future__ import annotations

import numpy as np
from ingest_samples import REAL

from tdxlib.ingest.captures import capture_names, load_capture
from tdxlib.ingest.synth import SERVERS


def test_shipped_captures_load() -> None:
    names = capture_names()
    assert REAL in names and all(s.name in names for s in SERVERS)
    real = load_capture(REAL)
    assert (
        not real.constructed and real.vector_dump is None and (real.kernel_release or "").startswith("6.18")
    )
    load = real.load()
    assert load.kind == "estimated" and load.layout == "linux-6.12"
    assert load.allocated.sum() == len([r for r in real.interrupts.irqs if r.actions])  # type: ignore[union-attr]
    for s in SERVERS:
        cap = load_capture(s.name)
        assert cap.constructed and cap.vector_dump is not None and cap.ncpus == s.ncpus
        exact = cap.load()
        assert exact.exact and exact.alloc_end == 0xEB
        # the estimate from /proc/interrupts + affinities agrees with the allocator's own counters
        est = cap.load(exact=False)
        assert np.array_equal(est.allocated, exact.allocated) and np.array_equal(est.managed, exact.managed)
