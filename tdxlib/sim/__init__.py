"""The timeline: quote requests, VMM service, injections, CPU hotplug and IRQ migration on simpy.

``run(Scenario(...)) -> Result`` builds a :class:`~tdxlib.tdx.guest.TdGuest`, a :class:`~tdxlib.tdx.vmm.Vmm`
and a notify strategy, then lets simpy drive them: requesters issue GetQuote (open workload: Poisson
arrivals from several requesters; closed loop: one requester, the next quote when the last returns —
what the merged driver's mutex forces), the VMM answers after its service time and injects (or not)
per its profile, the guest takes the interrupt on whatever CPU it lands on, pollers sleep as
``msleep_interruptible`` really sleeps, and CPUs go offline and online on a schedule, migrating the
notify IRQ. ``Result.events`` is a tidy frame (one row per event), ``Result.quotes`` one row per
request, ``Result.metrics`` the numbers the claims are decided on. Same scenario and seed, same frames.
``run(scenario, frames=False)`` is the metrics-only fast path (no frames are built; same metrics, bit
for bit): what sweeps and the notebooks' widget panels use.

``sweep(scenarios, executor=None)`` runs many scenarios through any ``concurrent.futures.Executor``
(a process pool, or a Dask ``client.get_executor()``), results in input order.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno as _errno
import functools
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
import simpy

from tdxlib import smallstats
from tdxlib.errors import DataError, TdxlibError, ValidationError
from tdxlib.kernel.jiffies import JiffyClock
from tdxlib.tdx import ghci
from tdxlib.tdx.guest import TdGuest
from tdxlib.tdx.strategies import (
    NotifyContext,
    NotifyStrategy,
    Polling,
    PollOutcome,
    SystemVector,
    make_strategy,
)
from tdxlib.tdx.strategies.base import QUOTE_BUFFER_GPA
from tdxlib.tdx.vmm import Vmm, VmmProfile, load_profile, profile_names

__all__ = [
    "EVENT_KINDS",
    "OUTCOMES",
    "Hotplug",
    "Metrics",
    "Result",
    "Scenario",
    "load_scenario",
    "metrics_frame",
    "run",
    "sweep",
]

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

_KIND_DTYPE: pd.CategoricalDtype = pd.CategoricalDtype(list(EVENT_KINDS))

#: Every ``outcome`` of ``Result.quotes``.
OUTCOMES: tuple[str, ...] = ("completed", "timed_out", "failed", "busy", "hung", "unfinished")

HotplugAction = Literal["offline", "online"]

#: Quotes per run when neither ``quotes`` nor ``duration_s`` is given.
DEFAULT_QUOTES = 100


class Hotplug(NamedTuple):
    """One scheduled hotplug event ``(time_s, cpu, 'offline'|'online')``."""

    time_s: float
    cpu: int
    action: str


def _make_hotplug(item: object) -> Hotplug:
    """Validate one schedule entry (a Hotplug, a 3-sequence or a mapping with the three fields)."""
    if isinstance(item, Mapping):
        values = (item.get("time_s"), item.get("cpu"), item.get("action"))
    elif isinstance(item, (tuple, list)) and len(item) == 3:
        values = (item[0], item[1], item[2])
    else:
        raise ValidationError("hotplug event", item, "(time_s, cpu, 'offline'|'online')")
    time_s, cpu, action = values
    if not isinstance(time_s, (int, float)) or isinstance(time_s, bool) or not time_s >= 0:
        raise ValidationError("hotplug time_s", time_s, "a time in seconds >= 0")
    if not isinstance(cpu, (int, np.integer)) or isinstance(cpu, bool) or cpu < 0:
        raise ValidationError("hotplug cpu", cpu, "a CPU number >= 1 (the BSP cannot go offline)")
    if action not in ("offline", "online"):
        raise ValidationError("hotplug action", action, "'offline' or 'online'")
    return Hotplug(float(time_s), int(cpu), str(action))


def _num(
    what: str, value: object, *, lo: float = 0.0, strict: bool = False, allow_none: bool = False
) -> None:
    if value is None and allow_none:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = value > lo if strict else value >= lo  # type: ignore[operator]
    if not ok:
        rel = ">" if strict else ">="
        raise ValidationError(what, value, f"a finite number {rel} {lo}" + (" or None" if allow_none else ""))


def _int(what: str, value: object, *, lo: int, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < lo:
        raise ValidationError(what, value, f"an integer >= {lo}" + (" or None" if allow_none else ""))


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """One simulated situation: guest, device load, notify strategy, VMM, workload, hotplug, seed.

    ``strategy`` may be given as a strategy object, a name (``"polling"``) or a mapping
    ``{"name": ..., **params}``; ``vmm`` as a profile name, a path or a :class:`VmmProfile`.
    ``service_ms`` replaces the profile's service-latency distribution with a fixed time.
    Workload ``closed``: one requester, the next quote ``think_ms`` after the last returns
    (``backoff_ms`` after an error). ``open``: ``requesters`` Poisson streams totalling ``rate_per_s``.
    The run stops after ``quotes`` requests are issued and have returned (or cannot return), or at
    ``duration_s``, whichever comes first (neither given: 100 quotes), and never after ``max_time_s``.
    Hotplug: explicit ``hotplug`` events and/or one event every ``hotplug_every_s`` alternating
    offline/online of a CPU chosen by ``hotplug_cpus`` (``"random"``, ``"notify"`` = the notify IRQ's CPU,
    or a list cycled through). ``hz`` and ``extra_jiffy`` set how pollers sleep (``extra_jiffy=False``:
    msleep without the historical ``+ 1`` jiffy, Linux 6.13+). ``guest_work_ms`` is the guest's own time
    per request before the GetQuote TDVMCALL returns (TDG.MR.REPORT and the hypercall).
    """

    cpus: int = 8
    apic_ids: str | tuple[int, ...] = "identity"
    layout: str = "linux-5.19-tdx-v8"
    hz: int = 250  # guest HZ
    extra_jiffy: bool = True
    device_irqs: int = 0
    managed_queues: int = 0
    strategy: NotifyStrategy = field(default_factory=SystemVector)
    vmm: str | VmmProfile = "ghci-1.0"
    service_ms: float | None = None
    workload: Literal["closed", "open"] = "closed"
    rate_per_s: float = 1.0
    requesters: int = 1
    quotes: int | None = None  # None with no duration_s: 100 quotes
    duration_s: float | None = None
    guest_work_ms: float = 0.1
    think_ms: float = 0.0
    backoff_ms: float = 1000.0
    hotplug: tuple[Hotplug, ...] = ()
    hotplug_every_s: float | None = None
    hotplug_cpus: str | tuple[int, ...] = "random"
    max_time_s: float = 86400.0
    seed: int = 0

    def __post_init__(self) -> None:
        s = object.__setattr__
        _int("cpus", self.cpus, lo=1)
        if self.cpus > 8192:
            raise ValidationError("cpus", self.cpus, "an integer in 1..8192")
        s(self, "cpus", int(self.cpus))
        if isinstance(self.apic_ids, str):
            if self.apic_ids not in ("identity", "x2apic-gaps"):
                raise ValidationError(
                    "apic_ids", self.apic_ids, "'identity', 'x2apic-gaps' or a list of APIC IDs"
                )
        else:
            s(self, "apic_ids", tuple(int(a) for a in self.apic_ids))
        if not isinstance(self.layout, str):
            raise ValidationError(
                "layout", self.layout, "a layout name (tdxlib.kernel.vectors.layout_names())"
            )
        if isinstance(self.hz, bool) or not (isinstance(self.hz, int) and 1 <= self.hz <= 1000):
            raise ValidationError("hz", self.hz, "a kernel HZ: 100, 250, 300 or 1000 (any integer 1..1000)")
        _int("device_irqs", self.device_irqs, lo=0)
        _int("managed_queues", self.managed_queues, lo=0)
        strat: object = self.strategy
        if isinstance(strat, str):
            strat = make_strategy(strat)
        elif isinstance(strat, Mapping):
            params = dict(strat)
            name = params.pop("name", None)
            if not isinstance(name, str):
                raise ValidationError("strategy.name", name, "a strategy name")
            strat = make_strategy(name, **params)
        if not isinstance(strat, NotifyStrategy):
            raise ValidationError(
                "strategy", strat, "a NotifyStrategy, a strategy name or {name: ..., params}"
            )
        s(self, "strategy", strat)
        if isinstance(self.vmm, Path):
            s(self, "vmm", str(self.vmm))
        if isinstance(self.vmm, str):
            if self.vmm not in _profile_names() and not self.vmm.endswith((".yaml", ".yml")):
                raise ValidationError("vmm", self.vmm, f"one of {profile_names()} or a .yaml profile path")
        elif not isinstance(self.vmm, VmmProfile):
            raise ValidationError("vmm", self.vmm, "a profile name, a .yaml path or a VmmProfile")
        _num("service_ms", self.service_ms, allow_none=True)
        if self.workload not in ("closed", "open"):
            raise ValidationError("workload", self.workload, "'closed' or 'open'")
        _num("rate_per_s", self.rate_per_s, strict=True)
        _int("requesters", self.requesters, lo=1)
        _int("quotes", self.quotes, lo=0, allow_none=True)
        _num("duration_s", self.duration_s, strict=True, allow_none=True)
        if self.quotes is None and self.duration_s is None:
            s(self, "quotes", DEFAULT_QUOTES)
        for name in ("guest_work_ms", "think_ms", "backoff_ms"):
            _num(name, getattr(self, name))
        events = []
        for h in self.hotplug:
            ev = _make_hotplug(h)
            if ev.cpu == 0 or ev.cpu >= self.cpus:
                raise ValidationError(
                    "hotplug cpu", ev.cpu, f"a CPU in 1..{self.cpus - 1} (the BSP cannot go offline)"
                )
            events.append(ev)
        s(self, "hotplug", tuple(sorted(events, key=lambda e: e.time_s)))
        _num("hotplug_every_s", self.hotplug_every_s, strict=True, allow_none=True)
        if isinstance(self.hotplug_cpus, str):
            if self.hotplug_cpus not in ("random", "notify"):
                raise ValidationError(
                    "hotplug_cpus", self.hotplug_cpus, "'random', 'notify' or a list of CPUs"
                )
        else:
            cpus = tuple(int(c) for c in self.hotplug_cpus)
            if not cpus or any(c <= 0 or c >= self.cpus for c in cpus):
                raise ValidationError(
                    "hotplug_cpus", list(cpus), f"a non-empty list of CPUs in 1..{self.cpus - 1}"
                )
            s(self, "hotplug_cpus", cpus)
        if (self.hotplug or self.hotplug_every_s) and self.cpus < 2:
            raise ValidationError("cpus", self.cpus, ">= 2 for CPU hotplug (the BSP stays online)")
        _num("max_time_s", self.max_time_s, strict=True)
        _int("seed", self.seed, lo=0)

    def replace(self, **changes: Any) -> Scenario:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def profile(self) -> VmmProfile:
        """The VMM profile in effect (with ``service_ms`` applied)."""
        prof = self.vmm if isinstance(self.vmm, VmmProfile) else load_profile(self.vmm)
        if self.service_ms is not None:
            prof = prof.with_service_ms(self.service_ms)
        return prof

    def to_dict(self) -> dict[str, Any]:
        """Plain data (YAML/JSON-able): the strategy as ``{name, **params}``, the VMM by name."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, NotifyStrategy):
                v = v.to_dict()
            elif isinstance(v, VmmProfile):
                v = v.name
            elif f.name == "hotplug":
                v = [list(h) for h in v]
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str | Path | None = None) -> Scenario:
        """Build from a mapping (e.g. YAML); unknown keys and bad values name the key (and line)."""
        names = {f.name for f in dataclasses.fields(cls)}
        line_of = getattr(data, "line_of", lambda _k: None)
        for key in data:
            if key not in names:
                raise DataError(
                    f"unknown scenario field {key!r}; expected one of {sorted(names)}", path, line_of(key)
                )
        kwargs = dict(data)
        if isinstance(kwargs.get("hotplug"), list):
            kwargs["hotplug"] = tuple(kwargs["hotplug"])
        for key in ("apic_ids", "hotplug_cpus"):
            if isinstance(kwargs.get(key), list):
                kwargs[key] = tuple(kwargs[key])
        try:
            return cls(**kwargs)
        except ValidationError as exc:
            if path is None:
                raise
            key = exc.what.split(" ")[0].split(".")[0]
            raise DataError(
                str(exc), path, line_of(key) if key in data else getattr(data, "line", None)
            ) from None


def load_scenario(path: str | Path, **overrides: Any) -> Scenario:
    """Read a YAML scenario file (fields of :class:`Scenario`); ``overrides`` replace fields."""
    from tdxlib.data import load_yaml

    p = Path(path)
    if not p.is_file():
        raise DataError("scenario file not found", p)
    data = load_yaml(p)
    if not isinstance(data, Mapping):
        raise DataError(f"a scenario must be a mapping of fields, got {type(data).__name__}", p)
    merged = dict(data)
    merged.update(overrides)
    if overrides:
        return Scenario.from_dict(merged)
    return Scenario.from_dict(data, p)


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------


@dataclass
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
    latency_ms: dict[str, float] = field(default_factory=dict)
    latency_mean_ms: float = math.nan
    vectors_per_cpu: list[int] = field(default_factory=list)
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

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-able: NaN becomes None)."""
        out = dataclasses.asdict(self)
        for k, v in list(out.items()):
            if isinstance(v, float) and math.isnan(v):
                out[k] = None
        out["latency_ms"] = {k: (None if math.isnan(v) else v) for k, v in self.latency_ms.items()}
        return out

    def flat(self) -> dict[str, Any]:
        """One level: ``latency_ms`` expanded to ``latency_ms_p50`` etc., ``vectors_per_cpu`` left out."""
        out = {
            k: v for k, v in dataclasses.asdict(self).items() if k not in ("latency_ms", "vectors_per_cpu")
        }
        for k, v in self.latency_ms.items():
            out[f"latency_ms_{k}"] = v
        out["vectors_max_per_cpu"] = max(self.vectors_per_cpu) if self.vectors_per_cpu else 0
        return out


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


# --------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------

_NEVER = math.inf

#: Random draws are taken in blocks (numpy scalars are slow); blocks double from the first to the last size.
_BLOCK_MIN = 64
_BLOCK_MAX = 4096


@functools.cache
def _get_quote_status_name(code: int) -> str:
    """``ghci.get_quote_status_name``, remembered (called once per request)."""
    return ghci.get_quote_status_name(code)


@functools.cache
def _request_buffer(size: int) -> bytes:
    """The shared buffer as the guest fills it for GetQuote (a zero TDREPORT); bytes are immutable."""
    return ghci.QuoteBuffer.request(bytes(ghci.TDX_REPORT_LEN)).to_bytes(size)


@functools.lru_cache(maxsize=1024)
def _seed_streams(seed: int) -> tuple[tuple[np.random.SeedSequence, ...], int, float]:
    """The five independent seed streams of a run (work, VMM, hotplug, clock, CPU choice) and the jiffy
    clock's offset and phase drawn from the clock stream; cached per seed (spawning costs more than the
    rest of a small run's set-up; generators made from a SeedSequence do not alter it)."""
    seeds = tuple(np.random.SeedSequence(seed).spawn(5))
    rng_clock = np.random.default_rng(seeds[3])
    return seeds, int(rng_clock.integers(0, 1 << 20)), float(rng_clock.random())


class _Request:
    """Run-time state of one quote request."""

    __slots__ = (
        "apic",
        "call",
        "complete_at",
        "cpu",
        "done",
        "issued",
        "outcome",
        "qid",
        "requester",
        "ret",
        "returned",
        "service_ms",
        "status",
        "stuck",
        "success",
        "vector",
        "via",
        "waiting",
        "wake",
        "wakeups",
    )

    def __init__(self, qid: int, requester: int, issued: float) -> None:
        self.qid = qid
        self.requester = requester
        self.issued = issued
        self.cpu = -1
        self.apic = -1
        self.call: ghci.GetQuote | None = None
        self.complete_at = _NEVER
        self.service_ms = math.nan
        self.success = True
        self.status = ""
        self.done = False  # the VMM has written the final status
        self.waiting = False  # in the driver's wait (list of in-flight entries)
        self.stuck = False
        self.wake: simpy.Event | None = None
        self.returned = math.nan
        self.outcome = ""
        self.via = ""
        self.ret = ""
        self.wakeups = 0
        self.vector = -1


class _Run:
    """One execution of a scenario (not reusable)."""

    def __init__(self, sc: Scenario, frames: bool = True) -> None:
        self.sc = sc
        self.frames = frames
        if not frames:
            self.record = self._drop  # type: ignore[method-assign]
        self.seeds, clock_offset, clock_phase = _seed_streams(sc.seed)
        self.rng_vmm = np.random.default_rng(self.seeds[1])
        self.rng_cpu = np.random.default_rng(self.seeds[4])
        self._rng_work: np.random.Generator | None = None  # created on first use (open workload)
        self._rng_hot: np.random.Generator | None = None  # created on first use (random hotplug CPU)
        self._u: list[float] = []
        self._u_i = 0
        self._gaps: list[float] = []
        self._gap_i = 0
        self.clock = JiffyClock(sc.hz, offset=clock_offset, phase=clock_phase, extra_jiffy=sc.extra_jiffy)
        self.env = simpy.Environment()
        self.strategy = sc.strategy
        vmm = sc.vmm
        shipped = isinstance(vmm, str) and vmm in _profile_names()
        self.profile = _profile(vmm, sc.service_ms) if isinstance(vmm, str) and shipped else sc.profile()
        # event columns
        self.t: list[float] = []
        self.kind: list[int] = []
        self.qid: list[int | None] = []
        self.cpu: list[int | None] = []
        self.apic: list[int | None] = []
        self.vec: list[int | None] = []
        self.detail: list[str] = []
        self._kind_code = {k: i for i, k in enumerate(EVENT_KINDS)}
        self.m = Metrics()
        self.requests: list[_Request] = []
        self.active: set[_Request] = set()
        self.waiting: list[_Request] = []  # v8-style list of in-flight entries the worker walks
        self.n_stuck = 0
        self.pending: dict[int, list[tuple[int, int | None]]] = {}
        self.n_pending = 0
        self.issuing_done = False
        self.stop = self.env.event()
        self.lock = simpy.Resource(self.env, capacity=1) if self.strategy.serialized else None
        self.lock_waiters = 0
        self.lock_holder: _Request | None = None
        self.buffer_free_at = -1.0  # single shared buffer (serialized): busy until the VMM answers
        self.loss_open_at: float | None = None
        self.reg_place: tuple[int, int] | None = None  # (APIC ID, vector) of the notify IRQ when registered
        self.loss_total = 0.0
        self.loss_max = 0.0
        self.hot_offlined: list[int] = []

    # ------------------------------------------------------------------ recording

    def record(
        self,
        kind: str,
        *,
        quote_id: int | None = None,
        cpu: int | None = None,
        apic_id: int | None = None,
        vector: int | None = None,
        detail: str = "",
    ) -> None:
        self.t.append(self.env.now)
        self.kind.append(self._kind_code[kind])
        self.qid.append(quote_id)
        self.cpu.append(cpu)
        self.apic.append(apic_id)
        self.vec.append(vector)
        self.detail.append(detail)

    def _drop(
        self,
        kind: str,
        *,
        quote_id: int | None = None,
        cpu: int | None = None,
        apic_id: int | None = None,
        vector: int | None = None,
        detail: str = "",
    ) -> None:
        """``record`` of a metrics-only run: keep nothing."""

    # ------------------------------------------------------------------ setup

    def boot(self) -> None:
        sc = self.sc
        strat = self.strategy
        early = strat.early_init
        self.guest = _booted_guest(
            sc.cpus,
            sc.layout,
            sc.apic_ids,
            early,
            0 if early else sc.device_irqs,
            0 if early else sc.managed_queues,
        ).copy()
        g = self.guest
        self.vmm = Vmm(self.profile, self.rng_vmm, apic_ids=g.apic_ids)
        self.ctx = NotifyContext(
            guest=g,
            vmm=self.vmm,
            on_notify=self.on_notify,
            record=self.record,
            shared_bit=self.vmm.shared_bit,
        )
        self.record(
            "boot",
            cpu=0,
            detail=f"{sc.cpus} vCPUs, layout {g.layout.name}, {'early' if early else 'late'} init",
        )
        strat.setup(self.ctx)
        self.m.notify_setup_cpu, self.m.notify_setup_vector = self.notify_place()
        self.note_registration()
        if early:
            g.bring_up()
            if sc.device_irqs:
                g.add_device_irqs(sc.device_irqs)
            if sc.managed_queues:
                g.add_managed_queues(sc.managed_queues)
        self.bsp_apic = g.apic_id(g.bsp)
        self.buf_size = ghci.GET_QUOTE_BUF_SIZE
        self.buffer = _request_buffer(self.buf_size)
        self.gpa_base = ghci.shared_gpa(QUOTE_BUFFER_GPA, self.vmm.shared_bit)

    def notify_place(self) -> tuple[int | None, int | None]:
        """(CPU, vector) of the notify IRQ now; (None, vector) for a system vector; (None, None) if none."""
        ctx = self.ctx
        if ctx.irq is not None:
            return (None, None) if ctx.irq.shutdown else (ctx.irq.cpu, ctx.irq.vector)
        return None, ctx.system_vector

    # ------------------------------------------------------------------ stop logic

    def check_done(self) -> None:
        if self.stop.triggered:
            return
        stuck = self.n_stuck
        if self.lock_holder is not None and self.lock_holder.stuck:
            stuck += (
                self.lock_waiters
            )  # queued behind a request that never returns: quote_lock is never freed
        if self.n_pending or len(self.active) != stuck:
            return
        # a closed-loop requester waits on its (stuck) request: nothing will be issued any more
        blocked = self.sc.workload == "closed" and bool(self.active)
        if self.issuing_done or blocked:
            self.stop.succeed()

    def set_stuck(self, req: _Request, stuck: bool) -> None:
        if req.stuck != stuck:
            req.stuck = stuck
            self.n_stuck += 1 if stuck else -1
        if stuck:
            self.check_done()

    # ------------------------------------------------------------------ workload

    def uniform(self) -> float:
        """Next uniform [0, 1) draw of the CPU-choice stream (drawn in blocks: numpy scalars are slow)."""
        if self._u_i >= len(self._u):
            # blocks grow 64, 128 ... 4096: short runs draw little; the stream is the same either way
            self._u = self.rng_cpu.random(min(_BLOCK_MAX, 2 * len(self._u) or _BLOCK_MIN)).tolist()
            self._u_i = 0
        u = self._u[self._u_i]
        self._u_i += 1
        return float(u)

    def random_online_cpu(self) -> int:
        cpus = self.guest.online_cpu_tuple()
        if self._u_i < len(self._u):  # inlined uniform(): one draw per request
            u = self._u[self._u_i]
            self._u_i += 1
        else:
            u = self.uniform()
        return cpus[int(u * len(cpus))]

    def closed_loop(self) -> Any:
        sc = self.sc
        n = 0
        while sc.quotes is None or n < sc.quotes:
            req = self.new_request(0)
            n += 1
            yield from self.request(req)
            if self.stop.triggered:
                return
            pause = sc.think_ms if req.outcome == "completed" else max(sc.backoff_ms, sc.think_ms)
            if pause > 0:
                yield self.env.timeout(pause / 1000.0)
        self.issuing_done = True
        self.check_done()

    def open_source(self, requester: int, counter: list[int]) -> Any:
        sc = self.sc
        env = self.env
        rate = sc.rate_per_s / sc.requesters
        quotes, duration = sc.quotes, sc.duration_s
        while True:
            if self._gap_i >= len(self._gaps):
                n = min(_BLOCK_MAX, 2 * len(self._gaps) or _BLOCK_MIN)
                if self._rng_work is None:
                    self._rng_work = np.random.default_rng(self.seeds[0])
                self._gaps = self._rng_work.exponential(1.0, n).tolist()
                self._gap_i = 0
            gap = self._gaps[self._gap_i] / rate
            self._gap_i += 1
            yield env.timeout(gap)
            if quotes is not None and counter[0] >= quotes:
                break
            if duration is not None and env.now >= duration:
                break
            counter[0] += 1
            req = self.new_request(requester)
            env.process(self.request(req))
            if quotes is not None and counter[0] >= quotes:
                break
        counter[1] += 1
        if counter[1] == sc.requesters:
            self.issuing_done = True
            self.check_done()

    def new_request(self, requester: int) -> _Request:
        req = _Request(len(self.requests), requester, self.env.now)
        self.requests.append(req)
        self.active.add(req)
        self.m.quotes_issued += 1
        req.cpu = self.random_online_cpu()
        req.apic = self.guest.apic_ids[req.cpu]
        self.record("quote_issue", quote_id=req.qid, cpu=req.cpu, apic_id=req.apic)
        return req

    def finish(self, req: _Request, outcome: str, via: str = "", ret: str = "0") -> None:
        req.outcome, req.via, req.ret = outcome, via, ret
        req.returned = self.env.now
        self.active.discard(req)
        if req.stuck:
            self.set_stuck(req, False)
        if req.waiting:
            req.waiting = False
            with contextlib.suppress(ValueError):
                self.waiting.remove(req)
        self.record(
            "quote_done",
            quote_id=req.qid,
            cpu=req.cpu,
            apic_id=req.apic,
            detail=f"{outcome} {via} {ret}".strip() if self.frames else "",
        )
        self.check_done()

    def request(self, req: _Request) -> Any:
        """One quote request (a process generator): lock, TDREPORT + GetQuote, wait per strategy."""
        return self._request_body(req) if self.lock is None else self._locked_request(req)

    def _locked_request(self, req: _Request) -> Any:
        """A request behind the driver's mutex (serialized strategies): EBUSY while the buffer is busy."""
        assert self.lock is not None
        if self.sc.workload == "closed":
            # one requester, one request at a time: the mutex is never contended, so skip simpy's
            # Resource (two scheduler events per request) and hold it directly
            yield from self._holding_lock(req)
            return
        with self.lock.request() as grant:
            self.lock_waiters += 1
            yield grant
            self.lock_waiters -= 1
            yield from self._holding_lock(req)

    def _holding_lock(self, req: _Request) -> Any:
        self.lock_holder = req
        try:
            if self.env.now < self.buffer_free_at:
                self.finish(req, "busy", "", "EBUSY")
                return
            yield from self._request_body(req)
        finally:
            self.lock_holder = None

    def _request_body(self, req: _Request) -> Any:
        sc = self.sc
        env = self.env
        strat = self.strategy
        if sc.guest_work_ms > 0:
            yield env.timeout(sc.guest_work_ms / 1000.0)
        gpa = self.gpa_base  # one buffer address: the VMM model does not track GPAs per request
        call = strat.get_quote_call(self.ctx, gpa, self.buf_size)
        req.call = call
        if not self.guest.is_online(req.cpu):
            req.cpu = self.random_online_cpu()
            req.apic = self.guest.apic_ids[req.cpu]
        status = self.vmm.get_quote(call, req.apic, self.buffer)
        vec = call.vector if call.vector is not None else None
        req.vector = -1 if vec is None else vec
        self.record(
            "get_quote",
            quote_id=req.qid,
            cpu=req.cpu,
            apic_id=req.apic,
            vector=vec,
            detail=ghci.status_name(status) if self.frames else "",
        )
        if status != ghci.TDVMCALL_STATUS_SUCCESS:
            self.finish(req, "failed", "", "EIO")
            return
        header = self.vmm.last_header_status
        if header is not None and header != ghci.GET_QUOTE_IN_FLIGHT:
            # answered at once (no quote service): status written, never notified
            req.complete_at = env.now
            req.service_ms = 0.0
            req.success = header == ghci.GET_QUOTE_SUCCESS
            req.status = _get_quote_status_name(header)
            req.done = True
            queued = False
        else:
            t_ms = self.vmm.service_time_ms()
            outcome = self.vmm.service_outcome()
            req.success = outcome == ghci.GET_QUOTE_SUCCESS
            req.status = _get_quote_status_name(outcome)
            queued = True
            if t_ms is not None:
                req.service_ms = t_ms
                req.complete_at = env.now + t_ms / 1000.0
                ev = env.timeout(t_ms / 1000.0)
                ev.callbacks.append(functools.partial(self._complete_cb, req))
        if strat.uses_interrupt:
            yield from self.wait_interrupt(req, queued)
        else:
            yield from self.wait_poll(req, strat)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ waiting

    def wait_poll(self, req: _Request, strat: Polling) -> Any:
        env = self.env
        start = env.now
        complete_at = None if math.isinf(req.complete_at) else req.complete_at
        out = strat.wait(start, complete_at, self.clock, success=req.success)
        req.wakeups = out.wakeups
        self.m.poll_wakeups += out.wakeups
        if math.isinf(out.end_s):
            self.set_stuck(req, True)
            yield env.event()  # never triggers: the request hangs
            return
        if out.end_s > start:
            yield env.timeout(out.end_s - start)
        self.finish_poll(req, out)

    def finish_poll(self, req: _Request, out: PollOutcome) -> None:
        """End a request as ``wait_for_quote_completion()`` (and its caller's status check) ended it."""
        if out.boundary:
            self.m.boundary_timeouts += 1
        if out.empty_quote:
            self.m.empty_quotes += 1
        ret = "0" if out.ret == 0 else _errno.errorcode.get(-out.ret, str(out.ret))
        if out.status == "in-flight" and self.strategy.serialized:
            self.buffer_free_at = req.complete_at  # abandoned in flight: the shared buffer stays busy
        if out.completed:
            self.m.completed_by_poll += 1
            self.finish(req, "completed", "poll", ret)
        elif out.status == "in-flight" or out.ret == -_errno.ETIMEDOUT:
            self.finish(req, "timed_out", "poll", ret)
        else:
            self.finish(req, "failed", "poll", ret)

    def wait_interrupt(self, req: _Request, queued: bool) -> Any:
        env = self.env
        strat = self.strategy
        req.wake = env.event()
        req.waiting = True
        self.waiting.append(req)
        start = env.now
        evs: list[simpy.Event] = [req.wake]
        poll_out = None
        fb = strat.fallback
        if fb is not None:
            complete_at = None if math.isinf(req.complete_at) else req.complete_at
            poll_out = fb.wait(start, complete_at, self.clock, success=req.success)
            if not math.isinf(poll_out.end_s):
                evs.append(env.timeout(max(0.0, poll_out.end_s - start), value="poll"))
        elif strat.timeout_s is not None:
            evs.append(env.timeout(strat.timeout_s, value="timeout"))
        else:
            # interrupt only, no timeout: stuck if nothing will ever complete it
            if not queued or math.isinf(req.complete_at):
                self.set_stuck(req, True)
        if len(evs) == 1:
            yield req.wake
            fired = req.wake
        else:
            got = yield env.any_of(evs)
            fired = req.wake if req.wake in got else next(iter(got))
        if fired is req.wake:
            if fb is not None:
                req.wakeups = fb.wakeups_before(start, self.clock, env.now)
                self.m.poll_wakeups += req.wakeups
            if req.success:
                self.m.completed_by_interrupt += 1
                self.finish(req, "completed", "interrupt", "0")
            else:
                self.finish(req, "failed", "interrupt", "EIO")
            return
        if fired.value == "poll" and poll_out is not None:
            req.wakeups = poll_out.wakeups
            self.m.poll_wakeups += poll_out.wakeups
            self.finish_poll(req, poll_out)
            return
        self.finish(req, "timed_out", "timeout", "ETIMEDOUT")

    # ------------------------------------------------------------------ VMM side

    def _complete_cb(self, req: _Request, _event: simpy.Event) -> None:
        self.complete(req)

    def complete(self, req: _Request) -> None:
        """The VMM writes the final status, then injects (or not)."""
        req.done = True
        g = self.guest
        self.record("service_done", quote_id=req.qid, detail=req.status)
        if self.stop.triggered:
            return
        target = self.vmm.notification(req.apic, g.online_apic_ids(), self.bsp_apic, req.call)
        if target is None:
            self.m.not_injected += 1
            self.record("not_injected", quote_id=req.qid)
            self.after_notification(req)
            return
        vector, apic = target
        self.m.notifications_injected += 1
        cpu = g.cpu_of_apic(apic)
        self.record("inject", quote_id=req.qid, cpu=cpu, apic_id=apic, vector=vector)
        if cpu is not None and not g.is_online(cpu):
            if self.profile.offline_target == "pending":
                self.pending.setdefault(cpu, []).append((vector, req.qid))
                self.n_pending += 1
                self.record("pending", quote_id=req.qid, cpu=cpu, apic_id=apic, vector=vector)
            else:
                self.m.dropped_offline += 1
                self.m.lost_notifications += 1
                self.record("dropped_offline", quote_id=req.qid, cpu=cpu, apic_id=apic, vector=vector)
        else:
            self.take_interrupt(apic, vector, req.qid)
        self.after_notification(req)

    def after_notification(self, req: _Request) -> None:
        """A request whose completion could not wake it may now be stuck for good."""
        strat = self.strategy
        if (
            req in self.active
            and req.waiting
            and strat.uses_interrupt
            and strat.fallback is None
            and strat.timeout_s is None
            and not (req.wake is not None and req.wake.triggered)
        ):
            self.set_stuck(req, True)

    def take_interrupt(self, apic: int, vector: int, qid: int | None) -> None:
        """Deliver an interrupt to an online vCPU (or none) and classify its fate."""
        ctx = self.ctx
        hits = ctx.quote_callback_hits
        d = self.guest.deliver(apic, vector)
        if d.kind == "handled" and d.owner == ctx.owner and ctx.owner:
            if ctx.quote_callback_hits > hits:
                self.record(
                    "irq_handled", quote_id=qid, cpu=d.cpu, apic_id=apic, vector=vector, detail=d.owner or ""
                )
                return
            self.m.lost_notifications += 1
            self.m.displaced_callbacks += 1
            self.record(
                "misdirected",
                quote_id=qid,
                cpu=d.cpu,
                apic_id=apic,
                vector=vector,
                detail="callback displaced",
            )
            return
        self.m.lost_notifications += 1
        if d.kind == "handled":
            self.m.misdirected_interrupts += 1
            self.record(
                "misdirected", quote_id=qid, cpu=d.cpu, apic_id=apic, vector=vector, detail=d.owner or ""
            )
        elif d.kind == "spurious":
            self.m.spurious_interrupts += 1
            self.record(
                "spurious",
                quote_id=qid,
                cpu=d.cpu,
                apic_id=apic,
                vector=vector,
                detail="No irq handler for vector",
            )
        else:
            self.m.dropped_offline += 1
            self.record(
                "dropped_offline", quote_id=qid, cpu=d.cpu, apic_id=apic, vector=vector, detail=d.kind
            )

    def on_notify(self, cpu: int, vector: int) -> None:
        """The quote driver's callback: the worker completes every entry whose status left IN_FLIGHT."""
        if not self.waiting:
            return
        woken = [r for r in self.waiting if r.done]
        for r in woken:
            r.waiting = False
            self.waiting.remove(r)
            if r.stuck:
                self.set_stuck(r, False)
            if r.wake is not None and not r.wake.triggered:
                r.wake.succeed()

    # ------------------------------------------------------------------ hotplug

    def hotplug_schedule(self) -> Any:
        for ev in self.sc.hotplug:
            if ev.time_s > self.env.now:
                yield self.env.timeout(ev.time_s - self.env.now)
            self.apply_hotplug(ev.cpu, ev.action)

    def hotplug_periodic(self) -> Any:
        sc = self.sc
        assert sc.hotplug_every_s is not None
        k = 0
        while True:
            yield self.env.timeout(sc.hotplug_every_s)
            if self.stop.triggered:
                return
            if k % 2 == 0:
                cpu = self.pick_hotplug_cpu(k // 2)
                if cpu is None:
                    self.record("hotplug_skipped", detail="no CPU to take offline")
                else:
                    self.apply_hotplug(cpu, "offline")
            else:
                while self.hot_offlined:
                    self.apply_hotplug(self.hot_offlined.pop(), "online")
            k += 1

    def pick_hotplug_cpu(self, i: int) -> int | None:
        g = self.guest
        sel = self.sc.hotplug_cpus
        if isinstance(sel, tuple):
            cpu = sel[i % len(sel)]
            return cpu if g.is_online(cpu) else None
        if sel == "notify" and self.ctx.irq is not None:
            cpu = self.ctx.irq.cpu
            if cpu != g.bsp and g.is_online(cpu):
                return cpu
        online = g.online_cpu_tuple()  # ascending; the BSP (CPU 0) is always first
        if len(online) < 2:
            return None
        if self._rng_hot is None:
            self._rng_hot = np.random.default_rng(self.seeds[2])
        return online[1 + int(self._rng_hot.integers(len(online) - 1))]

    def apply_hotplug(self, cpu: int, action: str) -> None:
        g = self.guest
        if action == "offline":
            if not g.is_online(cpu):
                self.record("hotplug_skipped", cpu=cpu, detail="already offline")
                return
            if len(g.online_cpu_tuple()) <= 1:
                self.record("hotplug_skipped", cpu=cpu, detail="last online CPU")
                return
            res = g.cpu_offline(cpu)
            if not res.ok:
                self.m.offline_refused += 1
                self.record("offline_refused", cpu=cpu, apic_id=g.apic_ids[cpu], detail=res.reason)
                return
            self.hot_offlined.append(cpu)
            self.m.offline_ok += 1
            self.record(
                "cpu_offline", cpu=cpu, apic_id=g.apic_ids[cpu], detail=f"{len(res.migrations)} IRQs moved"
            )
            for mig in res.migrations:
                self.m.irq_migrations += 1
                self.record(
                    "irq_migrate",
                    cpu=mig.new_cpu,
                    apic_id=g.apic_ids[mig.new_cpu],
                    vector=mig.new_vector,
                    detail=f"{mig.irq.name}: CPU {mig.old_cpu} vector {mig.old_vector:#x}"
                    + (" (affinity broken)" if mig.affinity_broken else ""),
                )
                if mig.irq is self.ctx.irq:
                    self.notify_migrated(mig)
        else:
            if g.is_online(cpu):
                self.record("hotplug_skipped", cpu=cpu, detail="already online")
                return
            g.cpu_online(cpu)
            if cpu in self.hot_offlined:
                self.hot_offlined.remove(cpu)
            self.m.online_events += 1
            self.record("cpu_online", cpu=cpu, apic_id=g.apic_ids[cpu])
            held = self.pending.pop(cpu, [])
            self.n_pending -= len(held)
            for vector, qid in held:
                self.take_interrupt(g.apic_ids[cpu], vector, qid)
            self.check_done()

    def notify_migrated(self, mig: Any) -> None:
        self.m.notify_migrations += 1
        exposed = sum(1 for r in self.waiting if not r.done)
        if not self.strategy.uses_interrupt:
            exposed = 0
        self.m.exposed_requests += exposed
        self.record(
            "notify_migrate",
            cpu=mig.new_cpu,
            apic_id=self.guest.apic_ids[mig.new_cpu],
            vector=mig.new_vector,
            detail=f"from CPU {mig.old_cpu} vector {mig.old_vector:#x}; {exposed} in flight",
        )
        self.track_loss_window(mig.new_cpu, mig.new_vector)
        delay = self.strategy.on_irq_migrated(self.ctx, mig)
        if delay is not None:
            self.env.process(self.reregister_after(delay))

    def note_registration(self) -> None:
        """After a successful SetupEventNotifyInterrupt: the notify IRQ's place is what the VMM knows."""
        irq = self.ctx.irq
        if self.ctx.registered is not None and irq is not None and not irq.shutdown:
            self.reg_place = (self.guest.apic_ids[irq.cpu], irq.vector)
        self.close_loss_window()

    def track_loss_window(self, cpu: int, vector: int) -> None:
        """The notify IRQ moved to (cpu, vector): the window is open while that differs from the registration.

        Without re-registration a later migration can bring the IRQ back to the registered APIC ID
        and vector (periodic hotplug of the notify CPU bounces it between two CPUs): that closes it.
        """
        if self.ctx.registered is None:
            return
        if self.reg_place == (self.guest.apic_ids[cpu], vector):
            self.close_loss_window()
        elif self.loss_open_at is None:
            self.loss_open_at = self.env.now

    def reregister_after(self, delay: float) -> Any:
        if delay > 0:
            yield self.env.timeout(delay)
        if self.stop.triggered:
            return
        ok_before = self.ctx.setup_failures
        self.strategy.register_again(self.ctx)
        if self.ctx.setup_failures == ok_before:
            self.note_registration()

    def close_loss_window(self) -> None:
        if self.loss_open_at is not None:
            w = self.env.now - self.loss_open_at
            self.loss_total += w
            self.loss_max = max(self.loss_max, w)
            self.loss_open_at = None

    # ------------------------------------------------------------------ main

    def execute(self) -> Result:
        sc = self.sc
        env = self.env
        self.boot()
        if sc.workload == "closed":
            env.process(self.closed_loop())
        else:
            counter = [0, 0]
            for r in range(sc.requesters):
                env.process(self.open_source(r, counter))
        if sc.hotplug:
            env.process(self.hotplug_schedule())
        if sc.hotplug_every_s is not None:
            env.process(self.hotplug_periodic())
        horizon = sc.max_time_s if sc.duration_s is None else min(sc.duration_s, sc.max_time_s)
        limit = env.timeout(horizon)
        if sc.quotes == 0:
            self.issuing_done = True
            self.check_done()
        with contextlib.suppress(RuntimeError):  # no events left: every remaining request hangs
            env.run(until=env.any_of([self.stop, limit]))
        if not self.stop.triggered:
            self.stop.succeed()
        self.close_loss_window()
        return self.collect()

    def collect(self) -> Result:
        sc = self.sc
        env = self.env
        m = self.m
        end = env.now
        holder_stuck = self.lock_holder is not None and self.lock_holder.stuck
        for req in self.active:
            queued_forever = holder_stuck and req.call is None  # behind quote_lock held by a hung request
            req.outcome = "hung" if req.stuck or queued_forever else "unfinished"
            req.via = ""
        m.pending_at_end = self.n_pending
        m.lost_notifications += self.n_pending
        self.record("end", detail=f"{len(self.active)} requests still waiting")
        reqs = self.requests
        counts = Counter(r.outcome for r in reqs)
        m.completed = counts["completed"]
        m.timed_out = counts["timed_out"]
        m.failed = counts["failed"]
        m.busy = counts["busy"]
        m.hung = counts["hung"]
        m.unfinished = counts["unfinished"]
        # a few dozen values: smallstats gives numpy's figures without numpy's per-call cost
        lat = [(r.returned - r.issued) * 1000.0 for r in reqs if r.outcome == "completed"]
        if lat:
            p50, p99 = smallstats.percentiles(lat, (50, 99))
            m.latency_ms = {"min": min(lat), "p50": p50, "p99": p99, "max": max(lat)}
            m.latency_mean_ms = smallstats.mean(lat)
        else:
            m.latency_ms = {"min": math.nan, "p50": math.nan, "p99": math.nan, "max": math.nan}
        served = [r.service_ms for r in reqs if math.isfinite(r.service_ms)]
        m.service_p50_ms = smallstats.median(served) if served else math.nan
        ctx = self.ctx
        vpc = self.strategy.vectors_per_cpu(ctx)
        m.vectors_per_cpu = [int(v) for v in vpc]
        m.vectors_total = int(vpc.sum())
        free = self.guest.device_vectors_free()
        online = self.guest._online
        m.device_vectors_free_min = int(free[online].min()) if online.any() else 0
        m.reregistrations = ctx.reregistrations
        m.setup_calls = ctx.setup_calls
        m.setup_failures = ctx.setup_failures
        m.fanout_callbacks = ctx.fanout_callbacks
        m.notify_cpu, m.notify_vector = self.notify_place()
        m.interrupts_handled = ctx.interrupts_handled
        m.loss_window_s = self.loss_total
        m.loss_window_max_s = self.loss_max
        m.wakeups = m.poll_wakeups + ctx.interrupts_handled
        m.duration_s = float(end)
        m.quotes_per_s = m.completed / end if end > 0 else 0.0
        if not self.frames:
            return Result(sc, None, None, m)
        events = pd.DataFrame(
            {
                "time_s": np.asarray(self.t, dtype=float),
                "kind": pd.Categorical.from_codes(np.asarray(self.kind, dtype=np.int64), dtype=_KIND_DTYPE),
                "quote_id": pd.array(self.qid, dtype="Int64"),
                "cpu": pd.array(self.cpu, dtype="Int64"),
                "apic_id": pd.array(self.apic, dtype="Int64"),
                "vector": pd.array(self.vec, dtype="Int64"),
                "detail": pd.array(self.detail, dtype="string"),
            }
        )
        quotes = pd.DataFrame(
            {
                "quote_id": np.array([r.qid for r in reqs], dtype=np.int64),
                "requester": np.array([r.requester for r in reqs], dtype=np.int64),
                "cpu": np.array([r.cpu for r in reqs], dtype=np.int64),
                "issued_s": np.array([r.issued for r in reqs], dtype=float),
                "returned_s": np.array([r.returned for r in reqs], dtype=float),
                "latency_ms": np.array([(r.returned - r.issued) * 1000.0 for r in reqs], dtype=float),
                "service_ms": np.array([r.service_ms for r in reqs], dtype=float),
                "outcome": pd.Categorical([r.outcome for r in reqs], categories=list(OUTCOMES)),
                "via": pd.array([r.via for r in reqs], dtype="string"),
                "ret": pd.array([r.ret for r in reqs], dtype="string"),
                "vmm_status": pd.array([r.status for r in reqs], dtype="string"),
                "wakeups": np.array([r.wakeups for r in reqs], dtype=np.int64),
            }
        )
        return Result(sc, events, quotes, m)


def run(scenario: Scenario, *, frames: bool = True) -> Result:
    """Simulate one scenario; deterministic for a given scenario (seed included).

    ``frames=False`` is the metrics-only fast path: no event or quote frame is built (``Result.events``
    and ``.quotes`` then raise), the metrics are identical to those of a run with frames.
    """
    if not isinstance(scenario, Scenario):
        raise ValidationError("scenario", type(scenario).__name__, "a tdxlib.sim.Scenario")
    return _Run(scenario, bool(frames)).execute()


def _run_metrics(scenario: Scenario) -> dict[str, Any]:
    return run(scenario, frames=False).summary()


@functools.lru_cache(maxsize=16)  # a guest of 8192 vCPUs is a few MB: keep only a few templates
def _booted_guest(
    cpus: int,
    layout: str,
    apic_ids: str | tuple[int, ...],
    early: bool,
    device_irqs: int,
    managed_queues: int,
) -> TdGuest:
    """A booted guest to copy from (never handed out itself: runs take ``.copy()``, booting is dearer)."""
    return TdGuest(
        cpus,
        layout=layout,
        apic_ids=apic_ids,
        online=[0] if early else None,
        device_irqs=device_irqs,
        managed_queues=managed_queues,
    )


@functools.lru_cache(maxsize=256)
def _profile(vmm: str, service_ms: float | None) -> VmmProfile:
    """``Scenario.profile()`` for a profile named by string (profiles are immutable records)."""
    prof = load_profile(vmm)
    return prof if service_ms is None else prof.with_service_ms(service_ms)


@functools.cache
def _profile_names() -> frozenset[str]:
    """The shipped VMM profile names (listed once per process: scenarios check them often)."""
    return frozenset(profile_names())


def sweep(
    scenarios: Iterable[Scenario],
    executor: Executor | None = None,
    *,
    metrics_only: bool = False,
    frames: bool = True,
) -> list[Result] | pd.DataFrame:
    """Run many scenarios, serially or through ``executor``; results (or a metrics frame) in input order.

    With a ``ProcessPoolExecutor`` the scenarios are sent in chunks; any other Executor (threads, a Dask
    ``client.get_executor()``) gets one ``submit`` per scenario. ``metrics_only`` runs the metrics-only
    fast path (``run(..., frames=False)``: no frames are built) and returns :func:`metrics_frame`-style
    rows, the only thing shipped back from the workers; ``frames=False`` takes the same fast path but
    returns the Results (scenario and metrics, no frames).
    """
    items = list(scenarios)
    for sc in items:
        if not isinstance(sc, Scenario):
            raise ValidationError("scenario", type(sc).__name__, "a tdxlib.sim.Scenario")
    fn: Callable[[Scenario], Any] = (
        _run_metrics if metrics_only else run if frames else functools.partial(run, frames=False)
    )
    out: list[Any]
    if executor is None:
        out = [fn(sc) for sc in items]
    elif isinstance(executor, ProcessPoolExecutor):
        workers = max(1, getattr(executor, "_max_workers", 1))
        # ~16 chunks per worker: pickling a chunk of scenarios is cheap, and small chunks keep every
        # worker busy until the end (scenario costs vary: polling, hotplug, hung requests)
        chunk = max(1, math.ceil(len(items) / (workers * 16)))
        out = list(executor.map(fn, items, chunksize=chunk))
    else:
        futures = [executor.submit(fn, sc) for sc in items]
        out = [f.result() for f in futures]
    if metrics_only:
        return pd.DataFrame(out)
    return out
