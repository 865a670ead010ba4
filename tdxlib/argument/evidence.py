"""Measurements the claims ledger decides on: binomial bounds, spec deltas, IRQ placement, event counts.

Small, model-level helpers kept out of :mod:`tdxlib.argument.claims` so each check there reads as "run these
scenarios, compare these numbers". Everything here is deterministic for a given seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tdxlib.errors import ValidationError
from tdxlib.sim import Scenario, run
from tdxlib.tdx import ghci
from tdxlib.tdx.guest import DEFAULT_LAYOUT, TdGuest
from tdxlib.tdx.strategies import NotifyContext, NotifyStrategy
from tdxlib.tdx.strategies.base import QUOTE_BUFFER_GPA
from tdxlib.tdx.vmm import Vmm, VmmProfile, load_profile

__all__ = [
    "PlacementTrials",
    "SpecDelta",
    "binomial_interval",
    "binomial_z",
    "count_events",
    "nobalancing_migration",
    "notify_cpu",
    "placement_trials",
    "spec_delta",
]


# --------------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------------


def binomial_interval(n: int, p: float, z: float = 4.0) -> tuple[float, float]:
    """``n*p ± z*sqrt(n*p*(1-p))``: the range a Binomial(n, p) count falls in unless something is off."""
    if n < 0 or not 0.0 <= p <= 1.0:
        raise ValidationError("binomial (n, p)", (n, p), "n >= 0 and 0 <= p <= 1")
    mean = n * p
    half = z * math.sqrt(n * p * (1.0 - p))
    return mean - half, mean + half


def binomial_z(k: int, n: int, p: float) -> float:
    """How many standard deviations the count ``k`` lies from a Binomial(n, p) mean (0 when degenerate)."""
    sd = math.sqrt(n * p * (1.0 - p))
    return 0.0 if sd == 0.0 else (k - n * p) / sd


# --------------------------------------------------------------------------------------------------
# What a design adds to the GHCI spec
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpecDelta:
    """TDVMCALLs a design makes, measured against data/ghci/leaves.yaml (the GHCI as written).

    ``new_leaves``: leaf numbers the spec does not define; ``new_arguments``: ``"Leaf.Rnn"`` registers
    a call loads that the spec's inputs for that leaf do not list.
    """

    leaves_used: tuple[str, ...]
    new_leaves: tuple[int, ...]
    new_arguments: tuple[str, ...]

    @property
    def n_new_leaves(self) -> int:
        """How many TDVMCALL leaves the design needs beyond the spec."""
        return len(self.new_leaves)

    @property
    def n_new_arguments(self) -> int:
        """How many call arguments (registers) the design needs beyond the spec."""
        return len(self.new_arguments)


class _SpyVmm(Vmm):
    """A Vmm that remembers every SetupEventNotifyInterrupt the guest makes."""

    def __init__(self, profile: VmmProfile, rng: np.random.Generator, apic_ids: Sequence[int]) -> None:
        super().__init__(profile, rng, apic_ids=apic_ids)
        self.calls: list[ghci.SetupEventNotifyInterrupt | ghci.GetQuote] = []

    def setup_event_notify_interrupt(
        self,
        call: ghci.SetupEventNotifyInterrupt,
        caller_apic_id: int,
        *,
        known_apic_ids: Sequence[int] | None = None,
    ) -> int:
        self.calls.append(call)
        return super().setup_event_notify_interrupt(call, caller_apic_id, known_apic_ids=known_apic_ids)


def spec_delta(strategy: NotifyStrategy, *, cpus: int = 8, vmm: str | VmmProfile = "ghci-1.0") -> SpecDelta:
    """Set the strategy up in a fresh guest, build one GetQuote, and compare the calls with the spec."""
    profile = vmm if isinstance(vmm, VmmProfile) else load_profile(vmm)
    guest = TdGuest(cpus)
    spy = _SpyVmm(profile, np.random.default_rng(0), guest.apic_ids)
    ctx = NotifyContext(guest=guest, vmm=spy)
    strategy.setup(ctx)
    spy.calls.append(strategy.get_quote_call(ctx, QUOTE_BUFFER_GPA, ghci.GET_QUOTE_BUF_SIZE))
    by_number = {leaf.leaf: leaf for leaf in ghci.FACTS.leaves.values()}
    used: list[str] = []
    new_leaves: list[int] = []
    new_args: list[str] = []
    for call in spy.calls:
        spec = by_number.get(call.leaf)
        name = spec.name if spec is not None else f"{call.leaf:#x}"
        if name not in used:
            used.append(name)
        if spec is None:
            if call.leaf not in new_leaves:
                new_leaves.append(call.leaf)
            continue
        allowed = set(spec.inputs) | {"R10", "R11"}
        for reg in call.registers():
            arg = f"{name}.{reg}"
            if reg not in allowed and arg not in new_args:
                new_args.append(arg)
    return SpecDelta(tuple(used), tuple(new_leaves), tuple(new_args))


# --------------------------------------------------------------------------------------------------
# Where an IRQ lands, and what hotplug does to it
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlacementTrials:
    """Random guests, one notify IRQ each: where the allocator put it before and after SMP bring-up.

    ``early_cpus``/``late_cpus`` are the CPUs the IRQ landed on; ``late_best`` the CPU with the most
    available vectors just before the late request (lowest number on a tie); ``ncpus`` and
    ``early_load``/``late_load`` the guest size and device IRQs already allocated in each trial.
    """

    ncpus: tuple[int, ...]
    early_load: tuple[int, ...]
    late_load: tuple[int, ...]
    early_cpus: tuple[int, ...]
    late_cpus: tuple[int, ...]
    late_best: tuple[int, ...]

    @property
    def trials(self) -> int:
        """Number of guests tried."""
        return len(self.ncpus)


def placement_trials(
    trials: int = 40, *, min_cpus: int = 2, max_cpus: int = 64, seed: int = 0, name: str = "tdx_event_irq"
) -> PlacementTrials:
    """Request one IRQ in ``trials`` random guests, early (only CPU 0 online, random load on CPU 0) and
    late (all CPUs online, random per-CPU device load); seeded."""
    if trials < 1 or not 2 <= min_cpus <= max_cpus:
        raise ValidationError(
            "trials/min_cpus/max_cpus", (trials, min_cpus, max_cpus), "trials >= 1, 2 <= min <= max"
        )
    rng = np.random.default_rng(seed)
    ncpus, e_load, l_load, e_cpu, l_cpu, best = [], [], [], [], [], []
    for _ in range(trials):
        n = int(rng.integers(min_cpus, max_cpus + 1))
        early = TdGuest(n, online=[0])
        room0 = int(early.device_vectors_free()[0])
        k0 = int(rng.integers(0, room0))  # leave at least one vector on CPU 0
        early.add_device_irqs(k0)
        e_cpu.append(early.request_irq(name, nobalancing=True).cpu)
        late = TdGuest(n)
        k = int(rng.integers(0, 20 * n))
        for i, cpu in enumerate(rng.integers(0, n, size=k).tolist()):
            late.request_irq(f"dev{i}", affinity=[int(cpu)])
        free = late.device_vectors_free()
        best.append(int(np.argmax(free)))
        l_cpu.append(late.request_irq(name, nobalancing=True).cpu)
        ncpus.append(n)
        e_load.append(k0)
        l_load.append(k)
    return PlacementTrials(
        tuple(ncpus), tuple(e_load), tuple(l_load), tuple(e_cpu), tuple(l_cpu), tuple(best)
    )


def notify_cpu(strategy: NotifyStrategy, vmm: str | VmmProfile, cpus: int, *, seed: int = 0) -> int | None:
    """The CPU the strategy's notify IRQ lands on at boot (a simulated guest that issues no quote), or
    None when the strategy has no notify IRQ (system vector, polling). CPU 0 is returned as such:
    whoever wants a CPU to take offline decides what to do about the BSP, which cannot go offline."""
    scenario = Scenario(cpus=cpus, strategy=strategy, vmm=vmm, quotes=0, seed=seed)
    return run(scenario, frames=False).metrics.notify_setup_cpu


def nobalancing_migration(cpus: int = 4, cpu: int = 1, *, kernel: str | None = None) -> tuple[int, int, bool]:
    """Pin an IRQF_NOBALANCING IRQ to ``cpu``, take that CPU offline: (old CPU, new CPU, affinity broken).

    On a ``kernel`` that cannot offline CPUs this raises CpuOfflineUnsupported, as the kernel refuses."""
    guest = TdGuest(cpus, kernel=kernel, layout=DEFAULT_LAYOUT)
    irq = guest.request_irq("tdx_event_irq", affinity=[cpu], nobalancing=True)
    old = irq.cpu
    res = guest.cpu_offline(cpu)
    mig = next((m for m in res.migrations if m.irq is irq), None)
    if mig is None:
        return old, old, False
    return old, mig.new_cpu, mig.affinity_broken


def count_events(events: pd.DataFrame, kind: str, after: float = -math.inf, before: float = math.inf) -> int:
    """Rows of a sim event frame of this ``kind`` with ``after < time_s < before``."""
    sel = (events["kind"] == kind) & (events["time_s"] > after) & (events["time_s"] < before)
    return int(sel.sum())
