"""tdxlib.ingest.dumpload: an exact load from a VECTOR dump, its allocation range taken or inferred."""

from __future__ import annotations

import pytest
from ingest_samples import VECTOR_5X

from tdxlib.errors import DataError, ValidationError
from tdxlib.ingest import (
    load_from_dump,
    parse_vector_dump,
)
from tdxlib.kernel.vectors import load_layout


def test_layout_matrix_roundtrip_infers_first_system_vector() -> None:
    for name, fsv in (("linux-5.19", 0xEC), ("linux-5.19-tdx-v8", 0xEB), ("linux-6.12", 0xEB)):
        m = load_layout(name).new_matrix(6)
        for _ in range(20):
            m.alloc(range(6), False)
        m.reserve_managed([2, 3])
        m.alloc_managed([2, 3])
        load = load_from_dump(parse_vector_dump(m.debug_show()))
        assert load.alloc_end == fsv
        assert load.to_matrix().debug_show() == m.debug_show()
        assert load_from_dump(parse_vector_dump(m.debug_show()), layout=name).alloc_end == fsv


def test_the_allocation_range_from_a_layout_given_or_inferred() -> None:
    dump = parse_vector_dump(VECTOR_5X, "VECTOR.txt")
    # 197 + 4 = 201 on CPU 0 and 198 + 3 on CPU 4, plus 0x20, 0x32, 0x80 below 0xec: 204 = 0xec - 0x20
    inferred = load_from_dump(dump)
    assert inferred.alloc_end == 0xEC and inferred.layout is None
    assert (
        "allocation range inferred from the counters: [0x20, 0xec) (FIRST_SYSTEM_VECTOR = 0xec)"
        in inferred.notes
    )
    assert load_from_dump(dump, layout="linux-5.19").alloc_end == 0xEC
    given = load_from_dump(dump, alloc_end=0xEC)
    assert given.alloc_end == 0xEC and not any("inferred" in n for n in given.notes)
    assert (given.ncpus, given.cpus) == (5, (0, 4)) and given.available.tolist() == [197, 0, 0, 0, 198]


def test_allocation_range_errors_keep_their_words() -> None:
    dump = parse_vector_dump(VECTOR_5X, "VECTOR.txt")
    with pytest.raises(DataError) as exc:
        load_from_dump(dump, layout="linux-6.12")  # FIRST_SYSTEM_VECTOR 0xeb: the counters do not add up
    assert exc.value.message == (
        "the dump's counters do not fit layout linux-6.12 (FIRST_SYSTEM_VECTOR 0xeb); "
        "pass layout=None to infer the allocation range"
    )
    assert exc.value.path == "VECTOR.txt"
    with pytest.raises(DataError, match=r"the dump has vectors outside \[0x20, 0x30\)"):
        load_from_dump(dump, alloc_end=0x30)
    with pytest.raises(ValidationError, match="alloc_end"):
        load_from_dump(dump, alloc_end=0x300)
    with pytest.raises(ValidationError, match=r"more than the highest CPU in the dump \(4\)"):
        load_from_dump(dump, ncpus=4)
