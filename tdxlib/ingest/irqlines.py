"""The line grammar of x86 ``/proc/interrupts``, and a scanner that reads a whole file into its rows.

Format, from kernel/irq/proc.c ``show_interrupts()`` and arch/x86/kernel/irq.c ``arch_show_interrupts()``:

- header: ``prec + 8`` spaces then ``"CPU%-8d"`` for each *online* CPU (numbers may have gaps);
- IRQ row: ``"%*d:"`` (width ``prec``: 3, widened while nr_irqs >= 1000, 10000, ...), one count per
  online CPU, then the chip name (``"%8s"``), the hwirq (``" %*lu"`` when the IRQ has a domain, blanks
  otherwise), ``"-%-8s"`` the flow-handler name (``edge``, ``fasteoi``) and ``"  "`` + the action names
  joined by ``", "``. Counts are ``"%10u "`` on older kernels and ``" %10u"`` on newer ones (later
  kernels write runs of zeros as the same 11-byte cells); either way every count occupies the same
  11-character cell after the colon, which the fast path below relies on (and checks);
- architecture rows (NMI, LOC, SPU, PMI, IWI, RTR, PLT, RES, CAL, TLB, TRM, THR, DFR, MCE, MCP, HYP,
  HRE, HVS, PIN, NPI, PIW, PMN, ...): a name, one count per CPU and a description; ERR and MIS are a
  single total on most kernels (per-CPU with a description on the newest).

Older kernels (before the hwirq column) print ``"IO-APIC-edge"``; kernels with
GENERIC_IRQ_SHOW_LEVEL (arm64, riscv) add ``Level``/``Edge`` and name their IPIs ``IPI0``...: those
files are recognised and refused with a clear message, since tdxlib models x86 vectors only.
:mod:`~tdxlib.ingest.procinterrupts` turns the rows into the per-IRQ table and writes it back out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from tdxlib.cache import memo
from tdxlib.errors import CaptureParseError

#: x86 architecture rows and their descriptions (arch/x86/kernel/irq.c, 4.x .. 6.19 and the
#: 2022 TDX proposal's TGN); used to recognise rows and to re-emit them.
X86_ARCH_ROWS: dict[str, str] = {
    "NMI": "Non-maskable interrupts",
    "LOC": "Local timer interrupts",
    "SPU": "Spurious interrupts",
    "PMI": "Performance monitoring interrupts",
    "IWI": "IRQ work interrupts",
    "RTR": "APIC ICR read retries",
    "PLT": "Platform interrupts",
    "RES": "Rescheduling interrupts",
    "CAL": "Function call interrupts",
    "TLB": "TLB shootdowns",
    "TRM": "Thermal event interrupts",
    "THR": "Threshold APIC interrupts",
    "DFR": "Deferred Error APIC interrupts",
    "MCE": "Machine check exceptions",
    "MCP": "Machine check polls",
    "HYP": "Hypervisor callback interrupts",
    "HRE": "Hyper-V reenlightenment interrupts",
    "HVS": "Hyper-V stimer0 interrupts",
    "ERR": "PIC/APIC error interrupts",
    "MIS": "Misrouted IO/APIC interrupts",
    "PIN": "Posted-interrupt notification event",
    "NPI": "Nested posted-interrupt event",
    "PIW": "Posted-interrupt wakeup event",
    "VPMI": "Perf Guest Mediated PMI",
    "PMN": "Posted MSI notification event",
    "TGN": "TDX Guest event notification",
}

#: Flow-handler names that older kernels glue to the chip name ("IO-APIC-edge", "PCI-MSI-edge").
_FLOW_NAMES = frozenset(
    {"edge", "fasteoi", "level", "simple", "percpu", "percpu_devid", "bad", "XT", "ioapic"}
)
#: Chip-name prefixes of other architectures' interrupt controllers.
_FOREIGN_CHIPS = ("GIC", "ITS", "RISC-V", "XIVE", "IPIC", "MPIC", "OpenPIC", "SIFIVE", "APLIC", "IMSIC")

_CELL = 11  # " %10u" or "%10u " — one count cell
_ZERO_CELL = b"          0"
_LABEL = re.compile(r"[A-Z][A-Za-z0-9]{0,7}")
_POW10 = (10.0 ** np.arange(9, -1, -1)).astype(np.float64)


@dataclass(frozen=True)
class IrqRow:
    """One numbered row: IRQ number, chip, hwirq, flow handler, action names, source line."""

    irq: int
    chip: str
    hwirq: int | None
    flow: str | None
    actions: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class ArchRow:
    """One architecture row (NMI, LOC, ...); ``total`` is set for single-total rows (ERR, MIS)."""

    name: str
    description: str
    total: int | None
    line: int


class _Scanned(NamedTuple):
    """What a scan of one file found: the online CPUs, IRQ rows and their counts, arch rows."""

    cpus: npt.NDArray[np.int64]
    irqs: tuple[IrqRow, ...]
    counts: npt.NDArray[np.int64]  # (len(irqs), len(cpus))
    arch: tuple[ArchRow, ...]
    arch_counts: npt.NDArray[np.int64]  # (len(arch), len(cpus)); zeros for total-only rows
    notes: tuple[str, ...]


def _err(msg: str, path: object, line: int | None) -> CaptureParseError:
    return CaptureParseError(msg, path, line)


def _parse_trailer(
    trailer: str, irq: int, path: object, line: int
) -> tuple[str, int | None, str | None, str]:
    """Split the text after the counts into (chip, hwirq, flow, actions text)."""
    t = trailer.lstrip()
    if not t:
        raise _err(f"IRQ {irq}: no chip name after the counts (line truncated?)", path, line)
    parts = t.split(None, 1)
    chip = parts[0]
    rest = parts[1] if len(parts) > 1 else ""
    if chip.startswith(_FOREIGN_CHIPS):
        raise _err(
            f"IRQ {irq}: chip {chip!r} is not an x86 interrupt controller (arm64/riscv/powerpc "
            "/proc/interrupts?); tdxlib models x86 vectors only",
            path,
            line,
        )
    m = re.match(r"(\d*)-(\S*)\s*", rest)
    if m is not None:
        hwirq = int(m.group(1)) if m.group(1) else None
        return chip, hwirq, (m.group(2) or None), rest[m.end() :]
    m = re.match(r"(\d+)(?:\s+|$)", rest)
    if m is not None:
        after = rest[m.end() :]
        if re.match(r"(Level|Edge)\b", after):
            raise _err(
                f"IRQ {irq}: a Level/Edge column (GENERIC_IRQ_SHOW_LEVEL) means this file is not from x86 "
                "(arm64/riscv?); tdxlib models x86 vectors only",
                path,
                line,
            )
        return chip, int(m.group(1)), None, after
    if "-" in chip:
        base, _, flow = chip.rpartition("-")
        if flow in _FLOW_NAMES and base:
            return base, None, flow, rest
    return chip, None, None, rest


def _actions(text: str) -> tuple[str, ...]:
    s = text.strip()
    if not s:
        return ()
    return tuple(a.strip() for a in s.split(", "))


def _line_no(data: bytes, pos: int) -> int:
    return data.count(b"\n", 0, pos) + 1


@memo(maxsize=8)
def _zero_row(n: int) -> tuple[bytes, npt.NDArray[np.uint8]]:
    """n zero cells as bytes and as a flat array (cached: every row of a file has the same n).

    The array is a view of the immutable bytes, so it is read-only: no caller can change it.
    """
    b = _ZERO_CELL * n
    return b, np.frombuffer(b, dtype=np.uint8)


def _dense(cells: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64] | None:
    """Vectorised parse of (n, 11) cells: a space, then a right-aligned decimal; None if not so."""
    if not (cells[:, 0] == 32).all():
        return None
    f = cells[:, 1:]
    d = f - np.uint8(48)
    dm = d <= 9
    if not (dm | (f == 32)).all() or not dm[:, -1].all() or not (dm[:, 1:] >= dm[:, :-1]).all():
        return None
    vals: npt.NDArray[np.int64] = (np.where(dm, d, 0).astype(np.float64) @ _POW10).astype(np.int64)
    return vals


class _Parser:
    """The parsing state for one file (bytes or mmap): scans it line by line into rows."""

    def __init__(self, data: Any, path: object) -> None:
        self.data = data
        self.path = path
        self.end = len(data)
        self.arr = np.frombuffer(data, dtype=np.uint8) if self.end else np.zeros(0, np.uint8)
        self.notes: list[str] = []
        self.ncpus = 0
        self.irq_rows: list[IrqRow] = []
        self.counts_buf = np.zeros((0, 0), dtype=np.int64)
        self.arch_rows: list[ArchRow] = []
        self.arch_counts: list[npt.NDArray[np.int64]] = []
        self.last_irq = -1

    def fail(self, msg: str, line: int | None) -> CaptureParseError:
        return _err(msg, self.path, line)

    # -- header -----------------------------------------------------------------------------
    def header(self) -> tuple[npt.NDArray[np.int64], int]:
        data = self.data
        if self.end == 0:
            raise self.fail("empty file: expected the CPU header line ('CPU0 CPU1 ...')", 1)
        nl = data.find(b"\n")
        if nl == -1:
            raise self.fail("only one line (the CPU header?): file truncated", 1)
        raw = bytes(data[:nl])
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            raise self.fail("CPU header is not ASCII text: not a /proc/interrupts file", 1) from None
        toks = text.split()
        if not toks:
            raise self.fail("first line is blank; expected the CPU header ('CPU0 CPU1 ...')", 1)
        cpus: list[int] = []
        for t in toks:
            if not (t.startswith("CPU") and t[3:].isdigit() and t[3:].isascii()):
                raise self.fail(f"CPU header: {t!r} is not 'CPU<n>'; not a /proc/interrupts file?", 1)
            c = int(t[3:])
            if cpus and c <= cpus[-1]:
                raise self.fail(f"CPU header: CPU{c} after CPU{cpus[-1]}; CPU numbers must ascend", 1)
            if c > 65535:
                raise self.fail(f"CPU header: CPU{c} is beyond 65535", 1)
            cpus.append(c)
        return np.asarray(cpus, dtype=np.int64), nl + 1

    # -- counts -----------------------------------------------------------------------------
    def fixed_counts(self, start: int, n: int, out: npt.NDArray[np.int64]) -> bool:
        """Read n fixed 11-byte cells at ``start`` into ``out`` (zeroed); False if they are not such cells."""
        stop = start + _CELL * n
        if stop > self.end:
            return False
        data = self.data
        zero_bytes, zero_flat = _zero_row(n)
        if data[start:stop] == zero_bytes:
            return True
        flat = self.arr[start:stop]
        if n <= 64:
            vals = _dense(flat.reshape(n, _CELL))
            if vals is None:
                return False
            out[:] = vals
            return True
        pos = np.flatnonzero(flat != zero_flat)
        if len(pos) > 2 * n:
            vals = _dense(flat.reshape(n, _CELL))
            if vals is None:
                return False
            out[:] = vals
            return True
        for k in np.unique(pos // _CELL).tolist():
            cell = bytes(data[start + _CELL * k : start + _CELL * (k + 1)])
            digits = cell[1:].lstrip(b" ")
            if cell[0:1] != b" " or not digits.isdigit():
                out[:] = 0
                return False
            out[k] = int(digits)
        return True

    # -- rows -------------------------------------------------------------------------------
    def parse(self) -> _Scanned:
        """Scan the header, then every row; CaptureParseError names the line of the first problem."""
        cpus, pos = self.header()
        n = self.ncpus = len(cpus)
        # every IRQ row takes at least 11 bytes per CPU: this bounds the rows; np.zeros is lazily
        # zeroed memory, so only the pages with non-zero counts are ever touched
        self.counts_buf = np.zeros((max(1, (self.end - pos) // (_CELL * n + 4) + 1), n), dtype=np.int64)
        lineno = 2
        while pos < self.end:
            colon = self.label_end(pos, lineno)
            if colon is None:
                break  # trailing blank line
            try:
                label = bytes(self.data[pos:colon]).decode("ascii").strip()
            except UnicodeDecodeError:
                raise self.fail("row label is not ASCII", lineno) from None
            if label.isdigit():
                stop = self.irq_row(label, colon, lineno)
            else:
                stop = self.arch_row(label, colon, lineno)
            pos = stop + 1
            lineno += 1
        return self.finish(cpus, lineno)

    def label_end(self, pos: int, lineno: int) -> int | None:
        """The colon ending the row label of the line at ``pos``; None for a trailing blank line."""
        data, end = self.data, self.end
        colon = data.find(b":", pos, min(pos + 48, end))
        nl_probe = data.find(b"\n", pos, colon if colon != -1 else min(pos + 48, end))
        if colon != -1 and nl_probe == -1:
            return colon
        stop = data.find(b"\n", pos)
        stop = end if stop == -1 else stop
        raw = bytes(data[pos:stop])
        if not raw.strip():
            if stop >= end - 1 and not bytes(data[stop:]).strip():
                return None
            raise self.fail("blank line inside the table", lineno)
        shown = raw[:40].decode("ascii", "replace")
        raise self.fail(f"no ':' after the row label in {shown!r}", lineno)

    def irq_row(self, label: str, colon: int, lineno: int) -> int:
        """A numbered row: its counts into the count buffer, chip/hwirq/flow/actions; returns its end."""
        data, end, n = self.data, self.end, self.ncpus
        if self.arch_rows:
            raise self.fail(f"IRQ {label} after the architecture rows ({self.arch_rows[-1].name})", lineno)
        irq = int(label)
        if irq <= self.last_irq:
            raise self.fail(f"IRQ {irq} after IRQ {self.last_irq}; IRQ numbers must ascend", lineno)
        self.last_irq = irq
        if len(self.irq_rows) >= len(self.counts_buf):
            self.counts_buf = np.vstack([self.counts_buf, np.zeros_like(self.counts_buf)])
        row_out = self.counts_buf[len(self.irq_rows)]
        if self.fixed_counts(colon + 1, n, row_out):
            cstop = colon + 1 + _CELL * n
            stop = data.find(b"\n", cstop)
            stop = end if stop == -1 else stop
            trailer = bytes(data[cstop:stop]).decode("utf-8", "replace")
        else:
            stop = data.find(b"\n", colon)
            stop = end if stop == -1 else stop
            row_out[:], trailer = self.slow_counts(colon + 1, stop, n, f"IRQ {irq}", lineno, exact=True)
        chip, hwirq, flow, acts = _parse_trailer(trailer, irq, self.path, lineno)
        if chip.isdigit():
            raise self.fail(
                f"IRQ {irq}: more numbers than the {n} CPUs in the header (chip name {chip!r}?)",
                lineno,
            )
        self.irq_rows.append(IrqRow(irq, chip, hwirq, flow, _actions(acts), lineno))
        return stop

    def arch_row(self, label: str, colon: int, lineno: int) -> int:
        """An architecture row: per-CPU counts and a description, or one total; returns its end."""
        n = self.ncpus
        self.check_label(label, lineno)
        stop = self.data.find(b"\n", colon)
        stop = self.end if stop == -1 else stop
        counts, rest = self.slow_counts(colon + 1, stop, n, label, lineno, exact=False)
        desc = rest.strip()
        first = desc.split(None, 1)[0] if desc else ""
        if first.isdigit() and first.isascii():
            raise self.fail(f"{label}: more counts than the {n} CPUs in the header (line garbled?)", lineno)
        if len(counts) == n and (desc or n > 1):
            self.arch_rows.append(ArchRow(label, desc, None, lineno))
            self.arch_counts.append(counts)
        elif len(counts) == 1 and not desc:
            self.arch_rows.append(ArchRow(label, "", int(counts[0]), lineno))
            self.arch_counts.append(np.zeros(n, dtype=np.int64))
        else:
            raise self.fail(
                f"{label}: {len(counts)} counts but the header lists {n} CPUs (line truncated?)",
                lineno,
            )
        return stop

    def finish(self, cpus: npt.NDArray[np.int64], lineno: int) -> _Scanned:
        """The rows found; a file without architecture rows is truncated (or not x86)."""
        if not self.arch_rows:
            raise self.fail(
                "no architecture rows (NMI, LOC, ...) at the end: file truncated, or not an x86 "
                "/proc/interrupts",
                lineno,
            )
        if self.data[self.end - 1 : self.end] != b"\n":
            self.notes.append("file does not end with a newline (copied by hand or truncated?)")
        return _Scanned(
            cpus,
            tuple(self.irq_rows),
            self.counts_buf[: len(self.irq_rows)],
            tuple(self.arch_rows),
            np.vstack(self.arch_counts),
            tuple(self.notes),
        )

    def check_label(self, label: str, lineno: int) -> None:
        if re.fullmatch(r"IPI\d+", label) or label in ("Err", "IPI"):
            raise self.fail(
                f"row {label!r} is an arm64/riscv-style IPI/error row: this /proc/interrupts is not from "
                "x86; tdxlib models x86 vectors only",
                lineno,
            )
        if not _LABEL.fullmatch(label):
            raise self.fail(
                f"row label {label!r} is neither an IRQ number nor an architecture row name", lineno
            )
        if label not in X86_ARCH_ROWS:
            self.notes.append(f"line {lineno}: unknown architecture row {label!r} kept as is")

    def slow_counts(
        self, start: int, stop: int, n: int, what: str, lineno: int, *, exact: bool
    ) -> tuple[npt.NDArray[np.int64], str]:
        """Whitespace-separated counts (any spacing); returns the counts and the remaining text."""
        try:
            text = bytes(self.data[start:stop]).decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"{what}: row is not UTF-8 text", lineno) from None
        parts = text.split(None, n)
        k = 0
        while k < min(n, len(parts)) and parts[k].isdigit() and parts[k].isascii():
            k += 1
        if exact and k < n:
            got = parts[k][:24] if k < len(parts) else "end of line"
            raise self.fail(
                f"{what}: expected {n} per-CPU counts (one per CPU in the header), found {k} before "
                f"{got!r} (line truncated or garbled?)",
                lineno,
            )
        if any(len(x) > 19 for x in parts[:k]) or any(int(x) >= 1 << 63 for x in parts[:k]):
            raise self.fail(f"{what}: a count beyond 2**63 (the kernel prints 32-bit counts)", lineno)
        counts = np.asarray([int(x) for x in parts[:k]], dtype=np.int64)
        if k == len(parts):
            rest = ""
        elif k == n:
            rest = parts[n]
        else:
            m = re.match(r"\s*(?:\S+\s+){" + str(k) + "}", text)
            rest = text[m.end() :] if m else text
        return counts, rest
