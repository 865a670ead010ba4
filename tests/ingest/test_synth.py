"""tdxlib.ingest.synth: constructed captures are reproducible from their seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tdxlib.errors import ValidationError
from tdxlib.ingest.captures import load_capture
from tdxlib.ingest.synth import ServerSpec, group_cpus_evenly, render, synthesize


def test_synthesize_is_reproducible(tmp_path: Path) -> None:
    spec = ServerSpec(
        "tiny",
        "Constructed: tiny",
        sockets=2,
        cores_per_socket=2,
        nvme=1,
        nvme_io_queues=2,
        nic_ports=1,
        nic_comp_vectors=2,
        seed=3,
    )
    a, b = render(spec), render(spec)
    assert a["interrupts.txt"] == b["interrupts.txt"] and a["VECTOR.txt"] == b["VECTOR.txt"]
    p = synthesize(spec, tmp_path)
    with pytest.raises(ValidationError, match="not yet used"):
        synthesize(spec, tmp_path)
    cap = load_capture(p)
    assert cap.constructed and cap.load().global_reserved == spec.reserved_unrequested
    assert group_cpus_evenly(np.array([0, 0, 1, 1]), 3) in ([(0, 1), (2,), (3,)], [(0,), (1,), (2, 3)])
