"""Real machines: /proc/interrupts, /proc/irq affinities and the debugfs VECTOR dump, as a VectorLoad.

Public API: parse_proc_interrupts / read_proc_interrupts (ProcInterrupts), parse_cpulist /
parse_cpumask / read_proc_irq (IrqAffinity), parse_vector_dump (VectorDump), load_from_dump and
estimate_load (VectorLoad, whose to_matrix() seeds an IrqMatrix), load_capture (Capture),
budget_from_capture (CaptureBudget) and synthesize (constructed server captures).
"""

from __future__ import annotations

from typing import Any

from tdxlib.ingest.affinity import (
    IrqAffinity,
    format_affinity_table,
    format_bitlist,
    parse_affinity_table,
    parse_bitlist,
    parse_cpulist,
    parse_cpumask,
    read_proc_irq,
)
from tdxlib.ingest.capture_budget import (
    CaptureBudget,
    budget_from_capture,
    reserved_vector_cost,
    sequential_offline,
)
from tdxlib.ingest.captures import Capture, capture_names, load_capture
from tdxlib.ingest.dumpload import load_from_dump
from tdxlib.ingest.estimate import DEFAULT_MANAGED_PATTERNS, estimate_load
from tdxlib.ingest.irqlines import ArchRow, IrqRow
from tdxlib.ingest.kernel_layout import layout_for_kernel
from tdxlib.ingest.procinterrupts import (
    ProcInterrupts,
    format_proc_interrupts,
    parse_proc_interrupts,
    read_proc_interrupts,
)
from tdxlib.ingest.vectordump import VectorDump, parse_vector_dump
from tdxlib.ingest.vectorload import IrqPlacement, VectorLoad

__all__ = [
    "DEFAULT_MANAGED_PATTERNS",
    "SERVERS",
    "ArchRow",
    "Capture",
    "CaptureBudget",
    "IrqAffinity",
    "IrqPlacement",
    "IrqRow",
    "ProcInterrupts",
    "ServerSpec",
    "VectorDump",
    "VectorLoad",
    "budget_from_capture",
    "capture_names",
    "estimate_load",
    "format_affinity_table",
    "format_bitlist",
    "format_proc_interrupts",
    "layout_for_kernel",
    "load_capture",
    "load_from_dump",
    "parse_affinity_table",
    "parse_bitlist",
    "parse_cpulist",
    "parse_cpumask",
    "parse_proc_interrupts",
    "parse_vector_dump",
    "read_proc_interrupts",
    "read_proc_irq",
    "reserved_vector_cost",
    "sequential_offline",
    "synthesize",
]


def __getattr__(name: str) -> Any:
    """SERVERS, ServerSpec and synthesize load lazily (so ``python -m tdxlib.ingest.synth`` runs cleanly)."""
    if name in ("SERVERS", "ServerSpec", "synthesize"):
        from tdxlib.ingest import synth  # not at import: runpy warns for `-m tdxlib.ingest.synth` then

        return getattr(synth, name)
    raise AttributeError(f"module 'tdxlib.ingest' has no attribute {name!r}")
