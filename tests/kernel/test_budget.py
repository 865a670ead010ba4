"""Tests for tdxlib.kernel.budget: the closed-form load equals the allocator, and the costs it reports."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tdxlib.data import data_path
from tdxlib.errors import ValidationError
from tdxlib.kernel import budget as budget_module
from tdxlib.kernel.budget import boot, budget, offline_limit, offline_refusals, spread_load
from tdxlib.kernel.matrix import IrqMatrix
from tdxlib.kernel.vectors import layout as layout_module


@settings(max_examples=60, deadline=None)
@given(
    avail=st.lists(st.integers(min_value=0, max_value=12), min_size=1, max_size=6),
    data=st.data(),
)
def test_spread_load_equals_repeated_irq_matrix_alloc(avail: list[int], data: st.DataObject) -> None:
    ncpus = len(avail)
    m = IrqMatrix(32, 4, 4 + 16, ncpus)
    for cpu in range(ncpus):
        m.online(cpu)
    # take vectors away so each CPU starts with the drawn availability
    for cpu, a in enumerate(avail):
        for _ in range(16 - a):
            m.alloc([cpu], reserved=False)
    start = np.array(m.available_counts)
    count = data.draw(st.integers(min_value=0, max_value=int(start.sum())))
    for _ in range(count):
        m.alloc(range(ncpus), reserved=False)
    assert spread_load(start, count).tolist() == np.asarray(m.available_counts).tolist()


def test_spread_load_rejects_more_than_available() -> None:
    with pytest.raises(ValidationError, match="at most 5"):
        spread_load([2, 3], 6)


def test_offline_refusals_match_the_matrix_counters() -> None:
    m = IrqMatrix(32, 4, 12, 3)
    for cpu in range(3):
        m.online(cpu)
    for _ in range(20):
        m.alloc(range(3), reserved=False)
    refused = offline_refusals([m.allocated(c) for c in range(3)], m.available_counts)
    expected = [m.available(cpudown_cpu=c) < m.allocated(c) for c in range(3)]
    assert refused.tolist() == expected
    assert any(expected)  # 20 of 24 vectors in use: nobody can take a CPU's 6-7 vectors


@pytest.mark.parametrize("ncpus", [1, 8, 64])
def test_system_vector_costs_one_vector_on_every_cpu(ncpus: int) -> None:
    none = budget("none", ncpus)
    sysv = budget("system-vector", ncpus)
    dyn = budget("dynamic", ncpus)
    assert none.device_capacity - sysv.device_capacity == ncpus
    assert none.device_capacity - dyn.device_capacity == 1
    assert sysv.notify_vectors_total == ncpus and dyn.notify_vectors_total == 1


def test_dynamic_vector_lands_on_the_boot_cpu() -> None:
    m0, m1 = boot("none", 4), boot("dynamic", 4)
    assert m1.allocated(0) == m0.allocated(0) + 1
    assert [m1.allocated(c) for c in range(1, 4)] == [m0.allocated(c) for c in range(1, 4)]


def test_offline_limit_is_the_last_load_without_a_refusal() -> None:
    for mech in ("none", "system-vector"):
        limit = offline_limit(mech, 8)
        assert budget(mech, 8, limit).offline_refused == 0
        assert budget(mech, 8, limit + 1).offline_refused > 0
    # the system vector moves the limit down by about one vector per CPU
    assert 0 < offline_limit("none", 8) - offline_limit("system-vector", 8) <= 8


def test_overload_is_marked_exhausted_not_raised() -> None:
    point = budget("none", 2, 10_000)
    assert point.exhausted and point.left_min == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mechanism": "ipi", "ncpus": 4}, "mechanism"),
        ({"mechanism": "none", "ncpus": 0}, r"ncpus = 0 .*1\.\.8192"),
        ({"mechanism": "none", "ncpus": 4, "device_irqs": -1}, "device_irqs = -1"),
    ],
)
def test_bad_input_names_the_value(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        budget(**kwargs)  # type: ignore[arg-type]


def test_cached_boot_arrays_are_read_only() -> None:
    avail, alloc, _ = budget_module._booted("none", 4, {})
    assert not avail.flags.writeable and not alloc.flags.writeable
    with pytest.raises(ValueError):
        avail[0] = 1


def test_an_edited_layout_file_changes_the_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The boot counts and layout facts are cached on the layout file's stat key, not on its name."""
    folder = tmp_path / "vectors"
    folder.mkdir()
    src = data_path("vectors", "linux-5.19.yaml").read_text(encoding="utf-8")
    (folder / "linux-5.19.yaml").write_text(src, encoding="utf-8")
    monkeypatch.setattr(layout_module, "data_path", lambda *parts: tmp_path.joinpath(*parts))
    before = budget("none", 4)
    assert budget("none", 4) == before
    limit_before = offline_limit("none", 4)
    # int 0x80 no longer a system vector: one more device vector on every CPU
    edited = src.replace("role: syscall, system_bit: IA32_EMULATION,", "role: syscall, system_bit: never,", 1)
    assert edited != src
    (folder / "linux-5.19.yaml").write_text(edited, encoding="utf-8")
    st = os.stat(folder / "linux-5.19.yaml")
    os.utime(folder / "linux-5.19.yaml", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    after = budget("none", 4)
    assert after.device_vectors_per_cpu == before.device_vectors_per_cpu + 1
    assert after.device_capacity == before.device_capacity + 4
    assert offline_limit("none", 4) > limit_before
