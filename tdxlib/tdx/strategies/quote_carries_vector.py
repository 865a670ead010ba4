"""``QuoteCarriesVector``: the author's alternative — GetQuote itself names the vector (and CPU).

Sathyanarayanan (20 Jun 2022): "if the intention is just to use it for attestation, then we can just
modify the GetQuote TDVMCALL to pass the vector address, and there is no need for new TDVMCALL". Here
the guest keeps one dynamic IRQ (as ``DynamicIrq``) and, at every GetQuote, reads its *current*
vector (and, with ``with_apic``, its CPU's APIC ID) into the call. No SetupEventNotifyInterrupt. Under
hotplug only requests already in flight when the IRQ migrates carry a stale vector.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import numpy.typing as npt

from tdxlib.tdx.strategies.base import NotifyContext, NotifyStrategy
from tdxlib.tdx.strategies.dynamic_irq import IRQ_NAME

if TYPE_CHECKING:
    from tdxlib.tdx.ghci import GetQuote

__all__ = ["QuoteCarriesVector"]


@dataclass(frozen=True, kw_only=True)
class QuoteCarriesVector(NotifyStrategy):
    """Vector (and APIC ID when ``with_apic``) in every GetQuote; a dynamic IRQ on one CPU."""

    name: ClassVar[str] = "quote-carries-vector"

    with_apic: bool = True

    @property
    def notify_irq_migrates(self) -> bool:
        """Yes: its one dynamic IRQ moves when its CPU goes offline (the next GetQuote names the new one)."""
        return True

    def setup(self, ctx: NotifyContext) -> None:
        """Allocate and request the IRQ; no SetupEventNotifyInterrupt."""
        guest = ctx.guest
        irq = guest.request_irq(IRQ_NAME, self._fanout_handler(ctx), nobalancing=True)
        ctx.irq = irq
        ctx.owner = IRQ_NAME
        ctx.record(
            "request_irq", cpu=irq.cpu, apic_id=guest.apic_id(irq.cpu), vector=irq.vector, detail=IRQ_NAME
        )

    def get_quote_call(self, ctx: NotifyContext, gpa: int, size: int) -> GetQuote:
        """GetQuote with the IRQ's vector and (optionally) its CPU's APIC ID, read now."""
        irq = ctx.irq
        assert irq is not None
        apic = ctx.guest.apic_id(irq.cpu) if self.with_apic else None
        return ctx.get_quote_record(gpa, size, irq.vector, apic)

    def vectors_per_cpu(self, ctx: NotifyContext) -> npt.NDArray[np.int64]:
        """One vector, on the IRQ's current CPU."""
        out = np.zeros(ctx.guest.ncpus, dtype=np.int64)
        if ctx.irq is not None and not ctx.irq.shutdown:
            out[ctx.irq.cpu] = 1
        return out
