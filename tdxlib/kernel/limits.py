"""The kernel's own size limits, which bound every entry point that takes a number of CPUs or vectors.

- :data:`NR_CPUS_MAX` — the most CPUs an x86-64 kernel can be built for: ``config NR_CPUS_RANGE_END``
  in ``arch/x86/Kconfig`` is 8192 with ``CONFIG_MAXSMP`` (``NR_CPUS_DEFAULT`` then 8192 as well), so
  ``num_possible_cpus()`` never exceeds it.
- :data:`NR_VECTORS` — the x86 IDT has 256 entries (``arch/x86/include/asm/irq_vectors.h``); the
  allocator's ``irq_alloc_matrix()`` is given ``NR_VECTORS`` bits.
- :data:`APIC_ID_MAX` — an x2APIC ID is a 32-bit value whose all-ones value is the broadcast address.
"""

from __future__ import annotations

__all__ = ["APIC_ID_MAX", "NR_CPUS_MAX", "NR_VECTORS"]

NR_CPUS_MAX = 8192
NR_VECTORS = 256
APIC_ID_MAX = 0xFFFFFFFE
