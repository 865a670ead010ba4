"""Scenarios shared by the tests of tdxlib.sim."""

from __future__ import annotations

import pytest
from kernels import V8_OFFLINING

from tdxlib.sim import Scenario
from tdxlib.tdx.strategies import DynamicIrq

#: 16 vCPUs, an open workload, the notify IRQ's CPU taken offline every second, re-registration after 50 ms.
HOTPLUG = Scenario(
    cpus=16,
    device_irqs=64,
    strategy=DynamicIrq(apic_targeting=True, reregister_delay_ms=50),
    vmm="apic-id-arg",
    workload="open",
    rate_per_s=8,
    requesters=3,
    quotes=120,
    **V8_OFFLINING,
    hotplug_every_s=1.0,
    hotplug_cpus="notify",
    seed=7,
)


@pytest.fixture
def hotplug_scenario() -> Scenario:
    return HOTPLUG
