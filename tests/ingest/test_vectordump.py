"""tdxlib.ingest.vectordump: the debugfs VECTOR dump (current and 4.15-era), strict and lenient."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_samples import VECTOR_5X, VECTOR_415, mutated

from tdxlib.errors import CaptureParseError
from tdxlib.ingest import (
    load_from_dump,
    parse_vector_dump,
)


def test_vector_dump_sample() -> None:
    d = parse_vector_dump(VECTOR_5X, "v")
    assert (d.online_maps, d.global_available, d.global_reserved, d.total_allocated) == (2, 395, 13, 7)
    assert len(d.system_bits) == 38 and 0x80 in d.system_bits and 0x32 in d.system_bits
    assert d.cpus.tolist() == [0, 4] and d.domain["name"] == "VECTOR"
    assert d.row(0)["vectors"] == (33, 34, 35, 48)
    load = load_from_dump(d)
    assert (load.alloc_start, load.alloc_end) == (0x20, 0xEC)  # 197 + 4 + 3 system bits = 204
    assert load.systembits_inalloc == 3 and load.ncpus == 5 and load.kind == "exact"
    assert load.available.tolist() == [197, 0, 0, 0, 198]
    m = load.to_matrix()
    assert m.alloc_bits(0) == [33, 34, 35, 48] and m.reserved() == 13 and m.total_allocated == 7
    assert not m.is_online(2)


def test_vector_dump_415_without_mac() -> None:
    d = parse_vector_dump(VECTOR_415)
    assert not d.has_mac and d.managed.tolist() == [3] and d.managed_allocated.tolist() == [0]
    load = load_from_dump(d)
    assert load.alloc_end == 0xEC  # 190 + 3 + 8 + 3 system bits in range = 204
    assert load.to_matrix().managed_bits(0) and any("4.15" in n for n in load.notes)


@pytest.mark.parametrize(
    ("text", "line", "pattern"),
    [
        (VECTOR_5X.replace("Global reserved:      13", "Global reserved:   x13"), 7, "not a non-negative"),
        (VECTOR_5X.replace("System: 38:", "System: 37:"), 9, "says 37"),
        (VECTOR_5X.replace("33-35,48", "33-35"), 11, "act = 4"),
        ("".join(VECTOR_5X.splitlines(keepends=True)[:11]), 12, "truncated"),
        ("".join(VECTOR_5X.splitlines(keepends=True)[:8]), 9, "truncated"),
        (VECTOR_5X.replace("name:   VECTOR", "name:   IO-APIC-0"), 1, "not the x86 VECTOR"),
        (VECTOR_5X.replace("| vectors", "| vecs"), 10, "expected '| CPU"),
        (VECTOR_5X.replace("     4   198", "     0   198"), 12, "ascend"),
    ],
)
def test_vector_dump_errors(text: str, line: int, pattern: str) -> None:
    with pytest.raises(CaptureParseError, match=pattern) as ei:
        parse_vector_dump(text, "v")
    assert ei.value.line == line


def test_vector_dump_lenient_mode_keeps_notes() -> None:
    d = parse_vector_dump(
        VECTOR_5X.replace("Global available:    395", "Global available:    396"), strict=False
    )
    assert any("Global available" in n for n in d.notes)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([VECTOR_5X, VECTOR_415]).flatmap(mutated))
def test_fuzz_vector_dump(text: str) -> None:
    try:
        parse_vector_dump(text)
    except CaptureParseError as exc:
        assert exc.line is not None and exc.line >= 1, str(exc)
