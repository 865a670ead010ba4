"""What a run gives back: :class:`Result` (the scenario, the tidy event and quote frames) and its
:class:`Metrics`, the numbers the claims are decided on; the vocabularies of the frames.

``Metrics`` is built once, at the end of a run, from the counters each part of the run kept, and is
frozen, its latency dict and per-CPU vector list too: a cached run can hand it to every caller.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

import pandas as pd

from tdxlib.errors import TdxlibError

if TYPE_CHECKING:
    from tdxlib.sim.scenario import Scenario

__all__ = ["EVENT_KINDS", "OUTCOMES", "Metrics", "Result", "metrics_frame"]

#: Every ``kind`` of ``Result.events`` (a categorical with these categories, in this order).
EVENT_KINDS: tuple[str, ...] = (
    "boot",
    "request_irq",
    "setup_notify",
    "quote_issue",
    "get_quote",
    "service_done",
    "inject",
    "not_injected",
    "irq_handled",
    "spurious",
    "misdirected",
    "dropped_offline",
    "pending",
    "quote_done",
    "cpu_offline",
    "offline_refused",
    "cpu_online",
    "irq_migrate",
    "notify_migrate",
    "reregister",
    "hotplug_skipped",
    "end",
)

#: Every ``outcome`` of ``Result.quotes``.
OUTCOMES: tuple[str, ...] = ("completed", "timed_out", "failed", "busy", "hung", "unfinished")


def _refuse(self: object, *args: Any, **kwargs: Any) -> NoReturn:
    raise TypeError(
        f"Metrics are frozen: copy this {type(self).__name__} (dict(...), list(...)) to change it"
    )


class FrozenDict(dict[str, float]):
    """A dict that refuses every change (``Metrics.latency_ms``); equal to, and JSON-able as, a dict."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[Any, ...]:  # pickle builds it whole (item by item would be refused)
        return (FrozenDict, (dict(self),))


class FrozenList(list[int]):
    """A list that refuses every change (``Metrics.vectors_per_cpu``); equal to, and JSON-able as, a list."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse

    def __reduce__(self) -> tuple[Any, ...]:  # pickle builds it whole (item by item would be refused)
        return (FrozenList, (list(self),))


@dataclass(frozen=True)
class Metrics:
    """The numbers of one run (see ``to_dict``). Latencies over completed quotes, in ms (NaN if none).

    ``lost_notifications`` counts injected interrupts that did not reach the quote driver (spurious,
    misdirected to another handler, dropped at an offline vCPU, still pending at the end, or taken by
    a displaced callback: ``displaced_callbacks``); ``not_injected`` completions the VMM did not signal.
    ``vectors_per_cpu``/``vectors_total`` are IDT vectors the notify mechanism occupies at the end.
    ``loss_window_s`` is the time the notify IRQ spends away from the (APIC ID, vector) it had at its
    last successful SetupEventNotifyInterrupt — from a migration until the guest re-registers, or until
    a later migration brings it back there (summed; ``loss_window_max_s`` the longest);
    ``exposed_requests`` requests in flight when it migrated. ``service_p50_ms`` is the median time the
    quote service took, over the requests it served (NaN if none).
    """

    quotes_issued: int = 0
    completed: int = 0
    completed_by_interrupt: int = 0
    completed_by_poll: int = 0
    timed_out: int = 0
    failed: int = 0
    busy: int = 0
    hung: int = 0
    unfinished: int = 0
    boundary_timeouts: int = 0
    empty_quotes: int = 0
    notifications_injected: int = 0
    not_injected: int = 0
    lost_notifications: int = 0
    spurious_interrupts: int = 0
    misdirected_interrupts: int = 0
    dropped_offline: int = 0
    pending_at_end: int = 0
    displaced_callbacks: int = 0
    interrupts_handled: int = 0
    latency_ms: Mapping[str, float] = field(default_factory=FrozenDict)
    latency_mean_ms: float = math.nan
    vectors_per_cpu: Sequence[int] = field(default_factory=FrozenList)
    vectors_total: int = 0
    device_vectors_free_min: int = 0
    offline_refused: int = 0
    offline_ok: int = 0
    online_events: int = 0
    irq_migrations: int = 0
    notify_migrations: int = 0
    exposed_requests: int = 0
    reregistrations: int = 0
    setup_calls: int = 0
    setup_failures: int = 0
    loss_window_s: float = 0.0
    loss_window_max_s: float = 0.0
    poll_wakeups: int = 0
    wakeups: int = 0
    fanout_callbacks: int = 0
    notify_setup_cpu: int | None = None
    notify_setup_vector: int | None = None
    notify_cpu: int | None = None
    notify_vector: int | None = None
    duration_s: float = 0.0
    quotes_per_s: float = 0.0
    service_p50_ms: float = math.nan

    def __post_init__(self) -> None:
        if not isinstance(self.latency_ms, FrozenDict):
            object.__setattr__(self, "latency_ms", FrozenDict(self.latency_ms))
        if not isinstance(self.vectors_per_cpu, FrozenList):
            object.__setattr__(self, "vectors_per_cpu", FrozenList(self.vectors_per_cpu))

    @classmethod
    def from_fields(cls, values: Mapping[str, Any]) -> Metrics:
        """Metrics from a value for every field (what a run builds at its end; a missing or unknown field
        is a TypeError). Same as ``Metrics(**values)``, five times cheaper: the generated ``__init__``
        of a frozen dataclass sets each of the ~50 fields through ``object.__setattr__``, a tenth of
        a small run's time."""
        if values.keys() != _FIELD_NAMES:
            missing, unknown = sorted(_FIELD_NAMES - values.keys()), sorted(values.keys() - _FIELD_NAMES)
            raise TypeError(f"Metrics.from_fields: missing {missing}, unknown {unknown}")
        m = object.__new__(cls)
        m.__dict__.update(values)
        m.__post_init__()
        return m

    def _items(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-able: NaN becomes None)."""
        out = self._items()
        for k, v in list(out.items()):
            if isinstance(v, float) and math.isnan(v):
                out[k] = None
        out["latency_ms"] = {k: (None if math.isnan(v) else v) for k, v in self.latency_ms.items()}
        out["vectors_per_cpu"] = list(self.vectors_per_cpu)
        return out

    def flat(self) -> dict[str, Any]:
        """One level: ``latency_ms`` expanded to ``latency_ms_p50`` etc., ``vectors_per_cpu`` left out."""
        out = {k: v for k, v in self._items().items() if k not in ("latency_ms", "vectors_per_cpu")}
        for k, v in self.latency_ms.items():
            out[f"latency_ms_{k}"] = v
        out["vectors_max_per_cpu"] = max(self.vectors_per_cpu) if self.vectors_per_cpu else 0
        return out


_FIELD_NAMES: frozenset[str] = frozenset(f.name for f in dataclasses.fields(Metrics))


class Result:
    """One run: the scenario, the tidy event frame, one row per quote, and the metrics.

    A metrics-only run (``run(scenario, frames=False)``) keeps no frames: ``has_frames`` is False and
    reading ``events`` or ``quotes`` raises :class:`~tdxlib.errors.TdxlibError` (run it with frames).
    """

    __slots__ = ("_events", "_quotes", "metrics", "scenario")

    def __init__(
        self,
        scenario: Scenario,
        events: pd.DataFrame | None,
        quotes: pd.DataFrame | None,
        metrics: Metrics,
    ) -> None:
        self.scenario = scenario
        self._events = events
        self._quotes = quotes
        self.metrics = metrics

    @property
    def has_frames(self) -> bool:
        """Whether the run kept its event and quote frames (``run(..., frames=True)``)."""
        return self._events is not None and self._quotes is not None

    def _frame(self, frame: pd.DataFrame | None, what: str) -> pd.DataFrame:
        if frame is None:
            raise TdxlibError(
                f"this Result has no {what} frame: it comes from a metrics-only run "
                "(run(scenario, frames=False) or sweep(..., metrics_only=True)); run it with frames=True"
            )
        return frame

    @property
    def events(self) -> pd.DataFrame:
        """One row per event: time_s, kind (a categorical of EVENT_KINDS), quote_id, cpu, apic_id, vector,
        detail."""
        return self._frame(self._events, "events")

    @property
    def quotes(self) -> pd.DataFrame:
        """One row per quote request (issued, returned, latency, outcome, how it ended)."""
        return self._frame(self._quotes, "quotes")

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.scenario, self._events, self._quotes, self.metrics)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.scenario, self._events, self._quotes, self.metrics = state

    def __repr__(self) -> str:
        sc = self.scenario
        vmm = sc.vmm if isinstance(sc.vmm, str) else sc.vmm.name
        n = "no frames" if self._events is None else f"{len(self._events)} events"
        return f"Result({sc.strategy.label()} on {vmm}, seed {sc.seed}, {n})"

    def summary(self) -> dict[str, Any]:
        """Strategy, VMM, CPUs, seed and the flat metrics: one row of a sweep table."""
        sc = self.scenario
        return {
            "strategy": sc.strategy.label(),
            "vmm": sc.vmm if isinstance(sc.vmm, str) else sc.vmm.name,
            "cpus": sc.cpus,
            "seed": sc.seed,
            **self.metrics.flat(),
        }


def metrics_frame(results: Iterable[Result]) -> pd.DataFrame:
    """One row per result: :meth:`Result.summary`."""
    return pd.DataFrame([r.summary() for r in results])
