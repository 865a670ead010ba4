"""tdxlib.ingest.load: an exact load from a VECTOR dump, its allocation range taken or inferred."""

from __future__ import annotations

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
