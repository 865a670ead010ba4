"""Samples shared by the ingest tests: /proc/interrupts and VECTOR dumps laid out as the kernel prints
them (expected values in the tests are written by hand from these, not taken from the code), and a
strategy that garbles a sample for the parsers' property tests."""

from __future__ import annotations

from hypothesis import strategies as st

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


GARBLE = st.sampled_from([*list("0123456789 \n\t:-,abcXYZ\x00é"), "CPU", "NMI:", "IPI0:", "   ", "\n\n"])


@st.composite
def mutated(draw: st.DrawFn, base: str) -> str:
    text = base
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "truncate"]))
        s = draw(GARBLE)
        if op == "insert":
            text = text[:i] + s + text[i:]
        elif op == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 12)) :]
        elif op == "replace":
            text = text[:i] + s + text[i + len(s) :]
        else:
            text = text[:i]
    return text
