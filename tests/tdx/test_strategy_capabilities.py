"""Strategy capabilities (``sets_up_event_notify``, ``notify_irq_migrates``, ``can_reregister``) say what
the strategy does when simulated: the workbook asks them instead of listing strategy names."""

from __future__ import annotations

import dataclasses

import pytest
from kernels import V8_OFFLINING

from tdxlib.sim import Scenario, run
from tdxlib.tdx.strategies import STRATEGY_NAMES, make_strategy

CAPABILITIES = ("sets_up_event_notify", "notify_irq_migrates", "can_reregister")


def _hotplug_run(name: str) -> dict[str, int]:
    """The notify IRQ's CPU goes offline every second for 5 s under an open stream of quotes."""
    sc = Scenario(
        cpus=4,
        strategy=make_strategy(name),
        vmm="qemu-10.1",
        workload="open",
        rate_per_s=4,
        quotes=None,
        duration_s=5.0,
        **V8_OFFLINING,
        hotplug_every_s=1.0,
        hotplug_cpus="notify",
        seed=2,
    )
    m = run(sc, frames=False).metrics
    return {"setup": m.setup_calls, "moved": m.notify_migrations, "again": m.reregistrations}


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_capabilities_are_read_only_bools(name: str) -> None:
    strategy = make_strategy(name)
    for cap in CAPABILITIES:
        assert isinstance(getattr(strategy, cap), bool), cap
        with pytest.raises((AttributeError, dataclasses.FrozenInstanceError)):
            setattr(strategy, cap, True)
        assert getattr(type(strategy), cap).__doc__, f"{name}: {cap} has no docstring"
    if strategy.can_reregister:
        assert strategy.notify_irq_migrates and strategy.sets_up_event_notify


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_capabilities_match_what_the_simulation_does(name: str) -> None:
    strategy = make_strategy(name)
    seen = _hotplug_run(name)
    assert (seen["setup"] > 0) is strategy.sets_up_event_notify
    assert (seen["moved"] > 0) is strategy.notify_irq_migrates
    assert (seen["again"] > 0) is strategy.can_reregister


def test_the_capabilities_split_the_thread_s_strategies() -> None:
    """Each capability holds for some strategies and not for others (none is constant)."""
    for cap in CAPABILITIES:
        values = {getattr(make_strategy(n), cap) for n in STRATEGY_NAMES}
        assert values == {True, False}, cap
