"""Tests for tdxlib.ingest: /proc/interrupts, affinity and VECTOR-dump parsers, VectorLoad, captures, budget.

Expected values are written by hand from the samples below (laid out as kernel/irq/proc.c,
arch/x86/kernel/irq.c and kernel/irq/matrix.c print them), not taken from the code.
"""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tdxlib.data import data_path
from tdxlib.errors import CaptureParseError, DataError, MatrixError, ValidationError
from tdxlib.ingest import (
    IrqAffinity,
    estimate_load,
    format_affinity_table,
    format_bitlist,
    format_proc_interrupts,
    load_from_dump,
    parse_affinity_table,
    parse_bitlist,
    parse_cpulist,
    parse_cpumask,
    parse_proc_interrupts,
    parse_vector_dump,
    read_proc_interrupts,
)
from tdxlib.ingest.capture_budget import (
    _waterfill,
    budget_from_capture,
    reserved_vector_cost,
    sequential_offline,
)
from tdxlib.ingest.captures import capture_names, load_capture
from tdxlib.ingest.load import layout_for_kernel
from tdxlib.ingest.procinterrupts import STYLES
from tdxlib.ingest.synth import SERVERS, ServerSpec, group_cpus_evenly, render, synthesize
from tdxlib.kernel.matrix import IrqMatrix, MatrixWarning
from tdxlib.kernel.vectors import load_layout

REAL = "sandbox-vm-2cpu-6.18"

# A 3.x-era file: no hwirq column, chip and flow glued ("IO-APIC-edge"), "%10u " cells, CPU1 offline.
OLD_3X = """\
           CPU0       CPU2       CPU3
  0:         45          0          0   IO-APIC-edge      timer
  1:          3          0          0   IO-APIC-edge      i8042
  9:          0          0          0   IO-APIC-fasteoi   acpi
 24:      12034        110          0   PCI-MSI-edge      eth0
NMI:          0          0          0   Non-maskable interrupts
LOC:      90211      80012      70001   Local timer interrupts
ERR:          0
MIS:          0
"""

# A 5.x server: hwirq column, interrupt remapping, shared action names with spaces, prec 3.
SERVER_5X = """\
           CPU0       CPU1
  0:         33          0   IR-IO-APIC    2-edge      timer
  8:          0          1   IR-IO-APIC    8-edge      rtc0
120:          0     203044  IR-PCI-MSI 524288-edge      nvme0q0
121:      80332          0  IR-PCI-MSI 524289-edge      nvme0q1
122:          0          0  DMAR-MSI    0-edge      dmar0
123:          5          7  IR-PCI-MSI 1048576-edge      PCIe PME, aerdrv
NMI:         12         13   Non-maskable interrupts
LOC:     100000     200000   Local timer interrupts
RES:         10         20   Rescheduling interrupts
ERR:          0
MIS:          0
PIN:          0          0   Posted-interrupt notification event
"""

# The newest, table-driven arch rows: " %10u" cells, ERR per CPU with a description, a VPMI row.
NEWEST = """\
           CPU0       CPU1
 24:          0          5  IO-APIC   5-edge      ACPI:Ged
 25:          7          0 PCI-MSIX-0000:00:01.0   0-edge      virtio0-config
NMI:          0          0  Non-maskable interrupts
VPMI:          1          0  Perf Guest Mediated PMI
ERR:          2          0  PIC/APIC error interrupts
"""

ARM64 = """\
           CPU0       CPU1
 11:      12345      67890     GICv3  27 Level     arch_timer
IPI0:       100        200       Rescheduling interrupts
Err:          0
"""

# A VECTOR file of a pre-6.6 kernel (cleanup vector 0x20), after the example quoted in
# shared/reference/kernel.md 3.2, with CPUs 0 and 4 online.
VECTOR_5X = """\
name:   VECTOR
 size:   0
 mapped: 42
 flags:  0x00000003
Online bitmaps:        2
Global available:    395
Global reserved:      13
Total allocated:       7
System: 38: 0-19,32,50,128,236,240-242,244,246-255
 | CPU | avl | man | mac | act | vectors
     0   197     0     0    4  33-35,48
     4   198     0     0    3  33-35
"""

# 4.15 printed no "mac" column.
VECTOR_415 = """\
Online bitmaps:        1
Global available:    190
Global reserved:       0
Total allocated:      11
System: 40: 0-19,32,50,128,236,238-242,244,246-255
 | CPU | avl | man | act | vectors
     0   190     3    8  33-40
"""


# ---------------------------------------------------------------------------------------------
# /proc/interrupts
# ---------------------------------------------------------------------------------------------


def test_old_format_with_cpu_gap() -> None:
    pi = parse_proc_interrupts(OLD_3X)
    assert pi.cpus.tolist() == [0, 2, 3]
    assert pi.irq_numbers() == [0, 1, 9, 24]
    r = pi.row(24)
    assert (r.chip, r.hwirq, r.flow, r.actions) == ("PCI-MSI", None, "edge", ("eth0",))
    assert pi.row(9).flow == "fasteoi" and pi.row(9).chip == "IO-APIC"
    assert pi.counts_of(24) == {0: 12034, 2: 110, 3: 0}
    loc = pi.arch_row("LOC")
    assert loc is not None and loc.description == "Local timer interrupts"
    assert pi.arch_counts[1].tolist() == [90211, 80012, 70001]
    err = pi.arch_row("ERR")
    assert err is not None and err.total == 0
    assert pi.row(1).line == 3


def test_server_format_hwirq_and_shared_actions() -> None:
    pi = parse_proc_interrupts(SERVER_5X, path="server")
    assert pi.row(120).hwirq == 524288 and pi.row(120).chip == "IR-PCI-MSI"
    assert pi.row(123).actions == ("PCIe PME", "aerdrv")
    assert pi.row(122).hwirq == 0 and pi.row(122).chip == "DMAR-MSI"
    assert pi.counts[pi.irq_numbers().index(120)].tolist() == [0, 203044]
    assert [a.name for a in pi.arch] == ["NMI", "LOC", "RES", "ERR", "MIS", "PIN"]
    assert pi.path == "server"


def test_newest_format_per_cpu_err_and_unknown_rows_are_kept() -> None:
    pi = parse_proc_interrupts(NEWEST)
    err = pi.arch_row("ERR")
    assert err is not None and err.total is None and err.description == "PIC/APIC error interrupts"
    assert pi.arch_counts[[a.name for a in pi.arch].index("ERR")].tolist() == [2, 0]
    assert pi.arch_row("VPMI") is not None
    assert pi.row(25).chip == "PCI-MSIX-0000:00:01.0" and pi.row(25).hwirq == 0


def test_real_capture_roundtrips_byte_for_byte() -> None:
    path = data_path("captures", REAL, "interrupts.txt")
    text = path.read_text()
    pi = read_proc_interrupts(path)
    assert pi.to_text("mixed") == text
    assert parse_proc_interrupts(text).counts.tolist() == pi.counts.tolist()
    assert len(pi.irqs) == sum(1 for ln in text.splitlines()[1:] if ln.split(":")[0].strip().isdigit())


@pytest.mark.parametrize("style", STYLES)
def test_format_styles_parse_back(style: str) -> None:
    pi = parse_proc_interrupts(SERVER_5X)
    again = parse_proc_interrupts(format_proc_interrupts(pi, style=style))
    assert again.irqs == tuple(
        type(r)(r.irq, r.chip, r.hwirq, r.flow, r.actions, again.row(r.irq).line) for r in pi.irqs
    )
    assert np.array_equal(again.counts, pi.counts) and np.array_equal(again.arch_counts, pi.arch_counts)


def test_fast_and_slow_paths_agree_on_wide_rows() -> None:
    rng = np.random.default_rng(7)
    n = 300
    counts = rng.integers(0, 2**32, size=n)
    counts[rng.random(n) < 0.9] = 0
    cells = "".join(f" {c:>10d}" for c in counts)
    hdr = " " * 11 + "".join(f"CPU{c:<8d}" for c in range(n))
    text = f"{hdr}\n  5:{cells}  IO-APIC   5-edge      x\nNMI:{cells}  Non-maskable interrupts\n"
    loose = (
        f"{hdr}\n  5: {' '.join(map(str, counts))} IO-APIC 5-edge x\nNMI: {' '.join(map(str, counts))} nmi\n"
    )
    a, b = parse_proc_interrupts(text), parse_proc_interrupts(loose)
    assert a.counts[0].tolist() == counts.tolist() == b.counts[0].tolist()
    dense = rng.integers(1, 2**32, size=n)
    text2 = text.replace(cells, "".join(f" {c:>10d}" for c in dense), 1)
    assert parse_proc_interrupts(text2).counts[0].tolist() == dense.tolist()


def test_gzip_capture_file(tmp_path: Path) -> None:
    p = tmp_path / "interrupts.txt.gz"
    p.write_bytes(gzip.compress(SERVER_5X.encode()))
    assert read_proc_interrupts(p).irq_numbers() == [0, 8, 120, 121, 122, 123]


def test_arm64_is_recognised() -> None:
    with pytest.raises(CaptureParseError, match=r"not an x86|not from x86") as ei:
        parse_proc_interrupts(ARM64, path="arm")
    assert ei.value.line == 2 and "arm" in str(ei.value)
    ipi_only = "           CPU0\nIPI0:       100       Rescheduling interrupts\n"
    with pytest.raises(CaptureParseError, match="arm64/riscv") as ei:
        parse_proc_interrupts(ipi_only)
    assert ei.value.line == 2


@pytest.mark.parametrize(
    ("text", "line", "pattern"),
    [
        ("", 1, "empty"),
        ("           CPU0       CPU1\n", 2, "truncated"),
        ("hello world\n  0:   1 2\n", 1, "not 'CPU<n>'"),
        ("           CPU1       CPU0\n", 1, "ascend"),
        ("           CPU0       CPU1\n  0:          5\n", 2, "expected 2 per-CPU counts"),
        (
            "           CPU0\n  9:          5  IO-APIC   9-fasteoi   acpi\n"
            "  3:  1  IO-APIC 3-edge x\nNMI: 0 n\n",
            3,
            "ascend",
        ),
        (
            "           CPU0\nNMI:          0  n\n  3:          1  IO-APIC 3-edge x\n",
            3,
            "after the architecture",
        ),
        ("           CPU0\n  3:          1\nNMI: 0 n\n", 2, "no chip"),
        ("           CPU0\n  3 no colon here\n", 2, "no ':'"),
        ("           CPU0\n  3:          1  IO-APIC 3-edge x\n\nNMI: 0 n\n", 3, "blank line"),
        ("           CPU0       CPU1\nNMI:   1 2 3  nmi\n", 2, "more counts than"),
        ("           CPU0       CPU1       CPU2\nNMI:   1 2  nmi\n", 2, "counts but the header"),
        ("           CPU0\nnmi:   1  nmi\n", 2, "neither an IRQ number"),
    ],
)
def test_malformed_input_names_the_line(text: str, line: int, pattern: str) -> None:
    with pytest.raises(CaptureParseError, match=pattern) as ei:
        parse_proc_interrupts(text, path="f")
    assert ei.value.line == line
    assert str(ei.value).startswith(f"f:{line}: ")


def test_truncated_real_capture_gets_a_clear_message() -> None:
    text = data_path("captures", REAL, "interrupts.txt").read_text()
    lines = text.splitlines(keepends=True)
    # cut inside the count cells of the third IRQ row
    cut = "".join(lines[:3]) + lines[3][:20]
    with pytest.raises(CaptureParseError, match="truncated") as ei:
        parse_proc_interrupts(cut)
    assert ei.value.line == 4
    # cut after an IRQ row: no arch rows at all
    with pytest.raises(CaptureParseError, match="truncated") as ei:
        parse_proc_interrupts("".join(lines[:5]))
    assert ei.value.line == 6


_GARBLE = st.sampled_from([*list("0123456789 \n\t:-,abcXYZ\x00é"), "CPU", "NMI:", "IPI0:", "   ", "\n\n"])


@st.composite
def _mutated(draw: st.DrawFn, base: str) -> str:
    text = base
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "truncate"]))
        s = draw(_GARBLE)
        if op == "insert":
            text = text[:i] + s + text[i:]
        elif op == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 12)) :]
        elif op == "replace":
            text = text[:i] + s + text[i + len(s) :]
        else:
            text = text[:i]
    return text


def _parse_or_located_error(text: str | bytes) -> None:
    try:
        parse_proc_interrupts(text)
    except CaptureParseError as exc:
        assert exc.line is not None and exc.line >= 1, str(exc)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([OLD_3X, SERVER_5X, NEWEST]).flatmap(_mutated))
def test_fuzz_mutations_parse_or_raise_capture_error(text: str) -> None:
    _parse_or_located_error(text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([OLD_3X, SERVER_5X]).flatmap(_mutated))
def test_fuzz_memory_mapped_files(text: str) -> None:
    # read_proc_interrupts maps the file: an error must still come out as CaptureParseError
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "interrupts"
        p.write_text(text, encoding="utf-8", errors="surrogateescape")
        try:
            read_proc_interrupts(p)
        except CaptureParseError as exc:
            assert exc.line is not None or not text, str(exc)


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_fuzz_random_text_and_bytes(data: str | bytes) -> None:
    _parse_or_located_error(data)


# ---------------------------------------------------------------------------------------------
# CPU lists, masks, affinity files
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# VECTOR dump
# ---------------------------------------------------------------------------------------------


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
@given(st.sampled_from([VECTOR_5X, VECTOR_415]).flatmap(_mutated))
def test_fuzz_vector_dump(text: str) -> None:
    try:
        parse_vector_dump(text)
    except CaptureParseError as exc:
        assert exc.line is not None and exc.line >= 1, str(exc)


# ---------------------------------------------------------------------------------------------
# debug_show round trip on random matrices
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# estimated loads, re-seating, reserve_top
# ---------------------------------------------------------------------------------------------


def test_estimate_from_hand_written_server() -> None:
    pi = parse_proc_interrupts(SERVER_5X)
    aff = {
        0: IrqAffinity(0, (0, 1), (0,), 0),
        8: IrqAffinity(8, (0, 1), (1,), 0),
        120: IrqAffinity(120, (0, 1), (1,), 0),
        121: IrqAffinity(121, (0, 1), (0,), 0),  # a managed queue spanning both CPUs
        122: IrqAffinity(122, (0, 1), None, 0),  # no effective list: most interrupts ... all zero
    }
    load = estimate_load(pi, aff, "linux-5.19")
    # 6 IRQs: 0->0, 8->1, 120->1, 121->0 (managed on 0 and 1), 122-> first CPU 0, 123-> counts: CPU1 (7 > 5)
    assert load.allocated.tolist() == [3, 3]
    assert load.managed.tolist() == [1, 1] and load.managed_allocated.tolist() == [1, 0]
    # 5.19 with a PIC: 204 - 3 system bits (0x20, 0x32, 0x80) = 201 device vectors
    assert load.available.tolist() == [201 - 1 - 2, 201 - 1 - 3]
    assert {p.irq: p.how for p in load.irqs}[122] == "first online CPU"
    assert {p.irq: p.how for p in load.irqs}[123] == "counts"
    assert any("managed" in n for n in load.notes) and load.kind == "estimated"
    m = load.to_matrix()
    assert [m.cpu_available(c) for c in (0, 1)] == load.available.tolist()
    assert [m.cpu_managed(c) for c in (0, 1)] == [1, 1]
    fewer = load.to_matrix(reserve_top=1)
    assert [fewer.cpu_available(c) for c in (0, 1)] == [a - 1 for a in load.available.tolist()]
    assert fewer.alloc_end == 0xEB
    none_managed = estimate_load(pi, aff, "linux-5.19", managed=None)
    assert none_managed.managed.sum() == 0


def test_layout_for_kernel() -> None:
    assert layout_for_kernel("6.18.44-fc")[0] == "linux-6.12"
    assert layout_for_kernel("6.8.0-40-generic")[0] == "linux-6.6"
    assert layout_for_kernel("5.19.0")[0] == "linux-5.19"
    assert layout_for_kernel("4.19.0")[0] == "linux-5.19"
    assert "unknown" in layout_for_kernel(None)[1]


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


# ---------------------------------------------------------------------------------------------
# shipped captures, synthesis, budget
# ---------------------------------------------------------------------------------------------


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
    assert _waterfill(np.array([5, 7, 7]), 3).tolist() == [5, 5, 6]


def test_budget_errors() -> None:
    with pytest.raises(ValidationError, match="capture"):
        budget_from_capture("no-such-capture")
    with pytest.raises(ValidationError, match="reserved_vectors"):
        budget_from_capture(REAL, reserved_vectors=-1)
    with pytest.raises(DataError, match="VECTOR"):
        load_capture(REAL).load(exact=True)
