"""tdxlib.ingest.capture_budget: what a reserved vector costs a captured machine, and hotplug."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ingest_samples import REAL

from tdxlib.errors import DataError, ValidationError
from tdxlib.ingest.capture_budget import (
    budget_from_capture,
    reserved_vector_cost,
    sequential_offline,
)
from tdxlib.ingest.captures import load_capture
from tdxlib.kernel.budget import spread_load
from tdxlib.kernel.matrix import IrqMatrix
from tdxlib.kernel.vectors import load_layout


def test_budget_real_capture_matches_hand_arithmetic() -> None:
    b = budget_from_capture(REAL)
    load = load_capture(REAL).load()
    df = b.per_cpu
    assert df["available"].tolist() == load.available.tolist()
    assert (df["taken"] == reserved_vector_cost()).all() and reserved_vector_cost() == 1
    g = int(load.available.sum())
    tomove = (load.allocated - load.managed_allocated).tolist()
    assert df["tomove"].tolist() == tomove
    assert df["avl_cpudown"].tolist() == [g - int(a) for a in load.available]
    assert df["can_offline"].tolist() == [
        g - int(a) >= t for a, t in zip(load.available, tomove, strict=True)
    ]
    assert b.summary["all_can_offline"] is True and b.kind == "estimated"
    assert b.to_dict()["summary"]["cpus_online"] == 2


def test_budget_constructed_server_and_sequential_offline() -> None:
    b = budget_from_capture("constructed-2s-128cpu-nvme-nic", reserved_vectors=2)
    assert b.summary["kind"] == "exact" and (b.per_cpu["taken"] == 2).all()
    # one CPU cannot take every non-managed vector of the machine: suspend would stop short
    assert b.summary["sequential_offline_max"] < 127
    b0 = budget_from_capture("constructed-2s-128cpu-nvme-nic", reserved_vectors=0)
    assert (b0.per_cpu["available_reserved"] == b0.per_cpu["available"]).all()


def test_sequential_offline_on_a_small_matrix() -> None:
    m = IrqMatrix(16, 0, 10, 3)
    for c in range(3):
        m.online(c)
    for _ in range(12):
        m.alloc(range(3), False)  # 4 per CPU, 6 available each
    # CPU2 goes: 4 move to CPUs 0/1 (6+6 available) -> they hold 6 each, 4 available; CPU1: 6 to move, 4 left
    assert sequential_offline(m) == 1
    assert spread_load(np.array([5, 7, 7]), 3).tolist() == [5, 5, 6]  # the same best-CPU rule


def test_budget_errors() -> None:
    with pytest.raises(ValidationError, match="capture"):
        budget_from_capture("no-such-capture")
    with pytest.raises(ValidationError, match="reserved_vectors"):
        budget_from_capture(REAL, reserved_vectors=-1)
    with pytest.raises(DataError, match="VECTOR"):
        load_capture(REAL).load(exact=True)


def test_a_reservation_that_no_longer_fits_is_estimated_and_says_so(tmp_path: Path) -> None:
    """5.19 on 2 CPUs, CPU 1 full: with one vector reserved it cannot hold its 201 vectors any more."""
    m = load_layout("linux-5.19").new_matrix(2)
    while m.cpu_available(1) > 0:
        m.alloc([1], False)
    cap = tmp_path / "full"
    cap.mkdir()
    (cap / "manifest.yaml").write_text("name: full\nmachine: {cpus_possible: 0-1}\n")
    (cap / "VECTOR.txt").write_text("name:   VECTOR\n" + m.debug_show())
    b = budget_from_capture(cap)
    # CPU 0: 201 device vectors less the 15 ISA vectors it holds since boot; CPU 1: none left
    assert b.per_cpu["available"].tolist() == [186, 0]
    assert b.per_cpu["available_reserved"].tolist() == [185, 0]
    assert b.per_cpu["can_offline_reserved"].tolist() == [False, False]
    assert b.summary["reservation_fits"] is False and b.summary["sequential_offline_max_reserved"] is None
    assert any("cannot hold its vectors any more" in n for n in b.notes)
