"""Parse the x86 vector allocator's debugfs dump, ``/sys/kernel/debug/irq/domains/VECTOR``.

That file is kernel/irq/irqdomain.c ``irq_domain_debug_show_one()`` for the VECTOR domain
(``name:``, `` size:``, `` mapped:``, `` flags:`` and, on newer kernels, the flag names), followed by
arch/x86/kernel/apic/vector.c ``x86_vector_debug_show()`` which, for the domain itself, calls
kernel/irq/matrix.c ``irq_matrix_debug_show(m, vector_matrix, ind)``:

    Online bitmaps:   %6u / Global available: %6u / Global reserved:  %6u / Total allocated:  %6u
    System: <count>: <%*pbl of system_map>
    <ind> | CPU | avl | man | mac | act | vectors        (4.15 - ~5.0: no "mac" column)
    <ind>  %4d  %4u  %4u  %4u %4u  <%*pbl of alloc_map>  (one line per *online* CPU)

``IrqMatrix.debug_show()`` prints the matrix part, so its output parses here as well.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from tdxlib.errors import CaptureParseError
from tdxlib.ingest.affinity import parse_bitlist

#: x86 NR_VECTORS: the size of the VECTOR matrix (irq_alloc_matrix(NR_VECTORS, ...)).
DEFAULT_MATRIX_BITS = 256

_GLOBALS = (
    ("Online bitmaps:", "online_maps"),
    ("Global available:", "global_available"),
    ("Global reserved:", "global_reserved"),
    ("Total allocated:", "total_allocated"),
)


@dataclass(frozen=True, eq=False)
class VectorDump:
    """The VECTOR matrix dump: global counters, system bits, and per online CPU avl/man/mac/act/map."""

    online_maps: int
    global_available: int
    global_reserved: int
    total_allocated: int
    system_bits: tuple[int, ...]
    has_mac: bool  # False for the 4.15-era format without managed_allocated
    cpus: npt.NDArray[np.int64]
    available: npt.NDArray[np.int64]
    managed: npt.NDArray[np.int64]
    managed_allocated: npt.NDArray[np.int64]  # zeros when not has_mac
    allocated: npt.NDArray[np.int64]
    alloc_maps: tuple[tuple[int, ...], ...]
    domain: dict[str, str] = field(default_factory=dict)
    path: str | None = None
    notes: tuple[str, ...] = ()
    cpu_lines: tuple[int, ...] = ()

    def row(self, cpu: int) -> dict[str, object]:
        """The dump's line for ``cpu`` as a dict (KeyError if that CPU was not online)."""
        idx = np.flatnonzero(self.cpus == cpu)
        if len(idx) == 0:
            raise KeyError(cpu)
        i = int(idx[0])
        return {
            "cpu": cpu,
            "avl": int(self.available[i]),
            "man": int(self.managed[i]),
            "mac": int(self.managed_allocated[i]),
            "act": int(self.allocated[i]),
            "vectors": self.alloc_maps[i],
        }


def _int(tok: str, what: str, path: object, line: int) -> int:
    if not (tok.isdigit() and tok.isascii()) or len(tok) > 12:
        raise CaptureParseError(f"{what}: {tok!r} is not a non-negative integer", path, line)
    return int(tok)


class _Cursor:
    """The dump's lines, the index of the next one, and the file named in errors."""

    def __init__(self, text: str, path: object) -> None:
        self.lines = text.splitlines()
        self.i = 0
        self.path = path

    def more(self) -> bool:
        return self.i < len(self.lines)

    def stripped(self) -> str:
        return self.lines[self.i].strip()

    def error(self, msg: str) -> CaptureParseError:
        """An error on the current line (1-based)."""
        return CaptureParseError(msg, self.path, self.i + 1)


class _Problems:
    """Counters that disagree with their bitmaps: an error when ``strict``, else a note."""

    def __init__(self, strict: bool, notes: list[str], path: object) -> None:
        self.strict, self.notes, self.path = strict, notes, path

    def __call__(self, msg: str, line: int) -> None:
        if self.strict:
            raise CaptureParseError(msg + " (parse with strict=False to keep it as a note)", self.path, line)
        self.notes.append(f"line {line}: {msg}")


class _CpuRow(NamedTuple):
    cpu: int
    avl: int
    man: int
    mac: int
    act: int
    bits: tuple[int, ...]
    line: int


def _domain_header(cur: _Cursor) -> dict[str, str]:
    """The optional header written by irq_domain_debug_show_one(); it must name the VECTOR domain."""
    domain: dict[str, str] = {}
    while cur.more():
        s = cur.stripped()
        m = re.fullmatch(r"(name|size|mapped|flags|parent):\s*(.*)", s)
        if m:
            domain[m.group(1)] = m.group(2)
            cur.i += 1
            continue
        if s and re.fullmatch(r"IRQ_DOMAIN_[A-Z_]+", s) and domain:
            domain.setdefault("flag_names", "")
            domain["flag_names"] = (domain["flag_names"] + " " + s).strip()
            cur.i += 1
            continue
        if not s:
            cur.i += 1
            continue
        break
    if domain.get("name") not in (None, "VECTOR"):
        raise CaptureParseError(
            f"domain {domain.get('name')!r} is not the x86 VECTOR domain (wrong debugfs file?)", cur.path, 1
        )
    return domain


def _global_counters(cur: _Cursor) -> tuple[dict[str, int], dict[str, int]]:
    """The four global counter lines, in order: values and their line numbers."""
    globals_: dict[str, int] = {}
    global_lines: dict[str, int] = {}
    for label, key in _GLOBALS:
        if not cur.more():
            raise cur.error(f"file ends before {label!r}: truncated VECTOR dump")
        s = cur.stripped()
        if not s.startswith(label):
            raise cur.error(f"expected {label!r} line, got {s[:40]!r}")
        toks = s[len(label) :].split()
        if len(toks) != 1:
            raise cur.error(f"{label} expects one number, got {s[len(label) :].strip()!r}")
        globals_[key] = _int(toks[0], label, cur.path, cur.i + 1)
        global_lines[key] = cur.i + 1
        cur.i += 1
    return globals_, global_lines


def _system_line(cur: _Cursor, matrix_bits: int) -> tuple[int, ...]:
    """``System: <count>: <vectors>``: the matrix's system map."""
    if not cur.more():
        raise cur.error("file ends before the 'System:' line: truncated VECTOR dump")
    m = re.fullmatch(r"System:\s+(\d+):\s*(\S*)", cur.stripped())
    if m is None:
        raise cur.error(f"expected 'System: <count>: <vectors>', got {cur.stripped()[:40]!r}")
    system = parse_bitlist(
        m.group(2), limit=matrix_bits, what="system vectors", path=cur.path, line=cur.i + 1
    )
    if int(m.group(1)) != len(system):
        raise cur.error(
            f"System: says {m.group(1)} vectors but lists {len(system)}: garbled or truncated line"
        )
    cur.i += 1
    return system


def _table_header(cur: _Cursor, notes: list[str]) -> bool:
    """The ``| CPU | avl | man | mac | act | vectors`` header; False for the 4.15-era one without mac."""
    if not cur.more():
        raise cur.error("file ends before the '| CPU | avl |' header: truncated VECTOR dump")
    hdr = [t.strip() for t in cur.stripped().strip("|").split("|")]
    if hdr == ["CPU", "avl", "man", "mac", "act", "vectors"]:
        has_mac = True
    elif hdr == ["CPU", "avl", "man", "act", "vectors"]:
        has_mac = False
        notes.append("4.15-era format without the 'mac' (managed allocated) column; mac taken as 0")
    else:
        raise cur.error(f"expected '| CPU | avl | man | mac | act | vectors', got {cur.stripped()!r}")
    cur.i += 1
    return has_mac


def _cpu_row(
    cur: _Cursor, has_mac: bool, system: tuple[int, ...], matrix_bits: int, last_cpu: int, problem: _Problems
) -> _CpuRow:
    """One CPU line: its counters and allocation bitmap, checked against each other."""
    nnum = 5 if has_mac else 4
    line = cur.i + 1
    toks = cur.stripped().split()
    if len(toks) not in (nnum, nnum + 1):
        raise cur.error(
            f"CPU line needs {nnum} numbers and a vector list, got {len(toks)} fields (truncated?)"
        )
    nums = [_int(t, "CPU line", cur.path, line) for t in toks[:nnum]]
    cpu = nums[0]
    if cpu <= last_cpu:
        raise cur.error(f"CPU {cpu} after CPU {last_cpu}: CPU numbers must ascend")
    if cpu > 65535:
        raise cur.error(f"CPU {cpu} is beyond 65535")
    bits = parse_bitlist(
        toks[nnum] if len(toks) > nnum else "", limit=matrix_bits, what="vectors", path=cur.path, line=line
    )
    if has_mac:
        avl, man, mac, act = nums[1:]
    else:
        avl, man, act = nums[1:]
        mac = 0
    if len(bits) != act:
        problem(f"CPU {cpu}: act = {act} but {len(bits)} vectors listed", line)
    if mac > act or mac > man:
        problem(f"CPU {cpu}: mac = {mac} exceeds act = {act} or man = {man}", line)
    clash = set(bits) & set(system)
    if clash:
        problem(f"CPU {cpu}: vectors {sorted(clash)} are both allocated and system vectors", line)
    return _CpuRow(cpu, avl, man, mac, act, bits, line)


def _cpu_rows(
    cur: _Cursor, has_mac: bool, system: tuple[int, ...], matrix_bits: int, problem: _Problems
) -> list[_CpuRow]:
    """Every CPU line up to the end (a blank line may only trail)."""
    rows: list[_CpuRow] = []
    last_cpu = -1
    while cur.more():
        if not cur.stripped():
            if any(x.strip() for x in cur.lines[cur.i :]):
                raise cur.error("blank line inside the CPU table")
            break
        row = _cpu_row(cur, has_mac, system, matrix_bits, last_cpu, problem)
        last_cpu = row.cpu
        rows.append(row)
        cur.i += 1
    if not rows:
        raise cur.error("no CPU lines after the table header: truncated VECTOR dump")
    return rows


def _check_totals(
    cur: _Cursor,
    rows: list[_CpuRow],
    globals_: dict[str, int],
    global_lines: dict[str, int],
    problem: _Problems,
    notes: list[str],
) -> None:
    """The global counters against the CPU lines: online CPUs, global available, total allocated."""
    if globals_["online_maps"] != len(rows):
        msg = f"Online bitmaps says {globals_['online_maps']} but {len(rows)} CPU lines follow"
        if len(rows) < globals_["online_maps"]:
            raise cur.error(msg + ": truncated VECTOR dump")
        problem(msg, cur.i + 1)
    avl_sum = sum(r.avl for r in rows)
    if avl_sum != globals_["global_available"]:
        problem(
            f"Global available = {globals_['global_available']} but the CPUs' avl add up to {avl_sum}",
            global_lines["global_available"],
        )
    act_sum = sum(r.act for r in rows)
    if act_sum != globals_["total_allocated"]:
        notes.append(
            f"Total allocated = {globals_['total_allocated']} while online CPUs hold {act_sum} "
            "(the kernel does not move total_allocated when a CPU goes offline)"
        )


def parse_vector_dump(
    text: str, path: object = None, *, matrix_bits: int = DEFAULT_MATRIX_BITS, strict: bool = True
) -> VectorDump:
    """Parse a VECTOR dump (or ``IrqMatrix.debug_show()`` text); malformed input raises CaptureParseError.

    ``strict`` also refuses a dump whose counters disagree with its bitmaps (a lockless snapshot
    taken mid-change): per-CPU ``act`` must equal the weight of its vector list, ``mac <= act``,
    ``Global available`` must be the sum of ``avl`` and ``Online bitmaps`` the number of CPU lines.
    With ``strict=False`` those become notes.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_vector_dump takes str, not {type(text).__name__}")
    cur = _Cursor(text, path)
    notes: list[str] = []
    problem = _Problems(strict, notes, path)
    domain = _domain_header(cur)
    globals_, global_lines = _global_counters(cur)
    system = _system_line(cur, matrix_bits)
    has_mac = _table_header(cur, notes)
    rows = _cpu_rows(cur, has_mac, system, matrix_bits, problem)
    _check_totals(cur, rows, globals_, global_lines, problem, notes)
    return VectorDump(
        online_maps=globals_["online_maps"],
        global_available=globals_["global_available"],
        global_reserved=globals_["global_reserved"],
        total_allocated=globals_["total_allocated"],
        system_bits=system,
        has_mac=has_mac,
        cpus=np.array([r.cpu for r in rows], dtype=np.int64),
        available=np.array([r.avl for r in rows], dtype=np.int64),
        managed=np.array([r.man for r in rows], dtype=np.int64),
        managed_allocated=np.array([r.mac for r in rows], dtype=np.int64),
        allocated=np.array([r.act for r in rows], dtype=np.int64),
        alloc_maps=tuple(r.bits for r in rows),
        domain=domain,
        path=None if path is None else str(path),
        notes=tuple(notes),
        cpu_lines=tuple(r.line for r in rows),
    )
