"""tdxlib.ingest.affinity: CPU lists and masks as Linux prints them, the capture's affinity table."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tdxlib.errors import CaptureParseError
from tdxlib.ingest import (
    IrqAffinity,
    format_affinity_table,
    format_bitlist,
    parse_affinity_table,
    parse_bitlist,
    parse_cpulist,
    parse_cpumask,
)


def test_cpulist_and_cpumask() -> None:
    assert parse_cpulist("0-3,8,10-11\n") == (0, 1, 2, 3, 8, 10, 11)
    assert parse_cpulist("") == ()
    assert parse_cpumask("00000000,0000010f") == (0, 1, 2, 3, 8)
    assert parse_cpumask("1,00000000") == (32,)
    assert format_bitlist([11, 0, 1, 2, 10, 5]) == "0-2,5,10-11"
    for bad in ("3-1", "1,1", "a", "0-", "2,1", "99999999"):
        with pytest.raises(CaptureParseError):
            parse_cpulist(bad)
    with pytest.raises(CaptureParseError, match="out of range"):
        parse_bitlist("0-300", limit=256)
    for bad in ("", "xyz", "123456789"):
        with pytest.raises(CaptureParseError):
            parse_cpumask(bad)


@settings(max_examples=100, deadline=None)
@given(st.sets(st.integers(0, 600), max_size=40))
def test_bitlist_roundtrip(bits: set[int]) -> None:
    assert parse_bitlist(format_bitlist(bits)) == tuple(sorted(bits))


def test_affinity_table_roundtrip_and_errors() -> None:
    affs = [IrqAffinity(24, (0, 1), (1,), 0), IrqAffinity(7, None, (), None), IrqAffinity(30, (), None, -1)]
    text = format_affinity_table(affs)
    back = parse_affinity_table(text)
    assert back == {a.irq: a for a in affs}
    assert back[24].target() == 1 and back[7].target() is None
    with pytest.raises(CaptureParseError, match="4 columns") as ei:
        parse_affinity_table("# c\n24 0-1 1\n", "t")
    assert ei.value.line == 2
    with pytest.raises(CaptureParseError, match="twice"):
        parse_affinity_table("1 0 0 0\n1 0 0 0\n")
