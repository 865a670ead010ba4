"""The shared base of the notify strategies: configuration records plus hooks the simulation calls.

A strategy is an immutable, picklable record of the guest driver's design choices (so scenarios can be
compared, hashed and shipped to worker processes). Run-time state — the notify IRQ, what was told to
the VMM, counters — lives in a :class:`NotifyContext` the simulation creates per run. Hooks:

- :meth:`NotifyStrategy.setup` — init time: allocate the vector, install the handler, call
  SetupEventNotifyInterrupt (or not);
- :meth:`NotifyStrategy.get_quote_call` — the GetQuote TDVMCALL record for one request;
- :meth:`NotifyStrategy.on_irq_migrated` — the notify IRQ moved (CPU offline): returns the delay
  before re-registering, or None;
- :meth:`NotifyStrategy.register_again` — call SetupEventNotifyInterrupt again for the IRQ's current place;
- :meth:`NotifyStrategy.vectors_per_cpu` — IDT vectors the mechanism occupies on each CPU.

Capabilities are read-only properties the workbook asks instead of listing strategy names:
``sets_up_event_notify``, ``notify_irq_migrates``, ``can_reregister`` (and the class's ``uses_interrupt``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
import numpy.typing as npt

from tdxlib.errors import ValidationError
from tdxlib.tdx import ghci

if TYPE_CHECKING:
    from tdxlib.tdx.ghci import GetQuote
    from tdxlib.tdx.guest import Irq, Migration, TdGuest
    from tdxlib.tdx.strategies.polling import Polling
    from tdxlib.tdx.vmm import Vmm

__all__ = ["NotifyContext", "NotifyStrategy", "Recorder"]

#: Guest physical address of the first quote buffer (page aligned; the shared bit is added per VMM).
QUOTE_BUFFER_GPA = 0x1_0000_0000


class Recorder(Protocol):
    """Event sink the simulation passes in: one call per event of the tidy frame."""

    def __call__(
        self,
        kind: str,
        *,
        quote_id: int | None = None,
        cpu: int | None = None,
        apic_id: int | None = None,
        vector: int | None = None,
        detail: str = "",
    ) -> None: ...


def _no_record(
    kind: str,
    *,
    quote_id: int | None = None,
    cpu: int | None = None,
    apic_id: int | None = None,
    vector: int | None = None,
    detail: str = "",
) -> None:
    """Default recorder: drop events (for using strategies outside the simulation)."""


def _no_notify(cpu: int, vector: int) -> None:
    """Default quote-driver callback: nothing waits."""


@dataclass
class NotifyContext:
    """Run-time state of one strategy in one guest: the notify IRQ, the registration, counters.

    ``on_notify(cpu, vector)`` is the quote driver's callback (the simulation wakes its worker there);
    ``record`` writes events; ``shared_bit`` is the GPA bit the VMM expects for shared memory.
    """

    guest: TdGuest
    vmm: Vmm
    on_notify: Callable[[int, int], None] = _no_notify
    record: Recorder = _no_record
    shared_bit: int = 51
    irq: Irq | None = None
    system_vector: int | None = None
    owner: str = ""  # IRQ name / system-vector owner whose interrupts reach the quote driver
    registered: tuple[int, int | None] | None = None  # (vector, apic_id argument) last accepted by the VMM
    registered_from_cpu: int | None = None
    setup_calls: int = 0
    setup_failures: int = 0
    reregistrations: int = 0
    fanout_callbacks: int = 0
    interrupts_handled: int = 0
    quote_callback_hits: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    _calls: dict[tuple[int, int, int | None, int | None], GetQuote] = field(default_factory=dict, repr=False)

    def get_quote_record(self, gpa: int, size: int, vector: int | None, apic_id: int | None) -> GetQuote:
        """A GetQuote record (records are immutable, so identical calls share one validated object)."""
        key = (gpa, size, vector, apic_id)
        call = self._calls.get(key)
        if call is None:
            call = ghci.GetQuote(gpa=gpa, size=size, vector=vector, apic_id=apic_id)
            self._calls[key] = call
        return call

    def setup_event_notify(
        self, vector: int, apic_id: int | None, from_cpu: int, *, again: bool = False
    ) -> int:
        """Execute SetupEventNotifyInterrupt on ``from_cpu``; record it; remember what the VMM accepted."""
        call = ghci.SetupEventNotifyInterrupt(vector=vector, apic_id=apic_id)
        caller_apic = self.guest.apic_id(from_cpu)
        status = self.vmm.setup_event_notify_interrupt(call, caller_apic)
        self.setup_calls += 1
        if again:
            self.reregistrations += 1
        ok = status == ghci.TDVMCALL_STATUS_SUCCESS
        if ok:
            self.registered = (vector, apic_id)
            self.registered_from_cpu = from_cpu
        else:
            self.setup_failures += 1
        arg = "" if apic_id is None else f" apic_arg={apic_id}"
        self.record(
            "reregister" if again else "setup_notify",
            cpu=from_cpu,
            apic_id=caller_apic,
            vector=vector,
            detail=f"{ghci.status_name(status)}{arg}",
        )
        return status


@dataclass(frozen=True, kw_only=True)
class NotifyStrategy:
    """Base of every notify strategy: how a quote request learns that the VMM has answered.

    ``timeout_s`` bounds an interrupt wait (``wait_for_completion_timeout``; None = wait forever, as
    v8 did); ``fallback`` makes an interrupt strategy also poll with a :class:`Polling` loop (whose
    timeout then applies); ``drivers`` is how many drivers registered a callback on the notification
    and ``callback_list`` whether all of them are called (True) or only the last registered one, as v8's
    single ``tdx_event_notify_handler`` pointer did (False); ``serialized`` puts requests behind one mutex
    and one shared buffer, as the merged 6.7 driver does.
    """

    name: ClassVar[str] = "base"
    uses_interrupt: ClassVar[bool] = True

    timeout_s: float | None = None
    fallback: Polling | None = None
    drivers: int = 1
    callback_list: bool = True
    serialized: bool = False

    def __post_init__(self) -> None:
        if self.timeout_s is not None and (
            not isinstance(self.timeout_s, (int, float))
            or not math.isfinite(self.timeout_s)
            or self.timeout_s <= 0
        ):
            raise ValidationError(
                "timeout_s", self.timeout_s, "None (wait forever) or a number of seconds > 0"
            )
        if not isinstance(self.drivers, int) or isinstance(self.drivers, bool) or self.drivers < 1:
            raise ValidationError(
                "drivers", self.drivers, "an integer >= 1 (registered notification callbacks)"
            )
        if self.fallback is not None:
            # polling.py imports this module (its base class)
            from tdxlib.tdx.strategies.polling import Polling

            if not isinstance(self.fallback, Polling):
                raise ValidationError("fallback", self.fallback, "None or a Polling(...) strategy")
            if self.timeout_s is not None:
                raise ValidationError(
                    "timeout_s", self.timeout_s, "None when a polling fallback is given (its timeout applies)"
                )

    # ------------------------------------------------------------------ description

    @property
    def early_init(self) -> bool:
        """Whether setup runs before SMP bring-up (an early initcall)."""
        return False

    # ------------------------------------------------------------------ capabilities

    @property
    def sets_up_event_notify(self) -> bool:
        """Whether setup tells the VMM where to notify with SetupEventNotifyInterrupt, a place that
        CPU hotplug can make stale (default: no)."""
        return False

    @property
    def notify_irq_migrates(self) -> bool:
        """Whether the notify vector lives on one CPU, so taking that CPU offline moves it to another
        CPU and vector (``migrate_one_irq()``; default: no)."""
        return False

    @property
    def can_reregister(self) -> bool:
        """Whether the strategy can call SetupEventNotifyInterrupt again after its IRQ migrated (the
        ``reregister`` and ``reregister_delay_ms`` parameters; default: no)."""
        return False

    def params(self) -> dict[str, Any]:
        """The strategy's parameters (for tables, YAML and JSON)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.to_dict() if isinstance(value, NotifyStrategy) else value
        return out

    def to_dict(self) -> dict[str, Any]:
        """``{"name": ..., **params}``, enough to rebuild it with ``make_strategy``."""
        return {"name": self.name, **self.params()}

    def label(self) -> str:
        """Short human label with the parameters that differ from the defaults."""
        diffs = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            default = f.default if f.default is not dataclasses.MISSING else None
            if f.default_factory is not dataclasses.MISSING:  # a default read from data on first use
                default = f.default_factory()
            if value != default:
                shown = value.label() if isinstance(value, NotifyStrategy) else value
                diffs.append(f"{f.name}={shown}")
        return self.name + (f"({', '.join(diffs)})" if diffs else "")

    # ------------------------------------------------------------------ hooks

    def setup(self, ctx: NotifyContext) -> None:
        """Init-time work (default: nothing)."""

    def get_quote_call(self, ctx: NotifyContext, gpa: int, size: int) -> GetQuote:
        """The GetQuote TDVMCALL for one request (default: GPA and size only, as the GHCI defines it)."""
        return ctx.get_quote_record(gpa, size, None, None)

    def on_irq_migrated(self, ctx: NotifyContext, migration: Migration) -> float | None:
        """The notify IRQ moved to another CPU; seconds until re-registration, or None for never."""
        return None

    def register_again(self, ctx: NotifyContext) -> None:
        """Tell the VMM about the IRQ's current vector/CPU again (default: nothing to do)."""

    def vectors_per_cpu(self, ctx: NotifyContext) -> npt.NDArray[np.int64]:
        """IDT vectors the notify mechanism occupies on each CPU (default: none)."""
        return np.zeros(ctx.guest.ncpus, dtype=np.int64)

    # ------------------------------------------------------------------ shared helpers

    def _fanout_handler(self, ctx: NotifyContext) -> Callable[[int, int], None]:
        """The notification handler: call the registered driver callbacks. The quote driver registers
        first, so with a single callback pointer (``callback_list=False``) a later driver displaces it."""
        drivers = self.drivers
        reaches_quote = self.callback_list or drivers == 1
        calls = drivers if self.callback_list else 1

        def handler(cpu: int, vector: int) -> None:
            ctx.interrupts_handled += 1
            ctx.fanout_callbacks += calls
            if reaches_quote:
                ctx.quote_callback_hits += 1
                ctx.on_notify(cpu, vector)

        return handler
