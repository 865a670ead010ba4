"""``SystemVector``: the v8 patch — one IDT system vector reserved on every CPU at boot.

v8 2/5 (Message-ID <20220609025220.2615197-3-sathyanarayanan.kuppuswamy@linux.intel.com>) defines
``TDX_GUEST_EVENT_NOTIFY_VECTOR 0xec`` (moving LOCAL_TIMER_VECTOR to 0xeb), installs
``sysvec_tdx_event_notify`` with ``alloc_intr_gate()`` in ``tdx_early_init()`` and tells the VMM the
vector with SetupEventNotifyInterrupt from the boot CPU. Any CPU the VMM picks has the handler, so no
injection target can miss it; the price is one vector on every CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from tdxlib.errors import ValidationError
from tdxlib.tdx.strategies.base import NotifyContext, NotifyStrategy

__all__ = ["SystemVector"]

#: The named vector of the v8 layout (data/vectors/linux-5.19-tdx-v8.yaml).
VECTOR_NAME = "TDX_GUEST_EVENT_NOTIFY_VECTOR"


@dataclass(frozen=True, kw_only=True)
class SystemVector(NotifyStrategy):
    """A system vector on every CPU with a fan-out handler; ``vector=None`` takes the layout's
    ``TDX_GUEST_EVENT_NOTIFY_VECTOR`` (0xec in ``linux-5.19-tdx-v8``)."""

    name: ClassVar[str] = "system-vector"

    vector: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.vector is not None and (
            not isinstance(self.vector, int) or isinstance(self.vector, bool) or not 32 <= self.vector <= 255
        ):
            raise ValidationError("vector", self.vector, "None (the layout's) or a vector in 32..255")

    @property
    def sets_up_event_notify(self) -> bool:
        """Yes: SetupEventNotifyInterrupt names the vector, from the boot CPU (``tdx_early_init``)."""
        return True

    def _vector(self, ctx: NotifyContext) -> int:
        if self.vector is not None:
            return self.vector
        layout = ctx.guest.layout
        try:
            return layout.vector(VECTOR_NAME)
        except Exception as exc:  # the layout defines no such vector (not the v8 patch, or config off)
            raise ValidationError(
                "layout",
                layout.name,
                f"a layout defining {VECTOR_NAME} for SystemVector "
                "(e.g. 'linux-5.19-tdx-v8' with INTEL_TDX_GUEST)",
            ) from exc

    def setup(self, ctx: NotifyContext) -> None:
        """``alloc_intr_gate`` + SetupEventNotifyInterrupt(vector) from the BSP (``tdx_early_init``)."""
        vector = self._vector(ctx)
        ctx.system_vector = vector
        ctx.owner = VECTOR_NAME
        ctx.guest.set_system_handler(vector, VECTOR_NAME, self._fanout_handler(ctx))
        ctx.setup_event_notify(vector, None, ctx.guest.bsp)

    def vectors_per_cpu(self, ctx: NotifyContext) -> npt.NDArray[np.int64]:
        """One vector on every possible CPU (the IDT entry is global, the vector is gone everywhere)."""
        return np.ones(ctx.guest.ncpus, dtype=np.int64)
