"""Constructed captures of server classes, built by running the vector allocator the way x86 boots.

Real captures of 128- or 1024-CPU servers with debugfs are rare, so tdxlib ships *constructed*
examples (``constructed: true`` in their manifest) made here, reproducibly from a seed:

1. ``VectorLayout.new_matrix()`` boots the matrix (system vectors, PIC cascade, ISA vectors on CPU 0);
   the ISA vectors of legacy IRQs other than the timer are freed again, as ``vector_configure_legacy()``
   does for IRQs not yet activated, and those that are requested later get ordinary vectors;
2. platform IRQs (IOMMU, PCIe ports, SATA, SMBus) are allocated non-managed on the CPUs of their node;
3. every NVMe drive gets an admin queue (the non-managed pre-vector) and I/O queues whose affinity
   masks are spread over the nodes and CPUs like ``group_cpus_evenly()``; each queue reserves a managed
   vector on every CPU of its mask (``irq_matrix_reserve_managed``) and is activated with
   ``irq_matrix_alloc_managed`` (fewest managed allocations wins, ties to the highest CPU);
4. every NIC port gets an async vector and completion vectors placed on CPUs of its node one by one
   (as mlx5 does with ``cpumask_local_spread``), non-managed;
5. a few IRQs are allocated but never requested (reservation mode: ``irq_matrix_reserve``).

The capture then holds what the kernel would print: ``/proc/interrupts`` (counts drawn from a seeded
RNG), the affinity table, and the VECTOR dump (``IrqMatrix.debug_show()`` under the domain header).
Regenerate with ``python -m tdxlib.ingest.synth`` (see data/captures/README.md).
"""

from __future__ import annotations

import argparse
import gzip
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tdxlib.data import data_path
from tdxlib.errors import ValidationError
from tdxlib.ingest.affinity import IrqAffinity, format_affinity_table
from tdxlib.ingest.captures import check_destination, write_capture
from tdxlib.ingest.irqlines import X86_ARCH_ROWS, ArchRow, IrqRow
from tdxlib.ingest.procinterrupts import ProcInterrupts, format_proc_interrupts
from tdxlib.kernel.matrix import IrqMatrix
from tdxlib.kernel.vectors.layout import VectorLayout, load_layout

#: Files above this size are written gzip-compressed (``interrupts.txt.gz``).
GZIP_ABOVE = 2_000_000


@dataclass(frozen=True)
class ServerSpec:
    """The machine a constructed capture stands for."""

    name: str
    description: str
    sockets: int
    cores_per_socket: int
    threads_per_core: int = 2
    layout: str = "linux-6.12"
    nvme: int = 4
    nvme_io_queues: int = 64  # per drive, capped at the CPU count
    nic_ports: int = 2
    nic_comp_vectors: int = 63  # per port, capped at the CPUs of its node
    reserved_unrequested: int = 8
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ncpus(self) -> int:
        """Logical CPUs."""
        return self.sockets * self.cores_per_socket * self.threads_per_core


#: The shipped constructed captures.
SERVERS: tuple[ServerSpec, ...] = (
    ServerSpec(
        name="constructed-2s-128cpu-nvme-nic",
        description=(
            "Constructed: a 2-socket server, 32 cores x 2 threads per socket (128 CPUs), Linux 6.12 vector "
            "layout, 6 NVMe drives with 128 I/O queues each (managed IRQs, one queue per CPU), two dual-port "
            "100GbE NICs (4 ports x 63 completion vectors, non-managed, node-local)"
        ),
        sockets=2,
        cores_per_socket=32,
        nvme=6,
        nvme_io_queues=128,
        nic_ports=4,
        nic_comp_vectors=63,
        seed=128,
    ),
    ServerSpec(
        name="constructed-8s-1024cpu",
        description=(
            "Constructed: a 1024-CPU host, 8 NUMA nodes of 64 cores x 2 threads, Linux 6.12 vector layout, "
            "16 NVMe drives with 128 I/O queues each (each queue's managed mask spans 8 CPUs, so every CPU "
            "reserves 16 managed vectors), 8 NIC ports x 63 completion vectors"
        ),
        sockets=8,
        cores_per_socket=64,
        nvme=16,
        nvme_io_queues=128,
        nic_ports=8,
        nic_comp_vectors=63,
        seed=1024,
    ),
)


def node_of(spec: ServerSpec) -> np.ndarray:
    """NUMA node of each CPU, numbered as Linux does on Intel: all first threads, then all second threads."""
    c = np.arange(spec.ncpus)
    cores = spec.sockets * spec.cores_per_socket
    return ((c % cores) // spec.cores_per_socket).astype(np.int64)


def group_cpus_evenly(nodes: np.ndarray, groups: int) -> list[tuple[int, ...]]:
    """Spread ``groups`` queue masks over nodes (in proportion to their CPUs) then consecutive CPUs.

    A simplification of kernel/irq/affinity.c / lib/group_cpus.c ``group_cpus_evenly()``.
    """
    n_nodes = int(nodes.max()) + 1
    per_node = [np.flatnonzero(nodes == k) for k in range(n_nodes)]
    total = len(nodes)
    groups = min(groups, total)
    alloc = [max(1, round(groups * len(p) / total)) for p in per_node]
    while sum(alloc) > groups:
        alloc[int(np.argmax(alloc))] -= 1
    while sum(alloc) < groups:
        alloc[int(np.argmin(alloc))] += 1
    out: list[tuple[int, ...]] = []
    for cpus, g in zip(per_node, alloc, strict=True):
        for chunk in np.array_split(cpus, g):
            out.append(tuple(int(x) for x in chunk))
    return out


@dataclass
class _Irq:
    irq: int
    chip: str
    hwirq: int | None
    flow: str
    name: str
    cpu: int
    mask: tuple[int, ...]
    managed: bool
    rate: float  # mean interrupts, for the counts


def build(spec: ServerSpec) -> tuple[IrqMatrix, list[_Irq], np.ndarray]:
    """Run the allocator for ``spec``: returns (IrqMatrix, requested IRQs, node of each CPU)."""
    lay = load_layout(spec.layout)
    n = spec.ncpus
    nodes = node_of(spec)
    all_cpus = tuple(range(n))
    m = lay.new_matrix(n, nr_legacy_irqs=16)
    irqs: list[_Irq] = []
    # legacy: keep IRQ 0 (timer) on its ISA vector, release the others (vector_configure_legacy)
    for i in range(16):
        if i not in (0, lay.PIC_CASCADE_IR):
            m.free(0, lay.isa_irq_vector(i), False)
    irqs.append(_Irq(0, "IR-IO-APIC", 2, "edge", "timer", 0, all_cpus, False, 30))
    for irq, pin, name, flow in ((4, 4, "ttyS0", "edge"), (8, 8, "rtc0", "edge"), (9, 9, "acpi", "fasteoi")):
        _, cpu = m.alloc(all_cpus, False)
        irqs.append(_Irq(irq, "IR-IO-APIC", pin, flow, name, cpu, all_cpus, False, 5))
    _, cpu = m.alloc(all_cpus, False)
    irqs.append(_Irq(16, "IR-IO-APIC", 16, "fasteoi", "i801_smbus", cpu, all_cpus, False, 0))
    nxt = 24
    for k in range(spec.sockets):
        _, cpu = m.alloc(all_cpus, False)
        irqs.append(_Irq(nxt, "DMAR-MSI", k, "edge", f"dmar{k}", cpu, all_cpus, False, 0))
        nxt += 1
    node_cpus = [tuple(int(c) for c in np.flatnonzero(nodes == k)) for k in range(spec.sockets)]
    for k in range(spec.sockets):
        for port in range(2):
            _, cpu = m.alloc(node_cpus[k], False)
            bdf = f"0000:{0x10 + 0x40 * k:02x}:{port + 1:02x}.0"
            irqs.append(
                _Irq(nxt, f"IR-PCI-MSI-{bdf}", 0, "edge", "PCIe PME, aerdrv", cpu, all_cpus, False, 0)
            )
            nxt += 1
    _, cpu = m.alloc(node_cpus[0], False)
    irqs.append(
        _Irq(nxt, "IR-PCI-MSI-0000:00:17.0", 0, "edge", "ahci[0000:00:17.0]", cpu, all_cpus, False, 2)
    )
    nxt += 1
    # NVMe: admin pre-vector + managed I/O queues
    for d in range(spec.nvme):
        node = d % spec.sockets
        bdf = f"0000:{0x20 + 0x40 * node + d // spec.sockets:02x}:00.0"
        chip = f"IR-PCI-MSIX-{bdf}"
        _, cpu = m.alloc(node_cpus[node], False)
        irqs.append(_Irq(nxt, chip, 0, "edge", f"nvme{d}q0", cpu, all_cpus, False, 0.5))
        nxt += 1
        masks = group_cpus_evenly(nodes, min(spec.nvme_io_queues, n))
        for mask in masks:
            m.reserve_managed(mask)
        for q, mask in enumerate(masks, start=1):
            _, cpu = m.alloc_managed(mask)
            irqs.append(_Irq(nxt, chip, q, "edge", f"nvme{d}q{q}", cpu, mask, True, 200))
            nxt += 1
    # NICs: async + node-local completion vectors, one CPU each
    for p in range(spec.nic_ports):
        node = p % spec.sockets
        bdf = f"0000:{0x30 + 0x40 * node + p // (2 * spec.sockets):02x}:00.{p % 2}"
        chip = f"IR-PCI-MSIX-{bdf}"
        _, cpu = m.alloc(node_cpus[node], False)
        irqs.append(_Irq(nxt, chip, 0, "edge", f"mlx5_async0@pci:{bdf}", cpu, all_cpus, False, 1))
        nxt += 1
        local = node_cpus[node]
        for q in range(min(spec.nic_comp_vectors, len(local))):
            want = local[(q + p // spec.sockets * 7) % len(local)]
            _, cpu = m.alloc((want,), False)
            irqs.append(_Irq(nxt, chip, q + 1, "edge", f"mlx5_comp{q}@pci:{bdf}", cpu, (want,), False, 500))
            nxt += 1
    for _ in range(spec.reserved_unrequested):
        m.reserve()
    return m, irqs, nodes


def _arch_rows(lay_name: str) -> list[tuple[str, str]]:
    names = ["NMI", "LOC", "SPU", "PMI", "IWI", "RTR", "RES", "CAL", "TLB", "TRM", "THR", "MCE", "MCP"]
    names += ["ERR", "MIS", "PIN", "NPI", "PIW"]
    del lay_name
    return [(k, X86_ARCH_ROWS[k]) for k in names]


#: Mean counts of the architecture rows (per CPU), for the Poisson draws.
_ARCH_RATES = {
    "LOC": 2_000_000,
    "RES": 50_000,
    "CAL": 20_000,
    "TLB": 10_000,
    "NMI": 300,
    "PMI": 300,
    "IWI": 50,
    "MCP": 80,
}


def _proc_interrupts(spec: ServerSpec, irqs: list[_Irq], rng: np.random.Generator) -> ProcInterrupts:
    """The /proc/interrupts table: each IRQ's interrupts on its CPU, arch rows on every CPU (drawn)."""
    n = spec.ncpus
    cpus = np.arange(n, dtype=np.int64)
    counts = np.zeros((len(irqs), n), dtype=np.int64)
    rows: list[IrqRow] = []
    for i, q in enumerate(irqs):
        if q.rate > 0:
            counts[i, q.cpu] = int(rng.poisson(q.rate * 1000))
        rows.append(IrqRow(q.irq, q.chip, q.hwirq, q.flow, (q.name,), i + 2))
    arch = _arch_rows(spec.layout)
    arch_counts = np.zeros((len(arch), n), dtype=np.int64)
    arch_rows: list[ArchRow] = []
    for j, (name, desc) in enumerate(arch):
        if name in ("ERR", "MIS"):
            arch_rows.append(ArchRow(name, "", 0, 0))
            continue
        lam = _ARCH_RATES.get(name, 0)
        if lam:
            arch_counts[j] = rng.poisson(lam, size=n)
        arch_rows.append(ArchRow(name, desc, None, 0))
    return ProcInterrupts(cpus, tuple(rows), counts, tuple(arch_rows), arch_counts)


def _vector_text(m: IrqMatrix, mapped: int) -> str:
    """The VECTOR dump: a plausible domain header, then the matrix as the kernel prints it."""
    header = (
        f"name:   VECTOR\n size:   0\n mapped: {mapped}\n flags:  0x00000003\n"
        "            IRQ_DOMAIN_FLAG_HIERARCHY\n            IRQ_DOMAIN_NAME_ALLOCATED\n"
    )
    return header + m.debug_show(1)


def _manifest(spec: ServerSpec, lay: VectorLayout, nirqs: int) -> dict[str, Any]:
    """The manifest of a constructed capture: what it stands for, how it was made, its files."""
    n = spec.ncpus
    return {
        "format": 1,
        "name": spec.name,
        "constructed": True,
        "description": spec.description,
        "constructed_by": (
            f"tdxlib.ingest.synth.render(SERVERS[{[s.name for s in SERVERS].index(spec.name)}])"
            if spec in SERVERS
            else "tdxlib.ingest.synth.render(ServerSpec(...))"
        ),
        "how": (
            "IrqMatrix booted with VectorLayout.new_matrix(); legacy ISA vectors but the timer's freed; "
            "platform IRQs, NVMe admin queues and NIC vectors allocated non-managed (irq_matrix_alloc), "
            "NVMe I/O queues "
            "reserved managed over group_cpus_evenly() masks then alloc_managed; a few IRQs only reserved "
            "(irq_matrix_reserve). Counts are Poisson draws from the seed. See tdxlib/ingest/synth.py."
        ),
        "parameters": asdict(spec),
        "kernel": {
            "release": f"{lay.kernel.lstrip('v')}.0 (layout {lay.name}, constructed)",
            "version": None,
        },
        "machine": {
            "arch": "x86_64",
            "cpus_online": f"0-{n - 1}",
            "cpus_possible": f"0-{n - 1}",
            "sockets": spec.sockets,
            "numa_nodes": spec.sockets,
        },
        "config": {
            f"CONFIG_{k}": ("y" if v else "n")
            for k, v in lay.config.items()
            if k in lay.switches and lay.switches[k].kind == "kconfig"
        },
        "files": {
            "interrupts.txt": {"source": "constructed", "status": "ok", "irq_rows": nirqs},
            "irq_affinity.txt": {"source": "constructed", "status": "ok", "irqs": nirqs},
            "VECTOR.txt": {
                "source": "constructed: IrqMatrix.debug_show(1) under the VECTOR domain header",
                "status": "ok",
            },
        },
        "notes": [
            "constructed, not measured: the vector numbers follow the allocator model exactly; "
            "the device mix, "
            "NUMA numbering and interrupt counts are illustrative",
            "the domain header (size/mapped/flags) is plausible filler; tdxlib reads only the matrix part",
        ],
    }


def render(spec: ServerSpec) -> dict[str, Any]:
    """The capture files of ``spec`` (name -> contents) and the manifest as a dict under ``"manifest"``."""
    lay = load_layout(spec.layout)
    m, irqs, nodes = build(spec)
    rng = np.random.default_rng(spec.seed)
    text = format_proc_interrupts(_proc_interrupts(spec, irqs, rng), style="mixed")
    aff = {q.irq: IrqAffinity(q.irq, q.mask, (q.cpu,), int(nodes[q.cpu])) for q in irqs}
    return {
        "interrupts.txt": text,
        "irq_affinity.txt": format_affinity_table(aff),
        "VECTOR.txt": _vector_text(m, len(irqs) + spec.reserved_unrequested),
        "manifest": _manifest(spec, lay, len(irqs)),
    }


def synthesize(spec: ServerSpec | str, out: str | Path | None = None, *, force: bool = False) -> Path:
    """Write the constructed capture ``spec`` (or a name from SERVERS) under ``out``; returns its path."""
    if isinstance(spec, str):
        found = [s for s in SERVERS if s.name == spec]
        if not found:
            raise ValidationError("constructed capture", spec, f"one of {', '.join(s.name for s in SERVERS)}")
        spec = found[0]
    out_dir = Path(out) if out is not None else data_path("captures")
    dest = out_dir / spec.name
    check_destination(dest, force)
    files = render(spec)
    manifest = files.pop("manifest")
    assert isinstance(manifest, dict)
    contents: dict[str, bytes] = {}
    for fname, content in files.items():
        data = content.encode() if isinstance(content, str) else content
        if len(data) > GZIP_ABOVE:
            # mtime=0: byte-for-byte reproducible
            contents[fname + ".gz"] = gzip.compress(data, compresslevel=9, mtime=0)
            manifest["files"][fname]["stored_as"] = fname + ".gz"
        else:
            contents[fname] = data
    head = "# tdxlib capture manifest (format: data/captures/README.md) -- CONSTRUCTED, not measured\n"
    return write_capture(
        dest, contents, head + yaml.safe_dump(manifest, sort_keys=False, width=110), force=force
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tdxlib.ingest.synth [NAME ...] [--out DIR] [--force]``: (re)build constructed captures."""
    p = argparse.ArgumentParser(prog="python -m tdxlib.ingest.synth", description=main.__doc__)
    p.add_argument("names", nargs="*", help=f"default: all of {', '.join(s.name for s in SERVERS)}")
    p.add_argument("--out", help="parent directory (default: data/captures)")
    p.add_argument("--force", action="store_true", help="replace existing captures")
    args = p.parse_args(argv)
    for name in args.names or [s.name for s in SERVERS]:
        path = synthesize(name, args.out, force=args.force)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
