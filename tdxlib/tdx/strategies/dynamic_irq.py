"""``DynamicIrq`` and ``CallerVcpu``: one request_irq()-style vector on one CPU instead of a system vector.

- ``DynamicIrq(apic_targeting=False)`` — allocate one IRQ (one vector on one CPU) and tell the VMM
  only the vector: correct only if the VMM happens to inject on that CPU.
- ``DynamicIrq(apic_targeting=True)`` — Kai Huang's proposal (20 Jun 2022, Message-ID
  <78873cc1db47ba00a4c01f38290521c1a6072820.camel@intel.com>): pass the vector *and* the APIC ID of
  the IRQ's CPU in SetupEventNotifyInterrupt; the IRQ is pinned with IRQF_NOBALANCING.
- ``CallerVcpu`` — the GHCI change agreed on 25 Jun 2022 (Jiewen Yao): the VMM injects into the vCPU
  that executed SetupEventNotifyInterrupt, so the guest makes the call *from* the IRQ's CPU and passes
  no APIC ID (``DynamicIrq(apic_targeting=False, call_from_target=True)``).

IRQF_NOBALANCING does not keep the IRQ in place when its CPU goes offline: ``migrate_one_irq()`` moves it
to a new vector on another CPU. With ``reregister=True`` the guest then calls SetupEventNotifyInterrupt
again after ``reregister_delay_ms`` (from the new CPU when ``call_from_target``); until then the VMM keeps
injecting the old vector at the old CPU. ``early=True`` allocates from an early initcall, before SMP
bring-up, where only CPU 0 is online (Thomas Gleixner, 23 Aug 2023, Message-ID <875y55eb9f.ffs@tglx>).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import numpy.typing as npt

from tdxlib.errors import ValidationError
from tdxlib.tdx.strategies.base import NotifyContext, NotifyStrategy

if TYPE_CHECKING:
    from tdxlib.tdx.guest import Migration

__all__ = ["IRQ_NAME", "CallerVcpu", "DynamicIrq"]

#: The IRQ name the 2023 series used in request_irq().
IRQ_NAME = "tdx_event_irq"


@dataclass(frozen=True, kw_only=True)
class DynamicIrq(NotifyStrategy):
    """One dynamically allocated, non-migratable (IRQF_NOBALANCING) IRQ on one CPU.

    ``target_cpu`` pins the allocation to that CPU (``info.mask = cpumask_of(cpu)``); None lets the
    allocator choose (the online CPU with the most free vectors). ``call_from_target`` executes the
    TDVMCALL on the IRQ's CPU (else on the BSP).
    """

    name: ClassVar[str] = "dynamic"

    apic_targeting: bool = False
    call_from_target: bool = False
    reregister: bool = True
    reregister_delay_ms: float = 1.0
    target_cpu: int | None = None
    early: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        d = self.reregister_delay_ms
        if not isinstance(d, (int, float)) or isinstance(d, bool) or not math.isfinite(d) or d < 0:
            raise ValidationError("reregister_delay_ms", d, "a number of milliseconds >= 0")
        if self.target_cpu is not None and (
            not isinstance(self.target_cpu, int) or isinstance(self.target_cpu, bool) or self.target_cpu < 0
        ):
            raise ValidationError("target_cpu", self.target_cpu, "None or a CPU number >= 0")

    @property
    def early_init(self) -> bool:
        """Allocation before SMP bring-up (only CPU 0 online)."""
        return self.early

    @property
    def sets_up_event_notify(self) -> bool:
        """Yes: SetupEventNotifyInterrupt names the IRQ's vector (and, with ``apic_targeting``, its CPU)."""
        return True

    @property
    def notify_irq_migrates(self) -> bool:
        """Yes: IRQF_NOBALANCING stops balancing, not the move when the IRQ's CPU goes offline."""
        return True

    @property
    def can_reregister(self) -> bool:
        """Yes: ``reregister`` calls SetupEventNotifyInterrupt again ``reregister_delay_ms`` after a move."""
        return True

    def _request(self, ctx: NotifyContext) -> None:
        guest = ctx.guest
        affinity = None
        if self.target_cpu is not None:
            if self.target_cpu >= guest.ncpus:
                raise ValidationError("target_cpu", self.target_cpu, f"a CPU number in 0..{guest.ncpus - 1}")
            affinity = [self.target_cpu]
        irq = guest.request_irq(IRQ_NAME, self._fanout_handler(ctx), affinity=affinity, nobalancing=True)
        ctx.irq = irq
        ctx.owner = IRQ_NAME
        ctx.record(
            "request_irq", cpu=irq.cpu, apic_id=guest.apic_id(irq.cpu), vector=irq.vector, detail=IRQ_NAME
        )

    def _register(self, ctx: NotifyContext, *, again: bool) -> None:
        irq = ctx.irq
        assert irq is not None
        apic = ctx.guest.apic_id(irq.cpu) if self.apic_targeting else None
        from_cpu = irq.cpu if self.call_from_target else ctx.guest.bsp
        ctx.setup_event_notify(irq.vector, apic, from_cpu, again=again)

    def setup(self, ctx: NotifyContext) -> None:
        """Allocate the IRQ, request it, then SetupEventNotifyInterrupt(vector[, APIC ID])."""
        self._request(ctx)
        self._register(ctx, again=False)

    def on_irq_migrated(self, ctx: NotifyContext, migration: Migration) -> float | None:
        """Re-register after the delay when ``reregister``; never otherwise."""
        return self.reregister_delay_ms / 1000.0 if self.reregister else None

    def register_again(self, ctx: NotifyContext) -> None:
        """SetupEventNotifyInterrupt for the IRQ's current vector and CPU."""
        self._register(ctx, again=True)

    def vectors_per_cpu(self, ctx: NotifyContext) -> npt.NDArray[np.int64]:
        """One vector, on the IRQ's current CPU."""
        out = np.zeros(ctx.guest.ncpus, dtype=np.int64)
        if ctx.irq is not None and not ctx.irq.shutdown:
            out[ctx.irq.cpu] = 1
        return out


@dataclass(frozen=True, kw_only=True)
class CallerVcpu(DynamicIrq):
    """The 2022 GHCI rule: no APIC ID argument; the call is made from the CPU that owns the vector."""

    name: ClassVar[str] = "caller-vcpu"

    apic_targeting: bool = False
    call_from_target: bool = True
