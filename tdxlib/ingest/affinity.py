"""CPU lists and masks as Linux prints them, and the per-IRQ affinity files under ``/proc/irq/N/``.

The kernel prints ``smp_affinity_list`` / ``effective_affinity_list`` with ``%*pbl`` (ranges such as
``0-3,8``) and ``smp_affinity`` / ``effective_affinity`` with ``%*pb`` (hex words joined by commas,
most significant first). A capture keeps all IRQs in one table, ``irq_affinity.txt``
(see ``data/captures/README.md``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tdxlib.errors import CaptureParseError

#: Largest CPU number accepted in a list (x86 CONFIG_MAXSMP allows NR_CPUS = 8192; leave headroom).
MAX_CPU_ID = 65535

_RANGE = re.compile(r"(\d+)(?:-(\d+))?")


def parse_bitlist(
    text: str,
    *,
    limit: int = MAX_CPU_ID + 1,
    what: str = "CPU list",
    path: object = None,
    line: int | None = None,
) -> tuple[int, ...]:
    """Parse a ``%*pbl`` range list (``"0-3,8"``; empty means no bits) into sorted numbers below ``limit``."""
    s = text.strip()
    if not s:
        return ()
    out: list[int] = []
    last = -1
    for part in s.split(","):
        m = _RANGE.fullmatch(part)
        if m is None:
            raise CaptureParseError(
                f"{what} {text.strip()!r}: bad element {part!r}; expected N or N-M", path, line
            )
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo or lo <= last:
            raise CaptureParseError(
                f"{what} {text.strip()!r}: ranges must ascend without overlap (got {part!r})", path, line
            )
        if hi >= limit:
            raise CaptureParseError(
                f"{what} {text.strip()!r}: {hi} is out of range 0..{limit - 1}", path, line
            )
        out.extend(range(lo, hi + 1))
        last = hi
    return tuple(out)


def parse_cpulist(text: str, *, path: object = None, line: int | None = None) -> tuple[int, ...]:
    """Parse ``smp_affinity_list``-style text (``"0-3,8"``) into sorted CPU numbers."""
    return parse_bitlist(text, path=path, line=line)


def parse_cpumask(text: str, *, path: object = None, line: int | None = None) -> tuple[int, ...]:
    """Parse ``smp_affinity``-style hex (``"00000000,0000000f"``, 32-bit words, MSB first) into CPUs."""
    s = text.strip()
    words = s.split(",")
    if not s or any(not re.fullmatch(r"[0-9a-fA-F]{1,8}", w) for w in words):
        raise CaptureParseError(f"CPU mask {s!r}: expected 32-bit hex words joined by ','", path, line)
    if len(words) * 32 > MAX_CPU_ID + 1:
        raise CaptureParseError(f"CPU mask {s!r}: more than {MAX_CPU_ID + 1} CPUs", path, line)
    value = int("".join(w.rjust(8, "0") for w in words), 16)
    out = []
    cpu = 0
    while value:
        if value & 1:
            out.append(cpu)
        value >>= 1
        cpu += 1
    return tuple(out)


def format_bitlist(bits: Iterable[int]) -> str:
    """Format numbers as the kernel's ``%*pbl`` does (``"0-3,8"``; empty string when none)."""
    parts: list[str] = []
    start = prev = None
    for b in sorted(set(int(x) for x in bits)):
        if start is None:
            start = prev = b
        elif prev is not None and b == prev + 1:
            prev = b
        else:
            parts.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = prev = b
    if start is not None:
        parts.append(f"{start}" if start == prev else f"{start}-{prev}")
    return ",".join(parts)


@dataclass(frozen=True)
class IrqAffinity:
    """What ``/proc/irq/N/`` says about one IRQ; ``None`` where a file was missing or unreadable."""

    irq: int
    smp_affinity: tuple[int, ...] | None
    effective_affinity: tuple[int, ...] | None
    node: int | None = None

    def target(self) -> int | None:
        """The CPU the vector lives on (x86 is single-target: the first effective CPU), if known."""
        if self.effective_affinity:
            return self.effective_affinity[0]
        return None


#: Header of the capture's affinity table; the columns are documented in data/captures/README.md.
AFFINITY_TABLE_HEADER = "# irq smp_affinity_list effective_affinity_list node   ('-' empty, '?' unreadable)"


def _cell(v: tuple[int, ...] | None) -> str:
    if v is None:
        return "?"
    return format_bitlist(v) or "-"


def format_affinity_table(affinities: Mapping[int, IrqAffinity] | Iterable[IrqAffinity]) -> str:
    """The capture's ``irq_affinity.txt``: one line per IRQ, ascending."""
    items = list(affinities.values()) if isinstance(affinities, Mapping) else list(affinities)
    lines = [AFFINITY_TABLE_HEADER]
    for a in sorted(items, key=lambda x: x.irq):
        node = "?" if a.node is None else str(a.node)
        lines.append(f"{a.irq} {_cell(a.smp_affinity)} {_cell(a.effective_affinity)} {node}")
    return "\n".join(lines) + "\n"


def parse_affinity_table(text: str, path: object = None) -> dict[int, IrqAffinity]:
    """Parse a capture's ``irq_affinity.txt`` into ``{irq: IrqAffinity}``; errors name the line."""
    out: dict[int, IrqAffinity] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        cols = s.split()
        if len(cols) != 4:
            raise CaptureParseError(
                "expected 4 columns (irq, smp_affinity_list, effective_affinity_list, node), "
                f"got {len(cols)}",
                path,
                lineno,
            )
        if not cols[0].isdigit() or not cols[0].isascii():
            raise CaptureParseError(f"IRQ number {cols[0]!r} is not a non-negative integer", path, lineno)
        irq = int(cols[0])
        if irq in out:
            raise CaptureParseError(f"IRQ {irq} listed twice", path, lineno)

        def cell(c: str, line: int = lineno) -> tuple[int, ...] | None:
            if c == "?":
                return None
            if c == "-":
                return ()
            return parse_cpulist(c, path=path, line=line)

        node: int | None
        if cols[3] == "?":
            node = None
        elif re.fullmatch(r"-?\d+", cols[3]):
            node = int(cols[3])
        else:
            raise CaptureParseError(f"node {cols[3]!r} is not an integer or '?'", path, lineno)
        out[irq] = IrqAffinity(irq, cell(cols[1]), cell(cols[2]), node)
    return out


def _read_text(p: Path) -> tuple[str | None, str | None]:
    """(text, None) or (None, why it could not be read)."""
    try:
        return p.read_text(encoding="ascii", errors="replace"), None
    except FileNotFoundError:
        return None, "missing"
    except PermissionError:
        return None, "permission denied"
    except OSError as exc:
        return None, f"{type(exc).__name__}: {exc.strerror or exc}"


def read_proc_irq(proc_irq: str | Path) -> tuple[dict[int, IrqAffinity], dict[str, dict[str, int]]]:
    """Read ``smp_affinity_list``, ``effective_affinity_list`` and ``node`` of every ``/proc/irq/N``.

    Returns the affinities and, per file name, a count of the reasons it could not be read
    (``{"effective_affinity_list": {"missing": 20}}``). Garbled contents raise CaptureParseError.
    """
    base = Path(proc_irq)
    out: dict[int, IrqAffinity] = {}
    problems: dict[str, dict[str, int]] = {}

    def note(name: str, why: str) -> None:
        problems.setdefault(name, {}).setdefault(why, 0)
        problems[name][why] += 1

    try:
        entries = sorted((int(p.name), p) for p in base.iterdir() if p.name.isdigit())
    except OSError as exc:
        problems.setdefault("<dir>", {})[f"{type(exc).__name__}: {exc.strerror or exc}"] = 1
        return out, problems
    for irq, d in entries:
        vals: dict[str, tuple[int, ...] | None] = {}
        for name in ("smp_affinity_list", "effective_affinity_list"):
            text, why = _read_text(d / name)
            if text is None:
                note(name, why or "?")
                vals[name] = None
            else:
                vals[name] = parse_cpulist(text, path=d / name, line=1)
        node: int | None = None
        text, why = _read_text(d / "node")
        if text is None:
            note("node", why or "?")
        elif re.fullmatch(r"-?\d+", text.strip()):
            node = int(text.strip())
        else:
            raise CaptureParseError(f"node {text.strip()!r} is not an integer", d / "node", 1)
        out[irq] = IrqAffinity(irq, vals["smp_affinity_list"], vals["effective_affinity_list"], node)
    return out, problems
