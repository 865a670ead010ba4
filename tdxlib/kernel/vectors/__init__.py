"""The x86 IDT vector space of a Linux kernel version and config, loaded from ``data/vectors/*.yaml``.

A layout answers the questions the 2022 review argued about: which vectors are exceptions, which are
named system vectors (``arch/x86/include/asm/irq_vectors.h``) and which of those the kernel really sets
in its ``system_vectors`` bitmap (``arch/x86/kernel/idt.c``), where ``FIRST_SYSTEM_VECTOR`` lies, and how
many vectors each CPU has left for devices once ``lapic_assign_system_vectors()``
(``arch/x86/kernel/apic/vector.c``) has fed the per-CPU allocator. Kernel versions are data files;
Kconfig options and run-time facts (which hypervisor allocated a callback vector) are boolean
*switches* of a layout, overridable in :func:`load_layout`.

Modules: :mod:`~tdxlib.kernel.vectors.kconfig` (the condition language of a layout file),
:mod:`~tdxlib.kernel.vectors.spec` (reading and validating one file) and
:mod:`~tdxlib.kernel.vectors.layout` (a file under one switch combination: :class:`VectorLayout`).
"""

from __future__ import annotations

from tdxlib.kernel.vectors.layout import (
    ROLES,
    NamedVector,
    VectorLayout,
    layout_key,
    layout_names,
    layout_path,
    layout_switches,
    load_layout,
)
from tdxlib.kernel.vectors.spec import Switch

__all__ = [
    "ROLES",
    "NamedVector",
    "Switch",
    "VectorLayout",
    "layout_key",
    "layout_names",
    "layout_path",
    "layout_switches",
    "load_layout",
]
