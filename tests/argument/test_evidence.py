"""tdxlib.argument.evidence: where the notify IRQ lands (one answer for the claims and the workbook)."""

from __future__ import annotations

import pytest

from tdxlib.argument.claims.support import offline_target
from tdxlib.argument.evidence import notify_cpu
from tdxlib.errors import ValidationError
from tdxlib.sim import Scenario, run
from tdxlib.tdx.strategies import CallerVcpu, DynamicIrq, NotifyStrategy, Polling, SystemVector


@pytest.mark.parametrize("strategy", [SystemVector(), Polling()], ids=["system-vector", "polling"])
def test_no_notify_irq_is_none(strategy: NotifyStrategy) -> None:
    assert notify_cpu(strategy, "ghci-1.0", 8) is None
    with pytest.raises(ValidationError, match="notify IRQ CPU"):
        offline_target(strategy, "ghci-1.0", 8)


def test_a_late_irq_lands_off_the_bsp_as_the_simulator_places_it() -> None:
    targeted = ((CallerVcpu(), "ghci-1.5-caller"), (DynamicIrq(apic_targeting=True), "apic-id-arg"))
    for strategy, vmm in targeted:
        cpu = notify_cpu(strategy, vmm, 8)
        placed = run(Scenario(cpus=8, strategy=strategy, vmm=vmm, quotes=0), frames=False).metrics
        assert cpu == placed.notify_setup_cpu
        assert cpu is not None and 1 <= cpu < 8
        assert offline_target(strategy, vmm, 8) == cpu


def test_an_early_irq_is_on_cpu0_and_cpu0_is_not_an_offline_target() -> None:
    early = CallerVcpu(early=True)
    assert notify_cpu(early, "ghci-1.5-caller", 8) == 0  # reported as it is, not replaced by CPU 1
    with pytest.raises(ValidationError, match="BSP"):
        offline_target(early, "ghci-1.5-caller", 8)
