"""tdxlib.ingest.procinterrupts (and its line grammar, irqlines): every kernel generation's
format, byte-for-byte round trips, and every malformation raising CaptureParseError with its line.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_samples import ARM64, NEWEST, OLD_3X, REAL, SERVER_5X, mutated

from tdxlib.data import data_path
from tdxlib.errors import CaptureParseError
from tdxlib.ingest import (
    format_proc_interrupts,
    parse_proc_interrupts,
    read_proc_interrupts,
)
from tdxlib.ingest.procinterrupts import STYLES


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


def _parse_or_located_error(text: str | bytes) -> None:
    try:
        parse_proc_interrupts(text)
    except CaptureParseError as exc:
        assert exc.line is not None and exc.line >= 1, str(exc)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([OLD_3X, SERVER_5X, NEWEST]).flatmap(mutated))
def test_fuzz_mutations_parse_or_raise_capture_error(text: str) -> None:
    _parse_or_located_error(text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([OLD_3X, SERVER_5X]).flatmap(mutated))
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
