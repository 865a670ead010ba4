"""tdxlib.ingest.seed: a load seeds an IrqMatrix whose dump is the one it came from; re-seating."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tdxlib.errors import MatrixError, ValidationError
from tdxlib.ingest import (
    load_from_dump,
    parse_vector_dump,
)
from tdxlib.kernel.matrix import IrqMatrix, MatrixWarning
from tdxlib.kernel.vectors import load_layout


@st.composite
def _random_matrix(draw: st.DrawFn) -> IrqMatrix:
    ncpus = draw(st.integers(1, 5))
    start = draw(st.integers(0, 6))
    end = start + draw(st.integers(3, 20))
    m = IrqMatrix(end + draw(st.integers(0, 6)), start, end, ncpus)
    for b in draw(st.sets(st.integers(0, m.matrix_bits - 1), max_size=4)):
        m.assign_system(b, False)
    for c in draw(st.sets(st.integers(0, ncpus - 1), min_size=1)):
        m.online(c)
    cpus_st = st.sets(st.integers(0, ncpus - 1), min_size=1).map(sorted)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for op in draw(
            st.lists(
                st.sampled_from(["alloc", "mgd", "res_mgd", "rm_mgd", "free", "rsv", "unrsv", "hot"]),
                max_size=30,
            )
        ):
            try:
                if op == "alloc":
                    m.alloc(draw(cpus_st), m.reserved() > 0 and draw(st.booleans()))
                elif op == "mgd":
                    m.alloc_managed(draw(cpus_st))
                elif op == "res_mgd":
                    m.reserve_managed(draw(cpus_st))
                elif op == "rm_mgd":
                    m.remove_managed(draw(cpus_st))
                elif op == "free":
                    c = draw(st.integers(0, ncpus - 1))
                    bits = m.alloc_bits(c)
                    if bits:
                        b = draw(st.sampled_from(bits))
                        m.free(c, b, b in m.managed_bits(c))
                elif op == "rsv":
                    m.reserve()
                elif op == "unrsv":
                    m.remove_reserved()
                else:
                    c = draw(st.integers(0, ncpus - 1))
                    (m.offline if m.is_online(c) else m.online)(c)
            except (MatrixError, ValidationError):
                pass
    assume(not any("wrap" in str(w.message) for w in caught if issubclass(w.category, MatrixWarning)))
    assume(m.online_maps > 0)
    return m


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(_random_matrix(), st.integers(0, 3))
def test_debug_show_parses_back_to_the_same_counters(m: IrqMatrix, ind: int) -> None:
    text = m.debug_show(ind)
    d = parse_vector_dump(text, matrix_bits=m.matrix_bits)
    assert d.global_available == m.global_available and d.total_allocated == m.total_allocated
    load = load_from_dump(
        d, ncpus=m.ncpus, matrix_bits=m.matrix_bits, alloc_start=m.alloc_start, alloc_end=m.alloc_end
    )
    for c in m.online_cpus():
        assert int(load.available[c]) == m.cpu_available(c)
        assert int(load.allocated[c]) == m.cpu_allocated(c)
        assert int(load.managed[c]) == m.cpu_managed(c)
        assert int(load.managed_allocated[c]) == m.cpu_managed_allocated(c)
    m2 = load.to_matrix()
    assert m2.debug_show(ind) == text
    for c in m.online_cpus():
        assert m2.alloc_bits(c) == m.alloc_bits(c)
        assert m2.available(cpudown_cpu=c) == m.available(cpudown_cpu=c)
        assert m2.allocated(c) == m.allocated(c)


def test_reseat_on_another_layout_moves_colliding_vectors() -> None:
    m = load_layout("linux-5.19").new_matrix(2)
    while m.cpu_available(1) > 0:
        m.alloc([1], False)
    load = load_from_dump(parse_vector_dump(m.debug_show()))
    # the v8 layout has one vector less per CPU: a full CPU cannot be re-seated
    with pytest.raises(MatrixError) as ei:
        load.to_matrix("linux-5.19-tdx-v8")
    assert ei.value.errno == 28
    m.free(1, 0x40, False)
    load = load_from_dump(parse_vector_dump(m.debug_show()))
    m2 = load.to_matrix("linux-5.19-tdx-v8")
    assert m2.cpu_available(1) == 0 and 0xEB not in m2.alloc_bits(1) and 0x40 in m2.alloc_bits(1)
