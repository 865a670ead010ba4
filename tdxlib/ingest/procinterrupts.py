"""x86 ``/proc/interrupts`` as a table: online CPUs, a count per IRQ and CPU, the architecture rows.

:func:`parse_proc_interrupts` / :func:`read_proc_interrupts` read a file into a
:class:`ProcInterrupts` (the line grammar and its checks are :mod:`~tdxlib.ingest.irqlines`);
:func:`format_proc_interrupts` writes one back out as a given kernel generation prints it.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tdxlib.data import gunzip, read_bytes
from tdxlib.errors import CaptureParseError, DataError
from tdxlib.ingest.irqlines import ArchRow, IrqRow, _line_no, _Parser, _Scanned

__all__ = [
    "STYLES",
    "ProcInterrupts",
    "format_proc_interrupts",
    "parse_proc_interrupts",
    "read_proc_interrupts",
]

#: The largest /proc/interrupts read (decompressed): 8192 CPUs x 2,000 IRQs of 11-character counts fit
#: (the 1024-CPU constructed capture is 29 MB), and parsing it stays well below 1 GiB of memory.
MAX_BYTES = 256 * 1024 * 1024
_WHAT = "/proc/interrupts copy"

#: Output styles of format_proc_interrupts (kernel generations, see its docstring).
STYLES = ("old", "mixed", "new")


@dataclass(frozen=True, eq=False)
class ProcInterrupts:
    """A parsed ``/proc/interrupts``: online CPUs, IRQ rows with a count matrix, arch rows."""

    cpus: npt.NDArray[np.int64]
    irqs: tuple[IrqRow, ...]
    counts: npt.NDArray[np.int64]  # (len(irqs), len(cpus))
    arch: tuple[ArchRow, ...]
    arch_counts: npt.NDArray[np.int64]  # (len(arch), len(cpus)); zeros for total-only rows
    path: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def ncpus_online(self) -> int:
        """How many CPUs the header lists (online CPUs at the time of reading)."""
        return len(self.cpus)

    def irq_numbers(self) -> list[int]:
        """The IRQ numbers, ascending."""
        return [r.irq for r in self.irqs]

    def row(self, irq: int) -> IrqRow:
        """The row of IRQ ``irq`` (KeyError if absent)."""
        for r in self.irqs:
            if r.irq == irq:
                return r
        raise KeyError(irq)

    def counts_of(self, irq: int) -> dict[int, int]:
        """``{cpu: count}`` of one IRQ."""
        i = next(k for k, r in enumerate(self.irqs) if r.irq == irq)
        return {int(c): int(v) for c, v in zip(self.cpus, self.counts[i], strict=True)}

    def arch_row(self, name: str) -> ArchRow | None:
        """The architecture row ``name`` (``"LOC"``), if present."""
        return next((a for a in self.arch if a.name == name), None)

    def to_text(self, style: str = "mixed") -> str:
        """Re-emit in the kernel's format; ``style`` is one of STYLES (see format_proc_interrupts)."""
        return format_proc_interrupts(self, style=style)

    @classmethod
    def _of(cls, scanned: _Scanned, path: object) -> ProcInterrupts:
        return cls(
            scanned.cpus,
            scanned.irqs,
            scanned.counts,
            scanned.arch,
            scanned.arch_counts,
            None if path is None else str(path),
            scanned.notes,
        )


def parse_proc_interrupts(
    source: str | bytes | bytearray | memoryview, path: object = None
) -> ProcInterrupts:
    """Parse the text of an x86 ``/proc/interrupts``; any malformation raises CaptureParseError."""
    if isinstance(source, str):
        data: Any = source.encode("utf-8", "surrogateescape")
    elif isinstance(source, (bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, bytes):
        data = source
    else:
        raise TypeError(f"parse_proc_interrupts takes str or bytes, not {type(source).__name__}")
    if b"\x00" in data:
        raise CaptureParseError(
            "NUL byte in the file: binary data, not /proc/interrupts",
            path,
            _line_no(data, data.find(b"\x00")),
        )
    try:
        return ProcInterrupts._of(_Parser(data, path).parse(), path)
    except CaptureParseError:
        raise
    except (ValueError, IndexError, OverflowError) as exc:  # belt and braces: never leak another error
        raise CaptureParseError(
            f"unparseable /proc/interrupts ({type(exc).__name__}: {exc})", path, None
        ) from None


def read_proc_interrupts(path: str | Path) -> ProcInterrupts:
    """Read and parse a ``/proc/interrupts`` copy (``.gz`` allowed); large files are memory-mapped.

    At most :data:`MAX_BYTES` are read (decompressed), so no file can take the machine's memory."""
    p = Path(path)
    try:
        if p.suffix == ".gz":
            return parse_proc_interrupts(
                gunzip(read_bytes(p, limit=MAX_BYTES, what=_WHAT), p, limit=MAX_BYTES), p
            )
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise CaptureParseError(f"is larger than {MAX_BYTES >> 20} MiB, the limit for a {_WHAT}", p, None)
        if size == 0 or p.is_relative_to("/proc"):
            return parse_proc_interrupts(read_bytes(p, limit=MAX_BYTES, what=_WHAT), p)
        return _parse_mapped(p)
    except DataError as exc:
        raise CaptureParseError(exc.message, exc.path, exc.line) from None
    except FileNotFoundError:
        raise CaptureParseError("file not found", p, None) from None
    except OSError as exc:
        raise CaptureParseError(f"cannot read: {exc.strerror or exc}", p, None) from None


def _parse_mapped(p: Path) -> ProcInterrupts:
    """Parse a memory-mapped file; no view of the map may outlive it (mmap.close() refuses then)."""
    err: CaptureParseError | None = None
    with p.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        if mm.find(b"\x00") != -1:
            return parse_proc_interrupts(bytes(mm), p)
        parser = _Parser(mm, p)
        try:
            return ProcInterrupts._of(parser.parse(), p)
        except CaptureParseError as exc:
            err = CaptureParseError(exc.message, exc.path, exc.line)
        except (ValueError, IndexError, OverflowError) as exc:
            err = CaptureParseError(f"unparseable /proc/interrupts ({type(exc).__name__}: {exc})", p, None)
        finally:
            parser.arr = np.zeros(0, dtype=np.uint8)
            parser.data = b""
            del parser
    raise err


def format_proc_interrupts(pi: ProcInterrupts, style: str = "mixed", prec: int | None = None) -> str:
    """Emit ``pi`` as the kernel prints it.

    ``style="old"``: ``"%*d: "`` + ``"%10u "`` cells + ``" %8s"`` chip, and arch rows alike;
    ``"mixed"`` (what 6.18 prints): IRQ rows ``"%*d:"`` + ``" %10u"`` cells + ``" "`` + ``"%8s"``,
    arch rows still ``"%10u "``; ``"new"`` (table-driven arch rows): ``" %10u"`` everywhere.
    """
    if style not in STYLES:
        raise ValueError(f"style = {style!r}; expected one of {STYLES}")
    if prec is None:
        prec = 3
        j = 1000
        top = (max(r.irq for r in pi.irqs) + 1) if pi.irqs else 0
        while prec < 10 and j <= top:
            prec += 1
            j *= 10
    old = style == "old"
    old_arch = style in ("old", "mixed")
    out: list[str] = [" " * (prec + 8) + "".join(f"CPU{c:<8d}" for c in pi.cpus.tolist())]
    for r, row in zip(pi.irqs, pi.counts, strict=True):
        s = f"{r.irq:>{prec}d}:" + _cells(row, old) + (f"  {r.chip:>8s}" if old else f" {r.chip:>8s}")
        s += f" {r.hwirq:>{prec}d}" if r.hwirq is not None else " " + " " * prec
        if r.flow is not None:
            s += f"-{r.flow:<8s}"
        if r.actions:
            s += "  " + ", ".join(r.actions)
        out.append(s)
    for a, row in zip(pi.arch, pi.arch_counts, strict=True):
        if a.total is not None:
            out.append(f"{a.name:>{prec}s}: {a.total:>10d}")
        else:
            out.append(
                f"{a.name:>{prec}s}:" + _cells(row, old) + (" " if old_arch else "") + f"  {a.description}"
            )
    return "\n".join(out) + "\n"


def _cells(row: npt.NDArray[np.int64], old: bool) -> str:
    """The count cells; "%*d: " + "%10u " * n and "%*d:" + " %10u" * n lay out the same bytes."""
    del old
    return "".join([f" {v:>10d}" for v in row.tolist()])
