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
    lines = text.splitlines()
    notes: list[str] = []
    domain: dict[str, str] = {}
    globals_: dict[str, int] = {}
    global_lines: dict[str, int] = {}
    system: tuple[int, ...] | None = None
    has_mac: bool | None = None
    rows: list[tuple[int, int, int, int, int, tuple[int, ...], int]] = []
    i = 0
    nlines = len(lines)

    def problem(msg: str, line: int) -> None:
        if strict:
            raise CaptureParseError(msg + " (parse with strict=False to keep it as a note)", path, line)
        notes.append(f"line {line}: {msg}")

    # optional domain header written by irq_domain_debug_show_one()
    while i < nlines:
        s = lines[i].strip()
        m = re.fullmatch(r"(name|size|mapped|flags|parent):\s*(.*)", s)
        if m:
            domain[m.group(1)] = m.group(2)
            i += 1
            continue
        if s and re.fullmatch(r"IRQ_DOMAIN_[A-Z_]+", s) and domain:
            domain.setdefault("flag_names", "")
            domain["flag_names"] = (domain["flag_names"] + " " + s).strip()
            i += 1
            continue
        if not s and not globals_:
            i += 1
            continue
        break
    if domain.get("name") not in (None, "VECTOR"):
        raise CaptureParseError(
            f"domain {domain.get('name')!r} is not the x86 VECTOR domain (wrong debugfs file?)", path, 1
        )
    for label, key in _GLOBALS:
        if i >= nlines:
            raise CaptureParseError(f"file ends before {label!r}: truncated VECTOR dump", path, i + 1)
        s = lines[i].strip()
        if not s.startswith(label):
            raise CaptureParseError(f"expected {label!r} line, got {s[:40]!r}", path, i + 1)
        toks = s[len(label) :].split()
        if len(toks) != 1:
            raise CaptureParseError(
                f"{label} expects one number, got {s[len(label) :].strip()!r}", path, i + 1
            )
        globals_[key] = _int(toks[0], label, path, i + 1)
        global_lines[key] = i + 1
        i += 1
    if i >= nlines:
        raise CaptureParseError("file ends before the 'System:' line: truncated VECTOR dump", path, i + 1)
    m = re.fullmatch(r"System:\s+(\d+):\s*(\S*)", lines[i].strip())
    if m is None:
        raise CaptureParseError(
            f"expected 'System: <count>: <vectors>', got {lines[i].strip()[:40]!r}", path, i + 1
        )
    system = parse_bitlist(m.group(2), limit=matrix_bits, what="system vectors", path=path, line=i + 1)
    if int(m.group(1)) != len(system):
        raise CaptureParseError(
            f"System: says {m.group(1)} vectors but lists {len(system)}: garbled or truncated line",
            path,
            i + 1,
        )
    i += 1
    if i >= nlines:
        raise CaptureParseError(
            "file ends before the '| CPU | avl |' header: truncated VECTOR dump", path, i + 1
        )
    hdr = [t.strip() for t in lines[i].strip().strip("|").split("|")]
    if hdr == ["CPU", "avl", "man", "mac", "act", "vectors"]:
        has_mac = True
    elif hdr == ["CPU", "avl", "man", "act", "vectors"]:
        has_mac = False
        notes.append("4.15-era format without the 'mac' (managed allocated) column; mac taken as 0")
    else:
        raise CaptureParseError(
            f"expected '| CPU | avl | man | mac | act | vectors', got {lines[i].strip()!r}", path, i + 1
        )
    i += 1
    nnum = 5 if has_mac else 4
    last_cpu = -1
    while i < nlines:
        s = lines[i].strip()
        if not s:
            if any(x.strip() for x in lines[i:]):
                raise CaptureParseError("blank line inside the CPU table", path, i + 1)
            break
        toks = s.split()
        if len(toks) not in (nnum, nnum + 1):
            raise CaptureParseError(
                f"CPU line needs {nnum} numbers and a vector list, got {len(toks)} fields (truncated?)",
                path,
                i + 1,
            )
        nums = [_int(t, "CPU line", path, i + 1) for t in toks[:nnum]]
        cpu = nums[0]
        if cpu <= last_cpu:
            raise CaptureParseError(f"CPU {cpu} after CPU {last_cpu}: CPU numbers must ascend", path, i + 1)
        if cpu > 65535:
            raise CaptureParseError(f"CPU {cpu} is beyond 65535", path, i + 1)
        last_cpu = cpu
        bits = parse_bitlist(
            toks[nnum] if len(toks) > nnum else "", limit=matrix_bits, what="vectors", path=path, line=i + 1
        )
        if has_mac:
            avl, man, mac, act = nums[1:]
        else:
            avl, man, act = nums[1:]
            mac = 0
        if len(bits) != act:
            problem(f"CPU {cpu}: act = {act} but {len(bits)} vectors listed", i + 1)
        if mac > act or mac > man:
            problem(f"CPU {cpu}: mac = {mac} exceeds act = {act} or man = {man}", i + 1)
        clash = set(bits) & set(system)
        if clash:
            problem(f"CPU {cpu}: vectors {sorted(clash)} are both allocated and system vectors", i + 1)
        rows.append((cpu, avl, man, mac, act, bits, i + 1))
        i += 1
    if not rows:
        raise CaptureParseError("no CPU lines after the table header: truncated VECTOR dump", path, i + 1)
    if globals_["online_maps"] != len(rows):
        msg = f"Online bitmaps says {globals_['online_maps']} but {len(rows)} CPU lines follow"
        if len(rows) < globals_["online_maps"]:
            raise CaptureParseError(msg + ": truncated VECTOR dump", path, i + 1)
        problem(msg, i + 1)
    cpus = np.array([r[0] for r in rows], dtype=np.int64)
    avl_a = np.array([r[1] for r in rows], dtype=np.int64)
    if int(avl_a.sum()) != globals_["global_available"]:
        problem(
            f"Global available = {globals_['global_available']} but the CPUs' avl add up to "
            f"{int(avl_a.sum())}",
            global_lines["global_available"],
        )
    act_sum = sum(r[4] for r in rows)
    if act_sum != globals_["total_allocated"]:
        notes.append(
            f"Total allocated = {globals_['total_allocated']} while online CPUs hold {act_sum} "
            "(the kernel does not move total_allocated when a CPU goes offline)"
        )
    return VectorDump(
        online_maps=globals_["online_maps"],
        global_available=globals_["global_available"],
        global_reserved=globals_["global_reserved"],
        total_allocated=globals_["total_allocated"],
        system_bits=system,
        has_mac=has_mac,
        cpus=cpus,
        available=avl_a,
        managed=np.array([r[2] for r in rows], dtype=np.int64),
        managed_allocated=np.array([r[3] for r in rows], dtype=np.int64),
        allocated=np.array([r[4] for r in rows], dtype=np.int64),
        alloc_maps=tuple(r[5] for r in rows),
        domain=domain,
        path=None if path is None else str(path),
        notes=tuple(notes),
        cpu_lines=tuple(r[6] for r in rows),
    )
