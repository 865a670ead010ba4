"""tdxlib.ingest.estimate: a load estimated from /proc/interrupts and affinities."""

from __future__ import annotations

from ingest_samples import SERVER_5X

from tdxlib.ingest import (
    IrqAffinity,
    estimate_load,
    parse_proc_interrupts,
)


def test_estimate_from_hand_written_server() -> None:
    pi = parse_proc_interrupts(SERVER_5X)
    aff = {
        0: IrqAffinity(0, (0, 1), (0,), 0),
        8: IrqAffinity(8, (0, 1), (1,), 0),
        120: IrqAffinity(120, (0, 1), (1,), 0),
        121: IrqAffinity(121, (0, 1), (0,), 0),  # a managed queue spanning both CPUs
        122: IrqAffinity(122, (0, 1), None, 0),  # no effective list: most interrupts ... all zero
    }
    load = estimate_load(pi, aff, "linux-5.19")
    # 6 IRQs: 0->0, 8->1, 120->1, 121->0 (managed on 0 and 1), 122-> first CPU 0, 123-> counts: CPU1 (7 > 5)
    assert load.allocated.tolist() == [3, 3]
    assert load.managed.tolist() == [1, 1] and load.managed_allocated.tolist() == [1, 0]
    # 5.19 with a PIC: 204 - 3 system bits (0x20, 0x32, 0x80) = 201 device vectors
    assert load.available.tolist() == [201 - 1 - 2, 201 - 1 - 3]
    assert {p.irq: p.how for p in load.irqs}[122] == "first online CPU"
    assert {p.irq: p.how for p in load.irqs}[123] == "counts"
    assert any("managed" in n for n in load.notes) and load.kind == "estimated"
    m = load.to_matrix()
    assert [m.cpu_available(c) for c in (0, 1)] == load.available.tolist()
    assert [m.cpu_managed(c) for c in (0, 1)] == [1, 1]
    fewer = load.to_matrix(reserve_top=1)
    assert [fewer.cpu_available(c) for c in (0, 1)] == [a - 1 for a in load.available.tolist()]
    assert fewer.alloc_end == 0xEB
    none_managed = estimate_load(pi, aff, "linux-5.19", managed=None)
    assert none_managed.managed.sum() == 0
